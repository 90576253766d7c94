// Package specgen turns arbitrary bytes (a fuzzer's input) into a Stack that admission accepts, with
// the defaults the API server would fill in, and runs every builder of internal/desired on it. The
// fuzz targets of the builder packages and the dry-run test of internal/desired share it: what the
// fuzzer explores is what the API server is then asked to accept.
package specgen

import (
	"fmt"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// source hands out the fuzzer's bytes; past the end it returns zeros, so every input, even an
// empty one, makes a Stack.
type source struct {
	data []byte
	pos  int
}

func (s *source) byte() byte {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

// intn returns a number in [0, n).
func (s *source) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return (int(s.byte())<<8 | int(s.byte())) % n
}

// between returns a number in [lo, hi].
func (s *source) between(lo, hi int) int { return lo + s.intn(hi-lo+1) }

func (s *source) int32(lo, hi int) int32 { return int32(s.between(lo, hi)) } //nolint:gosec // lo and hi are int32 bounds

func (s *source) bool() bool { return s.byte()&1 == 1 }

func pick[T any](s *source, xs ...T) T { return xs[s.intn(len(xs))] }

// word returns between lo and hi characters of alphabet.
func (s *source) word(alphabet string, lo, hi int) string {
	n := s.between(lo, hi)
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[s.intn(len(alphabet))])
	}
	return b.String()
}

const (
	lower  = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
	alnum  = lower + digits
)

// label returns a DNS-1123 label of lo to hi characters starting with a letter.
func (s *source) label(lo, hi int) string {
	n := s.between(lo, hi)
	if n == 1 {
		return s.word(lower, 1, 1)
	}
	return s.word(lower, 1, 1) + s.word(alnum+"-", n-2, n-2) + s.word(alnum, 1, 1)
}

// subdomain returns a lower case name with dots, as object names and backup names allow.
func (s *source) subdomain() string {
	parts := []string{s.label(1, 20)}
	for range s.intn(3) {
		parts = append(parts, s.label(1, 20))
	}
	return strings.Join(parts, ".")
}

// text returns valid UTF-8 that mixes letters with the characters that break renderings: quotes,
// backslashes, newlines, '#', '=', '$', spaces and non-ASCII.
func (s *source) text(maxLen int) string {
	runes := []rune("aZ09_-./:'\"\\\n\r\t #=${}%` é€😀")
	n := s.intn(maxLen + 1)
	var b strings.Builder
	for range n {
		r := runes[s.intn(len(runes))]
		if b.Len()+utf8.RuneLen(r) > maxLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Case is a generated Stack and what the controllers would pass the builders besides it.
type Case struct {
	Stack *canopyv1alpha1.Stack

	// Stopped scales the web tier to zero (an in-place restore in progress).
	Stopped bool
	// CredentialsRevision of the Database, passed to the Frontend.
	CredentialsRevision string
	// Certificate is the hash of the database's issued certificate ("" while none is).
	Certificate string
	// MajorUpgrade moves the data to a new volume as a major-version upgrade does.
	MajorUpgrade bool
	// BackupRequest is the token of an on-demand backup.
	BackupRequest string
	// Hold makes backups wait for a data operation.
	Hold bool
	// Password of the database's users.
	Password string
}

// Namespace of generated Stacks; the dry-run test replaces it with its own.
const Namespace = "fuzz"

// Generate makes a Case out of data. The Stack is valid for admission and carries the defaults
// admission writes, so that the builders see what they see in a cluster.
func Generate(data []byte) *Case {
	s := &source{data: data}
	// The first two bytes choose the optional sections, so that they stay under the fuzzer's
	// control however many bytes the rest takes.
	flags := uint16(s.byte())<<8 | uint16(s.byte())
	on := func(bits ...int) bool {
		for _, b := range bits {
			if flags&(1<<b) == 0 {
				return false
			}
		}
		return true
	}
	name := s.label(1, 40)
	if s.intn(4) == 0 {
		name = s.label(40, 40) // the longest name admission allows gives the longest derived names
	}
	st := &canopyv1alpha1.Stack{
		TypeMeta: metav1.TypeMeta{APIVersion: canopyv1alpha1.GroupVersion.String(), Kind: "Stack"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Generation: 1,
			UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", s.intn(1<<16)))},
		Spec: canopyv1alpha1.StackSpec{
			Version:        s.version(),
			Frontend:       s.frontend(),
			Database:       s.database(),
			DeletionPolicy: pick(s, canopyv1alpha1.DeletionPolicyDelete, canopyv1alpha1.DeletionPolicyOrphan),
			Paused:         s.intn(8) == 0,
			Rollout:        canopyv1alpha1.RolloutSpec{StepTimeout: pick(s, "15m", "30s", "24h", "1h30m", "90s")},
		},
	}
	sp := &st.Spec
	if on(0) || on(1) {
		sp.Backup = s.backup()
	} else {
		sp.Database.AllowMajorVersionUpgrade = false // needs spec.backup
	}
	if on(2, 3) {
		sp.Restore = &canopyv1alpha1.StackRestore{BackupName: s.subdomain(), OverwriteExistingData: s.bool()}
		if s.bool() {
			sp.Restore.Stack = s.stackRef()
		}
		if sp.Backup == nil || s.bool() {
			sp.Restore.Destination = ptr.To(s.destination())
		}
	}
	if on(4, 5) {
		sp.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: s.word(alnum, 1, 1) + s.word(alnum+"-_.", 0, 20) + s.word(alnum, 1, 1),
			BackupName: s.subdomain()}
		if sp.Backup == nil || s.bool() {
			sp.RestoreRequest.Destination = ptr.To(s.destination())
		}
	}
	if on(6) {
		sp.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: s.subdomain(),
			Kind: pick(s, "Issuer", "ClusterIssuer"), Group: "cert-manager.io"}}
	}
	if on(7) {
		m := &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(s.intn(4) != 3), Interval: pick(s, "30s", "1m", "500ms", "2h")}
		if s.bool() {
			m.Labels = map[string]string{"release": s.label(1, 20)}
			if s.bool() {
				m.Labels["example.com/"+s.label(1, 30)] = s.word(alnum, 0, 63)
			}
		}
		if s.bool() {
			m.PrometheusNamespace = s.label(1, 63)
		}
		sp.Monitoring = m
	}
	if on(8) {
		r := &canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Retain, Backups: componentsv1alpha1.Retain}
		if sp.DeletionPolicy == canopyv1alpha1.DeletionPolicyDelete {
			r.PersistentVolumeClaims = pick(s, componentsv1alpha1.Retain, componentsv1alpha1.Delete)
			r.Backups = pick(s, componentsv1alpha1.Retain, componentsv1alpha1.Delete)
		}
		sp.DataRetention = r
	}
	if on(9, 10) {
		st.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: s.word(alnum, 1, 1) + s.word(alnum+"-_.", 0, 30)}
	}
	c := &Case{Stack: st, Stopped: on(11, 12), MajorUpgrade: on(13, 14), Hold: on(15, 0), Password: s.text(40)}
	if s.bool() {
		c.CredentialsRevision = s.word(alnum, 1, 20)
	}
	if s.bool() {
		c.Certificate = s.word("0123456789abcdef", 16, 16)
	}
	if s.bool() {
		c.BackupRequest = s.word(alnum, 1, 1) + s.word(alnum+"-_.", 0, 30) + s.word(alnum, 1, 1) // a controller's token
	}
	return c
}

func (s *source) version() string {
	return pick(s, "1.0.0", "v2", "latest", "2026.01.15-rc_1", "_x") + s.word(alnum+"_.-", 0, 8)
}

func (s *source) stackRef() string {
	ref := s.label(1, 50)
	if s.bool() {
		ref = s.label(1, 50) + "." + ref
	}
	return ref
}

func (s *source) image() string {
	img := pick(s, "ghcr.io/acme/shop", "registry.example.com:5000/team/app", "nginx", "a.b-c/d__e/f")
	if s.intn(4) == 0 {
		img += "@sha256:" + s.word("0123456789abcdef", 64, 64)
	}
	return img
}

func (s *source) quantity(values ...string) resource.Quantity {
	return resource.MustParse(pick(s, values...))
}

func (s *source) resources(withLimits bool) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	switch s.intn(3) {
	case 0:
		return r
	case 1:
		r.Requests = corev1.ResourceList{corev1.ResourceCPU: s.quantity("10m", "1", "2500m"), corev1.ResourceMemory: s.quantity("64Mi", "1Gi", "3G")}
	}
	if withLimits || s.bool() {
		r.Limits = corev1.ResourceList{corev1.ResourceMemory: s.quantity("4Gi", "8Gi", "64Gi")}
	}
	return r
}

func (s *source) frontend() canopyv1alpha1.StackFrontend {
	f := canopyv1alpha1.StackFrontend{
		Image:                   s.image(),
		Port:                    s.int32(1, 65535),
		Resources:               s.resources(false),
		MetricsPath:             pick(s, "/metrics", "/", "/internal/prom"),
		ProgressDeadlineSeconds: s.int32(30, 86400),
	}
	switch s.intn(3) {
	case 1:
		f.Replicas = ptr.To(s.int32(1, 1000))
	case 2:
		a := &componentsv1alpha1.AutoscalingSpec{MinReplicas: s.int32(1, 1000)}
		a.MaxReplicas = s.int32(int(a.MinReplicas), 1000)
		if s.bool() {
			a.TargetCPUUtilizationPercentage = ptr.To(s.int32(1, 100))
		}
		if a.TargetCPUUtilizationPercentage == nil || s.bool() {
			a.TargetMemoryUtilizationPercentage = ptr.To(s.int32(1, 100))
		}
		f.Autoscaling = a
	}
	seen := map[string]bool{}
	for range s.intn(5) {
		name := s.word("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", 1, 1) + s.word("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", 0, 20)
		if seen[name] {
			continue
		}
		seen[name] = true
		e := corev1.EnvVar{Name: name, Value: s.text(64)}
		if s.intn(4) == 0 {
			e = corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: s.subdomain()}, Key: s.word(alnum+"-_.", 1, 20)}}}
		}
		f.Env = append(f.Env, e)
	}
	if s.bool() {
		f.ReadOnlyRootFilesystem = ptr.To(s.bool())
	}
	if s.bool() {
		f.Probes = &componentsv1alpha1.ProbesSpec{}
		if s.bool() {
			f.Probes.Readiness = s.probe()
		}
		if s.bool() {
			f.Probes.Liveness = s.probe()
		}
	}
	if s.bool() {
		in := &componentsv1alpha1.IngressSpec{Host: s.label(1, 30) + "." + s.label(1, 30) + ".example"}
		if s.bool() {
			in.ClassName = ptr.To(pick(s, "nginx", "traefik"))
		}
		if s.bool() {
			in.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": s.text(16)}
		}
		f.Ingress = in
	}
	if s.bool() {
		m := &componentsv1alpha1.MigrationSpec{TimeoutSeconds: int64(s.between(10, 86400)), BackoffLimit: s.int32(0, 10)}
		for range s.between(1, 3) {
			m.Command = append(m.Command, s.text(32))
		}
		for range s.intn(3) {
			m.Args = append(m.Args, s.text(32))
		}
		f.Migration = m
	}
	for i := range s.intn(3) {
		f.ImagePullSecrets = append(f.ImagePullSecrets, corev1.LocalObjectReference{Name: fmt.Sprintf("%s-%d", s.label(1, 20), i)})
	}
	return f
}

func (s *source) probe() *componentsv1alpha1.HTTPProbe {
	return &componentsv1alpha1.HTTPProbe{Path: "/" + s.word(alnum+"/-_.?=&", 0, 30), InitialDelaySeconds: s.int32(0, 3600),
		PeriodSeconds: s.int32(1, 3600), FailureThreshold: s.int32(1, 100)}
}

// parameters PostgreSQL accepts; values are arbitrary text.
var parameterNames = []string{"work_mem", "max_wal_size", "log_min_duration_statement", "statement_timeout", "shared_preload_libraries",
	"search_path", "custom.setting", "application_name", "timezone", "max_connections", "shared_buffers"}

func (s *source) database() canopyv1alpha1.StackDatabase {
	d := canopyv1alpha1.StackDatabase{
		Version:                  pick(s, "13", "14", "15", "16", "17", "18"),
		AllowMajorVersionUpgrade: s.bool(),
		Storage:                  componentsv1alpha1.StorageSpec{Size: s.quantity("1Gi", "500Mi", "10G", "1Ti", "1.5Gi", "100")},
		Resources:                s.resources(s.bool()),
		ExpectedConnections:      s.int32(10, 10000),
	}
	if s.bool() {
		d.Version += "." + s.word(digits, 1, 3)
	}
	if s.intn(4) == 0 {
		// A tag starts with a letter, digit or underscore (the image reference grammar admission checks).
		d.Image = "registry.example.com/postgres:" + s.word(alnum, 1, 1) + s.word(alnum+".-", 0, 19)
	}
	if s.bool() {
		d.Storage.StorageClassName = ptr.To(s.subdomain())
	}
	for range s.intn(4) {
		if d.Parameters == nil {
			d.Parameters = map[string]string{}
		}
		name := pick(s, parameterNames...)
		v := s.text(40)
		if name == "shared_preload_libraries" {
			v = strings.ReplaceAll(v, "/", "")
		}
		d.Parameters[name] = v
	}
	if s.bool() {
		d.CredentialsRotation = s.word(alnum+"-", 1, 63)
	}
	seen := map[string]bool{}
	for range s.intn(3) {
		v := s.subdomain()
		if !seen[v] {
			seen[v] = true
			d.ReleaseVolumes = append(d.ReleaseVolumes, v)
		}
	}
	return d
}

// schedule returns a cron schedule inside the ranges the backup controller accepts.
func (s *source) schedule() componentsv1alpha1.CronSchedule {
	switch s.intn(4) {
	case 0:
		return ""
	case 1:
		return componentsv1alpha1.CronSchedule(pick(s, "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"))
	}
	field := func(lo, hi int) string {
		switch s.intn(4) {
		case 0:
			return "*"
		case 1:
			return fmt.Sprintf("*/%d", s.between(1, hi))
		case 2:
			a := s.between(lo, hi)
			return fmt.Sprintf("%d-%d", a, s.between(a, hi))
		}
		return fmt.Sprint(s.between(lo, hi))
	}
	dow := field(0, 6)
	if s.intn(4) == 0 {
		dow = pick(s, "Mon-Fri", "Sun", "Sat,Sun")
	}
	return componentsv1alpha1.CronSchedule(strings.Join([]string{field(0, 59), field(0, 23), field(1, 28), field(1, 12), dow}, " "))
}

func (s *source) backup() *canopyv1alpha1.StackBackup {
	b := &canopyv1alpha1.StackBackup{
		Schedule:       s.schedule(),
		Suspend:        s.intn(4) == 0,
		Destination:    s.destination(),
		Retention:      componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To(s.int32(1, 1000))},
		BeforeUpgrade:  ptr.To(s.bool()),
		TimeoutSeconds: int64(s.between(60, 604800)),
	}
	if s.bool() {
		b.TimeZone = ptr.To(pick(s, "UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"))
	}
	if s.bool() {
		b.Retention.MaxAge = pick(s, "720h", "1h", "1.5h", "90m30s", "3600s")
	}
	if s.bool() {
		b.ScratchSize = ptr.To(s.quantity("1Gi", "20G", "512Mi"))
	}
	return b
}

func (s *source) destination() componentsv1alpha1.BackupDestination {
	var d componentsv1alpha1.BackupDestination
	if s.bool() {
		v := &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: s.quantity("1Gi", "5Gi", "100G")}}
		if s.bool() {
			v.ClaimName = s.subdomain()
		}
		if s.bool() {
			v.Storage.StorageClassName = ptr.To(s.subdomain())
		}
		d.Volume = v
	} else {
		s3 := &componentsv1alpha1.S3Destination{
			Endpoint:          pick(s, "https://s3.example.com", "http://minio.minio:9000", "https://[::1]:9000/base", "https://s3.amazonaws.com/x/y"),
			Bucket:            s.word(alnum, 1, 1) + s.word(alnum+".-", 1, 30) + s.word(alnum, 1, 1),
			Region:            pick(s, "us-east-1", "eu-west-3", "", "auto"),
			CredentialsSecret: corev1.LocalObjectReference{Name: s.subdomain()},
			ForcePathStyle:    ptr.To(s.bool()),
		}
		if s.bool() {
			s3.Prefix = s.word(alnum, 1, 1) + s.word(alnum+"/._=+@,:!*()-", 0, 40) + s.word(alnum, 1, 1)
		}
		d.S3 = s3
	}
	if s.bool() {
		d.Encryption = &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: s.subdomain()},
			KeyID: s.word(alnum, 1, 1) + s.word(alnum+"-._", 0, 30) + s.word(alnum, 1, 1)}
	}
	return d
}
