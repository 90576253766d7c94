package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// session is one command's connection to the cluster and the namespace it works in.
type session struct {
	*Options
	c         client.Client
	config    *rest.Config
	namespace string
	// context is the kubeconfig context in use, named in connection errors.
	context string
}

// connect reads the kubeconfig as kubectl does (flags, KUBECONFIG, ~/.kube/config) and returns a
// direct client: every read is fresh, since the commands decide from what the operator just wrote.
func (o *Options) connect() (*session, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(o.loading, o.overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w (set --kubeconfig or KUBECONFIG, or --context)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	contextName := o.overrides.CurrentContext
	if raw, err := cc.RawConfig(); err == nil && contextName == "" {
		contextName = raw.CurrentContext
	}
	cfg.UserAgent = "kubectl-canopy"
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return &session{Options: o, c: c, config: cfg, namespace: ns, context: contextName}, nil
}

// clientset is client-go's typed client, for what controller-runtime's client does not do (logs).
func (s *session) clientset() (kubernetes.Interface, error) {
	if s.newClientset != nil {
		return s.newClientset(s.config)
	}
	return kubernetes.NewForConfig(s.config)
}

// stack reads the Stack name in the session's namespace. Its errors name the Stack and the next
// step: another namespace that has a Stack of that name, the Stacks this namespace has, or that
// Canopy is not installed.
func (s *session) stack(ctx context.Context, name string) (*canopyv1alpha1.Stack, error) {
	st := &canopyv1alpha1.Stack{}
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, st)
	switch {
	case err == nil:
		return st, nil
	case meta.IsNoMatchError(err) || isMissingKind(err):
		return nil, fmt.Errorf("the cluster at %s serves no Stack kind (canopy.dev/v1alpha1): "+
			"is Canopy installed? See README.md, \"Installing Canopy with OLM\"", s.config.Host)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("reading Stack %s in namespace %s is forbidden: %w "+
			"(ask for the canopy stack-viewer role in that namespace)", name, s.namespace, err)
	case !isAPIError(err):
		// No answer from an API server: a wrong context, a cluster down, a VPN off.
		return nil, fmt.Errorf("reading Stack %s in namespace %s: %w; is the cluster at %s (context %s) reachable? "+
			"Check --context or KUBECONFIG (kubectl config get-contexts lists them)", name, s.namespace, err, s.config.Host, orDash(s.context))
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading Stack %s in namespace %s: %w", name, s.namespace, err)
	}
	return nil, s.notFound(ctx, name)
}

// notFound explains a missing Stack as kubectl users need it: where a Stack of that name is, or
// which Stacks the namespace holds.
func (s *session) notFound(ctx context.Context, name string) error {
	msg := fmt.Sprintf("Stack %s not found in namespace %s", name, s.namespace)
	var all canopyv1alpha1.StackList
	if err := s.c.List(ctx, &all); err == nil {
		var elsewhere []string
		for _, it := range all.Items {
			if it.Name == name {
				elsewhere = append(elsewhere, it.Namespace)
			}
		}
		if len(elsewhere) > 0 {
			sort.Strings(elsewhere)
			return fmt.Errorf("%s; did you mean -n %s?", msg, strings.Join(elsewhere, " or -n "))
		}
	}
	var here canopyv1alpha1.StackList
	if err := s.c.List(ctx, &here, client.InNamespace(s.namespace)); err == nil {
		if len(here.Items) == 0 {
			return fmt.Errorf("%s, which has no Stack; kubectl get stacks -A lists them all", msg)
		}
		names := make([]string, 0, len(here.Items))
		for _, it := range here.Items {
			names = append(names, it.Name)
		}
		sort.Strings(names)
		return fmt.Errorf("%s; it has %s", msg, strings.Join(names, ", "))
	}
	return errors.New(msg)
}

// isMissingKind recognises the discovery failure of a kind whose CRD is not installed.
func isMissingKind(err error) bool {
	var d *meta.NoKindMatchError
	return errors.As(err, &d) || strings.Contains(err.Error(), "no matches for kind")
}

// isAPIError reports whether err is an API server's answer (a status), not a failure to reach it.
func isAPIError(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}
