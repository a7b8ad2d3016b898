package e2e

// Helpers for the system tests that start the real binary as a child
// process (crash_test.go, limits_test.go, faults_test.go, fsync_test.go,
// flood_test.go, backup_stall_test.go, forwardauth_test.go): one build per test process and set
// of build tags, free loopback ports, start, kill -9, SIGTERM, RSS, and
// `marbelle check`.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

var (
	buildMu   sync.Mutex
	buildDir  string
	buildBins = map[string]string{}
	buildErrs = map[string]error{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinary builds the marbelle binary (the module's root package) once
// per test process (and per tags, "" or "faults") and returns its path:
// `go build -o DIR/marbelle github.com/marbelle/marbelle`.
func buildBinary(t testing.TB, tags string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := buildBins[tags]; ok {
		return bin
	}
	if err, ok := buildErrs[tags]; ok {
		t.Fatalf("build (tags %q): %v", tags, err)
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "marbelle-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	bin := filepath.Join(buildDir, "marbelle")
	if tags != "" {
		bin += "-" + tags
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = "/usr/local/go/bin/go"
	}
	start := time.Now()
	out, err := exec.Command(goCmd, "build", "-tags", tags, "-o", bin, "github.com/marbelle/marbelle").CombinedOutput()
	if err != nil {
		buildErrs[tags] = fmt.Errorf("%v: %s", err, out)
		t.Fatalf("go build (tags %q): %v\n%s", tags, err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	buildBins[tags] = bin
	return bin
}

// childEnv is the whole environment of a child: nothing of the test's own
// (no stray MARBELLE_* from the caller), a development server on the given
// data dir with cheap hashing and quiet logs. extra overrides.
func childEnv(dataDir string, extra map[string]string) []string {
	env := map[string]string{
		"PATH":                   "/usr/bin:/bin",
		"MARBELLE_DATA_DIR":      dataDir,
		"MARBELLE_ADDR":          "127.0.0.1:0",
		"MARBELLE_DEV_SMTP_ADDR": "127.0.0.1:0",
		"MARBELLE_RATE_LIMITS":   "off",
		"MARBELLE_PASSWORD_HASH": "m=256,t=1,p=1",
		"MARBELLE_LOG_LEVEL":     "warn",
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// child is one running `marbelle serve`.
type child struct {
	t      testing.TB
	cmd    *exec.Cmd
	URL    string
	stderr *testutil.SyncBuffer
	done   chan struct{} // closed once the process has exited
	state  *os.ProcessState
}

// startChild starts `bin serve` and returns once it printed its URL.
func startChild(t testing.TB, bin, dataDir string, extra map[string]string) *child {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = childEnv(dataDir, extra)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := testutil.ServingRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urls <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case c.URL = <-urls:
		return c
	case <-c.done:
		t.Fatalf("serve exited before serving (%v): %s", c.state, c.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not print its URL within 15 s: %s", c.stderr.String())
	}
	return nil
}

// serveFresh is for a test that needs only a running binary: under -short
// it skips, saying why the test is slow; otherwise it builds the binary,
// starts it on a fresh data dir with extra and returns once /readyz
// answers (within 5 s).
func serveFresh(t *testing.T, slow string, extra map[string]string) *child {
	t.Helper()
	if testing.Short() {
		t.Skip(slow + "; skipped under -short")
	}
	srv := startChild(t, buildBinary(t, ""), t.TempDir(), extra)
	srv.waitReady(5 * time.Second)
	return srv
}

// waitReady polls /readyz until it answers 200, within d.
func (c *child) waitReady(d time.Duration) {
	c.t.Helper()
	cl := &http.Client{Timeout: time.Second}
	testutil.WaitFor(c.t, d, func() error {
		res, err := cl.Get(c.URL + "/readyz")
		if err != nil {
			return fmt.Errorf("/readyz not 200: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("/readyz not 200: %s", res.Status)
		}
		return nil
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("process still there 10 s after SIGKILL")
	}
}

// term sends SIGTERM and returns the exit status, failing the test when
// the process has not exited within d.
func (c *child) term(d time.Duration) int {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	return c.wait(d)
}

// wait waits up to d for the process to exit and returns its exit status
// (-1 when a signal ended it).
func (c *child) wait(d time.Duration) int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		c.t.Fatalf("process did not exit within %v: %s", d, c.stderr.String())
	}
	return c.state.ExitCode()
}

// procStatus reads a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func (c *child) procStatus(field string) int64 {
	c.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		c.t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				c.t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	c.t.Fatalf("no %s in /proc/%d/status", field, c.cmd.Process.Pid)
	return 0
}

// mustCheck runs `marbelle check --data-dir DIR` on a stopped store and
// fails the test unless it exits 0.
func mustCheck(t testing.TB, bin, dataDir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--data-dir", dataDir)
	cmd.Env = childEnv(dataDir, nil)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("marbelle check: got %v, want exit 0:\n%s", err, out)
	}
}
