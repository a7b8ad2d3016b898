package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeOldStore writes a version 3 store at path with n users (every
// tenth with an address, every fifth with a session), all in JSON as
// builds before the binary codec wrote them, but every seventh user in V1
// (before the security stamp).
func writeOldStore(tb testing.TB, path string, n int) {
	tb.Helper()
	db, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	err = db.Update(func(tx *Tx) error {
		for i := range n {
			u := &User{ID: NewID(), Email: fmt.Sprintf("u%d@example.test", i), FirstName: "F", Active: true, EmailVerified: i%2 == 0,
				DateJoined: at, UpdatedAt: at, SecurityStamp: 0, KnownDevices: []string{"d"}}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			if i%10 == 0 {
				if _, err := tx.CreateAddress(&Address{ID: NewID(), UserID: u.ID, Label: "Home", City: "Berlin", CreatedAt: at, UpdatedAt: at}, false); err != nil {
					return err
				}
			}
			if i%5 == 0 {
				s := &Session{ID: NewID(), UserID: u.ID, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour), IdleUntil: at.Add(time.Hour), IP: "192.0.2.1"}
				if err := tx.CreateSession(fmt.Sprintf("secret-%d", i), s); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Back to the older forms, and to version 3.
	err = db.Update(func(tx *Tx) error {
		old := func(name []byte, decode func([]byte) (any, error)) error {
			b := tx.bucket(name)
			var keys, values [][]byte
			i := 0
			err := b.ForEach(func(k, v []byte) error {
				x, err := decode(v)
				if err != nil {
					return err
				}
				data, _ := json.Marshal(x)
				if u, ok := x.(*User); ok && i%7 == 3 {
					enc := encodeUser(u)
					data = append([]byte{userCodecV1}, enc[1:len(enc)-2]...) // stamp 0 and language "" are one byte each
				}
				i++
				keys, values = append(keys, bytes.Clone(k)), append(values, data)
				return nil
			})
			for j := range keys {
				if err == nil {
					err = b.Put(keys[j], values[j])
				}
			}
			return err
		}
		if err := old(bucketUsers, func(v []byte) (any, error) { var u User; return &u, decodeUser(v, &u) }); err != nil {
			return err
		}
		if err := old(bucketSessions, func(v []byte) (any, error) { var s Session; return &s, decodeSession(v, &s) }); err != nil {
			return err
		}
		if err := old(bucketAddresses, func(v []byte) (any, error) { var a Address; return &a, decodeAddress(v, &a) }); err != nil {
			return err
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], 3)
		return tx.bucket(bucketMeta).Put(keySchemaVersion, v[:])
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// oldForms counts the users, sessions and addresses not in the current form.
func oldForms(tb testing.TB, db *DB) int {
	tb.Helper()
	n := 0
	db.View(func(tx *Tx) error {
		for name, form := range map[string]byte{"users": userCodecV3, "sessions": sessionCodecV2, "addresses": addressCodecV1} {
			tx.bucket([]byte(name)).ForEach(func(_, v []byte) error {
				if len(v) == 0 || v[0] != form {
					n++
				}
				return nil
			})
		}
		return nil
	})
	return n
}

// TestUpgradeTo4RewritesInBoundedTransactionsAndResumes: the records part
// of version 4 commits at most one batch per transaction and logs its
// progress; a run stopped after its first transaction (as a crash would
// stop it) leaves version 3, and the next Open finishes the job: one form,
// Check clean, every user still found.
func TestUpgradeTo4RewritesInBoundedTransactionsAndResumes(t *testing.T) {
	const n = 450
	path := filepath.Join(t.TempDir(), "v3.db")
	writeOldStore(t, path, n)

	if _, err := Open(path, Options{Timeout: time.Second, ReadOnly: true}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema 3 is older than %d", SchemaVersion)) {
		t.Fatalf("read-only Open of version 3: got %v", err)
	}
	// One transaction of the migration, then a "crash".
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{bolt: bdb}
	var p migrateProgress
	next, err := rewriteBatch(db, recordKind{bucketUsers, rewriteUser}, nil, 100, &p)
	if err != nil || next == nil || p.read != 100 || p.rewritten != 100 {
		t.Fatalf("first batch: next %x, %v, progress %+v", next, err, p)
	}
	left := oldForms(t, db)
	db.Close()
	if want := n + n/5 + n/10 - 100; left != want {
		t.Fatalf("after one batch: %d records in an older form, want %d", left, want)
	}

	// The next Open finishes it, logging what it does.
	var logs bytes.Buffer
	db, err = Open(path, Options{Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if left := oldForms(t, db); left != 0 {
		t.Fatalf("after Open: %d records in an older form", left)
	}
	db.View(func(tx *Tx) error {
		if v := tx.version(); v != SchemaVersion {
			t.Errorf("version %d, want %d", v, SchemaVersion)
		}
		if faults := tx.Check(); len(faults) != 0 {
			t.Errorf("Check: %q", faults)
		}
		for _, i := range []int{0, 3, 10, n - 1} {
			u, err := tx.UserByEmail(fmt.Sprintf("u%d@example.test", i))
			if err != nil || u.FirstName != "F" || len(u.KnownDevices) != 1 || u.EmailVerified != (i%2 == 0) {
				t.Errorf("user %d: %+v, %v", i, u, err)
			}
		}
		return nil
	})
	want := fmt.Sprintf("read=%d rewritten=%d", n+n/5+n/10, n+n/5+n/10-100)
	if !strings.Contains(logs.String(), "store migration: rewriting records in the current form") || !strings.Contains(logs.String(), want) {
		t.Errorf("log has no start line or no %q:\n%s", want, logs.String())
	}
}

// TestRewriteRecordsCommitsOneBatchPerTransaction: with a batch of 100,
// 250 users, 50 sessions and 25 addresses take 3 + 1 + 1 commits, each
// logged; a second run commits nothing.
func TestRewriteRecordsCommitsOneBatchPerTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.db")
	writeOldStore(t, path, 250)
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{bolt: bdb}
	defer db.Close()
	txid := func() int {
		var id int
		bdb.View(func(btx *bolt.Tx) error { id = btx.ID(); return nil })
		return id
	}
	var logs bytes.Buffer
	before := txid()
	if err := rewriteRecords(db, slog.New(slog.NewTextHandler(&logs, nil)), 100, 0); err != nil {
		t.Fatal(err)
	}
	if commits := txid() - before; commits != 5 {
		t.Errorf("got %d commits, want 5", commits)
	}
	if lines := strings.Count(logs.String(), "progress"); lines != 5 {
		t.Errorf("got %d progress lines, want 5:\n%s", lines, logs.String())
	}
	if left := oldForms(t, db); left != 0 {
		t.Errorf("%d records left in an older form", left)
	}
	logs.Reset()
	before = txid()
	if err := rewriteRecords(db, slog.New(slog.NewTextHandler(&logs, nil)), 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	if commits := txid() - before; commits != 0 {
		t.Errorf("second run: %d commits, want none", commits)
	}
	if !strings.Contains(logs.String(), "rewritten=0") || strings.Contains(logs.String(), "progress") {
		t.Errorf("second run log:\n%s", logs.String())
	}
}

// BenchmarkUpgradeTo4 migrates a version 3 store of 100,000 JSON users (and
// their 20,000 sessions and 10,000 addresses) per iteration.
func BenchmarkUpgradeTo4(b *testing.B) {
	src := filepath.Join(b.TempDir(), "v3.db")
	writeOldStore(b, src, 100_000)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "copy.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		db, err := Open(path, Options{Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(130_000)/time.Since(start).Seconds(), "records/s")
		db.Close()
	}
}
