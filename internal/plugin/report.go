package plugin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/desired/common"
)

// ReportResult is what `report` says it wrote, and its -o json|yaml form.
type ReportResult struct {
	File  string   `json:"file"`
	Files []string `json:"files"`
	// ManagerLog says where the manager's lines come from, or why there are none.
	ManagerLog string `json:"managerLog"`
}

// reportKinds are the kinds a Stack's report holds: the Stack's own, its internal objects', and
// every kind Canopy creates for them (labelled canopy.dev/stack). Optional integrations' kinds are
// skipped when their CRDs are absent.
var reportKinds = []struct {
	gvk      schema.GroupVersionKind
	labelled bool // listed by the canopy.dev/stack label; otherwise by name
}{
	{schema.GroupVersionKind{Group: "canopy.dev", Version: "v1alpha1", Kind: "Stack"}, false},
	{schema.GroupVersionKind{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "Database"}, false},
	{schema.GroupVersionKind{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "Frontend"}, false},
	{schema.GroupVersionKind{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "BackupPolicy"}, false},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, true},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, true},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}, true},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, true},
	{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, true},
	{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, true},
	{schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, true},
	{schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, true},
	{schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, true},
	{schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, true},
	{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, true},
	{schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, true},
	{schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}, true},
}

func newReportCommand(o *Options) *cobra.Command {
	var file string
	var logLines int64
	cmd := &cobra.Command{
		Use:   "report STACK",
		Short: "Write a tarball for a bug report: objects, conditions, events and the manager's log lines, Secrets redacted",
		Long: `report writes a .tar.gz with the Stack, its internal objects and every object Canopy made for it
(YAML), the status tree, the events of those objects, and the manager's recent log lines about the
Stack, read from the manager's pod. Secret values are replaced by their size, and kubectl's
last-applied copy is removed from every object: the tarball can be attached to a bug as it is.`,
		Example: `  kubectl canopy report shop
  kubectl canopy report shop -f - > shop-report.tar.gz`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			return s.report(cmd.Context(), args[0], file, logLines)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Where to write the tarball; - for standard output (default canopy-report-NAMESPACE-STACK-TIME.tar.gz)")
	cmd.Flags().Int64Var(&logLines, "log-lines", 5000, "How many of the manager's latest log lines to search for the Stack")
	return cmd
}

func (s *session) report(ctx context.Context, name, file string, logLines int64) error {
	obs, err := s.observe(ctx, name)
	if err != nil {
		return err
	}
	now := s.Now()
	if file == "" {
		file = fmt.Sprintf("canopy-report-%s-%s-%s.tar.gz", s.namespace, name, now.UTC().Format("20060102-150405"))
	}
	var tarball bytes.Buffer
	tw := newTarWriter(&tarball, now)
	var status bytes.Buffer
	printStatus(&status, buildReport(obs, now), style{}, now)
	tw.add("status.txt", status.Bytes())

	names := map[string]bool{}
	secrets := secretValues{}
	for _, k := range reportKinds {
		objs, err := s.reportObjects(ctx, k.gvk, name, k.labelled)
		if err != nil {
			tw.add("objects/"+k.gvk.Kind+".error.txt", []byte(err.Error()+"\n"))
			continue
		}
		if len(objs) == 0 {
			continue
		}
		var doc bytes.Buffer
		for _, o := range objs {
			names[o.GetName()] = true
			secrets.add(o)
			redact(o)
			data, err := yaml.Marshal(o.Object)
			if err != nil {
				return fmt.Errorf("writing %s %s: %w", k.gvk.Kind, o.GetName(), err)
			}
			doc.WriteString("---\n")
			doc.Write(data)
		}
		tw.add("objects/"+k.gvk.Kind+".yaml", doc.Bytes())
	}
	tw.add("events.txt", []byte(secrets.redactText(string(s.reportEvents(ctx, names)))))

	lines, note := s.managerLog(ctx, s.namespace, name, logLines)
	for i := range lines {
		lines[i] = secrets.redactText(lines[i])
	}
	tw.add("manager-log.txt", []byte("# "+strings.ReplaceAll(note, "\n", "\n# ")+"\n"+strings.Join(lines, "\n")+"\n"))
	tw.add("README.txt", []byte(fmt.Sprintf(`Canopy report for Stack %s/%s, written %s by kubectl canopy report.
status.txt       the Stack as kubectl canopy status shows it
objects/*.yaml   the Stack, its Database, Frontend and BackupPolicy, and every object labelled
                 canopy.dev/stack=%s; Secret values are replaced by their size
events.txt       the events of those objects, oldest first
manager-log.txt  the manager's recent log lines about the Stack
`, s.namespace, name, now.UTC().Format(time.RFC3339), name)))
	if err := tw.close(); err != nil {
		return err
	}

	res := &ReportResult{File: file, Files: tw.names, ManagerLog: note}
	if file == "-" {
		_, err := s.Out.Write(tarball.Bytes())
		return err
	}
	if err := os.WriteFile(file, tarball.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if done, err := s.printData(res); done {
		return err
	}
	s.say("Wrote %s (%d files, %s); Secret values are redacted.", file, len(tw.names), size(int64(tarball.Len())))
	s.say("Manager log: %s", note)
	return nil
}

// reportObjects lists the Stack's objects of one kind: by the Stack's label, or the object of the
// Stack's name. A kind whose CRD is absent gives nothing.
func (s *session) reportObjects(ctx context.Context, gvk schema.GroupVersionKind, name string, labelled bool) ([]*unstructured.Unstructured, error) {
	if !labelled {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, u)
		switch {
		case err == nil:
			return []*unstructured.Unstructured{u}, nil
		case client.IgnoreNotFound(err) == nil || meta.IsNoMatchError(err):
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", gvk.Kind, name, err)
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	err := s.c.List(ctx, l, client.InNamespace(s.namespace), client.MatchingLabels{common.LabelStack: name})
	switch {
	case meta.IsNoMatchError(err) || (err != nil && isMissingKind(err)):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
	}
	out := make([]*unstructured.Unstructured, 0, len(l.Items))
	for i := range l.Items {
		l.Items[i].SetGroupVersionKind(gvk)
		out = append(out, &l.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// reportEvents are the events of the namespace about the report's objects, oldest first.
func (s *session) reportEvents(ctx context.Context, names map[string]bool) []byte {
	var list corev1.EventList
	if err := s.c.List(ctx, &list, client.InNamespace(s.namespace)); err != nil {
		return []byte("could not list the events: " + err.Error() + "\n")
	}
	at := func(e corev1.Event) time.Time {
		switch {
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return at(list.Items[i]).Before(at(list.Items[j])) })
	var out bytes.Buffer
	for _, e := range list.Items {
		if !names[e.InvolvedObject.Name] {
			continue
		}
		fmt.Fprintf(&out, "%s  %-7s  %-24s  %s/%s  %s\n", at(e).UTC().Format(time.RFC3339), e.Type, e.Reason,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
	}
	if out.Len() == 0 {
		out.WriteString("no event about the Stack's objects (events expire after an hour by default)\n")
	}
	return out.Bytes()
}

// tarWriter writes a gzipped tarball under one folder, remembering what it wrote.
type tarWriter struct {
	gz    *gzip.Writer
	tw    *tar.Writer
	now   time.Time
	names []string
	err   error
}

func newTarWriter(w io.Writer, now time.Time) *tarWriter {
	gz := gzip.NewWriter(w)
	return &tarWriter{gz: gz, tw: tar.NewWriter(gz), now: now}
}

func (t *tarWriter) add(name string, data []byte) {
	if t.err != nil {
		return
	}
	t.names = append(t.names, name)
	if t.err = t.tw.WriteHeader(&tar.Header{Name: "canopy-report/" + name, Mode: 0o600, Size: int64(len(data)), ModTime: t.now}); t.err == nil {
		_, t.err = t.tw.Write(data)
	}
}

func (t *tarWriter) close() error {
	if t.err != nil {
		return fmt.Errorf("writing the report: %w", t.err)
	}
	if err := t.tw.Close(); err != nil {
		return err
	}
	return t.gz.Close()
}
