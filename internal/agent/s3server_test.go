package agent_test

// A throw-away versitygw S3 server with its posix backend in a temporary folder, on a free
// loopback port, with one root account whose keys are random.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"

	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

// testBucket holds every S3 test's backups, each test under its own prefix or stack.
const testBucket = "canopy-backups"

type s3Server struct {
	dir       string
	root      string // the posix backend: <root>/<bucket>/<key>
	endpoint  string // http://127.0.0.1:PORT
	accessKey string
	secretKey string
	cmd       *exec.Cmd
	done      chan struct{}
	watchdog  *pgtest.Watchdog
}

func startVersitygw(dir string) (_ *s3Server, err error) {
	s := &s3Server{dir: dir, root: filepath.Join(dir, "root"), accessKey: "canopytest" + pgtest.RandomHex(4), secretKey: pgtest.RandomHex(20)}
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	for attempt := 1; ; attempt++ { // the free port may be taken before the server binds it
		port, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.endpoint = "http://" + addr
		if err = s.start(addr); err == nil {
			break
		}
		if attempt == 3 {
			return nil, err
		}
	}
	if s.watchdog, err = pgtest.StartWatchdog(nil, `kill "$1" 2>/dev/null; sleep 1; kill -9 "$1" 2>/dev/null; rm -rf "$2"`,
		strconv.Itoa(s.cmd.Process.Pid), s.dir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client().MakeBucket(ctx, testBucket, minio.MakeBucketOptions{}); err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", testBucket, err)
	}
	return s, nil
}

// start runs the server and waits until it accepts connections.
func (s *s3Server) start(addr string) error {
	logFile, err := os.Create(filepath.Join(s.dir, "versitygw.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(versitygwPath(), "--port", addr, "--quiet", "posix", s.root)
	// The keys go through the environment, not the command line that any process can read.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.dir,
		"ROOT_ACCESS_KEY_ID=" + s.accessKey, "ROOT_SECRET_ACCESS_KEY=" + s.secretKey}
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("versitygw exited at start:\n%s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close() // only the dial mattered
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("versitygw did not listen on %s within 20s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *s3Server) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.watchdog.Release()
	_ = os.RemoveAll(s.dir)
}

// client is a root client, for setting up and inspecting the bucket.
func (s *s3Server) client() *minio.Client {
	c, err := minio.New(s.endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(s.accessKey, s.secretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		panic(err) // only a malformed endpoint fails, which would be a bug of this file
	}
	return c
}

// options are the S3Options of the test bucket under prefix, with the root keys.
func (s *s3Server) options(prefix string) agent.S3Options {
	return agent.S3Options{Endpoint: s.endpoint, Bucket: testBucket, Prefix: prefix, Region: "us-east-1", PathStyle: true,
		AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey}
}

// store is the agent's own S3Store on the test bucket under prefix.
func (s *s3Server) store(t *testing.T, prefix string) *agent.S3Store {
	t.Helper()
	st, err := agent.NewS3Store(s.options(prefix))
	require.NoError(t, err)
	return st
}

// file is where the posix backend keeps an object: the tests damage dumps there.
func (s *s3Server) file(key string) string {
	return filepath.Join(s.root, testBucket, filepath.FromSlash(key))
}
