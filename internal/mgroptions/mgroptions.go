// Package mgroptions builds the controller-runtime options that every manager running Canopy's
// controllers uses: `canopy manager` and the controller tests alike. A test whose manager saw more
// than production's (an unscoped cache that shows a user's unlabelled objects) would pass where
// production fails, so both take their cache and guardrails from here.
package mgroptions

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/desired/common"
)

// ReconciliationTimeout bounds each reconcile (its context is cancelled after it).
const ReconciliationTimeout = 2 * time.Minute

// ManagedSelector selects the objects Canopy creates: every one carries this label.
var ManagedSelector = labels.SelectorFromSet(labels.Set{common.LabelManagedBy: common.ManagedBy})

// Base returns the options for a manager of Canopy's controllers with scheme s, watching the given
// namespaces (all when empty).
func Base(s *runtime.Scheme, watchNamespaces []string) ctrl.Options {
	opts := ctrl.Options{Scheme: s}
	// A guardrail, not a budget: a reconcile that waits on something that never answers (a cache
	// for a kind whose CRD was removed meanwhile, a PostgreSQL statement stuck on a lock) would hold
	// its controller's only worker for good. Every reconcile is far shorter.
	opts.Controller.ReconciliationTimeout = ReconciliationTimeout
	opts.Cache = cache.Options{ByObject: scopedKinds(), DefaultTransform: stripManagedFields}
	if len(watchNamespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// scopedKinds limits the cache of the built-in kinds Canopy creates to Canopy's own objects, so that
// the manager neither holds nor reads every Secret, Pod or Deployment of the cluster. A consequence
// every controller must honour: a cache miss does not mean a name is free (apply.Lookup).
func scopedKinds() map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range []client.Object{
		&appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Pod{}, &corev1.Service{}, &corev1.Secret{}, &corev1.ConfigMap{},
		&corev1.PersistentVolumeClaim{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{},
		&autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}, &batchv1.Job{}, &batchv1.CronJob{},
	} {
		byObject[obj] = cache.ByObject{Label: ManagedSelector, Transform: Transform(obj)}
	}
	return byObject
}
