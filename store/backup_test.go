package store_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	type created struct {
		id    uuid.UUID
		email string
	}
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

	var (
		mu       sync.Mutex
		written  []created // committed by the writer goroutine
		writeErr error
		stop     = make(chan struct{})
		started  = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := &store.User{ID: store.NewID(), Email: fmt.Sprintf("live%d@example.com", i), DateJoined: t0}
			if err := db.Update(func(tx *store.Tx) error { return tx.CreateUser(u) }); err != nil {
				mu.Lock()
				writeErr = err
				mu.Unlock()
				return
			}
			mu.Lock()
			written = append(written, created{u.ID, u.Email})
			mu.Unlock()
			if i == 0 {
				close(started)
			}
		}
	}()
	<-started

	mu.Lock()
	mustHave := append(append([]created(nil), pre...), written...)
	mu.Unlock()

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
	mu.Lock()
	duringOrBefore := len(written)
	mu.Unlock()
	close(stop)
	wg.Wait()
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
		mu.Lock()
		defer mu.Unlock()
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
