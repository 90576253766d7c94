package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// secretKeys are the data keys whose values are secrets: the generated database passwords (the
// credentials and superuser Secrets), private keys (cert-manager's tls.key, a CA's key), S3 secret
// keys; and every key of a backup encryption Secret (its keys are ids). Other keys (host, port,
// user, a certificate) are not secret and may be logged.
var secretKeys = map[string]bool{corev1.BasicAuthPasswordKey: true, corev1.TLSPrivateKeyKey: true, "ca.key": true, "secretAccessKey": true}

// minSecretLength: shorter values (a test's "pw") would match by chance.
const minSecretLength = 8

// SecretScan records, while a run goes on, every secret value the cluster holds and everything the
// run writes where people and tools read: Events, and the status (conditions and messages) of
// Canopy's objects. Namespaces are deleted after each test, so both are recorded as they appear;
// Scan then looks for each secret, in clear, JSON-escaped or base64-encoded, there, in the
// manager's log and in its /metrics.
type SecretScan struct {
	mu      sync.Mutex
	secrets map[string]string // value → where it comes from (namespace/name[key]), never printed with the value
	texts   map[string]string // where → text (every version of each object's status, each Event)
	version int
	stop    context.CancelFunc
}

// canopyKinds are the objects whose status Canopy writes.
var canopyKinds = []schema.GroupVersionResource{
	{Group: "canopy.dev", Version: "v1alpha1", Resource: "stacks"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Resource: "databases"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Resource: "frontends"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Resource: "backuppolicies"},
}

// StartSecretScan starts recording; Stop (or the end of ctx) ends it.
func (c *Cluster) StartSecretScan(ctx context.Context) (*SecretScan, error) {
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &SecretScan{secrets: map[string]string{}, texts: map[string]string{}, stop: cancel}
	core := informers.NewSharedInformerFactory(kc, 0)
	on := func(f func(obj any)) cache.ResourceEventHandler {
		return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, obj any) { f(obj) }}
	}
	if _, err := core.Core().V1().Secrets().Informer().AddEventHandler(on(func(obj any) {
		if sec, ok := obj.(*corev1.Secret); ok {
			s.addSecret(sec)
		}
	})); err != nil {
		cancel()
		return nil, err
	}
	if _, err := core.Core().V1().Events().Informer().AddEventHandler(on(func(obj any) {
		if ev, ok := obj.(*corev1.Event); ok {
			s.addText(fmt.Sprintf("Event %s/%s", ev.Namespace, ev.Name), ev.Reason+" "+ev.Message)
		}
	})); err != nil {
		cancel()
		return nil, err
	}
	dyn := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	for _, gvr := range canopyKinds {
		if _, err := dyn.ForResource(gvr).Informer().AddEventHandler(on(func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				status, _ := json.Marshal(u.Object["status"])
				s.addText(fmt.Sprintf("%s %s/%s status", gvr.Resource, u.GetNamespace(), u.GetName()), string(status))
			}
		})); err != nil {
			cancel()
			return nil, err
		}
	}
	core.Start(ctx.Done())
	dyn.Start(ctx.Done())
	syncCtx, done := context.WithTimeout(ctx, time.Minute)
	defer done()
	for _, ok := range core.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("the Secret and Event informers did not sync")
		}
	}
	for _, ok := range dyn.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("the informers of Canopy's kinds did not sync")
		}
	}
	return s, nil
}

// Stop ends the recording.
func (s *SecretScan) Stop() { s.stop() }

func (s *SecretScan) addSecret(sec *corev1.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	encryptionKeys := strings.HasSuffix(sec.Name, "-backup-keys")
	for k, v := range sec.Data {
		if !secretKeys[k] && !encryptionKeys {
			continue
		}
		for _, part := range secretParts(string(v)) {
			s.secrets[part] = fmt.Sprintf("%s/%s[%s]", sec.Namespace, sec.Name, k)
		}
	}
}

// secretParts is what to look for of a secret value: the value, or for a PEM block each line of
// its body (a log would escape the newlines, or print a single line).
func secretParts(v string) []string {
	if !strings.Contains(v, "-----BEGIN") {
		if len(v) < minSecretLength {
			return nil
		}
		return []string{v}
	}
	var parts []string
	for l := range strings.SplitSeq(v, "\n") {
		if l = strings.TrimSpace(l); len(l) >= 32 && !strings.HasPrefix(l, "-----") {
			parts = append(parts, l)
		}
	}
	return parts
}

func (s *SecretScan) addText(where, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Each version of a status is kept under its own key when it differs: a secret that appeared
	// in a condition for a moment, then went, must still be found.
	if old, ok := s.texts[where]; ok && old != text {
		s.version++
		where = fmt.Sprintf("%s (update %d)", where, s.version)
	}
	s.texts[where] = text
}

// Scan looks for every recorded secret in the recorded Events and statuses, in the manager's log,
// and in the manager's /metrics (when metricsURL is not empty). It returns one line per leak: the
// secret's origin and where it appeared, never the value.
func (s *SecretScan) Scan(managerLog, metricsURL string) ([]string, error) {
	s.mu.Lock()
	texts := make(map[string]string, len(s.texts)+2)
	for k, v := range s.texts {
		texts[k] = v
	}
	secrets := make(map[string]string, len(s.secrets))
	for k, v := range s.secrets {
		secrets[k] = v
	}
	s.mu.Unlock()

	log, err := os.ReadFile(managerLog)
	if err != nil {
		return nil, err
	}
	texts["the manager's log "+filepath.Base(managerLog)] = string(log)
	if metricsURL != "" {
		body, err := get(metricsURL)
		if err != nil {
			return nil, fmt.Errorf("reading the manager's metrics: %w", err)
		}
		texts["the manager's /metrics"] = body
	}
	return findSecrets(secrets, texts), nil
}

// SecretsSeen is how many secret values and texts were recorded (for the run's figures).
func (s *SecretScan) SecretsSeen() (secrets, texts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets), len(s.texts)
}

// findSecrets reports each secret (by origin) found in a text (by name), in clear, JSON-escaped or
// base64-encoded.
func findSecrets(secrets map[string]string, texts map[string]string) []string {
	var leaks []string
	for value, origin := range secrets {
		escaped, _ := json.Marshal(value)
		forms := []string{value, strings.Trim(string(escaped), `"`), base64.StdEncoding.EncodeToString([]byte(value))}
		for where, text := range texts {
			for _, f := range forms {
				if strings.Contains(text, f) {
					leaks = append(leaks, fmt.Sprintf("the secret %s appears in %s", origin, where))
					break
				}
			}
		}
	}
	sort.Strings(leaks)
	return leaks
}

func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}
