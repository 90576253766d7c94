package olm

import (
	"context"
	"testing"

	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestConditionKey(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    types.NamespacedName
		ok      bool
		wantErr string
	}{
		{name: "outside OLM", env: map[string]string{EnvPodNamespace: "operators"}},
		{name: "under OLM", env: map[string]string{EnvOperatorConditionName: "canopy.v0.1.0", EnvPodNamespace: "operators"},
			want: types.NamespacedName{Namespace: "operators", Name: "canopy.v0.1.0"}, ok: true},
		{name: "under OLM without POD_NAMESPACE", env: map[string]string{EnvOperatorConditionName: "canopy.v0.1.0"},
			wantErr: `OPERATOR_CONDITION_NAME is set ("canopy.v0.1.0"), so Canopy runs under OLM, but POD_NAMESPACE is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ok, err := ConditionKey(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.False(t, ok)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, key)
		})
	}
}

func TestNoGateOutsideOLM(t *testing.T) {
	t.Setenv(EnvOperatorConditionName, "")
	g, err := NewUpgradeGate(nil)
	require.NoError(t, err)
	require.Nil(t, g)
}

func TestNewUpgradeGateNeedsPodNamespace(t *testing.T) {
	t.Setenv(EnvOperatorConditionName, "canopy.v0.1.0")
	t.Setenv(EnvPodNamespace, "")
	g, err := NewUpgradeGate(nil)
	require.ErrorContains(t, err, "POD_NAMESPACE is empty")
	require.Nil(t, g)
}

// countingClient counts the updates that reach the fake API server.
type countingClient struct {
	client.Client
	updates int
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.updates++
	return c.Client.Update(ctx, obj, opts...)
}

func TestGateWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	s := runtime.NewScheme()
	require.NoError(t, operatorsv2.AddToScheme(s))
	key := types.NamespacedName{Namespace: "operators", Name: "canopy.v0.1.0"}
	oc := &operatorsv2.OperatorCondition{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	c := &countingClient{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(oc).Build()}
	g := &Gate{Client: c, Key: key}

	read := func() *metav1.Condition {
		var got operatorsv2.OperatorCondition
		require.NoError(t, c.Get(ctx, key, &got))
		return meta.FindStatusCondition(got.Spec.Conditions, operatorsv2.Upgradeable)
	}
	require.NoError(t, g.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack a/b is upgrading"))
	cur := read()
	require.NotNil(t, cur)
	require.Equal(t, metav1.ConditionFalse, cur.Status)
	require.Equal(t, "UpgradeInProgress", cur.Reason)
	require.NoError(t, g.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack a/b is upgrading"))
	require.Equal(t, 1, c.updates, "an unchanged condition is not written again")
	require.NoError(t, g.SetUpgradeable(ctx, true, "NoUpgradeInProgress", "no Stack is upgrading"))
	require.Equal(t, metav1.ConditionTrue, read().Status)
	require.Equal(t, 2, c.updates)
}

func TestGateReportsMissingCondition(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, operatorsv2.AddToScheme(s))
	g := &Gate{Client: fake.NewClientBuilder().WithScheme(s).Build(), Key: types.NamespacedName{Namespace: "operators", Name: "canopy.v0.1.0"}}
	err := g.SetUpgradeable(context.Background(), true, "NoUpgradeInProgress", "idle")
	require.ErrorContains(t, err, "operators/canopy.v0.1.0")
}
