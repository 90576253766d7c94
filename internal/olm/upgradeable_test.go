package olm

import (
	"context"
	"testing"

	"github.com/operator-framework/operator-lib/conditions"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeCondition stands for the OperatorCondition behind operator-lib's Condition interface.
type fakeCondition struct {
	cur  *metav1.Condition
	sets int
}

func (f *fakeCondition) Get(context.Context) (*metav1.Condition, error) { return f.cur, nil }

func (f *fakeCondition) Set(_ context.Context, status metav1.ConditionStatus, opts ...conditions.Option) error {
	c := &metav1.Condition{Type: "Upgradeable", Status: status}
	for _, o := range opts {
		o(c)
	}
	f.cur = c
	f.sets++
	return nil
}

func TestGateWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	cond := &fakeCondition{}
	g := &Gate{Condition: cond}
	require.NoError(t, g.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack a/b is upgrading"))
	require.Equal(t, metav1.ConditionFalse, cond.cur.Status)
	require.Equal(t, "UpgradeInProgress", cond.cur.Reason)
	require.NoError(t, g.SetUpgradeable(ctx, false, "UpgradeInProgress", "Stack a/b is upgrading"))
	require.Equal(t, 1, cond.sets, "an unchanged condition is not written again")
	require.NoError(t, g.SetUpgradeable(ctx, true, "NoUpgradeInProgress", "no Stack is upgrading"))
	require.Equal(t, metav1.ConditionTrue, cond.cur.Status)
	require.Equal(t, 2, cond.sets)
}

func TestNoGateOutsideOLM(t *testing.T) {
	t.Setenv(EnvOperatorConditionName, "")
	g, err := NewUpgradeGate(nil)
	require.NoError(t, err)
	require.Nil(t, g)
}
