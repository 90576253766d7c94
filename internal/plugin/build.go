package plugin

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// statusBackups is how many of the newest backups `status` lists (`backups` lists them all).
const statusBackups = 3

// jobsPerComponent bounds the Jobs shown under a component: the running and failed ones, newest
// first (finished backups are in the catalogue, finished migrations in the Frontend's status).
const jobsPerComponent = 3

// buildReport turns what was read into the report. Pure: the same objects and clock give the
// same report, which the golden files rely on.
func buildReport(o *observedStack, now time.Time) *StackReport {
	s := o.stack
	r := &StackReport{
		Namespace: s.Namespace, Name: s.Name,
		Version: s.Status.Version, DesiredVersion: s.Spec.Version,
		URL: s.Status.URL, DatabaseEndpoint: s.Status.DatabaseEndpoint, CredentialsSecretName: s.Status.CredentialsSecretName,
		Paused: s.Spec.Paused, Deleting: s.DeletionTimestamp != nil,
		Conditions: s.Status.Conditions, LastBackupFailure: s.Status.LastBackupFailure,
	}
	if c := conditions.Get(s, componentsv1alpha1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = c.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation, c.Reason, c.Message
		if c.Status == metav1.ConditionTrue && !r.Ready {
			r.Reason, r.Message = "NotObserved", "the stack controller has not observed the latest spec yet"
		}
	} else {
		r.Reason, r.Message = "NoStatus", "the stack controller has not reported yet: is the Canopy manager running?"
	}

	r.Components = []Component{databaseComponent(o), frontendComponent(o)}
	if s.Spec.Backup != nil || o.bp != nil {
		r.Components = append(r.Components, backupComponent(o))
	}
	r.Operations = operations(o)
	if o.bp != nil {
		bs := newestFirst(o.bp.Status.Backups)
		r.BackupsTotal = len(bs)
		r.Backups = bs[:min(len(bs), statusBackups)]
	}
	r.Problems = problems(o, r)
	for _, h := range o.hidden {
		r.Hidden = append(r.Hidden, strings.TrimSuffix(strings.TrimPrefix(h, "*v1."), "List")+"s")
	}
	return r
}

func databaseComponent(o *observedStack) Component {
	c := Component{Kind: "Database", Name: o.stack.Name}
	if db := o.db; db != nil {
		fillComponent(&c, db, db.Status.ObservedGeneration)
		facts := []string{"PostgreSQL " + orDash(db.Status.Version)}
		if q := db.Status.StorageCapacity; q != nil {
			facts = append(facts, q.String()+" volume")
		}
		if db.Status.Endpoint != "" {
			facts = append(facts, db.Status.Endpoint)
		}
		if db.Status.TLSEnabled {
			facts = append(facts, "TLS")
		}
		c.Summary = strings.Join(facts, ", ")
	}
	for _, st := range o.statefulSets {
		if st.Labels[common.LabelComponent] == "database" {
			c.Workloads = append(c.Workloads, statefulSetLine(&st))
		}
	}
	c.Workloads = append(c.Workloads, jobLines(o.jobs, "database")...)
	return c
}

func frontendComponent(o *observedStack) Component {
	c := Component{Kind: "Frontend", Name: o.stack.Name}
	if fe := o.fe; fe != nil {
		fillComponent(&c, fe, fe.Status.ObservedGeneration)
		facts := []string{"version " + orDash(fe.Status.Version)}
		if fe.Status.DesiredVersion != "" && fe.Status.DesiredVersion != fe.Status.Version {
			facts[0] += " (moving to " + fe.Status.DesiredVersion + ")"
		}
		facts = append(facts, fmt.Sprintf("%d/%d ready", fe.Status.ReadyReplicas, fe.Status.Replicas))
		if fe.Spec.Stopped {
			facts = append(facts, "stopped")
		}
		if m := fe.Status.Migration; m != nil && m.Version != "" {
			facts = append(facts, "migration "+m.Version+" "+orDash(string(m.Phase)))
		}
		c.Summary = strings.Join(facts, ", ")
	}
	for _, d := range o.deployments {
		if d.Labels[common.LabelComponent] == "frontend" {
			c.Workloads = append(c.Workloads, deploymentLine(&d))
		}
	}
	c.Workloads = append(c.Workloads, jobLines(o.jobs, "frontend")...)
	return c
}

func backupComponent(o *observedStack) Component {
	c := Component{Kind: "BackupPolicy", Name: o.stack.Name}
	if bp := o.bp; bp != nil {
		fillComponent(&c, bp, bp.Status.ObservedGeneration)
		var facts []string
		switch {
		case bp.Spec.Schedule == "":
			facts = append(facts, "on request only")
		case bp.Spec.Suspend:
			facts = append(facts, "schedule "+string(bp.Spec.Schedule)+" (suspended)")
		default:
			facts = append(facts, "schedule "+string(bp.Spec.Schedule))
		}
		if n := bp.Status.NextScheduledTime; n != nil && !bp.Spec.Suspend {
			facts = append(facts, "next "+n.UTC().Format(time.RFC3339))
		}
		facts = append(facts, fmt.Sprintf("%d in catalogue", len(bp.Status.Backups)))
		if h := bp.Spec.Hold; h != nil {
			facts = append(facts, "held: "+h.Reason)
		}
		c.Summary = strings.Join(facts, ", ")
	}
	for _, cj := range o.cronJobs {
		if cj.Labels[common.LabelComponent] == "backup" {
			c.Workloads = append(c.Workloads, cronJobLine(&cj))
		}
	}
	c.Workloads = append(c.Workloads, jobLines(o.jobs, "backup")...)
	return c
}

// fillComponent copies an internal object's Ready condition, trusting it only for the object's
// current spec, as the stack controller does.
func fillComponent(c *Component, obj conditions.Object, observedGeneration int64) {
	c.Found = true
	c.Conditions = obj.GetConditions()
	ready := conditions.Get(obj, componentsv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		c.Reason, c.Message = "NoStatus", "its controller has not reported yet"
	case observedGeneration != obj.GetGeneration() && !conditions.IsTrue(obj, componentsv1alpha1.ConditionStalled):
		c.Reason, c.Message = "NotObserved", "its controller has not observed the latest spec yet"
	default:
		c.Ready, c.Reason, c.Message = ready.Status == metav1.ConditionTrue, ready.Reason, ready.Message
	}
}

func statefulSetLine(st *appsv1.StatefulSet) Workload {
	want := int32(1)
	if st.Spec.Replicas != nil {
		want = *st.Spec.Replicas
	}
	return Workload{Kind: "StatefulSet", Name: st.Name, Healthy: st.Status.ReadyReplicas >= want,
		Summary: fmt.Sprintf("%d/%d ready", st.Status.ReadyReplicas, want)}
}

func deploymentLine(d *appsv1.Deployment) Workload {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	sum := fmt.Sprintf("%d/%d ready, %d up to date", d.Status.ReadyReplicas, want, d.Status.UpdatedReplicas)
	return Workload{Kind: "Deployment", Name: d.Name, Healthy: d.Status.ReadyReplicas >= want, Summary: sum}
}

func cronJobLine(cj *batchv1.CronJob) Workload {
	w := Workload{Kind: "CronJob", Name: cj.Name, Healthy: true, Summary: "schedule " + cj.Spec.Schedule}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		w.Summary += ", suspended"
	}
	if n := len(cj.Status.Active); n > 0 {
		w.Summary += fmt.Sprintf(", %d running", n)
	}
	return w
}

// jobLines lists a component's running and failed Jobs, newest first.
func jobLines(jobs []batchv1.Job, component string) []Workload {
	var out []Workload
	for _, j := range jobs {
		if j.Labels[common.LabelComponent] != component || len(out) == jobsPerComponent {
			continue
		}
		switch {
		case jobCondition(&j, batchv1.JobFailed):
			out = append(out, Workload{Kind: "Job", Name: j.Name, Failed: true, Summary: jobMessage(&j)})
		case !jobCondition(&j, batchv1.JobComplete):
			out = append(out, Workload{Kind: "Job", Name: j.Name, Healthy: true, Summary: "running"})
		}
	}
	return out
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobMessage(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed {
			return strings.TrimPrefix(c.Reason+": "+c.Message, ": ")
		}
	}
	return ""
}

// newestFirst sorts a copy of the catalogue by completion time, newest first.
func newestFirst(in []componentsv1alpha1.BackupRecord) []componentsv1alpha1.BackupRecord {
	out := append([]componentsv1alpha1.BackupRecord(nil), in...)
	at := func(b componentsv1alpha1.BackupRecord) time.Time {
		if b.CompletionTime != nil {
			return b.CompletionTime.Time
		}
		if b.StartTime != nil {
			return b.StartTime.Time
		}
		return time.Time{}
	}
	sort.SliceStable(out, func(i, j int) bool { return at(out[i]).After(at(out[j])) })
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
