// Package scheme builds the runtime.Scheme of the manager and the tests: Kubernetes' built-in kinds,
// Canopy's kinds, and the kinds of the optional integrations (cert-manager, Prometheus operator,
// OLM's OperatorCondition). Registering a kind does not require its CRD to be installed.
package scheme

import (
	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// New returns a scheme with every kind Canopy reads or writes.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		canopyv1alpha1.AddToScheme,
		componentsv1alpha1.AddToScheme,
		certmanagerv1.AddToScheme,
		monitoringv1.AddToScheme,
		operatorsv2.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}
