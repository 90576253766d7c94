// Package olm talks to Operator Lifecycle Manager when Canopy runs under it.
package olm

import (
	"context"
	"fmt"
	"os"

	apiv2 "github.com/operator-framework/api/pkg/operators/v2"
	"github.com/operator-framework/operator-lib/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EnvOperatorConditionName is set by OLM to the name of the operator's OperatorCondition.
const EnvOperatorConditionName = "OPERATOR_CONDITION_NAME"

// UpgradeGate tells OLM whether Canopy itself may be upgraded now. Canopy says no while any Stack is
// mid-upgrade, so that a new operator version never takes over half an application upgrade.
type UpgradeGate interface {
	SetUpgradeable(ctx context.Context, upgradeable bool, reason, message string) error
}

// NewUpgradeGate returns the OperatorCondition gate when running under OLM, or nil otherwise.
func NewUpgradeGate(c client.Client) (UpgradeGate, error) {
	if os.Getenv(EnvOperatorConditionName) == "" {
		return nil, nil
	}
	cond, err := conditions.InClusterFactory{Client: c}.NewCondition(apiv2.ConditionType(apiv2.Upgradeable))
	if err != nil {
		return nil, fmt.Errorf("finding the OperatorCondition: %w", err)
	}
	return &Gate{Condition: cond}, nil
}

// Gate sets the Upgradeable condition through operator-lib, writing only when it changes.
type Gate struct {
	Condition conditions.Condition
}

// SetUpgradeable implements UpgradeGate.
func (g *Gate) SetUpgradeable(ctx context.Context, upgradeable bool, reason, message string) error {
	status := metav1.ConditionFalse
	if upgradeable {
		status = metav1.ConditionTrue
	}
	if cur, err := g.Condition.Get(ctx); err == nil && cur != nil && cur.Status == status && cur.Reason == reason && cur.Message == message {
		return nil
	}
	if err := g.Condition.Set(ctx, status, conditions.WithReason(reason), conditions.WithMessage(message)); err != nil {
		return fmt.Errorf("setting the OperatorCondition Upgradeable=%s: %w", status, err)
	}
	return nil
}
