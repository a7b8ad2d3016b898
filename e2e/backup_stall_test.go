package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app"
	"github.com/marbelle/marbelle/store"
)

// TestIssue14BackupSlowClientDoesNotStallStore (issue 14, item 6): a
// backup download whose client stops reading holds up nothing else. The
// store is seeded to just under its file (and memory map) size, a raw
// connection starts GET /admin/backup and stops reading after the status
// line, and meanwhile registrations grow the store past its map while
// /readyz and GET /auth/profile are read: each answers within 2 s (a
// commit that grows the map waits for every read transaction, and every
// later read waits behind it, so a backup that streams from a read
// transaction froze them all). A second backup meanwhile is 429 with
// Retry-After; once the stalled client leaves, no snapshot file is left in
// the data dir, and one left by an earlier run is removed at start.
func TestIssue14BackupSlowClientDoesNotStallStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary; skipped under -short")
	}
	bin := buildBinary(t, "")
	dir := t.TempDir()
	const staff = "staff@example.test"
	create := exec.Command(bin, "admin", "create", "--email", staff, "--password-stdin")
	create.Env = childEnv(dir, nil)
	create.Stdin = strings.NewReader(crashPassword + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v %s", err, out)
	}
	hwm, fileSize := seedNearMapSize(t, dir, 8<<20)
	t.Logf("seeded: data %.2f MiB in a %.0f MiB file", float64(hwm)/(1<<20), float64(fileSize)/(1<<20))
	stale := filepath.Join(dir, app.StoreFile+".backup-1234.tmp")
	if err := os.WriteFile(stale, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := startChild(t, bin, dir, nil)
	srv.waitReady(5 * time.Second)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("snapshot file left by an earlier run: got %v after start, want it removed", err)
	}
	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	res, err := admin.Post(srv.URL+"/api/v1/auth/login", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, staff, crashPassword)))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("staff login: %v %v", res, err)
	}
	res.Body.Close()

	// The stalled download: a small receive buffer, the status line, then
	// no more reading, so the server's socket buffer fills and stays full.
	addr := strings.TrimPrefix(srv.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	var cookies []string
	for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: addr}) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "GET /api/v1/admin/backup HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", addr, strings.Join(cookies, "; "))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReaderSize(conn, 64).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("backup: got %q %v, want HTTP/1.1 200", status, err)
	}

	// Writes that grow the store past its map, and reads, while it stalls.
	type timing struct {
		mu      sync.Mutex
		n       int
		slowest time.Duration
		fails   []string
	}
	var writes, reads timing
	note := func(tm *timing, what string, d time.Duration, err error) {
		tm.mu.Lock()
		defer tm.mu.Unlock()
		tm.n++
		tm.slowest = max(tm.slowest, d)
		if err != nil && len(tm.fails) < 10 {
			tm.fails = append(tm.fails, fmt.Sprintf("%s after %v: %v", what, d.Round(time.Millisecond), err))
		}
	}
	storePath := filepath.Join(dir, app.StoreFile)
	grown := func() bool {
		fi, err := os.Stat(storePath)
		return err == nil && fi.Size() > fileSize
	}
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	var wg sync.WaitGroup
	var grewAt time.Time
	var grewMu sync.Mutex
	for w := range 4 {
		wg.Go(func() {
			cl := &http.Client{Timeout: 5 * time.Second}
			name := strings.Repeat("n", 150) // the longest name allowed: more bytes per write
			for i := 0; i < 1500 && ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"email":"grow-%d-%d@example.test","password":%q,"first_name":%q,"last_name":%q}`, w, i, crashPassword, name, name)
				start := time.Now()
				res, err := cl.Post(srv.URL+"/api/v1/auth/register", "application/json", strings.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 201 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				note(&writes, "register", time.Since(start), err)
				if err != nil {
					stop() // the store is stuck: stop at the first failure
					return
				}
				grewMu.Lock()
				if grewAt.IsZero() && grown() {
					grewAt = time.Now()
				}
				// Go on a little after the growth: commits and reads on the new map.
				done := !grewAt.IsZero() && time.Since(grewAt) > 500*time.Millisecond
				grewMu.Unlock()
				if done {
					stop()
				}
			}
		})
	}
	for _, path := range []string{"/readyz", "/api/v1/auth/profile"} {
		wg.Go(func() {
			cl := &http.Client{Jar: jar, Timeout: 5 * time.Second}
			for i := 0; i < 1000 && ctx.Err() == nil; i++ {
				start := time.Now()
				res, err := cl.Get(srv.URL + path)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				note(&reads, path, time.Since(start), err)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	fi, _ := os.Stat(storePath)
	t.Logf("while the download stalled: %d writes (slowest %v), %d reads (slowest %v); store file %.0f MiB → %.0f MiB",
		writes.n, writes.slowest.Round(time.Millisecond), reads.n, reads.slowest.Round(time.Millisecond), float64(fileSize)/(1<<20), float64(fi.Size())/(1<<20))
	if len(writes.fails) > 0 || len(reads.fails) > 0 {
		t.Errorf("requests failed while a backup download stalled: writes %v; reads %v", writes.fails, reads.fails)
	}
	if writes.slowest >= 2*time.Second || reads.slowest >= 2*time.Second {
		t.Errorf("slowest answer while a backup download stalled: write %v, read %v; want each under 2 s", writes.slowest, reads.slowest)
	}
	if !t.Failed() && !grown() {
		t.Fatalf("the writes did not grow the store file past %d bytes: the test proved nothing", fileSize)
	}

	// Only one backup at a time.
	res, err = admin.Get(srv.URL + "/api/v1/admin/backup")
	if err != nil {
		t.Fatalf("second backup: %v", err)
	}
	var env struct {
		Success bool   `json:"success"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if res.StatusCode == 429 {
		err = json.NewDecoder(res.Body).Decode(&env)
	}
	res.Body.Close()
	if res.StatusCode != 429 || err != nil || env.Success || env.Code != "rate_limited" || env.Message == "" || res.Header.Get("Retry-After") == "" {
		t.Errorf("second backup while one runs: got %d %+v (Retry-After %q, %v), want 429 rate_limited with Retry-After",
			res.StatusCode, env, res.Header.Get("Retry-After"), err)
	}

	// The stalled client leaves: its snapshot file goes with it.
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := snapshotFiles(t, dir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the client left, the data dir still holds %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := srv.term(15 * time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM: got %d, want 0: %s", code, srv.stderr.String())
	}
}

// seedNearMapSize fills the stopped store in dir with users and addresses
// in small commits until its data reaches within 512 KiB of size (a power
// of two, under bbolt's 16 MiB growth step, so the file and the memory map
// a server opens it with are exactly size). It returns the data's size
// and the file's.
func seedNearMapSize(t *testing.T, dir string, size int64) (int64, int64) {
	t.Helper()
	db, err := app.OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	text := strings.Repeat("x", 120)
	for i := 0; db.Size() < size-512<<10; i++ {
		if i == 1000 {
			t.Fatalf("seeding: still %d bytes after %d commits", db.Size(), i)
		}
		err := db.Update(func(tx *store.Tx) error {
			for j := range 8 { // about 64 KiB a commit
				u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("seed-%d-%d@example.test", i, j), FirstName: "Seed", LastName: text,
					EmailVerified: true, Active: true, DateJoined: now, UpdatedAt: now}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
				for k := range store.MaxAddresses {
					a := &store.Address{ID: store.NewID(), UserID: u.ID, Label: fmt.Sprint("L", k), FirstName: "Seed", LastName: text,
						StreetAddress: text, StreetAddress2: text, City: "Berlin", PostalCode: "10115", Country: "DE", CreatedAt: now, UpdatedAt: now}
					if _, err := tx.CreateAddress(a, false); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}
	hwm := db.Size()
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if hwm >= size || fi.Size() != size {
		t.Fatalf("seeding: data %d bytes in a %d-byte file, want under a file of %d", hwm, fi.Size(), size)
	}
	return hwm, fi.Size()
}

// snapshotFiles lists the files in the data dir that a backup left.
func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), "backup") || strings.HasSuffix(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}
