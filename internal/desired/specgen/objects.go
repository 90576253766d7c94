package specgen

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/desired/stack"
	"github.com/canopy-dev/canopy/internal/podsecurity"
)

// Images the builders get from the manager's environment in production.
const (
	AgentImage    = "ghcr.io/canopy-dev/canopy:v0.1.0"
	ExporterImage = "quay.io/prometheuscommunity/postgres-exporter:v0.17.1"
)

// noEnv stands for the manager's environment: no image overrides.
func noEnv(string) string { return "" }

// Database is the Stack's desired Database.
func (c *Case) Database() *componentsv1alpha1.Database { return stack.Database(c.Stack) }

// Frontend is the Stack's desired Frontend, connected to the Database's credentials.
func (c *Case) Frontend() *componentsv1alpha1.Frontend {
	return stack.Frontend(c.Stack, stack.FrontendInput{Version: c.Stack.Spec.Version, CredentialsSecretName: database.CredentialsName(c.Database()),
		CredentialsRevision: c.CredentialsRevision, DatabaseTLS: c.Stack.Spec.TLS != nil, Stopped: c.Stopped})
}

// BackupPolicy is the Stack's desired BackupPolicy, or nil.
func (c *Case) BackupPolicy() *componentsv1alpha1.BackupPolicy {
	in := stack.BackupInput{AppVersion: c.Stack.Spec.Version, BackupRequest: c.BackupRequest}
	if c.Hold {
		in.Hold = &componentsv1alpha1.BackupHold{Reason: canopyv1alpha1.ReasonDatabaseUpgrading}
		if c.Stack.Spec.RestoreRequest != nil {
			in.ProtectedBackups = []string{c.Stack.Spec.RestoreRequest.BackupName}
		}
	}
	return stack.BackupPolicy(c.Stack, in)
}

// Children are the Stack's internal objects.
func (c *Case) Children() []client.Object {
	out := []client.Object{c.Database(), c.Frontend()}
	if bp := c.BackupPolicy(); bp != nil {
		out = append(out, bp)
	}
	return out
}

// DatabaseObjects are the objects the database controller creates for the Stack's Database.
func (c *Case) DatabaseObjects() []client.Object {
	db := c.Database()
	db.UID = c.Stack.UID + "-d" // as read back from the API server: owner references need it
	tls := db.Spec.TLS != nil
	monitoring := db.Spec.Monitoring != nil && db.Spec.Monitoring.IsEnabled()
	cm, hash := database.ConfigMap(db, tls)
	in := database.StatefulSetInput{Image: database.Image(db, noEnv), Version: db.Spec.Version, ExporterImage: ExporterImage, ConfigHash: hash,
		VolumeSize: db.Spec.Storage.Size, Monitoring: monitoring, TLS: tls, Certificate: c.Certificate}
	if c.MajorUpgrade {
		major, _, _ := strings.Cut(db.Spec.Version, ".")
		in.DataVolume, in.KeepVolume = database.MajorDataVolume(major, "b1"), true
	}
	out := []client.Object{cm, database.InitConfigMap(db), database.HeadlessService(db), database.ClientService(db, monitoring),
		database.NetworkPolicy(db, "canopy-system"), database.PodDisruptionBudget(db), database.StatefulSet(db, in),
		database.CredentialsSecret(db, c.Password, nil), database.SuperuserSecret(db, c.Password)}
	if tls {
		out = append(out, database.Certificate(db), database.CredentialsSecret(db, c.Password, []byte("-----BEGIN CERTIFICATE-----\n")))
	}
	if monitoring {
		out = append(out, database.ServiceMonitor(db), database.PrometheusRule(db))
	}
	if b := db.Spec.Bootstrap; b != nil {
		out = append(out, database.RestoreJob(db, database.RestoreInput{AgentImage: AgentImage, PostgresImage: in.Image, Source: b.FromBackup}, "bootstrap"))
	}
	if r := c.Stack.Spec.RestoreRequest; r != nil {
		src := componentsv1alpha1.BackupSource{BackupName: r.BackupName, Destination: restoreDestination(c, r.Destination)}
		out = append(out, database.RestoreJob(db, database.RestoreInput{AgentImage: AgentImage, PostgresImage: in.Image, Source: src}, r.ID))
	}
	return nonNil(out)
}

func restoreDestination(c *Case, explicit *componentsv1alpha1.BackupDestination) componentsv1alpha1.BackupDestination {
	if explicit != nil {
		return *explicit
	}
	return c.Stack.Spec.Backup.Destination
}

// FrontendObjects are the objects the frontend controller creates for the Stack's Frontend.
func (c *Case) FrontendObjects() []client.Object {
	fe := c.Frontend()
	fe.UID = c.Stack.UID + "-f"
	tls := fe.Spec.TLS != nil
	out := []client.Object{frontend.Deployment(fe, fe.Spec.Version), frontend.Service(fe)}
	if ing := frontend.Ingress(fe, tls); ing != nil {
		out = append(out, ing)
		if tls {
			out = append(out, frontend.Certificate(fe))
		}
	}
	if hpa := frontend.HorizontalPodAutoscaler(fe); hpa != nil {
		out = append(out, hpa)
	}
	if pdb := frontend.PodDisruptionBudget(fe); pdb != nil {
		out = append(out, pdb)
	}
	if fe.Spec.Migration != nil {
		out = append(out, frontend.MigrationJob(fe, fe.Spec.Version))
	}
	out = append(out, frontend.ServiceMonitor(fe))
	return nonNil(out)
}

// BackupObjects are the objects the backup controller creates for the Stack's BackupPolicy.
func (c *Case) BackupObjects() []client.Object {
	bp := c.BackupPolicy()
	if bp == nil {
		return nil
	}
	bp.UID = c.Stack.UID + "-b"
	db := c.Database()
	in := backup.Input{AgentImage: AgentImage, PostgresImage: database.Image(db, noEnv), CredentialsSecret: database.CredentialsName(db),
		DatabaseVersion: db.Spec.Version}
	out := []client.Object{backup.PurgeJob(bp, in), backup.BackupJob(bp, in, "b1", backup.TriggerAnnotation, "now")}
	if bp.Spec.Schedule != "" {
		out = append(out, backup.CronJob(bp, in))
	}
	if bp.Spec.BackupRequest != "" {
		out = append(out, backup.BackupJob(bp, in, "b2", backup.TriggerRequest, bp.Spec.BackupRequest))
	}
	out = append(out, backup.VolumeClaim(bp))
	return nonNil(out)
}

// nonNil drops the nil pointers of builders that had nothing to build.
func nonNil(objs []client.Object) []client.Object {
	out := objs[:0]
	for _, o := range objs {
		if o != nil && !reflect.ValueOf(o).IsNil() {
			out = append(out, o)
		}
	}
	return out
}

// Objects are every object built from the Case: the children and what their controllers create.
func (c *Case) Objects() []client.Object {
	out := c.Children()
	out = append(out, c.DatabaseObjects()...)
	out = append(out, c.FrontendObjects()...)
	return append(out, c.BackupObjects()...)
}

// Check returns what is wrong with objs, built from c: a name the API server rejects, an invalid
// label or annotation, a pod template that the restricted Pod Security level refuses, a mount of a
// volume the pod lacks.
func Check(c *Case, objs []client.Object) error {
	var errs []error
	for _, o := range objs {
		if o == nil {
			errs = append(errs, errors.New("a builder returned nil"))
			continue
		}
		kind := o.GetObjectKind().GroupVersionKind().Kind
		id := fmt.Sprintf("%s %q", kind, o.GetName())
		if kind == "" {
			errs = append(errs, fmt.Errorf("%s: no kind", id))
		}
		if o.GetNamespace() != c.Stack.Namespace {
			errs = append(errs, fmt.Errorf("%s: namespace %q, not the Stack's", id, o.GetNamespace()))
		}
		for _, msg := range nameErrors(kind, o.GetName()) {
			errs = append(errs, fmt.Errorf("%s: name: %s", id, msg))
		}
		errs = append(errs, metaErrors(id, o.GetLabels(), o.GetAnnotations())...)
		if meta, spec := podOf(o); spec != nil {
			errs = append(errs, metaErrors(id+" pod template", meta.Labels, meta.Annotations)...)
			if err := podsecurity.CheckRestricted(meta, spec); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
			}
			var claims []string
			if sts, ok := o.(*appsv1.StatefulSet); ok {
				for _, t := range sts.Spec.VolumeClaimTemplates {
					claims = append(claims, t.Name)
				}
			}
			errs = append(errs, podErrors(id, spec, claims)...)
		}
	}
	return errors.Join(errs...)
}

// nameErrors applies the name rules of the API server, and those that a derived name must follow
// too: a Job's name becomes a label value (at most 63 characters), a CronJob's name plus 11
// characters a Job's.
func nameErrors(kind, name string) []string {
	switch kind {
	case "Service":
		return validation.IsDNS1035Label(name)
	case "Job":
		return append(validation.IsDNS1123Subdomain(name), validation.IsValidLabelValue(name)...)
	case "CronJob":
		msgs := validation.IsDNS1123Subdomain(name)
		if len(name) > 52 {
			msgs = append(msgs, "longer than 52 characters")
		}
		return msgs
	case "StatefulSet":
		// Pods are named <name>-<ordinal> and labelled with <name>-<revision hash>.
		msgs := validation.IsDNS1123Label(name)
		if len(name) > 52 {
			msgs = append(msgs, "longer than 52 characters")
		}
		return msgs
	}
	return validation.IsDNS1123Subdomain(name)
}

func metaErrors(id string, labels, annotations map[string]string) []error {
	var errs []error
	for _, e := range metav1validation.ValidateLabels(labels, field.NewPath("labels")) {
		errs = append(errs, fmt.Errorf("%s: %w", id, e))
	}
	for _, e := range apivalidation.ValidateAnnotations(annotations, field.NewPath("annotations")) {
		errs = append(errs, fmt.Errorf("%s: %w", id, e))
	}
	return errs
}

// podErrors checks that container names are unique labels and that every mount names a volume of
// the pod or one of claims (a StatefulSet's claim templates).
func podErrors(id string, spec *corev1.PodSpec, claims []string) []error {
	var errs []error
	volumes := map[string]bool{}
	for _, c := range claims {
		volumes[c] = true
	}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			errs = append(errs, fmt.Errorf("%s: volume %q twice", id, v.Name))
		}
		volumes[v.Name] = true
	}
	names := map[string]bool{}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, ctr := range cs {
			if names[ctr.Name] {
				errs = append(errs, fmt.Errorf("%s: container %q twice", id, ctr.Name))
			}
			names[ctr.Name] = true
			for _, msg := range validation.IsDNS1123Label(ctr.Name) {
				errs = append(errs, fmt.Errorf("%s: container %q: %s", id, ctr.Name, msg))
			}
			for _, m := range ctr.VolumeMounts {
				if !volumes[m.Name] {
					errs = append(errs, fmt.Errorf("%s: container %q mounts %q, which the pod lacks", id, ctr.Name, m.Name))
				}
			}
		}
	}
	return errs
}

// podOf returns the pod template of a workload, or nil.
func podOf(o client.Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
	switch w := o.(type) {
	case *appsv1.StatefulSet:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	case *appsv1.Deployment:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	case *batchv1.Job:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	case *batchv1.CronJob:
		return &w.Spec.JobTemplate.Spec.Template.ObjectMeta, &w.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil, nil
}
