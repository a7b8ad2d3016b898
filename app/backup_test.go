package app

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// stalledWriter is the connection of a client that stops reading: the
// first Write blocks until release is closed, then fails as a write to a
// client that has gone does.
type stalledWriter struct {
	header  http.Header
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Write([]byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	return 0, errors.New("connection reset by peer")
}

// snapshotsIn lists the backup snapshot files in the data dir.
func snapshotsIn(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, StoreFile+".backup-*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestAdminBackupSnapshotsOneAtATime (issue 14, item 6): the backup is a
// valid store holding its own audit event, sent with its length and not
// to be cached; while one backup is in flight a second is 429 with
// Retry-After (and is not audited); the snapshot file is gone once the
// download ends, whether it finished or its client went away.
func TestAdminBackupSnapshotsOneAtATime(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	dataDir := ts.srv.cfg.DataDir

	r := admin.do("GET", "/api/v1/admin/backup", nil).want(t, 200, "")
	h := r.Header
	if h.Get("Content-Type") != "application/octet-stream" || h.Get("Content-Disposition") != `attachment; filename="marbelle-20261127T100000Z.db"` ||
		h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
		t.Fatalf("backup headers: got %v for %d bytes", h, len(r.Body))
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(path, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	if faults, err := Check(path); err != nil || len(faults) > 0 {
		t.Fatalf("snapshot check: got %v %v, want a sound store", err, faults)
	}
	snap, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = snap.View(func(tx *store.Tx) error {
		if _, err := tx.UserByEmail("boss@example.test"); err != nil {
			return err
		}
		events, err := tx.AuditQuery(store.AuditFilter{Event: "backup_downloaded", Limit: 10})
		if err == nil && len(events) != 1 {
			t.Errorf("backup_downloaded events in the snapshot: got %d, want 1 (its own)", len(events))
		}
		return err
	})
	snap.Close()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// The handler removes its file once the last byte is written, which may
	// be just after the client has read it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := snapshotsIn(t, dataDir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a finished backup: got %v in the data dir, want none", left)
		}
	}

	// A download whose client stops reading, through the same handler.
	req := httptest.NewRequest("GET", ts.URL+"/api/v1/admin/backup", nil)
	for _, c := range admin.http.Jar.Cookies(mustURL(t, ts.URL)) {
		req.AddCookie(c)
	}
	w := &stalledWriter{header: http.Header{}, started: make(chan struct{}), release: make(chan struct{})}
	release := sync.OnceFunc(func() { close(w.release) })
	t.Cleanup(release) // before the store closes, also when the test fails early
	aborted := make(chan any, 1)
	go func() {
		defer func() { aborted <- recover() }()
		ts.srv.Handler().ServeHTTP(w, req)
	}()
	select {
	case <-w.started:
	case p := <-aborted:
		t.Fatalf("stalled backup ended before writing: %v %v", p, w.header)
	case <-time.After(10 * time.Second):
		t.Fatalf("stalled backup: no write within 10 s")
	}
	second := admin.do("GET", "/api/v1/admin/backup", nil)
	if second.Status != 429 || second.Env.Code != CodeRateLimited || second.Header.Get("Retry-After") != "60" || !strings.Contains(second.Env.Message, "only one") {
		t.Fatalf("second backup while one is sent: got %d %q, Retry-After %q, message %q; want 429 rate_limited, 60, one at a time",
			second.Status, second.Env.Code, second.Header.Get("Retry-After"), second.Env.Message)
	}
	if left := snapshotsIn(t, dataDir); len(left) != 1 {
		t.Fatalf("while a backup is sent: got %v in the data dir, want its one snapshot", left)
	}
	// The store goes on meanwhile.
	admin.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/register", registerBody("during@example.test", testPassword)).want(t, 201, "")

	release() // the client goes away
	select {
	case p := <-aborted:
		if p != http.ErrAbortHandler {
			t.Fatalf("stalled backup: got panic %v, want http.ErrAbortHandler (the stream is cut)", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("stalled backup: handler still running 10 s after its client went")
	}
	if left := snapshotsIn(t, dataDir); len(left) > 0 {
		t.Fatalf("after the client went: got %v in the data dir, want none", left)
	}
	admin.do("GET", "/api/v1/admin/backup", nil).want(t, 200, "") // the slot is free again

	var events []auditView
	admin.do("GET", "/api/v1/admin/audit?event=backup_downloaded", nil).want(t, 200, "").data(t, &events)
	if len(events) != 3 {
		t.Fatalf("backup_downloaded events: got %d, want 3 (the refused backup is not one)", len(events))
	}
}
