package stack

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// childKind is one of the Stack's three children, as observe reads it, the plan builds it, apply
// writes it, status mirrors it and teardown deletes it.
type childKind struct {
	kind string
	// name is the child in the Ready message's list of what is not ready.
	name string
	// condition is the Stack's condition that mirrors the child's Ready.
	condition string
	// absentReason and absent explain a child that does not exist (yet).
	absentReason, absent string
	// wanted says whether the Stack asks for this child at all.
	wanted func(*canopyv1alpha1.Stack) bool
	newObj func() client.Object
	// of and set read and write the child in what was observed.
	of  func(*observed) conditions.Object
	set func(*observed, client.Object)
	// build is the child as the plan wants it; nil when not wanted yet.
	build func(*canopyv1alpha1.Stack, observed, plan) client.Object
	// component is the child's entry in status.components; versions are what it is asked to run
	// and what it reports running.
	component func(*canopyv1alpha1.ComponentsStatus) **canopyv1alpha1.ComponentStatus
	versions  func(*canopyv1alpha1.Stack, observed) (desired, observed string)
}

func always(*canopyv1alpha1.Stack) bool { return true }

func noVersions(*canopyv1alpha1.Stack, observed) (string, string) { return "", "" }

var (
	databaseChild = childKind{kind: "Database", name: "database", condition: canopyv1alpha1.ConditionDatabaseReady,
		absentReason: canopyv1alpha1.ReasonNotCreated, absent: "the Database is being created", wanted: always,
		newObj:    func() client.Object { return &componentsv1alpha1.Database{} },
		of:        func(o *observed) conditions.Object { return nilIfAbsent(o.db) },
		set:       func(o *observed, obj client.Object) { o.db = obj.(*componentsv1alpha1.Database) },
		build:     buildDatabase,
		component: func(c *canopyv1alpha1.ComponentsStatus) **canopyv1alpha1.ComponentStatus { return &c.Database },
		versions: func(s *canopyv1alpha1.Stack, o observed) (string, string) {
			if o.db == nil {
				return s.Spec.Database.Version, ""
			}
			return s.Spec.Database.Version, o.db.Status.Version
		}}
	backupChild = childKind{kind: "BackupPolicy", name: "backup", condition: canopyv1alpha1.ConditionBackupReady,
		absentReason: canopyv1alpha1.ReasonWaitingForDB, absent: "the BackupPolicy is created once the Database is Ready",
		wanted:    func(s *canopyv1alpha1.Stack) bool { return s.Spec.Backup != nil },
		newObj:    func() client.Object { return &componentsv1alpha1.BackupPolicy{} },
		of:        func(o *observed) conditions.Object { return nilIfAbsent(o.bp) },
		set:       func(o *observed, obj client.Object) { o.bp = obj.(*componentsv1alpha1.BackupPolicy) },
		build:     buildBackupPolicy,
		component: func(c *canopyv1alpha1.ComponentsStatus) **canopyv1alpha1.ComponentStatus { return &c.Backup },
		versions:  noVersions}
	frontendChild = childKind{kind: "Frontend", name: "frontend", condition: canopyv1alpha1.ConditionFrontendReady,
		absentReason: canopyv1alpha1.ReasonWaitingForDB, absent: "the Frontend is created once the Database is Ready", wanted: always,
		newObj:    func() client.Object { return &componentsv1alpha1.Frontend{} },
		of:        func(o *observed) conditions.Object { return nilIfAbsent(o.fe) },
		set:       func(o *observed, obj client.Object) { o.fe = obj.(*componentsv1alpha1.Frontend) },
		build:     buildFrontend,
		component: func(c *canopyv1alpha1.ComponentsStatus) **canopyv1alpha1.ComponentStatus { return &c.Frontend },
		versions: func(s *canopyv1alpha1.Stack, o observed) (string, string) {
			if o.fe == nil {
				return s.Spec.Version, ""
			}
			return s.Spec.Version, o.fe.Status.Version
		}}
)

// children are the Stack's children in rollout order; teardown goes through them backwards.
var children = []childKind{databaseChild, backupChild, frontendChild}

// existed reports whether the Stack's status says the child existed before.
func (c childKind) existed(s *canopyv1alpha1.Stack) bool {
	st := *c.component(&s.Status.Components)
	return st != nil && st.Name != ""
}

// observedGeneration is what a child's status says its controller observed (0 when absent).
func observedGeneration(obj conditions.Object) int64 {
	if g, ok := obj.(interface{ GetObservedGeneration() int64 }); ok && obj != nil {
		return g.GetObservedGeneration()
	}
	return 0
}
