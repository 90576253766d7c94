package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

var s3Env = env(EnvAccessKeyID, "AKIA1", EnvSecretAccessKey, "sekret-value")

func TestParseOptionsBackup(t *testing.T) {
	o, err := ParseOptions(OperationBackup, []string{
		"--work-dir=/w", "--stack=shop", "--database-version=15.4", "--app-version=2.0", "--termination-log=/t",
		"--keep-last=7", "--max-age=720h", "--keep=shop-pre-upgrade", "--keep", "shop-20250101-020000",
		"--s3-endpoint=https://s3.example.test:9000/", "--s3-bucket=bk", "--s3-prefix=/a//b/", "--s3-region=", "--s3-path-style=false",
	}, s3Env)
	require.NoError(t, err)
	require.Equal(t, Options{
		Operation: OperationBackup, WorkDir: "/w", Stack: "shop", DatabaseVersion: "15.4", AppVersion: "2.0", TerminationLog: "/t",
		Retention: Retention{KeepLast: 7, MaxAge: 720 * time.Hour}, Keep: []string{"shop-pre-upgrade", "shop-20250101-020000"},
		S3: &S3Options{Endpoint: "https://s3.example.test:9000/", Bucket: "bk", Prefix: "a/b", Region: "us-east-1", PathStyle: false,
			AccessKeyID: "AKIA1", SecretAccessKey: "sekret-value"},
	}, o)
	require.NotContains(t, o.S3.String(), "sekret-value")
}

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(OperationRestore, []string{"--stack", "shop", "--name", "shop-1", "--volume-path=/backups"}, env())
	require.NoError(t, err)
	require.Equal(t, Options{Operation: OperationRestore, WorkDir: WorkDir, Stack: "shop", Name: "shop-1", VolumePath: "/backups",
		TerminationLog: TerminationLog}, o)

	o, err = ParseOptions(OperationBackup, []string{"--stack=shop", "--s3-endpoint=http://h", "--s3-bucket=bk"}, s3Env)
	require.NoError(t, err)
	require.True(t, o.S3.PathStyle, "path style unless told otherwise, as in the BackupPolicy")
}

func TestParseOptionsErrors(t *testing.T) {
	vol := "--volume-path=/b"
	cases := map[string]struct {
		op   string
		args []string
		env  func(string) string
		want string
	}{
		"unknown operation":    {"verify", []string{"--stack=s", vol}, env(), "unknown operation"},
		"unknown flag":         {OperationBackup, []string{"--stack=s", vol, "--bogus=1"}, env(), "bogus"},
		"positional":           {OperationBackup, []string{"--stack=s", vol, "extra"}, env(), `unexpected argument "extra"`},
		"no stack":             {OperationBackup, []string{vol}, env(), "--stack is required"},
		"bad stack":            {OperationBackup, []string{"--stack=../etc", vol}, env(), "--stack"},
		"bad name":             {OperationBackup, []string{"--stack=s", "--name=a/b", vol}, env(), "--name"},
		"restore without name": {OperationRestore, []string{"--stack=s", vol}, env(), "--name is required"},
		"no destination":       {OperationBackup, []string{"--stack=s"}, env(), "no destination"},
		"two destinations":     {OperationBackup, []string{"--stack=s", vol, "--s3-bucket=b", "--s3-endpoint=http://h"}, s3Env, "not both"},
		"keep-last not int":    {OperationBackup, []string{"--stack=s", vol, "--keep-last=many"}, env(), "keep-last"},
		"negative keep-last":   {OperationBackup, []string{"--stack=s", vol, "--keep-last=-1"}, env(), "--keep-last=-1"},
		"bad keep":             {OperationBackup, []string{"--stack=s", vol, "--keep=../b"}, env(), "keep"},
		"bad max-age":          {OperationBackup, []string{"--stack=s", vol, "--max-age=30d"}, env(), "--max-age"},
		"zero max-age":         {OperationBackup, []string{"--stack=s", vol, "--max-age=0s"}, env(), "--max-age"},
		"bucket only":          {OperationBackup, []string{"--stack=s", "--s3-bucket=b"}, s3Env, "needs both"},
		"endpoint scheme":      {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=s3.example.test"}, s3Env, "http:// or https://"},
		"endpoint path":        {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=http://h/bucket"}, s3Env, "must not have a path"},
		"endpoint user":        {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=http://u:p@h"}, s3Env, "http:// or https://"},
		"prefix dot-dot":       {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=http://h", "--s3-prefix=a/../b"}, s3Env, "'..'"},
		"no credentials": {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=http://h"},
			env(EnvAccessKeyID, "a"), EnvSecretAccessKey},
		"key id without dir": {OperationBackup, []string{"--stack=s", vol, "--encryption-key-id=k1"}, env(), "needs --encryption-key-dir"},
		"bad key id": {OperationBackup, []string{"--stack=s", vol, "--encryption-key-dir=/k", "--encryption-key-id=../k"},
			env(), "--encryption-key-id"},
		"path-style not bool": {OperationBackup, []string{"--stack=s", "--s3-bucket=b", "--s3-endpoint=http://h", "--s3-path-style=maybe"},
			s3Env, "s3-path-style"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseOptions(c.op, c.args, c.env)
			require.Error(t, err)
			require.Equal(t, ReasonInvalidArguments, reasonOf(err, ""))
			require.Contains(t, messageOf(err), c.want)
			require.NotContains(t, messageOf(err), "sekret-value")
		})
	}
}

func TestScanTerminationLog(t *testing.T) {
	require.Equal(t, TerminationLog, scanTerminationLog(nil))
	require.Equal(t, "/a", scanTerminationLog([]string{"--bogus", "--termination-log=/a"}))
	require.Equal(t, "/b", scanTerminationLog([]string{"-termination-log", "/b", "--x"}))
}

// runMain runs Main as the canopy binary would and returns the exit code, the Result from the
// termination log, and the output.
func runMain(t *testing.T, getenv func(string) string, args ...string) (int, Result, string, string) {
	t.Helper()
	termLog := filepath.Join(t.TempDir(), "termination-log")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append(args, FlagTerminationLog+"="+termLog), getenv, &stdout, &stderr)
	b, err := os.ReadFile(termLog)
	require.NoError(t, err, "a Result is always written; stderr:\n%s", stderr.String())
	require.Equal(t, string(b), stdout.String(), "the Result also goes to the log")
	var r Result
	require.NoError(t, json.Unmarshal(b, &r))
	return code, r, stdout.String(), stderr.String()
}

func TestMainInvalidArguments(t *testing.T) {
	// The termination log comes after the bad flag, which stops parsing: still found.
	code, r, _, stderr := runMain(t, s3Env, OperationBackup, "--stack=shop", "--no-such-flag", "--volume-path=/b")
	require.Equal(t, ExitUsage, code)
	require.False(t, r.Succeeded)
	require.Equal(t, ReasonInvalidArguments, r.Reason)
	require.Equal(t, OperationBackup, r.Operation)
	require.Contains(t, r.Message, "no-such-flag")
	require.Contains(t, stderr, "Usage: canopy agent")

	code, r, out, stderr := runMain(t, env(EnvSecretAccessKey, "sekret-value"), OperationRestore, "--stack=shop", "--name=n",
		"--s3-endpoint=http://h/sekret-value", "--s3-bucket=b")
	require.Equal(t, ExitUsage, code)
	require.Equal(t, ReasonInvalidArguments, r.Reason)
	require.NotContains(t, out+stderr, "sekret-value", "the secret is redacted even from arguments echoed back")
}

func TestMainUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, ExitUsage, Main(context.Background(), nil, env(), &out, &errOut))
	require.Contains(t, errOut.String(), "backup|restore")
	errOut.Reset()
	require.Equal(t, ExitOK, Main(context.Background(), []string{"help"}, env(), &out, &errOut))
	for _, f := range []string{FlagWorkDir, FlagName, FlagStack, FlagVolumePath, FlagS3Endpoint, FlagKeepLast, FlagMaxAge, FlagKeep, FlagTerminationLog} {
		require.Contains(t, errOut.String(), f)
	}
	require.Empty(t, out.String())
}
