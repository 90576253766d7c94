package common

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestVersionLabel: every version admission accepts (an image tag) gives a valid label value, and a
// version that is already one is kept as it is.
func TestVersionLabel(t *testing.T) {
	for version, want := range map[string]string{
		"1.4.2":                        "1.4.2",
		"v2.0.0-rc_1":                  "v2.0.0-rc_1",
		"_x":                           "x",
		"1.0.":                         "1.0",
		"__":                           "",
		strings.Repeat("a", 128):       strings.Repeat("a", 63),
		strings.Repeat("a", 62) + ".b": strings.Repeat("a", 62),
	} {
		got := VersionLabel(version)
		require.Equal(t, want, got, version)
		require.Empty(t, validation.IsValidLabelValue(got), version)
	}
}
