package v1alpha1

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GetConditions returns the Database's conditions.
func (d *Database) GetConditions() []metav1.Condition { return d.Status.Conditions }

// GetObservedGeneration returns the generation the status describes.
func (d *Database) GetObservedGeneration() int64 { return d.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (d *Database) SetObservedGeneration(g int64) { d.Status.ObservedGeneration = g }

// SetConditions replaces the Database's conditions.
func (d *Database) SetConditions(c []metav1.Condition) { d.Status.Conditions = c }

// GetConditions returns the Frontend's conditions.
func (f *Frontend) GetConditions() []metav1.Condition { return f.Status.Conditions }

// GetObservedGeneration returns the generation the status describes.
func (f *Frontend) GetObservedGeneration() int64 { return f.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (f *Frontend) SetObservedGeneration(g int64) { f.Status.ObservedGeneration = g }

// SetConditions replaces the Frontend's conditions.
func (f *Frontend) SetConditions(c []metav1.Condition) { f.Status.Conditions = c }

// GetConditions returns the BackupPolicy's conditions.
func (b *BackupPolicy) GetConditions() []metav1.Condition { return b.Status.Conditions }

// GetObservedGeneration returns the generation the status describes.
func (b *BackupPolicy) GetObservedGeneration() int64 { return b.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (b *BackupPolicy) SetObservedGeneration(g int64) { b.Status.ObservedGeneration = g }

// SetConditions replaces the BackupPolicy's conditions.
func (b *BackupPolicy) SetConditions(c []metav1.Condition) { b.Status.Conditions = c }

// MajorVersion returns the PostgreSQL major version of a validated version string ("17.2" → "17").
func MajorVersion(version string) string {
	for i := 0; i < len(version); i++ {
		if version[i] == '.' {
			return version[:i]
		}
	}
	return version
}

// IsEnabled reports whether monitoring is on: the spec is set and enabled is not false.
func (m *MonitoringSpec) IsEnabled() bool {
	return m != nil && (m.Enabled == nil || *m.Enabled)
}

// PathStyle reports whether the bucket is addressed as endpoint/bucket (the default).
func (s *S3Destination) PathStyle() bool {
	return s.ForcePathStyle == nil || *s.ForcePathStyle
}

// MaxAgeDuration returns retention.maxAge as a duration; zero when unset. Admission guarantees the
// format, so a parse error means the object bypassed validation.
func (r RetentionPolicy) MaxAgeDuration() (time.Duration, error) {
	return parseOptionalDuration(r.MaxAge)
}

func parseOptionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return d, nil
}

// IsEnabledFrontend reports whether a Frontend's monitoring is on.
func (m *FrontendMonitoringSpec) IsEnabledFrontend() bool {
	return m != nil && m.IsEnabled()
}
