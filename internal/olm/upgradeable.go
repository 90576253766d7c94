// Package olm talks to Operator Lifecycle Manager when Canopy runs under it.
//
// Under OLM the manager tells OLM, through its OperatorCondition, whether Canopy may be upgraded
// now. OLM creates that object in the operator's namespace, names it after the CSV, passes its name
// in OPERATOR_CONDITION_NAME, and grants the operator's ServiceAccount a Role with get, update and
// patch on that one object (no list, no watch). So the gate finds the object from the environment
// (OPERATOR_CONDITION_NAME and POD_NAMESPACE, which the Deployment sets from metadata.namespace;
// not from the in-pod service-account file, so the manager also runs as a local process), and reads
// and writes it with a direct client: a cached read would start an informer that needs list and
// watch over the watched namespaces.
package olm

import (
	"context"
	"errors"
	"fmt"
	"os"

	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// EnvOperatorConditionName is set by OLM to the name of the operator's OperatorCondition.
	EnvOperatorConditionName = "OPERATOR_CONDITION_NAME"
	// EnvPodNamespace is the manager's namespace, set by the Deployment from metadata.namespace. OLM
	// creates the OperatorCondition in that namespace.
	EnvPodNamespace = "POD_NAMESPACE"
)

// UpgradeGate tells OLM whether Canopy itself may be upgraded now. Canopy says no while any Stack
// runs an operation on its data or versions, so that a new operator version never takes over half
// of one.
type UpgradeGate interface {
	SetUpgradeable(ctx context.Context, upgradeable bool, reason, message string) error
}

// ConditionKey returns the OperatorCondition's namespace and name from the environment that getenv
// reads. ok is false outside OLM (no OPERATOR_CONDITION_NAME); under OLM a missing POD_NAMESPACE is
// an error, since the condition could not be found.
func ConditionKey(getenv func(string) string) (key types.NamespacedName, ok bool, err error) {
	name := getenv(EnvOperatorConditionName)
	if name == "" {
		return types.NamespacedName{}, false, nil
	}
	ns := getenv(EnvPodNamespace)
	if ns == "" {
		return types.NamespacedName{}, false, fmt.Errorf("%s is set (%q), so Canopy runs under OLM, but %s is empty: "+
			"set it to the manager's namespace (the Deployment sets it from metadata.namespace), where OLM creates the OperatorCondition",
			EnvOperatorConditionName, name, EnvPodNamespace)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, true, nil
}

// NewUpgradeGate returns the OperatorCondition gate when running under OLM, or nil otherwise. It
// connects with cfg through its own uncached client.
func NewUpgradeGate(cfg *rest.Config) (UpgradeGate, error) {
	key, ok, err := ConditionKey(os.Getenv)
	if err != nil || !ok {
		return nil, err
	}
	s := runtime.NewScheme()
	if err := operatorsv2.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("registering the OperatorCondition type: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("creating the OperatorCondition client: %w", err)
	}
	return &Gate{Client: c, Key: key}, nil
}

// Gate sets the Upgradeable condition in spec.conditions of the OperatorCondition Key, writing
// only when it changes. It uses only get and update on that one object.
type Gate struct {
	// Client reads and writes the OperatorCondition; it should be uncached (see the package doc).
	Client client.Client
	// Key names the OperatorCondition.
	Key types.NamespacedName
}

// SetUpgradeable implements UpgradeGate.
func (g *Gate) SetUpgradeable(ctx context.Context, upgradeable bool, reason, message string) error {
	if g == nil || g.Client == nil {
		return errors.New("olm: the upgrade gate has no client")
	}
	status := metav1.ConditionFalse
	if upgradeable {
		status = metav1.ConditionTrue
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var oc operatorsv2.OperatorCondition
		if err := g.Client.Get(ctx, g.Key, &oc); err != nil {
			return err
		}
		if cur := meta.FindStatusCondition(oc.Spec.Conditions, operatorsv2.Upgradeable); cur != nil &&
			cur.Status == status && cur.Reason == reason && cur.Message == message {
			return nil
		}
		meta.SetStatusCondition(&oc.Spec.Conditions, metav1.Condition{
			Type: operatorsv2.Upgradeable, Status: status, Reason: reason, Message: message,
		})
		return g.Client.Update(ctx, &oc)
	})
	if err != nil {
		return fmt.Errorf("setting Upgradeable=%s on the OperatorCondition %s: %w", status, g.Key, err)
	}
	return nil
}
