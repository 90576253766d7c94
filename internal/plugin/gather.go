package plugin

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// observedStack is everything `status` reads: the Stack, its internal objects (nil when absent)
// and the workloads labelled with the Stack's name.
type observedStack struct {
	stack        *canopyv1alpha1.Stack
	db           *componentsv1alpha1.Database
	fe           *componentsv1alpha1.Frontend
	bp           *componentsv1alpha1.BackupPolicy
	statefulSets []appsv1.StatefulSet
	deployments  []appsv1.Deployment
	cronJobs     []batchv1.CronJob
	jobs         []batchv1.Job
	// hidden names the workload lists the user may not read.
	hidden []string
}

// observe reads the Stack and what belongs to it. The internal objects share the Stack's name;
// the workloads carry the label canopy.dev/stack (internal/desired/common).
func (s *session) observe(ctx context.Context, name string) (*observedStack, error) {
	st, err := s.stack(ctx, name)
	if err != nil {
		return nil, err
	}
	o := &observedStack{stack: st}
	key := client.ObjectKey{Namespace: s.namespace, Name: name}
	o.db, o.fe, o.bp = &componentsv1alpha1.Database{}, &componentsv1alpha1.Frontend{}, &componentsv1alpha1.BackupPolicy{}
	found := map[client.Object]bool{}
	for _, obj := range []client.Object{o.db, o.fe, o.bp} {
		switch err := s.c.Get(ctx, key, obj); {
		case err == nil:
			found[obj] = true
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading the %s of Stack %s/%s: %w", kindOf(obj), s.namespace, name, err)
		}
	}
	if !found[o.db] {
		o.db = nil
	}
	if !found[o.fe] {
		o.fe = nil
	}
	if !found[o.bp] {
		o.bp = nil
	}
	sel := client.MatchingLabels{common.LabelStack: name}
	in := client.InNamespace(s.namespace)
	var sts appsv1.StatefulSetList
	var deps appsv1.DeploymentList
	var cjs batchv1.CronJobList
	var jobs batchv1.JobList
	for _, l := range []client.ObjectList{&sts, &deps, &cjs, &jobs} {
		err := s.c.List(ctx, l, in, sel)
		switch {
		case apierrors.IsForbidden(err):
			// A Stack's owner may read Canopy's kinds without reading workloads: show the rest.
			o.hidden = append(o.hidden, fmt.Sprintf("%T", l))
		case err != nil:
			return nil, fmt.Errorf("listing the workloads of Stack %s/%s: %w", s.namespace, name, err)
		}
	}
	o.statefulSets, o.deployments, o.cronJobs, o.jobs = sts.Items, deps.Items, cjs.Items, jobs.Items
	sort.Slice(o.jobs, func(i, j int) bool {
		return o.jobs[j].CreationTimestamp.Before(&o.jobs[i].CreationTimestamp)
	})
	return o, nil
}

// kindOf names an internal object's kind for messages.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *componentsv1alpha1.Database:
		return "Database"
	case *componentsv1alpha1.Frontend:
		return "Frontend"
	case *componentsv1alpha1.BackupPolicy:
		return "BackupPolicy"
	}
	return fmt.Sprintf("%T", obj)
}
