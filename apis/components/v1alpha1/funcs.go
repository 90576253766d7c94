package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GetConditions returns the Database's conditions.
func (d *Database) GetConditions() []metav1.Condition { return d.Status.Conditions }

// SetConditions replaces the Database's conditions.
func (d *Database) SetConditions(c []metav1.Condition) { d.Status.Conditions = c }

// GetConditions returns the Frontend's conditions.
func (f *Frontend) GetConditions() []metav1.Condition { return f.Status.Conditions }

// SetConditions replaces the Frontend's conditions.
func (f *Frontend) SetConditions(c []metav1.Condition) { f.Status.Conditions = c }

// GetConditions returns the BackupPolicy's conditions.
func (b *BackupPolicy) GetConditions() []metav1.Condition { return b.Status.Conditions }

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
