package plugin

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// RestoreResult is what `restore` reports, and its -o json|yaml form.
type RestoreResult struct {
	Namespace string `json:"namespace"`
	Stack     string `json:"stack"`
	// ID is spec.restoreRequest.id.
	ID         string `json:"id"`
	BackupName string `json:"backupName"`
	// Step as status.restore reports it; Requested when not followed.
	Step    string `json:"step"`
	Message string `json:"message,omitempty"`
}

func newRestoreCommand(o *Options) *cobra.Command {
	var backup string
	var wait, yes, force bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "restore STACK --backup NAME",
		Short: "Restore a backup into a running Stack (spec.restoreRequest), after a confirmation",
		Long: `restore replaces all the data of the Stack's database with a backup. The operator stops the
web tier, takes a safety backup (when backups are configured), restores, and starts the web tier
again; a restore that fails leaves the data as it was. The command names what will be overwritten
and asks for the Stack's name as confirmation, read from standard input; --yes skips the question.`,
		Example: `  kubectl canopy backups shop
  kubectl canopy restore shop --backup shop-20260101-020000 --wait
  echo shop | kubectl canopy restore shop --backup shop-20260101-020000`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if backup == "" {
				return usagef("restore needs --backup NAME: kubectl canopy backups %s lists them", args[0])
			}
			s, err := o.connect()
			if err != nil {
				return err
			}
			return s.restore(cmd.Context(), args[0], backup, restoreFlags{wait: wait, yes: yes, force: force, timeout: timeout})
		},
	}
	cmd.Flags().StringVar(&backup, "backup", "", "Name of the backup to restore (kubectl canopy backups STACK lists them)")
	cmd.Flags().BoolVar(&wait, "wait", false, "Follow the restore until it succeeds or fails")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&force, "force", false, "Restore a backup that is not in the catalogue (older ones may still be at the destination)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "How long --wait follows the restore")
	return cmd
}

type restoreFlags struct {
	wait, yes, force bool
	timeout          time.Duration
}

func (s *session) restore(ctx context.Context, name, backup string, f restoreFlags) error {
	st, bp, err := s.backupPolicy(ctx, name)
	if err != nil {
		return err
	}
	if r := st.Status.Restore; r != nil && r.Step != canopyv1alpha1.StepSucceeded && r.Step != canopyv1alpha1.StepFailed {
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return fmt.Errorf("Stack %s/%s is already restoring %s (request %s, step %s): wait for it with kubectl canopy status %s",
			s.namespace, name, r.BackupName, r.ID, r.Step, name)
	}
	if req := st.Spec.RestoreRequest; req != nil && (st.Status.Restore == nil || st.Status.Restore.ID != req.ID) {
		// Asked for but not yet taken: a second request would silently replace the first.
		why := "is the operator running?"
		if st.Spec.Paused {
			why = "the Stack is paused (kubectl canopy resume " + name + " lets it start)."
		}
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return fmt.Errorf("Stack %s/%s already asks to restore %s (request %s), which the operator has not started: %s "+
			"kubectl canopy status %s shows it once started; to ask for another backup instead, first withdraw it with "+
			"kubectl patch stack %s -n %s --type merge -p '{\"spec\":{\"restoreRequest\":null}}'",
			s.namespace, name, req.BackupName, req.ID, why, name, name, s.namespace)
	}
	var rec *componentsv1alpha1.BackupRecord
	for i := range bp.Status.Backups {
		if bp.Status.Backups[i].Name == backup {
			rec = &bp.Status.Backups[i]
		}
	}
	if rec == nil && !f.force {
		return fmt.Errorf("backup %s is not in the catalogue of Stack %s/%s: kubectl canopy backups %s lists it; "+
			"--force restores a backup that is only at the destination", backup, s.namespace, name, name)
	}
	if !f.yes {
		if err := s.confirmRestore(ctx, st, rec, backup); err != nil {
			return err
		}
	}
	res := &RestoreResult{Namespace: s.namespace, Stack: name, ID: s.token(), BackupName: backup, Step: "Requested"}
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) {
		st.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: res.ID, BackupName: backup}
	}); err != nil {
		return err
	}
	s.say("Asked Stack %s/%s to restore %s (spec.restoreRequest.id %s).", s.namespace, name, backup, res.ID)
	if st.Spec.Paused {
		s.say("The Stack is paused: the restore starts once it resumes (kubectl canopy resume %s).", name)
	}
	if !f.wait {
		s.say("kubectl canopy status %s shows its steps; --wait follows it.", name)
		_, err := s.printData(res)
		return err
	}
	err = s.follow(ctx, f.timeout, errTimeout{what: "the restore " + res.ID, next: "kubectl canopy status " + name + " shows its step"},
		func(ctx context.Context) (string, bool, error) {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(st), st); err != nil {
				return "", false, fmt.Errorf("reading Stack %s/%s: %w", s.namespace, name, err)
			}
			p := st.Status.Restore
			if p == nil || p.ID != res.ID {
				return "requested; waiting for the operator to take it", false, nil
			}
			res.Step, res.Message = string(p.Step), p.Message
			switch p.Step {
			case canopyv1alpha1.StepFailed:
				return "", false, fmt.Errorf("the restore of %s into Stack %s/%s failed, the data is as it was: %s", backup, s.namespace, name, p.Message)
			case canopyv1alpha1.StepSucceeded:
				return "Succeeded", true, nil
			}
			return string(p.Step), false, nil
		})
	if err != nil {
		return err
	}
	if done, err := s.printData(res); done {
		return err
	}
	s.say("Restored %s into Stack %s/%s; the web tier serves again.", backup, s.namespace, name)
	return nil
}

// confirmRestore names what the restore overwrites and reads the Stack's name back from standard
// input. The question goes to standard error, so -o json output stays a document.
func (s *session) confirmRestore(ctx context.Context, st *canopyv1alpha1.Stack, rec *componentsv1alpha1.BackupRecord, backup string) error {
	w := s.Err
	db := &componentsv1alpha1.Database{}
	volume, pg := "its data volume", ""
	if err := s.c.Get(ctx, client.ObjectKeyFromObject(st), db); err == nil {
		if db.Status.VolumeClaim != "" {
			volume = "the volume " + db.Status.VolumeClaim
		}
		pg = " (PostgreSQL " + orDash(db.Status.Version) + ")"
	}
	fmt.Fprintf(w, "This replaces ALL the data of the database of Stack %s/%s%s, on %s,\n", st.Namespace, st.Name, pg, volume)
	if rec != nil {
		at := "-"
		if rec.CompletionTime != nil {
			at = rec.CompletionTime.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "with backup %s, taken %s (application %s, PostgreSQL %s, %s).\n",
			rec.Name, at, orDash(rec.AppVersion), orDash(rec.DatabaseVersion), size(rec.SizeBytes))
	} else {
		fmt.Fprintf(w, "with backup %s, which is not in the catalogue.\n", backup)
	}
	fmt.Fprintf(w, "The web tier (%s-web) stops until the restore ends; ", st.Name)
	if st.Spec.Backup != nil {
		fmt.Fprintln(w, "a safety backup of the current data is taken first.")
	} else {
		fmt.Fprintln(w, "no safety backup can be taken (spec.backup is empty).")
	}
	fmt.Fprintf(w, "Type the Stack's name (%s) to confirm: ", st.Name)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	if strings.TrimSpace(line) != st.Name {
		fmt.Fprintln(w)
		return fmt.Errorf("restore of Stack %s/%s not confirmed, nothing changed (type the Stack's name, or pass --yes)", st.Namespace, st.Name)
	}
	return nil
}
