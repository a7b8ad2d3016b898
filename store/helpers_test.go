package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// t0 is a fixed instant: every time-dependent method takes "now" as an
// argument, so the tests never depend on the wall clock.
var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// mustOpen opens a new store in tb.TempDir() and closes it at cleanup.
func mustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "marbelle.db"))
}

// mustOpenPath opens the store at path and closes it at cleanup (closing
// twice is harmless, so tests may Close earlier themselves).
func mustOpenPath(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.Open(path, store.Options{Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatalf("Open(%s): got %v, want nil", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustClose(tb testing.TB, db *store.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatalf("Close: got %v, want nil", err)
	}
}

func mustUpdate(tb testing.TB, db *store.DB, fn func(*store.Tx) error) {
	tb.Helper()
	if err := db.Update(fn); err != nil {
		tb.Fatalf("Update: got %v, want nil", err)
	}
}

func mustView(tb testing.TB, db *store.DB, fn func(*store.Tx) error) {
	tb.Helper()
	if err := db.View(fn); err != nil {
		tb.Fatalf("View: got %v, want nil", err)
	}
}

// mustCreateUser stores a new user with email and returns it as stored.
func mustCreateUser(tb testing.TB, db *store.DB, email string) *store.User {
	tb.Helper()
	u := &store.User{
		ID:         store.NewID(),
		Email:      email,
		FirstName:  "First",
		LastName:   "Last",
		Active:     true,
		DateJoined: t0,
		UpdatedAt:  t0,
	}
	mustUpdate(tb, db, func(tx *store.Tx) error { return tx.CreateUser(u) })
	return u
}

// getUser returns the stored user with id, or nil and the error.
func getUser(tb testing.TB, db *store.DB, id uuid.UUID) (*store.User, error) {
	tb.Helper()
	return txResult(db.View, func(tx *store.Tx) (*store.User, error) { return tx.User(id) })
}

// txResult runs fn in a transaction, db.View or db.Update, and returns
// what fn returned.
func txResult[T any](run func(func(*store.Tx) error) error, fn func(*store.Tx) (T, error)) (T, error) {
	var v T
	err := run(func(tx *store.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// mustTxResult is txResult failing tb on an error, as mustView and
// mustUpdate do.
func mustTxResult[T any](tb testing.TB, run func(func(*store.Tx) error) error, fn func(*store.Tx) (T, error)) T {
	tb.Helper()
	v, err := txResult(run, fn)
	if err != nil {
		tb.Fatalf("transaction: got %v, want nil", err)
	}
	return v
}

// randomSecret is a 64-hex-char secret, distinctive enough to be searched
// for in the file bytes.
func randomSecret(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("rand.Read: %v", err)
	}
	return hex.EncodeToString(b)
}

// fileBytes returns the whole file at path.
func fileBytes(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("ReadFile(%s): %v", path, err)
	}
	return data
}

// rawKeys opens a closed store file with bbolt directly and returns the
// keys of a top-level bucket (nil when the bucket is missing), so tests can
// check the index buckets documented in schema.go that have no accessor.
func rawKeys(tb testing.TB, path, bucket string) [][]byte {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatalf("bolt.Open(%s): %v", path, err)
	}
	defer bdb.Close()
	var keys [][]byte
	err = bdb.View(func(btx *bolt.Tx) error {
		b := btx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	})
	if err != nil {
		tb.Fatalf("bolt View: %v", err)
	}
	return keys
}

// countKeys counts keys of the list that match part: that contain it
// (bytes.Contains) or start with it (bytes.HasPrefix).
func countKeys(keys [][]byte, part []byte, match func(k, part []byte) bool) int {
	n := 0
	for _, k := range keys {
		if match(k, part) {
			n++
		}
	}
	return n
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// timeKey is the 8-byte big-endian Unix-nanosecond key form documented in schema.go.
func timeKey(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	return b[:]
}
