// Package podsecurity checks pod templates against the restricted Pod Security Standard with the
// upstream admission library, the same code the API server runs, so that every pod Canopy creates
// (and the manager's own) would be admitted in a namespace that enforces it.
package podsecurity

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// CheckRestricted returns an error naming every violation of the restricted level (latest
// version) by a pod with this metadata and spec.
func CheckRestricted(meta *metav1.ObjectMeta, spec *corev1.PodSpec) error {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return fmt.Errorf("building the pod security evaluator: %w", err)
	}
	results := evaluator.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, meta, spec)
	agg := policy.AggregateCheckResults(results)
	if agg.Allowed {
		return nil
	}
	return fmt.Errorf("violates the restricted Pod Security Standard: %s", agg.ForbiddenDetail())
}
