//go:build e2e

package olm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// stackKey is the Stack the manager run as the ServiceAccount brings to Ready.
var stackKey = client.ObjectKey{Namespace: "olm-stack", Name: "shop"}

// waitStackReady waits until the Stack is Ready for its generation and serves version.
func waitStackReady(t *testing.T, ctx context.Context, version string) {
	t.Helper()
	stack := &canopyv1alpha1.Stack{}
	poll(t, ctx, "the Stack to be Ready at version "+version, func() (bool, string) {
		if err := olmc.Get(ctx, stackKey, stack); err != nil {
			return false, err.Error()
		}
		if exited := c.Exited(); len(exited) > 0 {
			t.Fatalf("processes ended on their own: %v\n%s", exited, c.TailLog("manager.log", 40))
		}
		r := conditions.Get(stack, "Ready")
		if r == nil {
			return false, "no Ready condition"
		}
		return r.Status == metav1.ConditionTrue && r.ObservedGeneration == stack.Generation && stack.Status.Version == version,
			fmt.Sprintf("%s: %s (version %s)", r.Reason, r.Message, stack.Status.Version)
	})
}

// managerDeployment is the Deployment OLM creates from the CSV's install strategy.
const managerDeployment = "canopy-controller-manager"

// runManagerAsServiceAccount starts bin/canopy manager as a local process that authenticates as
// the ServiceAccount OLM created for Canopy, with the environment and arguments of the Deployment
// OLM created, so the rights it has are exactly what OLM granted from the CSV. It returns the
// ServiceAccount's user name and its kubeconfig. csv is the CSV whose Deployment it waits for
// (OLM sets OPERATOR_CONDITION_NAME to the CSV's name).
func runManagerAsServiceAccount(t *testing.T, ctx context.Context, csv string) (user, kubeconfig string) {
	t.Helper()
	dep := &appsv1.Deployment{}
	var ctr corev1.Container
	// OLM's OperatorCondition controller injects OPERATOR_CONDITION_NAME after creating the Deployment.
	poll(t, ctx, "OPERATOR_CONDITION_NAME="+csv+" in the Deployment OLM created", func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: managerDeployment}, dep); err != nil {
			return false, err.Error()
		}
		for _, ctr = range dep.Spec.Template.Spec.Containers {
			if ctr.Name != "manager" {
				continue
			}
			for _, e := range ctr.Env {
				if e.Name == "OPERATOR_CONDITION_NAME" {
					return e.Value == csv, e.Value
				}
			}
		}
		return false, "not set"
	})
	env, err := resolveEnv(ctr.Env, dep)
	if err != nil {
		t.Fatal(err)
	}
	// The Deployment's arguments, except the listen addresses (several programs share this
	// machine's ports) and the leader election namespace, which out of a pod cannot be inferred.
	var args []string
	all := ctr.Args
	if len(ctr.Command) > 0 {
		all = append(slices.Clone(ctr.Command[1:]), ctr.Args...)
	}
	for _, a := range all {
		if strings.HasPrefix(a, "--health-probe-bind-address") || strings.HasPrefix(a, "--metrics-bind-address") {
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--health-probe-bind-address=0", "--metrics-bind-address=0", "--leader-election-namespace="+operatorsNamespace)

	sa := dep.Spec.Template.Spec.ServiceAccountName
	user = fmt.Sprintf("system:serviceaccount:%s:%s", operatorsNamespace, sa)
	kubeconfig = writeTokenKubeconfig(t, ctx, sa)
	env = append(env, "KUBECONFIG="+kubeconfig)
	waitForGrantedRights(t, ctx, csv, user)
	if err := c.Run("manager", c.Canopy, env, args...); err != nil {
		t.Fatal(err)
	}
	t.Logf("manager started as %s with the Deployment's environment %v and arguments %v", user, redactEnv(env), args)
	return user, kubeconfig
}

// resolveEnv turns the container's env into the process environment, resolving the field
// references a pod would get from its own metadata.
func resolveEnv(vars []corev1.EnvVar, dep *appsv1.Deployment) ([]string, error) {
	var out []string
	for _, e := range vars {
		switch {
		case e.ValueFrom == nil:
			out = append(out, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			out = append(out, e.Name+"="+dep.Namespace)
		case e.ValueFrom.FieldRef != nil && strings.HasPrefix(e.ValueFrom.FieldRef.FieldPath, "metadata.annotations['"):
			key := strings.TrimSuffix(strings.TrimPrefix(e.ValueFrom.FieldRef.FieldPath, "metadata.annotations['"), "']")
			v, ok := dep.Spec.Template.Annotations[key]
			if !ok {
				return nil, fmt.Errorf("env %s: the pod template has no annotation %s", e.Name, key)
			}
			out = append(out, e.Name+"="+v)
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceValue(dep, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			out = append(out, e.Name+"="+v)
		default:
			return nil, fmt.Errorf("env %s: cannot resolve %+v outside a pod", e.Name, e.ValueFrom)
		}
	}
	return out, nil
}

// resourceValue is what the kubelet puts in a variable from a container's memory request or limit:
// the quantity divided by the divisor (1 by default), rounded up.
func resourceValue(dep *appsv1.Deployment, ref *corev1.ResourceFieldSelector) (string, error) {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name != ref.ContainerName {
			continue
		}
		var q resource.Quantity
		var ok bool
		switch ref.Resource {
		case "limits.memory":
			q, ok = c.Resources.Limits[corev1.ResourceMemory]
		case "requests.memory":
			q, ok = c.Resources.Requests[corev1.ResourceMemory]
		default:
			return "", fmt.Errorf("resource %s is not resolved outside a pod", ref.Resource)
		}
		if !ok {
			return "", fmt.Errorf("container %s sets no %s", c.Name, ref.Resource)
		}
		divisor := int64(1)
		if !ref.Divisor.IsZero() {
			divisor = ref.Divisor.Value()
		}
		return strconv.FormatInt((q.Value()+divisor-1)/divisor, 10), nil
	}
	return "", fmt.Errorf("no container %s", ref.ContainerName)
}

func redactEnv(env []string) []string {
	var out []string
	for _, e := range env {
		if strings.HasPrefix(e, "KUBECONFIG=") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// writeTokenKubeconfig asks the TokenRequest API for a token of the ServiceAccount and writes a
// kubeconfig that uses it (and nothing of the administrator's credentials).
func writeTokenKubeconfig(t *testing.T, ctx context.Context, sa string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(operatorsNamespace).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s: %v", sa, err)
	}
	ca := c.Config.CAData
	if len(ca) == 0 && c.Config.CAFile != "" {
		if ca, err = os.ReadFile(c.Config.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["olm"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: ca}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "olm", AuthInfo: sa}
	cfg.CurrentContext = "sa"
	p := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// deniedRequests reads the audit log and returns the requests of user answered 401 or 403.
func deniedRequests(t *testing.T, user string) []string {
	t.Helper()
	return deniedRequestsSince(t, user, time.Time{})
}

// deniedRequestsSince is deniedRequests for the requests received at or after since.
func deniedRequestsSince(t *testing.T, user string, since time.Time) []string {
	t.Helper()
	p, err := c.AuditLog()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("the audit log: %v", err)
	}
	defer func() { _ = f.Close() }()
	var denied []string
	seen := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 16<<20)
	for s.Scan() {
		var ev struct {
			Received       time.Time `json:"requestReceivedTimestamp"`
			Verb           string    `json:"verb"`
			RequestURI     string    `json:"requestURI"`
			User           struct{ Username string }
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(s.Bytes(), &ev); err != nil {
			t.Fatalf("the audit log: %v", err)
		}
		if ev.User.Username != user || ev.Received.Before(since) {
			continue
		}
		seen++
		if ev.ResponseStatus != nil && (ev.ResponseStatus.Code == 401 || ev.ResponseStatus.Code == 403) {
			denied = append(denied, fmt.Sprintf("%d %s %s", ev.ResponseStatus.Code, ev.Verb, ev.RequestURI))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatalf("the audit log has no request of %s since %s: the audit policy records nothing, so no denial could be seen", user, since.Format(time.RFC3339))
	}
	return denied
}

// testStackAsServiceAccount runs the manager as OLM's ServiceAccount, has it bring a Stack with
// TLS and monitoring to Ready, and checks that none of its requests was refused.
func testStackAsServiceAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// OLM installed cert-manager's CRDs (the stand-in's); its controllers run as a local process.
	if err := c.StartCertManagerControllers(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	user, kubeconfig := runManagerAsServiceAccount(t, ctx, canopyCSV(t))

	must(t, olmc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stackKey.Namespace}}))
	stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: stackKey.Namespace, Name: stackKey.Name}, Spec: canopyv1alpha1.StackSpec{
		Version: "1.0.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop", Replicas: ptr.To[int32](2),
			Ingress: &componentsv1alpha1.IngressSpec{Host: "shop.example.com"}},
		TLS:        &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: cluster.SelfSignedIssuer, Kind: "ClusterIssuer"}},
		Monitoring: &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)},
	}}
	must(t, olmc.Create(ctx, stack))
	waitStackReady(t, ctx, "1.0.0")
	t.Logf("Stack with TLS and monitoring Ready %s after starting the manager as %s", time.Since(start).Round(100*time.Millisecond), user)

	if denied := deniedRequests(t, user); len(denied) > 0 {
		t.Errorf("the API server refused %d requests of %s (the CSV's permissions are not enough):\n  %s", len(denied), user, strings.Join(denied, "\n  "))
	}
	if log := c.TailLog("manager.log", 100000); strings.Contains(strings.ToLower(log), "forbidden") {
		t.Errorf("the manager's log mentions forbidden:\n%s", c.TailLog("manager.log", 40))
	}
	// The CSV's Deployment passes its memory limit (512Mi); the manager keeps its heap under 90% of it.
	if log := c.TailLog("manager.log", 100000); !strings.Contains(log, `"goMemoryLimit":483183820`) {
		t.Errorf("the manager did not take its soft memory limit from the Deployment's 512Mi:\n%s", c.TailLog("manager.log", 40))
	}

	// Negative control: a request the ServiceAccount is not granted must be refused and show in
	// the audit log, or the check above proves nothing.
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(t, err)
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	must(t, err)
	_, err = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing nodes as %s: %v, want Forbidden (is RBAC enforced?)", user, err)
	}
	denied := deniedRequests(t, user)
	if len(denied) == 0 || !strings.Contains(denied[len(denied)-1], "403 list /api/v1/nodes") {
		t.Fatalf("the refused list of nodes is not in the audit log as a 403: %v", denied)
	}
	t.Logf("negative control: %s", denied[len(denied)-1])
}
