package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// BackupResult is what `backup` reports, and its -o json|yaml form.
type BackupResult struct {
	Namespace string `json:"namespace"`
	Stack     string `json:"stack"`
	// Request is the canopy.dev/backup-now value that asked for the backup.
	Request string `json:"request"`
	// Phase of the request: Requested (not followed), Pending, Running, Succeeded or Failed.
	Phase   string                           `json:"phase"`
	Backup  *componentsv1alpha1.BackupRecord `json:"backup,omitempty"`
	Message string                           `json:"message,omitempty"`
}

func newBackupCommand(o *Options) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "backup STACK",
		Short: "Take an on-demand backup (the canopy.dev/backup-now annotation), and with --wait follow it until catalogued",
		Example: `  kubectl canopy backup shop --wait
  kubectl canopy backup shop -o json`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			return s.backup(cmd, args[0], wait, timeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Follow the backup until it is in the catalogue (or failed)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "How long --wait follows the backup")
	return cmd
}

func (s *session) backup(cmd *cobra.Command, name string, wait bool, timeout time.Duration) error {
	ctx := cmd.Context()
	st, bp, err := s.backupPolicy(ctx, name)
	if err != nil {
		return err
	}
	res := &BackupResult{Namespace: s.namespace, Stack: name, Request: s.token(), Phase: "Requested"}
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) {
		if st.Annotations == nil {
			st.Annotations = map[string]string{}
		}
		st.Annotations[canopyv1alpha1.AnnotationBackupNow] = res.Request
	}); err != nil {
		return err
	}
	s.say("Asked Stack %s/%s for a backup (%s=%s).", s.namespace, name, canopyv1alpha1.AnnotationBackupNow, res.Request)
	if st.Spec.Paused {
		s.say("The Stack is paused: the request reaches its BackupPolicy once it resumes (kubectl canopy resume %s).", name)
	}
	if h := bp.Spec.Hold; h != nil {
		s.say("Backups are held while a data operation runs (%s): this one starts when it ends.", h.Reason)
	}
	if !wait {
		s.say("kubectl canopy backups %s lists it once it is done; --wait follows it.", name)
		_, err := s.printData(res)
		return err
	}
	err = s.follow(ctx, timeout, errTimeout{what: "backup " + res.Request, next: "kubectl canopy backups " + name + " lists it once it is done"},
		func(ctx context.Context) (string, bool, error) { return s.backupProgress(ctx, bp, res) })
	if err != nil {
		return err
	}
	if done, err := s.printData(res); done {
		return err
	}
	b := res.Backup
	s.say("Backup %s catalogued: %s, sha256 %s, at %s.", b.Name, size(b.SizeBytes), short(b.SHA256), b.Location)
	return nil
}

// backupProgress reads the BackupPolicy's answer to the request: the stack controller copies the
// annotation onto it, and the backup controller reports it in status.lastAnnotationRequest.
func (s *session) backupProgress(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, res *BackupResult) (string, bool, error) {
	if err := s.c.Get(ctx, client.ObjectKeyFromObject(bp), bp); err != nil {
		return "", false, fmt.Errorf("reading BackupPolicy %s/%s: %w", bp.Namespace, bp.Name, err)
	}
	r := bp.Status.LastAnnotationRequest
	if r == nil || r.ID != res.Request {
		return "requested; waiting for the operator to take it", false, nil
	}
	res.Phase, res.Message = string(r.Phase), r.Message
	switch r.Phase {
	case componentsv1alpha1.PhaseFailed:
		next := "kubectl canopy status " + res.Stack
		if r.JobName != "" {
			next = fmt.Sprintf("kubectl logs -n %s job/%s shows why", bp.Namespace, r.JobName)
		}
		return "", false, fmt.Errorf("the backup of Stack %s/%s failed: %s; %s", bp.Namespace, res.Stack, r.Message, next)
	case componentsv1alpha1.PhaseSucceeded:
		for i := range bp.Status.Backups {
			if bp.Status.Backups[i].Name == r.BackupName {
				res.Backup = &bp.Status.Backups[i]
				return "", true, nil
			}
		}
		return "backup " + r.BackupName + " taken; waiting for the catalogue", false, nil
	}
	line := string(r.Phase)
	if r.JobName != "" {
		line += " (Job " + r.JobName + ")"
	}
	if r.Message != "" {
		line += ": " + r.Message
	}
	return line, false, nil
}

// short is the start of a checksum, enough to compare by eye.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return orDash(sum)
}
