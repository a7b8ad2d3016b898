package store_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// slowWriter delays every write so that the backup's read transaction stays
// open while the concurrent writer commits.
type slowWriter struct {
	w     io.Writer
	delay time.Duration
}

func (s slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.w.Write(p)
}

func TestBackupWhileWritingHoldsEveryUserCommittedBeforeItStarted(t *testing.T) {
	db := mustOpen(t)
	var pre []created
	mustUpdate(t, db, func(tx *store.Tx) error {
		for i := 0; i < 300; i++ {
			u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("pre%d@example.com", i), DateJoined: t0}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			pre = append(pre, created{u.ID, u.Email})
		}
		return nil
	})

	w := startWriter(t, db)
	mustHave := append(append([]created(nil), pre...), w.committed()...)

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	n, err := db.Backup(slowWriter{f, time.Millisecond})
	if err != nil {
		t.Fatalf("Backup: got %v, want nil", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close backup file: %v", err)
	}
	duringOrBefore := len(w.committed())
	written, writeErr := w.halt()
	if writeErr != nil {
		t.Fatalf("concurrent writer: got %v, want nil", writeErr)
	}
	t.Logf("backup of %d bytes; writer committed %d users before it started, %d by its end", n, len(mustHave)-len(pre), duringOrBefore)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat backup: %v", err)
	}
	if fi.Size() != n {
		t.Fatalf("Backup returned %d bytes, file has %d", n, fi.Size())
	}

	cp := mustOpenPath(t, path)
	mustView(t, cp, func(tx *store.Tx) error {
		for _, c := range mustHave {
			u, err := tx.User(c.id)
			if err != nil {
				t.Fatalf("backup: User(%s): got %v, want nil", c.email, err)
			}
			if u.Email != c.email {
				t.Fatalf("backup: User(%v).Email got %q, want %q", c.id, u.Email, c.email)
			}
			byEmail, err := tx.UserByEmail(c.email)
			if err != nil || byEmail.ID != c.id {
				t.Fatalf("backup: UserByEmail(%s): got %v, %v, want id %v", c.email, byEmail, err, c.id)
			}
		}
		// The copy is one consistent snapshot: every user the writer made is
		// either wholly in it (record and email index) or wholly absent.
		for _, c := range written {
			_, errUser := tx.User(c.id)
			_, errEmail := tx.UserByEmail(c.email)
			if (errUser == nil) != (errEmail == nil) {
				t.Fatalf("backup: user %s: User err %v, UserByEmail err %v, want both nil or both ErrNotFound", c.email, errUser, errEmail)
			}
		}
		return nil
	})
}

// created is a user a backup test made.
type created struct {
	id    uuid.UUID
	email string
}

// liveWriter creates users, one Update each, until halted.
type liveWriter struct {
	mu      sync.Mutex
	written []created // committed
	err     error
	stop    chan struct{}
	done    chan struct{}
}

// startWriter starts a liveWriter on db and returns once it has committed
// its first user.
func startWriter(t *testing.T, db *store.DB) *liveWriter {
	t.Helper()
	w := &liveWriter{stop: make(chan struct{}), done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("live%d@example.com", i), DateJoined: t0}
			if err := db.Update(func(tx *store.Tx) error { return tx.CreateUser(u) }); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.written = append(w.written, created{u.ID, u.Email})
			w.mu.Unlock()
			if i == 0 {
				close(started)
			}
		}
	}()
	<-started
	return w
}

// committed returns the users committed so far.
func (w *liveWriter) committed() []created {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]created(nil), w.written...)
}

// halt stops the writer and returns every user it committed and its error.
func (w *liveWriter) halt() ([]created, error) {
	close(w.stop)
	<-w.done
	return w.written, w.err
}

// TestSnapshotHoldsNoTransactionWhileRead: Snapshot's copy is a file
// beside the store (mode 0600) holding what was committed before it; while
// it is open and unread, a commit that grows the store's memory map does
// not wait for it (a read transaction would make it wait); Close removes
// the file.
func TestSnapshotHoldsNoTransactionWhileRead(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenPath(t, filepath.Join(dir, "marbelle.db"))
	before := &store.User{ID: store.NewID(), Email: "before@example.com", DateJoined: t0}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.CreateUser(before) })

	snap, err := db.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: got %v, want nil", err)
	}
	defer snap.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "marbelle.db.backup-*.tmp"))
	if len(files) != 1 {
		t.Fatalf("snapshot files beside the store: got %v, want one", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != snap.Size() {
		t.Fatalf("snapshot file: got %v %v, want mode 0600 and %d bytes", fi, err, snap.Size())
	}

	// Grow the store well past its map while the snapshot is open.
	grown := make(chan error, 1)
	go func() {
		grown <- db.Update(func(tx *store.Tx) error {
			for i := range 2000 {
				u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("grow%d@example.com", i), FirstName: string(make([]byte, 1000)), DateJoined: t0}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	select {
	case err := <-grown:
		if err != nil {
			t.Fatalf("Update: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a commit growing the store waited 10 s for an open snapshot")
	}
	if size := db.Size(); size < 2*snap.Size() {
		t.Fatalf("store is %d bytes after the growth, snapshot %d: the commit did not grow it", size, snap.Size())
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := snap.WriteTo(f)
	if cerr := f.Close(); err != nil || cerr != nil || n != snap.Size() {
		t.Fatalf("WriteTo: got %d, %v, %v, want %d bytes", n, err, cerr, snap.Size())
	}
	if err := snap.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Fatalf("snapshot file after Close: got %v, want it removed", err)
	}
	cp := mustOpenPath(t, path)
	mustView(t, cp, func(tx *store.Tx) error {
		if _, err := tx.User(before.ID); err != nil {
			t.Fatalf("copy: User(before): got %v, want nil", err)
		}
		if _, err := tx.UserByEmail("grow0@example.com"); err != store.ErrNotFound {
			t.Fatalf("copy: UserByEmail(grow0): got %v, want ErrNotFound (written after the snapshot)", err)
		}
		return nil
	})
}

// TestRemoveSnapshotsRemovesOnlyThisStoresSnapshots: leftovers named
// "<store file>.backup-*.tmp" go; anything else in the directory stays.
func TestRemoveSnapshotsRemovesOnlyThisStoresSnapshots(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenPath(t, filepath.Join(dir, "marbelle.db"))
	for _, name := range []string{"marbelle.db.backup-1.tmp", "marbelle.db.backup-22.tmp", "marbelle.db.backup-3.txt", "other.db.backup-1.tmp", "backup-1.tmp", "notes.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "marbelle.db.backup-dir.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := db.RemoveSnapshots()
	if err != nil || n != 2 {
		t.Fatalf("RemoveSnapshots: got %d, %v, want 2, nil", n, err)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := "backup-1.tmp marbelle.db marbelle.db.backup-3.txt marbelle.db.backup-dir.tmp notes.tmp other.db.backup-1.tmp"
	if got := strings.Join(left, " "); got != want {
		t.Fatalf("left in the directory: got %q, want %q", got, want)
	}
}
