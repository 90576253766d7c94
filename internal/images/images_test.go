package images

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPostgres(t *testing.T) {
	none := func(string) string { return "" }
	mirror := func(k string) string {
		if k == "RELATED_IMAGE_POSTGRES_17" {
			return "mirror.local:5000/pg/postgres:17"
		}
		return ""
	}
	for _, tc := range []struct {
		version string
		getenv  func(string) string
		want    string
	}{
		{"17", none, "docker.io/library/postgres:17"},
		{"17.2", none, "docker.io/library/postgres:17.2"},
		{"17", mirror, "mirror.local:5000/pg/postgres:17"},
		{"17.2", mirror, "mirror.local:5000/pg/postgres:17.2"},
		{"16.4", mirror, "docker.io/library/postgres:16.4"},
	} {
		require.Equal(t, tc.want, Postgres(tc.version, tc.getenv), tc.version)
	}
}

func TestDefaultsAreOneSortedList(t *testing.T) {
	d := Defaults()
	require.Len(t, d, len(PostgresMajors)+2)
	names := map[string]bool{}
	for i, img := range d {
		require.NotEmpty(t, img.Ref)
		require.NotEmpty(t, img.Env)
		require.False(t, names[img.Name], "duplicate %s", img.Name)
		names[img.Name] = true
		if i > 0 {
			require.Less(t, d[i-1].Name, img.Name)
		}
	}
}
