package database

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

func TestVersionOf(t *testing.T) {
	for image, want := range map[string]string{
		"docker.io/library/postgres:17.2":            "17.2",
		"postgres:16":                                "16",
		"postgres:17.2-bookworm":                     "17.2",
		"localhost:5000/postgres":                    "",
		"postgres@sha256:" + string(make([]byte, 0)): "",
		"mirror:5000/pg/postgres:15.18@sha256:abc":   "15.18",
	} {
		require.Equal(t, want, versionOf(image), image)
	}
}

func TestDecideConfig(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	db := func(lastReady, rejected string) *componentsv1alpha1.Database {
		d := &componentsv1alpha1.Database{}
		d.Spec.ReadyTimeoutSeconds = 300
		d.Status.LastReadyConfigHash, d.Status.RejectedConfigHash = lastReady, rejected
		return d
	}
	for _, tc := range []struct {
		name       string
		db         *componentsv1alpha1.Database
		pod        podState
		wantHash   string
		remediated bool
		noRevert   bool // the last ready configuration serves TLS differently, or is gone
	}{
		{"first configuration", db("", ""), podState{}, "new", false, false},
		{"unchanged", db("new", ""), podState{exists: true, ready: true, configHash: "new"}, "new", false, false},
		{"new configuration, pod not restarted yet", db("old", ""), podState{exists: true, ready: true, configHash: "old"}, "new", false, false},
		{"new configuration, pod starting within its deadline", db("old", ""),
			podState{exists: true, configHash: "new", notReadyAt: now.Add(-time.Minute)}, "new", false, false},
		{"new configuration crash-loops", db("old", ""), podState{exists: true, configHash: "new", crashLoop: true, notReadyAt: now}, "old", true, false},
		{"new configuration not ready past the deadline", db("old", ""),
			podState{exists: true, configHash: "new", notReadyAt: now.Add(-6 * time.Minute)}, "old", true, false},
		{"a rejected configuration stays rejected", db("old", "new"), podState{exists: true, ready: true, configHash: "old"}, "old", false, false},
		{"nothing to return to on the first configuration", db("", ""), podState{exists: true, configHash: "new", crashLoop: true}, "new", false, false},
		{"never back across a change of TLS", db("old", ""), podState{exists: true, configHash: "new", crashLoop: true, notReadyAt: now}, "new", false, true},
		{"a rejection does not hold across a change of TLS", db("old", "new"), podState{exists: true, ready: true, configHash: "old"}, "new", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideConfig(tc.db, "new", tc.pod, now, !tc.noRevert)
			require.Equal(t, tc.wantHash, d.hash)
			require.Equal(t, tc.remediated, d.remediated)
			if tc.wantHash == "old" {
				require.Equal(t, "new", d.rejected)
			}
		})
	}
}
