package integrations

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

func TestSetCondition(t *testing.T) {
	db := &componentsv1alpha1.Database{}
	const c = componentsv1alpha1.ConditionCertificatesAvailable
	SetCondition(db, c, true, false, "cert-manager")
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, conditions.Get(db, c).Reason)
	require.Equal(t, metav1.ConditionFalse, conditions.Get(db, c).Status)
	SetCondition(db, c, true, true, "cert-manager")
	require.True(t, conditions.IsTrue(db, c))
	SetCondition(db, c, false, true, "cert-manager")
	require.Nil(t, conditions.Get(db, c), "not requested, not reported")
}

func TestDetect(t *testing.T) {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "cert-manager.io", Version: "v1"}, {Group: "monitoring.coreos.com", Version: "v1"}})
	require.Equal(t, Available{}, Detect(m))
	m.Add(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, meta.RESTScopeNamespace)
	require.Equal(t, Available{Certificates: true}, Detect(m), "monitoring needs both of its kinds")
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}, meta.RESTScopeNamespace)
	require.Equal(t, Available{Certificates: true, Monitoring: true}, Detect(m))
}
