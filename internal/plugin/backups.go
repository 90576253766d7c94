package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

func newBackupsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "backups STACK",
		Short: "List a Stack's backup catalogue, newest first",
		Example: `  kubectl canopy backups shop
  kubectl canopy backups shop -o json | jq -r '.[0].name'`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			_, bp, err := s.backupPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			list := newestFirst(bp.Status.Backups)
			if done, err := o.printData(list); done {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintf(o.Out, "Stack %s/%s has no backup yet; kubectl canopy backup %s takes one.\n", s.namespace, args[0], args[0])
				return nil
			}
			table(o.Out, "", backupRows(list, o.Now()), nil)
			return nil
		},
	}
}

// backupPolicy reads the Stack and its BackupPolicy, explaining a Stack without backups.
func (s *session) backupPolicy(ctx context.Context, name string) (*canopyv1alpha1.Stack, *componentsv1alpha1.BackupPolicy, error) {
	st, err := s.stack(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	bp := &componentsv1alpha1.BackupPolicy{}
	err = s.c.Get(ctx, client.ObjectKeyFromObject(st), bp)
	switch {
	case apierrors.IsNotFound(err) && st.Spec.Backup == nil:
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return nil, nil, fmt.Errorf("Stack %s/%s has no backups configured: "+
			"add spec.backup (a schedule and a destination, docs/backup.md) with kubectl edit stack %s -n %s",
			s.namespace, name, name, s.namespace)
	case apierrors.IsNotFound(err):
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return nil, nil, fmt.Errorf("Stack %s/%s asks for backups but its BackupPolicy does not exist yet: "+
			"it is created once the database is Ready (kubectl canopy status %s)", s.namespace, name, name)
	case err != nil:
		return nil, nil, fmt.Errorf("reading the BackupPolicy of Stack %s/%s: %w", s.namespace, name, err)
	}
	return st, bp, nil
}

// backupRows is the catalogue as a table, header first.
func backupRows(list []componentsv1alpha1.BackupRecord, now time.Time) [][]string {
	// KEY is the encryption key ID a restore needs ("-": not encrypted).
	rows := [][]string{{"NAME", "AGE", "SIZE", "TRIGGER", "APP", "POSTGRES", "KEY", "LOCATION"}}
	for _, b := range list {
		at := time.Time{}
		if b.CompletionTime != nil {
			at = b.CompletionTime.Time
		}
		rows = append(rows, []string{b.Name, age(now, at), size(b.SizeBytes), orDash(b.Trigger),
			orDash(b.AppVersion), orDash(b.DatabaseVersion), encryption(b), orDash(b.Location)})
	}
	return rows
}

// encryption names the key of an encrypted backup ("-" for a plain one).
func encryption(b componentsv1alpha1.BackupRecord) string {
	switch {
	case !b.Encrypted:
		return "-"
	case b.KeyID == "":
		return "encrypted"
	}
	return b.KeyID
}
