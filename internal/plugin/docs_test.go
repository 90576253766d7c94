package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocsShowTheGoldens: every golden file of the human output appears in
// docs/kubectl-canopy.md, its lines together and in order, with the namespace as the docs show it
// (demo): a change of output that the docs do not follow fails here. The goldens of --wait runs
// hold no progress lines (which a poll sees depends on timing), so in their examples the docs may
// show indented progress lines between the golden's; SIZE in a golden stands for any size.
func TestDocsShowTheGoldens(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "kubectl-canopy.md"))
	require.NoError(t, err)
	docs := strings.Split(string(data), "\n")
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, goldens)
	ns := regexp.MustCompile(`\bNS\b`)
	for _, path := range goldens {
		g, err := os.ReadFile(path)
		require.NoError(t, err)
		want := strings.Split(strings.TrimSuffix(ns.ReplaceAllString(string(g), "demo"), "\n"), "\n")
		wait := strings.HasSuffix(path, "-wait.golden.txt")
		found := false
		for start := range docs {
			if showsAt(docs, start, want, wait) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("docs/kubectl-canopy.md does not show %s (namespace demo):\n%s", path, strings.Join(want, "\n"))
		}
	}
}

// showsAt reports whether the docs' lines from start are the golden's lines, allowing indented
// progress lines in between when wait.
func showsAt(docs []string, start int, want []string, wait bool) bool {
	j := start
	for k := 0; k < len(want); {
		switch {
		case j >= len(docs):
			return false
		case lineMatches(want[k], docs[j]):
			k++
		case wait && k > 0 && strings.HasPrefix(docs[j], "  "):
		default:
			return false
		}
		j++
	}
	return true
}

// lineMatches compares a golden line with a docs line; SIZE in the golden matches any size.
func lineMatches(golden, doc string) bool {
	if !strings.Contains(golden, "SIZE)") {
		return golden == doc
	}
	re := strings.ReplaceAll(regexp.QuoteMeta(golden), `SIZE\)`, `[0-9.]+(?:B|Ki|Mi|Gi)\)`)
	return regexp.MustCompile("^" + re + "$").MatchString(doc)
}
