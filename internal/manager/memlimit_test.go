package manager

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSoftMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int64
		err  bool
	}{
		{name: "no limit, nothing set", env: map[string]string{}},
		{name: "90% of the container's limit", env: map[string]string{EnvMemoryLimit: "536870912"}, want: 483183820},
		{name: "GOMEMLIMIT wins", env: map[string]string{EnvMemoryLimit: "536870912", "GOMEMLIMIT": "300MiB"}},
		{name: "not bytes", env: map[string]string{EnvMemoryLimit: "512Mi"}, err: true},
		{name: "not positive", env: map[string]string{EnvMemoryLimit: "0"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := softMemoryLimit(func(k string) string { return tc.env[k] })
			if tc.err {
				require.ErrorContains(t, err, EnvMemoryLimit)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
