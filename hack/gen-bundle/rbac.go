package main

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Namespaced says, for every resource Canopy's RBAC names ("group/resource", core group empty),
// whether it is namespaced. OLM turns permissions into Roles in the namespaces it targets and
// clusterPermissions into ClusterRoles, so only cluster-scoped resources belong in the latter. A
// test checks this table against a real API server's discovery; a resource missing here fails
// the generator, so a new RBAC marker cannot land in the wrong list.
var Namespaced = map[string]bool{
	"/configmaps":                                    true,
	"/events":                                        true,
	"/persistentvolumeclaims":                        true,
	"/pods":                                          true,
	"/secrets":                                       true,
	"/services":                                      true,
	"apps/deployments":                               true,
	"apps/statefulsets":                              true,
	"autoscaling/horizontalpodautoscalers":           true,
	"batch/cronjobs":                                 true,
	"batch/jobs":                                     true,
	"canopy.dev/stacks":                              true,
	"cert-manager.io/certificates":                   true,
	"cert-manager.io/issuers":                        true,
	"cert-manager.io/clusterissuers":                 false,
	"components.canopy.dev/backuppolicies":           true,
	"components.canopy.dev/databases":                true,
	"components.canopy.dev/frontends":                true,
	"coordination.k8s.io/leases":                     true,
	"monitoring.coreos.com/prometheusrules":          true,
	"monitoring.coreos.com/servicemonitors":          true,
	"networking.k8s.io/ingresses":                    true,
	"networking.k8s.io/networkpolicies":              true,
	"policy/poddisruptionbudgets":                    true,
	"apiextensions.k8s.io/customresourcedefinitions": false,
	"authentication.k8s.io/tokenreviews":             false,
	"authorization.k8s.io/subjectaccessreviews":      false,
	"storage.k8s.io/storageclasses":                  false,
}

// SplitRules divides rules into those on namespaced resources and those on cluster-scoped
// resources or non-resource URLs. A rule naming both kinds is split in two, keeping the order.
func SplitRules(rules []rbacv1.PolicyRule) (namespaced, cluster []rbacv1.PolicyRule, err error) {
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			cluster = append(cluster, r)
			continue
		}
		var ns, cl []string
		for _, res := range r.Resources {
			scope, err := ruleScope(r.APIGroups, res)
			if err != nil {
				return nil, nil, err
			}
			if scope {
				ns = append(ns, res)
			} else {
				cl = append(cl, res)
			}
		}
		if len(ns) > 0 {
			n := *r.DeepCopy()
			n.Resources = ns
			namespaced = append(namespaced, n)
		}
		if len(cl) > 0 {
			c := *r.DeepCopy()
			c.Resources = cl
			cluster = append(cluster, c)
		}
	}
	return namespaced, cluster, nil
}

// ruleScope is the scope of a resource (its subresources share it) in every group of a rule.
func ruleScope(groups []string, resource string) (bool, error) {
	base, _, _ := strings.Cut(resource, "/")
	var scope *bool
	for _, g := range groups {
		ns, ok := Namespaced[g+"/"+base]
		if !ok {
			return false, fmt.Errorf("the scope of %s/%s is unknown: add it to Namespaced in hack/gen-bundle/rbac.go", g, base)
		}
		if scope != nil && *scope != ns {
			return false, fmt.Errorf("resource %s is namespaced in some of the groups %v and not in others", base, groups)
		}
		scope = &ns
	}
	if scope == nil {
		return false, fmt.Errorf("a rule on %s names no API group", resource)
	}
	return *scope, nil
}
