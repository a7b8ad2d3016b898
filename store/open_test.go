package store_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// baselineBuckets is the bucket tree listed in schema.go when these tests
// were written; documentedBuckets adds any bucket documented since.
var baselineBuckets = []string{
	"meta", "users", "users_by_email",
	"sessions", "sessions_by_user", "sessions_by_expiry",
	"tokens", "tokens_by_user", "tokens_by_expiry",
	"outbox", "outbox_due", "audit", "audit_by_user",
	"addresses",
}

// bucketLine is a bucket name line of the tree in schema.go's package comment.
var bucketLine = regexp.MustCompile(`(?m)^//\t([a-z_]+)$`)

// documentedBuckets returns the bucket names documented in schema.go (the
// tests run in the package directory) together with the baseline ones.
func documentedBuckets(tb testing.TB) []string {
	tb.Helper()
	src, err := os.ReadFile("schema.go")
	if err != nil {
		tb.Fatalf("read schema.go: %v", err)
	}
	names := append([]string(nil), baselineBuckets...)
	for _, m := range bucketLine.FindAllStringSubmatch(string(src), -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return names
}

func TestOpenCreatesFileEveryBucketAndSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("before Open: stat got %v, want ErrNotExist", err)
	}
	db := mustOpenPath(t, path)
	if got := db.Path(); got != path {
		t.Fatalf("Path() got %q, want %q", got, path)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("Ping: got %v, want nil", err)
	}
	mustClose(t, db)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("after Open: stat got %v, want nil", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		t.Fatalf("file mode %v size %d, want a non-empty regular file", fi.Mode(), fi.Size())
	}

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer bdb.Close()
	err = bdb.View(func(btx *bolt.Tx) error {
		for _, name := range documentedBuckets(t) {
			if btx.Bucket([]byte(name)) == nil {
				t.Errorf("bucket %q: got missing, want present", name)
			}
		}
		v := btx.Bucket([]byte("meta")).Get([]byte("schema_version"))
		if len(v) != 8 {
			t.Fatalf("meta schema_version: got %x, want 8 bytes", v)
		}
		if got := binary.BigEndian.Uint64(v); got != store.SchemaVersion {
			t.Fatalf("meta schema_version: got %d, want %d", got, store.SchemaVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bolt View: %v", err)
	}
}

func TestOpenSecondOpenWhileOpenFailsWithErrInUseWithinTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	mustOpenPath(t, path) // held open until cleanup

	const timeout = 200 * time.Millisecond
	start := time.Now()
	db2, err := store.Open(path, store.Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		db2.Close()
		t.Fatalf("second Open: got nil error, want ErrInUse")
	}
	if !errors.Is(err, store.ErrInUse) {
		t.Fatalf("second Open: got %v, want ErrInUse", err)
	}
	if elapsed < timeout/2 {
		t.Fatalf("second Open failed after %v, want it to wait about %v for the lock", elapsed, timeout)
	}
	if elapsed > timeout+time.Second {
		t.Fatalf("second Open failed after %v, want about %v", elapsed, timeout)
	}

	// A read-only open needs a shared lock, which the exclusive one excludes too.
	_, err = store.Open(path, store.Options{Timeout: timeout, ReadOnly: true})
	if !errors.Is(err, store.ErrInUse) {
		t.Fatalf("read-only Open while open: got %v, want ErrInUse", err)
	}
}

func TestOpenReopenAfterCloseKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	db := mustOpenPath(t, path)
	u := mustCreateUser(t, db, "keep@example.com")
	mustClose(t, db)

	db = mustOpenPath(t, path)
	mustView(t, db, func(tx *store.Tx) error {
		got, err := tx.UserByEmail("keep@example.com")
		if err != nil {
			t.Fatalf("UserByEmail after reopen: got %v, want nil", err)
		}
		if got.ID != u.ID {
			t.Fatalf("UserByEmail after reopen: got id %v, want %v", got.ID, u.ID)
		}
		return nil
	})
	mustClose(t, db)

	// Read-only open of an existing, current file works and sees the data.
	ro, err := store.Open(path, store.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: got %v, want nil", err)
	}
	defer ro.Close()
	if _, err := getUser(t, ro, u.ID); err != nil {
		t.Fatalf("User in read-only store: got %v, want nil", err)
	}
}

func TestOpenReadOnlyMissingFileErrorsAndCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	db, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond, ReadOnly: true})
	if err == nil {
		db.Close()
		t.Fatalf("read-only Open of missing file: got nil error, want an error")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after failed read-only Open: stat got %v, want ErrNotExist", err)
	}
}

// writeSchemaVersion creates a bbolt file at path holding only meta/schema_version = v.
func writeSchemaVersion(tb testing.TB, path string, v uint64) {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("bolt.Open: %v", err)
	}
	err = bdb.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], v)
		return b.Put([]byte("schema_version"), buf[:])
	})
	if err != nil {
		tb.Fatalf("bolt Update: %v", err)
	}
	if err := bdb.Close(); err != nil {
		tb.Fatalf("bolt Close: %v", err)
	}
}

func TestOpenRefusesNewerSchemaWithErrSchemaTooNewAndLeavesFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	writeSchemaVersion(t, path, store.SchemaVersion+1)

	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err == nil {
		db.Close()
		t.Fatalf("Open of newer schema: got nil error, want ErrSchemaTooNew")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of newer schema: got %v, want ErrSchemaTooNew", err)
	}

	db, err = store.Open(path, store.Options{Timeout: time.Second, ReadOnly: true})
	if err == nil {
		db.Close()
		t.Fatalf("read-only Open of newer schema: got nil error, want ErrSchemaTooNew")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("read-only Open of newer schema: got %v, want ErrSchemaTooNew", err)
	}

	// The refused Open released the lock and neither downgraded the version
	// nor created buckets (its transaction was rolled back).
	if got := len(rawKeys(t, path, "meta")); got != 1 {
		t.Fatalf("meta keys after refusal: got %d, want 1", got)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open after refusal: got %v, want nil (lock released)", err)
	}
	defer bdb.Close()
	bdb.View(func(btx *bolt.Tx) error {
		v := btx.Bucket([]byte("meta")).Get([]byte("schema_version"))
		if got := binary.BigEndian.Uint64(v); got != store.SchemaVersion+1 {
			t.Fatalf("schema_version after refusal: got %d, want %d", got, store.SchemaVersion+1)
		}
		if btx.Bucket([]byte("users")) != nil {
			t.Fatalf("bucket users after refusal: got present, want absent")
		}
		return nil
	})
}

// TestOpenNewerSchemaMessageNamesBothVersions: the operator who starts an
// older binary on a newer file reads which versions and what to do.
func TestOpenNewerSchemaMessageNamesBothVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	writeSchemaVersion(t, path, store.SchemaVersion+1)
	want := fmt.Sprintf("store: the store was written by schema version %d; this binary reads up to %d: upgrade marbelle", store.SchemaVersion+1, store.SchemaVersion)
	for _, ro := range []bool{false, true} {
		db, err := store.Open(path, store.Options{Timeout: time.Second, ReadOnly: ro})
		if err == nil {
			db.Close()
			t.Fatalf("read-only %v: Open of a newer schema succeeded", ro)
		}
		var tooNew *store.SchemaTooNewError
		if err.Error() != want || !errors.As(err, &tooNew) || tooNew.File != store.SchemaVersion+1 {
			t.Errorf("read-only %v: got %q, want %q", ro, err, want)
		}
	}
}

func TestOpenMigratesVersionZeroFileToCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	writeSchemaVersion(t, path, 0)

	// A read-only open must not migrate: it refuses the old file.
	if db, err := store.Open(path, store.Options{Timeout: time.Second, ReadOnly: true}); err == nil {
		db.Close()
		t.Fatalf("read-only Open of version 0: got nil error, want an error")
	}

	db := mustOpenPath(t, path)
	mustCreateUser(t, db, "migrated@example.com")
	mustClose(t, db)
	if got := rawSchemaVersion(t, path); got != store.SchemaVersion {
		t.Fatalf("schema_version after migration: got %d, want %d", got, store.SchemaVersion)
	}
}
