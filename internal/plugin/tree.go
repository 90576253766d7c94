package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// printStatus writes the report for a person: a tree of the Stack, its components and their
// workloads (as clusterctl describe draws a cluster), then conditions, operations in flight, the
// newest backups, and what is wrong with the next step.
func printStatus(w io.Writer, r *StackReport, st style, now time.Time) {
	head := fmt.Sprintf("Stack %s/%s", r.Namespace, r.Name)
	word := "Ready"
	if !r.Ready {
		word = "Not ready (" + r.Reason + ")"
	}
	fmt.Fprintf(w, "%s  %s\n", st.bold(head), st.state(r.Ready, len(r.Problems) > 0, word))
	serving := "version " + orDash(r.Version) + " serving"
	if r.DesiredVersion != r.Version {
		serving += ", " + r.DesiredVersion + " asked for"
	}
	fmt.Fprintln(w, "  "+serving)
	if r.Deleting {
		fmt.Fprintln(w, "  "+st.warn("being deleted"))
	}
	if r.URL != "" {
		fmt.Fprintln(w, "  url "+r.URL)
	}
	if r.DatabaseEndpoint != "" {
		fmt.Fprintf(w, "  database %s, credentials in Secret %s\n", r.DatabaseEndpoint, orDash(r.CredentialsSecretName))
	}
	if !r.Ready && r.Message != "" {
		fmt.Fprintln(w, "  "+r.Message)
	}
	fmt.Fprintln(w)

	var rows [][]string
	var states []struct{ ok, failed bool }
	for i, c := range r.Components {
		branch, stem := "├─ ", "│  "
		if i == len(r.Components)-1 {
			branch, stem = "└─ ", "   "
		}
		state, summary := "Ready", c.Summary
		switch {
		case !c.Found:
			state, summary = "absent", "not created yet"
		case !c.Ready:
			state = c.Reason
			summary = strings.TrimSuffix(c.Summary+"; "+c.Message, "; ")
		}
		rows = append(rows, []string{branch + c.Kind + " " + c.Name, state, summary})
		states = append(states, struct{ ok, failed bool }{c.Ready, c.Found && needsAttention(c)})
		for j, wl := range c.Workloads {
			twig := "├─ "
			if j == len(c.Workloads)-1 {
				twig = "└─ "
			}
			word := "ok"
			switch {
			case wl.Failed:
				word = "failed"
			case !wl.Healthy:
				word = "waiting"
			}
			rows = append(rows, []string{stem + twig + wl.Kind + " " + wl.Name, word, wl.Summary})
			states = append(states, struct{ ok, failed bool }{wl.Healthy, wl.Failed})
		}
	}
	table(w, "", rows, func(row, col int, cell string) string {
		if col != 1 {
			return cell
		}
		return st.state(states[row].ok, states[row].failed, cell)
	})
	if len(r.Hidden) > 0 {
		fmt.Fprintln(w, st.dim("   (not shown, your permissions do not allow reading them: "+strings.Join(r.Hidden, ", ")+")"))
	}

	if len(r.Conditions) > 0 {
		fmt.Fprintln(w, "\n"+st.bold("Conditions"))
		rows := [][]string{{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}}
		for _, c := range r.Conditions {
			rows = append(rows, []string{c.Type, string(c.Status), c.Reason, age(now, c.LastTransitionTime.Time), c.Message})
		}
		table(w, "  ", rows, func(row, col int, cell string) string {
			if row == 0 || col != 1 {
				return cell
			}
			c := r.Conditions[row-1]
			good, bad := conditionPolarity(c)
			return st.state(good, bad, cell)
		})
	}

	if len(r.Operations) > 0 {
		fmt.Fprintln(w, "\n"+st.bold("Operations"))
		rows := [][]string{{"KIND", "STEP", "SINCE", "WHAT"}}
		for _, op := range r.Operations {
			since := "-"
			if op.Since != nil {
				since = age(now, op.Since.Time)
			}
			rows = append(rows, []string{op.Kind, op.Step, since, op.Detail})
		}
		table(w, "  ", rows, nil)
	}

	fmt.Fprintln(w)
	switch {
	case r.BackupsTotal == 0 && len(r.Components) < 3:
		fmt.Fprintln(w, st.bold("Backups")+": none configured (spec.backup is empty)")
	case r.BackupsTotal == 0:
		fmt.Fprintln(w, st.bold("Backups")+": none yet (kubectl canopy backup "+r.Name+" takes one)")
	default:
		fmt.Fprintf(w, "%s (%d newest of %d; kubectl canopy backups %s lists them all)\n", st.bold("Backups"), len(r.Backups), r.BackupsTotal, r.Name)
		table(w, "  ", backupRows(r.Backups, now), nil)
	}
	if f := r.LastBackupFailure; f != nil && f.Time != nil {
		fmt.Fprintf(w, "  last failure %s ago: %s %s\n", age(now, f.Time.Time), f.Reason, f.Message)
	}

	fmt.Fprintln(w)
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, st.good("Nothing needs your attention."))
		return
	}
	fmt.Fprintln(w, st.bold("What needs your attention"))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s %s: %s\n", st.bad("✗"), p.Object, p.Message)
		if p.Next != "" {
			fmt.Fprintf(w, "    → %s\n", p.Next)
		}
	}
}

// conditionPolarity tells whether a condition's status is good or bad: Ready-like types are good
// when True; Stalled and Degraded are bad when True; Reconciling and Paused are neither.
func conditionPolarity(c metav1.Condition) (good, bad bool) {
	switch c.Type {
	case "Stalled", "Degraded":
		return false, c.Status == metav1.ConditionTrue
	case "Reconciling", "Paused":
		return false, false
	}
	return c.Status == metav1.ConditionTrue, c.Status == metav1.ConditionFalse
}
