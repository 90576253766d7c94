package manager

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	backupdesired "github.com/canopy-dev/canopy/internal/desired/backup"
	dbdesired "github.com/canopy-dev/canopy/internal/desired/database"
	fedesired "github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestUsersObjectsAreNeverTakenOver runs the manager exactly as `canopy manager` does — its cache
// sees only objects labelled app.kubernetes.io/managed-by=canopy — and puts a user's unlabelled
// object, of each kind Canopy creates, where a Stack named shop wants one. The component that
// wants the name reports Stalled/NameConflict naming the object, and the object is unchanged byte
// for byte: no label, no owner reference, no field, no data of Canopy's.
func TestUsersObjectsAreNeverTakenOver(t *testing.T) {
	e := testenv.Require(t, env)
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Labels: map[string]string{"owner": "the-user"}}
	}
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	bp := &componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: componentsv1alpha1.BackupPolicySpec{Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}}
	fe := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "users"}}
	podTemplate := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector.MatchLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "users/app:1"}}}}
	jobTemplate := *podTemplate.DeepCopy()
	jobTemplate.Spec.RestartPolicy = corev1.RestartPolicyNever
	port := []corev1.ServicePort{{Name: "users", Port: 7777, TargetPort: intstr.FromInt32(7777)}}
	claimSpec := corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}}}

	// component names the controller that wants the name; backup and frontend cases first need a
	// running database (ordered rollout).
	const (
		database = "Database"
		backup   = "BackupPolicy"
		frontend = "Frontend"
	)
	for _, tc := range []struct {
		component string
		obj       client.Object
	}{
		{database, &corev1.Secret{ObjectMeta: meta(dbdesired.CredentialsName(db)), Data: map[string][]byte{"password": []byte("the user's")}}},
		{database, &corev1.Service{ObjectMeta: meta(dbdesired.Name(db)), Spec: corev1.ServiceSpec{Ports: port}}},
		{database, &corev1.ConfigMap{ObjectMeta: meta(dbdesired.InitName(db)), Data: map[string]string{"users": "data"}}},
		{database, &corev1.PersistentVolumeClaim{ObjectMeta: meta(dbdesired.ClaimName(db, dbdesired.DefaultDataVolume)), Spec: claimSpec}},
		{database, &appsv1.StatefulSet{ObjectMeta: meta(dbdesired.Name(db)), Spec: appsv1.StatefulSetSpec{Selector: selector, Template: podTemplate}}},
		{database, &networkingv1.NetworkPolicy{ObjectMeta: meta(dbdesired.Name(db)), Spec: networkingv1.NetworkPolicySpec{PodSelector: *selector}}},
		{database, &policyv1.PodDisruptionBudget{ObjectMeta: meta(dbdesired.Name(db)), Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: selector, MinAvailable: ptr.To(intstr.FromInt32(1))}}},
		{backup, &batchv1.CronJob{ObjectMeta: meta(backupdesired.Name(bp)), Spec: batchv1.CronJobSpec{Schedule: "5 5 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTemplate}}}}},
		{backup, &corev1.PersistentVolumeClaim{ObjectMeta: meta(backupdesired.ClaimName(bp)), Spec: claimSpec}},
		{frontend, &batchv1.Job{ObjectMeta: meta(fedesired.MigrationJobName(fe, "1.0")), Spec: batchv1.JobSpec{Template: jobTemplate}}},
		{frontend, &appsv1.Deployment{ObjectMeta: meta(fedesired.Name(fe)), Spec: appsv1.DeploymentSpec{Selector: selector, Template: podTemplate}}},
		{frontend, &corev1.Service{ObjectMeta: meta(fedesired.Name(fe)), Spec: corev1.ServiceSpec{Ports: port}}},
		{frontend, &networkingv1.Ingress{ObjectMeta: meta(fedesired.Name(fe)), Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "users",
				Port: networkingv1.ServiceBackendPort{Number: 80}}}}}},
		{frontend, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(fedesired.Name(fe)), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "users"}, MaxReplicas: 3}}},
	} {
		kind := reflect.Indirect(reflect.ValueOf(tc.obj)).Type().Name()
		t.Run(tc.component+"/"+kind+"/"+tc.obj.GetName(), func(t *testing.T) {
			h := e.Harness(t)
			startManager(t, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}})
			ctx := context.Background()
			tc.obj.SetNamespace(h.NS)
			require.NoError(t, h.C.Create(ctx, tc.obj))
			before := snapshot(t, tc.obj)

			stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
				Version: "1.0",
				Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop",
					Ingress:     &componentsv1alpha1.IngressSpec{Host: "shop.example.com"},
					Autoscaling: &componentsv1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3, TargetCPUUtilizationPercentage: ptr.To[int32](80)}},
				Backup: &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *", Destination: componentsv1alpha1.BackupDestination{
					Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}},
			}}
			if _, isJob := tc.obj.(*batchv1.Job); isJob {
				stack.Spec.Frontend.Migration = &componentsv1alpha1.MigrationSpec{Command: []string{"migrate"}}
			}
			require.NoError(t, h.C.Create(ctx, stack))
			if tc.component != database { // the rollout is ordered: the database runs first
				h.Eventually(func() bool { return h.Get(&appsv1.StatefulSet{}, "shop-postgres") == nil }, "the StatefulSet exists")
				h.RunStatefulSetPod("shop-postgres")
			}

			var owner conditions.Object
			switch tc.component {
			case database:
				owner = &componentsv1alpha1.Database{}
			case backup:
				owner = &componentsv1alpha1.BackupPolicy{}
			default:
				owner = &componentsv1alpha1.Frontend{}
			}
			defer func() {
				if t.Failed() {
					s := &canopyv1alpha1.Stack{}
					_ = h.Get(s, "shop")
					_ = h.Get(owner, "shop")
					t.Logf("Stack conditions: %+v", s.Status.Conditions)
					t.Logf("%s conditions: %+v", tc.component, owner.GetConditions())
				}
			}()
			h.Eventually(func() bool {
				if h.Get(owner, "shop") != nil {
					return false
				}
				c := conditions.Get(owner, componentsv1alpha1.ConditionStalled)
				return c != nil && c.Status == metav1.ConditionTrue && c.Reason == componentsv1alpha1.ReasonNameConflict &&
					strings.Contains(c.Message, tc.obj.GetName())
			}, "the %s reports the name conflict over the %s %s", tc.component, kind, tc.obj.GetName())
			h.Eventually(func() bool {
				s := &canopyv1alpha1.Stack{}
				if h.Get(s, "shop") != nil {
					return false
				}
				c := conditions.Get(s, componentsv1alpha1.ConditionStalled)
				return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, tc.obj.GetName())
			}, "the Stack says why it is stuck")

			now := tc.obj.DeepCopyObject().(client.Object)
			require.NoError(t, h.C.Get(ctx, client.ObjectKeyFromObject(tc.obj), now))
			require.Equal(t, before, snapshot(t, now), "the user's %s is unchanged", kind)
		})
	}
}

// snapshot is an object as JSON, without its type meta (set on some reads, not on others).
func snapshot(t *testing.T, obj client.Object) string {
	t.Helper()
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	delete(m, "apiVersion")
	delete(m, "kind")
	data, err = json.Marshal(m)
	require.NoError(t, err)
	return string(data)
}
