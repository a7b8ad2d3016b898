package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestR02AcknowledgedMeansFsynced runs the real binary under strace and
// checks the order of system calls for one address create: the request is
// read, the store file is fdatasync'ed twice (bbolt: pages, then the meta
// page), and only then is "HTTP/1.1 201" written to the socket. CI installs
// strace and sets MARBELLE_STRACE_TESTS=1, so that a missing strace fails.
func TestR02AcknowledgedMeansFsynced(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	strace := testutil.Tool(t, "MARBELLE_STRACE_TESTS", "strace", "apt-get install -y strace, then go test -run TestR02 ./e2e")
	bin := buildBinary(t, "")
	dir := t.TempDir()
	trace := filepath.Join(t.TempDir(), "trace.txt")
	cmd := exec.Command(strace, "-f", "-tt", "-s", "64", "-e", "trace=openat,read,fdatasync,fsync,write,writev", "-o", trace, bin, "serve")
	cmd.Env = childEnv(dir, nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := testutil.ServingRE.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	if url == "" {
		t.Fatal("the traced server never said where it serves")
	}
	go func() {
		for sc.Scan() {
		}
	}()

	c := newCrashDriver(url, 0).client()
	post := func(path string, body any) int {
		st, _, err := c.post(url+path, body)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return st
	}
	const email = "r02@example.test"
	post("/api/v1/auth/register", registerJSON(email, crashPassword))
	token := testutil.WaitDevTokens(t, c.http, url, email, "verify-email", 1, 5*time.Second)[0]
	post("/api/v1/auth/verify-email", map[string]string{"token": token})
	post("/api/v1/auth/login", map[string]string{"email": email, "password": crashPassword})
	status := post("/api/v1/auth/addresses", map[string]string{"label": "Home", "first_name": "Ann", "last_name": "Lee", "street_address": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"})
	if status != 201 {
		t.Fatalf("create: got %d, want 201", status)
	}
	// Stop the traced server itself (SIGTERM, a graceful shutdown): strace
	// then exits on its own and flushes everything it wrote.
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)); err == nil {
		for _, f := range strings.Fields(string(kids)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the traced server did not stop within 30 s")
	}

	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	storeFD := ""
	openRE := regexp.MustCompile(`openat\(.*marbelle\.db".*\) = (\d+)`)
	request, answer := -1, -1
	for i, l := range lines {
		if m := openRE.FindStringSubmatch(l); m != nil {
			storeFD = m[1]
		}
		// Under load a call is often split into "<unfinished ...>" and
		// "<... read resumed>" lines; the data is on the resumed one.
		// (Go's server reads the first byte of a kept-alive connection's next
		// request on its own, so the read may start at "OST".)
		if (strings.Contains(l, `read(`) || strings.Contains(l, `read resumed>`)) && strings.Contains(l, `/api/v1/auth/addresses HTTP/1.1`) && strings.Contains(l, `ST /api`) {
			request = i
		}
		if request >= 0 && answer < 0 && i > request && (strings.Contains(l, `write(`) || strings.Contains(l, `writev(`) || strings.Contains(l, `write resumed>`) || strings.Contains(l, `writev resumed>`)) && strings.Contains(l, `HTTP/1.1 201`) {
			answer = i
		}
	}
	if storeFD == "" || request < 0 || answer < 0 {
		var seen []string
		for _, l := range lines {
			if strings.Contains(l, "addresses") || strings.Contains(l, "HTTP/1.1 2") {
				seen = append(seen, l)
			}
		}
		t.Fatalf("trace lacks the store's open (%q), the request (%d) or the answer (%d); lines about it:\n%s", storeFD, request, answer, strings.Join(seen, "\n"))
	}
	// A completed fdatasync of the store: a whole line, or the resumed half
	// of one whose start names the store's descriptor.
	synced, pending := 0, map[string]bool{}
	startRE := regexp.MustCompile(`^(\d+)\s+\S+ fdatasync\(` + storeFD + `(\)\s+= 0| <unfinished)`)
	resumedRE := regexp.MustCompile(`^(\d+)\s+\S+ <\.\.\. fdatasync resumed>.*=\s+0`)
	for _, l := range lines[request:answer] {
		if m := startRE.FindStringSubmatch(l); m != nil {
			if strings.HasPrefix(m[2], ")") {
				synced++
			} else {
				pending[m[1]] = true
			}
		} else if m := resumedRE.FindStringSubmatch(l); m != nil && pending[m[1]] {
			delete(pending, m[1])
			synced++
		}
	}
	if synced < 2 {
		t.Fatalf("between reading the request and writing its 201 the store (fd %s) was fdatasync'ed %d times, want 2:\n%s", storeFD, synced, strings.Join(lines[request:answer+1], "\n"))
	}
}
