package olm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

// TestMain starts a control plane with OLM's OperatorCondition CRD, taken from the pinned
// operator-framework/api module.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := testenv.ModuleDir("github.com/operator-framework/api")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crd := filepath.Join(dir, "crds", "operators.coreos.com_operatorconditions.yaml")
	return testenv.Main(m, &env, testenv.Options{ExtraCRDDirs: []string{crd}})
}

// TestGateWithOLMsRole runs the gate as a ServiceAccount that holds only what OLM's
// OperatorCondition controller grants: a Role with get, update and patch on the one
// OperatorCondition named after the CSV. The API server authorizes with RBAC (envtest's
// default), which the negative controls prove.
func TestGateWithOLMsRole(t *testing.T) {
	e := testenv.Require(t, env)
	ctx := context.Background()
	ns := e.Namespace(t)
	const csv, sa = "canopy.v0.1.0", "canopy-controller-manager"

	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, operatorsv2.AddToScheme(s))
	admin, err := client.New(e.Config, client.Options{Scheme: s})
	require.NoError(t, err)

	// What OLM creates: the ServiceAccount (from the CSV), the OperatorCondition and its Role.
	require.NoError(t, admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}))
	require.NoError(t, admin.Create(ctx, &operatorsv2.OperatorCondition{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: csv}}))
	// A second condition in the same namespace, which the Role does not name.
	require.NoError(t, admin.Create(ctx, &operatorsv2.OperatorCondition{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other.v1.0.0"}}))
	require.NoError(t, admin.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: csv},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"operators.coreos.com"}, Resources: []string{"operatorconditions"},
			ResourceNames: []string{csv}, Verbs: []string{"get", "update", "patch"},
		}},
	}))
	require.NoError(t, admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: csv},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: csv},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa}},
	}))

	asSA := rest.CopyConfig(e.Config)
	asSA.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}

	t.Setenv(EnvOperatorConditionName, csv)
	t.Setenv(EnvPodNamespace, ns)
	gate, err := NewUpgradeGate(asSA)
	require.NoError(t, err)
	require.NotNil(t, gate)

	key := types.NamespacedName{Namespace: ns, Name: csv}
	read := func() (*metav1.Condition, string) {
		var oc operatorsv2.OperatorCondition
		require.NoError(t, admin.Get(ctx, key, &oc))
		return meta.FindStatusCondition(oc.Spec.Conditions, operatorsv2.Upgradeable), oc.ResourceVersion
	}

	require.NoError(t, gate.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack shop/web is upgrading from 1.0 to 1.1"))
	cond, rv := read()
	require.NotNil(t, cond, "the gate wrote spec.conditions")
	require.Equal(t, metav1.ConditionFalse, cond.Status)
	require.Equal(t, "UpgradeInProgress", cond.Reason)

	require.NoError(t, gate.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack shop/web is upgrading from 1.0 to 1.1"))
	_, rv2 := read()
	require.Equal(t, rv, rv2, "an unchanged condition is not written again")

	require.NoError(t, gate.SetUpgradeable(ctx, true, "NoUpgradeInProgress", "no Stack is upgrading"))
	cond, _ = read()
	require.Equal(t, metav1.ConditionTrue, cond.Status)

	// Negative controls: RBAC is enforced, and the ServiceAccount has nothing beyond OLM's Role.
	saClient, err := client.New(asSA, client.Options{Scheme: s})
	require.NoError(t, err)
	var list operatorsv2.OperatorConditionList
	err = saClient.List(ctx, &list, client.InNamespace(ns))
	require.True(t, apierrors.IsForbidden(err), "listing OperatorConditions must be forbidden, got %v", err)
	err = saClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "other.v1.0.0"}, &operatorsv2.OperatorCondition{})
	require.True(t, apierrors.IsForbidden(err), "reading another OperatorCondition must be forbidden, got %v", err)
}
