//go:build e2e

package olm

import (
	"context"
	"fmt"
	"testing"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// waitForGrantedRights waits until the API server authorizes the CSV's service account for every
// rule of the CSV, cluster-wide (the OperatorGroup is AllNamespaces). OLM grants a new CSV's rights
// in steps that can end after the CSV reports Succeeded and its predecessor is gone; a pod OLM
// starts that early retries its refused watches, and so would this process, but a manager started
// before its rights are complete would make the refused-requests check measure OLM, not the CSV.
func waitForGrantedRights(t *testing.T, ctx context.Context, csvName, user string) {
	t.Helper()
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	must(t, olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: csvName}, csv))
	cs, err := kubernetes.NewForConfig(c.Config)
	must(t, err)
	var checks []authorizationv1.ResourceAttributes
	spec := csv.Spec.InstallStrategy.StrategySpec
	for _, perms := range [][]operatorsv1alpha1.StrategyDeploymentPermissions{spec.Permissions, spec.ClusterPermissions} {
		for _, p := range perms {
			for _, r := range p.Rules {
				if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
					continue
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						for _, v := range r.Verbs {
							checks = append(checks, authorizationv1.ResourceAttributes{Group: g, Resource: res, Verb: v})
						}
					}
				}
			}
		}
	}
	start := time.Now()
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorsNamespace, "system:authenticated"}
	poll(t, ctx, fmt.Sprintf("OLM to grant the %d rights of %s", len(checks), csvName), func() (bool, string) {
		for _, attrs := range checks {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: groups, ResourceAttributes: &attrs}}
			got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				return false, err.Error()
			}
			if !got.Status.Allowed {
				return false, fmt.Sprintf("not yet: %s %s.%s", attrs.Verb, attrs.Resource, attrs.Group)
			}
		}
		return true, ""
	})
	t.Logf("OLM granted the %d rights of %s within %s", len(checks), csvName, time.Since(start).Round(100*time.Millisecond))
}
