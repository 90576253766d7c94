package frontend

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// HorizontalPodAutoscaler scales the Deployment between the spec's bounds; nil without autoscaling
// or while the web tier is stopped.
func HorizontalPodAutoscaler(fe *componentsv1alpha1.Frontend) *autoscalingv2.HorizontalPodAutoscaler {
	a := fe.Spec.Autoscaling
	if a == nil || fe.Spec.Stopped {
		return nil
	}
	var metrics []autoscalingv2.MetricSpec
	for _, t := range []struct {
		name   corev1.ResourceName
		target *int32
	}{{corev1.ResourceCPU, a.TargetCPUUtilizationPercentage}, {corev1.ResourceMemory, a.TargetMemoryUtilizationPercentage}} {
		if t.target == nil {
			continue
		}
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name:   t.name,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(*t.target)},
		}})
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: Name(fe)},
			MinReplicas:    ptr.To(a.MinReplicas),
			MaxReplicas:    a.MaxReplicas,
			Metrics:        metrics,
		},
	}
}

// PodDisruptionBudget lets voluntary disruptions (node drains) take one pod at a time; nil when the
// web tier may run a single pod, where a budget would block drains forever.
func PodDisruptionBudget(fe *componentsv1alpha1.Frontend) *policyv1.PodDisruptionBudget {
	minimum := int32(0)
	if r := DesiredReplicas(fe); r != nil {
		minimum = *r
	} else if fe.Spec.Autoscaling != nil {
		minimum = fe.Spec.Autoscaling.MinReplicas
	}
	if minimum < 2 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(fe)},
		},
	}
}
