package agent_test

// The integration tests of this package run the exact commands of a backup Job against real
// software: a PostgreSQL 15 server and a versitygw S3 server, started once by TestMain on loopback
// ports in a temporary folder, and the canopy binary, built once from ./cmd/canopy.
//
// Under -short they skip. When a binary is missing they skip with the way to get it, or, with CI
// set, fail: PostgreSQL comes from hack/install-postgres.sh, versitygw from the Makefile
// ($(VERSITYGW), bin/versitygw-v1.8.0, or any binary named by CANOPY_VERSITYGW).

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/testenv"
)

const (
	// versitygwVersion is the version hack/tools/versitygw/go.mod pins.
	versitygwVersion = "v1.8.0"
	envVersitygw     = "CANOPY_VERSITYGW"
)

// world is what the integration tests share.
type world struct {
	dir      string // temporary folder of the run
	watchdog *pgtest.Watchdog
	pg       *pgServer
	s3       *s3Server
	canopy   string // the built canopy binary
}

var (
	w         *world
	wProblem  string // why w is nil
	wMustFail bool   // whether tests needing w fail (CI, or a broken start) or skip
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testing.Short() {
		wProblem = "integration tests (PostgreSQL, versitygw) are skipped with -short"
		return m.Run()
	}
	if missing := missingBinaries(); len(missing) > 0 {
		wProblem = "missing " + strings.Join(missing, "; ")
		wMustFail = testenv.InCI()
		return m.Run()
	}
	start := time.Now()
	ww, err := startWorld()
	if err != nil {
		wProblem = "starting the integration test servers failed: " + err.Error()
		wMustFail = true
		return m.Run()
	}
	defer ww.stop()
	fmt.Fprintf(os.Stderr, "agent tests: PostgreSQL 15 on 127.0.0.1:%d, versitygw on %s, canopy built; ready in %v\n",
		ww.pg.Port, ww.s3.endpoint, time.Since(start).Round(time.Millisecond))
	w = ww
	return m.Run()
}

// requireWorld returns the servers, or skips (fails in CI) the test without them.
func requireWorld(t *testing.T) *world {
	t.Helper()
	if w == nil {
		if wMustFail {
			t.Fatal(wProblem)
		}
		testenv.Unavailable(t, wProblem)
	}
	return w
}

// versitygwPath is $CANOPY_VERSITYGW, else bin/versitygw-<version> at the repository's root.
func versitygwPath() string {
	if p := os.Getenv(envVersitygw); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "..", "bin", "versitygw-"+versitygwVersion))
	return p
}

func missingBinaries() []string {
	var missing []string
	if pg := pgtest.Missing("initdb", "pg_ctl", "postgres", "pg_dump", "pg_restore"); len(pg) > 0 {
		missing = append(missing, fmt.Sprintf("PostgreSQL 15 programs (%s in %s): run hack/install-postgres.sh as root", strings.Join(pg, ", "), pgtest.BinDir))
	}
	if p := versitygwPath(); !executable(p) {
		missing = append(missing, fmt.Sprintf("the versitygw S3 server (%s): run make versitygw, or set %s", p, envVersitygw))
	}
	if _, err := goTool(); err != nil {
		missing = append(missing, "the go command, to build canopy: "+err.Error())
	}
	return missing
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	// go test puts GOROOT/bin first in the PATH of the test binary; else try $GOROOT.
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if !executable(p) {
		return "", fmt.Errorf("not in PATH nor at %s", p)
	}
	return p, nil
}

// startWorld builds canopy and starts both servers, at the same time: the build is the slow part.
func startWorld() (_ *world, err error) {
	dir, err := os.MkdirTemp("", "canopy-agent-test-")
	if err != nil {
		return nil, err
	}
	ww := &world{dir: dir}
	defer func() {
		if err != nil {
			ww.stop()
		}
	}()
	// The servers' own watchdogs stop them; this one removes the whole folder (which the postgres
	// user may not), once PostgreSQL is down or after 30 s.
	if ww.watchdog, err = pgtest.StartWatchdog(nil,
		`i=0; while [ -e "$1/pg/data/postmaster.pid" ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done; rm -rf "$1"`, dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	var wg sync.WaitGroup
	var buildErr, pgErr, s3Err error
	wg.Go(func() { ww.canopy, buildErr = buildCanopy(filepath.Join(dir, "bin")) })
	wg.Go(func() { ww.pg, pgErr = startPostgres(filepath.Join(dir, "pg")) })
	wg.Go(func() { ww.s3, s3Err = startVersitygw(filepath.Join(dir, "s3")) })
	wg.Wait()
	// Stop whatever did start if something else did not.
	if buildErr != nil {
		return ww, fmt.Errorf("building canopy: %w", buildErr)
	}
	if pgErr != nil {
		return ww, fmt.Errorf("PostgreSQL: %w", pgErr)
	}
	if s3Err != nil {
		return ww, fmt.Errorf("versitygw: %w", s3Err)
	}
	return ww, nil
}

func (ww *world) stop() {
	if ww.s3 != nil {
		ww.s3.stop()
	}
	if ww.pg != nil {
		ww.pg.Stop()
	}
	ww.watchdog.Release()
	_ = os.RemoveAll(ww.dir)
}

// buildCanopy builds the binary the agent container runs.
func buildCanopy(dir string) (string, error) {
	goBin, err := goTool()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "canopy")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/canopy-dev/canopy/cmd/canopy")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, b)
	}
	return out, nil
}
