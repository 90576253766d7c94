package plugin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/canopy-dev/canopy/internal/desired/common"
)

// managerContainer is the manager's container in config/manager and the bundle.
const managerContainer = "manager"

// managerLog returns the manager's recent log lines about the Stack, read from the logs of the
// manager's pods (every namespace: under OLM it runs in the operators' namespace), and a note
// saying where they come from or why there are none. A manager run outside the cluster (make
// run, the simulated cluster of make demo and the e2e suite) has no pod: the note says so.
func (s *session) managerLog(ctx context.Context, ns, name string, tail int64) (lines []string, note string) {
	cs, err := s.clientset()
	if err != nil {
		return nil, "could not read the manager's log: " + err.Error()
	}
	sel := labels.SelectorFromSet(common.ManagerPodLabels()).String()
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Sprintf("could not list the manager's pods (label %s in all namespaces): %v; attach its log by hand", sel, err)
	}
	if len(pods.Items) == 0 {
		return nil, fmt.Sprintf("no Canopy manager pod in the cluster (label %s): "+
			"the manager runs outside it (make run, make demo, the e2e suite), so attach its log by hand", sel)
	}
	var notes []string
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: managerContainer, TailLines: ptr.To(tail)}).DoRaw(ctx)
		if err != nil {
			notes = append(notes, fmt.Sprintf("pod %s/%s: could not read its log: %v", p.Namespace, p.Name, err))
			continue
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if mentions(sc.Text(), ns, name) {
				lines = append(lines, sc.Text())
				n++
			}
		}
		notes = append(notes, fmt.Sprintf("pod %s/%s: %d of its last %d lines are about Stack %s/%s", p.Namespace, p.Name, n, tail, ns, name))
	}
	if len(notes) == 0 {
		return nil, "no manager pod is running: kubectl get pods -A -l " + sel
	}
	return lines, strings.Join(notes, "\n")
}

// mentions reports whether a manager log line is about the Stack's objects, which all share its
// name and namespace: controller-runtime logs them as JSON values ("namespace":"ns","name":"x"),
// a console log as ns/name.
func mentions(line, ns, name string) bool {
	if strings.Contains(line, ns+"/"+name) {
		return true
	}
	return strings.Contains(line, `"`+ns+`"`) && strings.Contains(line, `"`+name+`"`)
}
