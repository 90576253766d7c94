package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// routineErrors are the errors a reconcile meets in normal operation, which internal/outcome settles
// before controller-runtime would log them as "Reconciler error": write conflicts, and creates
// refused in a namespace being deleted (each test deletes its namespace).
var routineErrors = []string{"Operation cannot be fulfilled", "because it is being terminated"}

// goneKind is the error of an informer still watching a kind whose CRD was deleted: Canopy removes
// the informers of its optional APIs' kinds when their CRDs go (internal/integrations), so that it
// does not log this every few seconds for as long as it runs.
const goneKind = "the server could not find the requested resource"

// MisreportedErrors returns the manager log's "Reconciler error" lines whose error is routine, and
// its "Failed to watch" lines of a kind that is gone: after a passing suite there must be none, or
// operators' error alerts would fire on normal operation.
func (c *Cluster) MisreportedErrors() ([]string, error) {
	return misreportedErrors(filepath.Join(c.Dir, "manager.log"))
}

func misreportedErrors(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var line struct {
			Msg, Controller, Error string
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line.Msg == "Failed to watch" && strings.Contains(line.Error, goneKind) {
			out = append(out, "cache: "+line.Error)
			continue
		}
		if line.Msg != "Reconciler error" {
			continue
		}
		for _, r := range routineErrors {
			if strings.Contains(line.Error, r) {
				out = append(out, fmt.Sprintf("%s: %s", line.Controller, line.Error))
				break
			}
		}
	}
	return out, sc.Err()
}
