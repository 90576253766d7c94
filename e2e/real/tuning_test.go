//go:build realpods

package real

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/database"
)

// TestTuningReachesTheServer (scenario 2): the running server's settings are the ones Canopy's
// tuning computed for the container's resources, with the user's override winning: every
// parameter of database.Settings is read back from pg_settings of the live server and compared
// in PostgreSQL's own unit.
func TestTuningReachesTheServer(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "tuned", func(s *canopyv1alpha1.Stack) {
		s.Spec.Frontend.Replicas = nil
		s.Spec.Database.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("768Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("768Mi")},
		}
		s.Spec.Database.Parameters = map[string]string{"work_mem": "6MB", "log_min_duration_statement": "250ms"}
	})
	waitReady(t, ns, "tuned", appVersions[0])
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tuned"}, db))
	settings := database.Settings(db, false)
	require.NotEmpty(t, settings)

	super := secretData(t, ns, database.SuperuserName(db))
	pg := connect(t, fmt.Sprintf("host=%s port=%d dbname=postgres user=%s password=%s sslmode=disable",
		database.Host(db), database.Port, database.SuperUser, super[corev1.BasicAuthPasswordKey]), nil)
	var checked []string
	for _, s := range settings {
		var setting, unit string
		require.NoError(t, pg.QueryRow(ctx, "SELECT setting, coalesce(unit, '') FROM pg_settings WHERE name = $1", s.Name).Scan(&setting, &unit),
			"%s is a parameter of the running server", s.Name)
		require.Equal(t, normalize(t, s.Value, unit), setting, "%s = %q (unit %q)", s.Name, s.Value, unit)
		checked = append(checked, s.Name+"="+s.Value)
	}
	t.Logf("the server runs with %d computed settings: %s", len(checked), strings.Join(checked, " "))
	var workMem string
	require.NoError(t, pg.QueryRow(ctx, "SHOW work_mem").Scan(&workMem))
	require.Equal(t, "6MB", workMem, "the override wins")
}

// normalize converts a postgresql.conf value to pg_settings.setting: a number in the parameter's
// base unit, or the text itself for parameters without one (as in internal/desired/database's
// test against a local server).
func normalize(t *testing.T, value, unit string) string {
	t.Helper()
	base := map[string]float64{"B": 1, "kB": 1 << 10, "8kB": 8 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
		"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
	if unit == "" {
		if f, err := strconv.ParseFloat(value, 64); err == nil && strings.Contains(value, ".") {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return value
	}
	i := strings.IndexFunc(value, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	number, suffix := value, unit
	if i >= 0 {
		number, suffix = value[:i], strings.TrimSpace(value[i:])
	}
	n, err := strconv.ParseFloat(number, 64)
	require.NoError(t, err, "value %q", value)
	from, ok := base[suffix]
	require.True(t, ok, "value %q: unit %q", value, suffix)
	to, ok := base[unit]
	require.True(t, ok, "unit %q", unit)
	return strconv.FormatFloat(n*from/to, 'f', -1, 64)
}
