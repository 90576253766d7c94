package desired_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/desired/database"
)

// expand is the kubelet's expansion of a container's command and args
// (k8s.io/kubernetes/third_party/forked/golang/expansion): "$$" is a '$', "$(NAME)" is the value
// of the container's variable NAME when it has one, and stays as written otherwise.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "secret"}
	for in, want := range map[string]string{"$(A)": "secret", "$$(A)": "$(A)", "$(B)": "$(B)", "a$b": "a$b", "$": "$", "$(A": "$(A", "$$$(A)": "$secret"} {
		require.Equal(t, want, expand(in, env), in)
	}
}

// TestSpecValuesReachTheAgentAsWritten: spec values that end up in the agent's arguments (S3
// prefix, region, endpoint, application version) and look like $(VAR) references to the
// container's own variables (the S3 keys, the database password) reach the program as written,
// not as the secrets the kubelet would substitute.
func TestSpecValuesReachTheAgentAsWritten(t *testing.T) {
	const (
		prefix   = "p/$(AWS_SECRET_ACCESS_KEY)/$$x"
		region   = "$(AWS_ACCESS_KEY_ID)"
		endpoint = "https://s3.example.com/$(AWS_SECRET_ACCESS_KEY)"
		version  = "1.0-$(PGPASSWORD)"
	)
	dest := componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{Endpoint: endpoint, Bucket: "b", Prefix: prefix, Region: region,
		CredentialsSecret: corev1.LocalObjectReference{Name: "s3"}}}
	bp := policies()[0]
	bp.Spec.Destination = dest
	bp.Spec.AppVersion = version
	db := databases()[0]
	pods := map[string]corev1.PodSpec{
		"backup Job": backup.BackupJob(bp, backupInput(), "b1", backup.TriggerRequest, "t").Spec.Template.Spec,
		"CronJob":    backup.CronJob(bp, backupInput()).Spec.JobTemplate.Spec.Template.Spec,
		"purge Job":  backup.PurgeJob(bp, backupInput()).Spec.Template.Spec,
		"restore Job": database.RestoreJob(db, database.RestoreInput{AgentImage: "canopy:1", PostgresImage: "postgres:17",
			Source: componentsv1alpha1.BackupSource{BackupName: "b1", Destination: dest}}, "r").Spec.Template.Spec,
	}
	for name, pod := range pods {
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = "SECRET-" + e.Name
			}
			var args []string
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				got := expand(a, env)
				require.NotContains(t, got, "SECRET-", "%s, container %s: argument %q expands to a secret", name, c.Name, a)
				args = append(args, got)
			}
			if c.Name == "agent" || c.Name == "fetch" {
				joined := strings.Join(args, "\n")
				require.Contains(t, joined, "="+prefix+"\n", "%s: the prefix arrives as written", name)
				require.Contains(t, joined, "="+region+"\n", "%s: the region arrives as written", name)
				require.Contains(t, joined, "="+endpoint+"\n", "%s: the endpoint arrives as written", name)
			}
		}
	}
}
