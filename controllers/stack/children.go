package stack

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// childKind is one of the Stack's three children, as observe reads it, status mirrors it and
// teardown deletes it. The builders differ in what they take (desiredChildren).
type childKind struct {
	kind string
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
}

func always(*canopyv1alpha1.Stack) bool { return true }

// children are the Stack's children in rollout order; teardown goes through them backwards.
var children = []childKind{
	{kind: "Database", condition: canopyv1alpha1.ConditionDatabaseReady,
		absentReason: canopyv1alpha1.ReasonNotCreated, absent: "the Database is being created", wanted: always,
		newObj: func() client.Object { return &componentsv1alpha1.Database{} },
		of:     func(o *observed) conditions.Object { return nilIfAbsent(o.db) },
		set:    func(o *observed, obj client.Object) { o.db = obj.(*componentsv1alpha1.Database) }},
	{kind: "BackupPolicy", condition: canopyv1alpha1.ConditionBackupReady,
		absentReason: canopyv1alpha1.ReasonWaitingForDB, absent: "the BackupPolicy is created once the Database is Ready",
		wanted: func(s *canopyv1alpha1.Stack) bool { return s.Spec.Backup != nil },
		newObj: func() client.Object { return &componentsv1alpha1.BackupPolicy{} },
		of:     func(o *observed) conditions.Object { return nilIfAbsent(o.bp) },
		set:    func(o *observed, obj client.Object) { o.bp = obj.(*componentsv1alpha1.BackupPolicy) }},
	{kind: "Frontend", condition: canopyv1alpha1.ConditionFrontendReady,
		absentReason: canopyv1alpha1.ReasonWaitingForDB, absent: "the Frontend is created once the Database is Ready", wanted: always,
		newObj: func() client.Object { return &componentsv1alpha1.Frontend{} },
		of:     func(o *observed) conditions.Object { return nilIfAbsent(o.fe) },
		set:    func(o *observed, obj client.Object) { o.fe = obj.(*componentsv1alpha1.Frontend) }},
}

// observedGeneration is what a child's status says its controller observed (0 when absent).
func observedGeneration(obj conditions.Object) int64 {
	if g, ok := obj.(interface{ GetObservedGeneration() int64 }); ok && obj != nil {
		return g.GetObservedGeneration()
	}
	return 0
}
