package store_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// soundStore builds a store with one of every record and returns its path
// and the ids the corruptions need.
func soundStore(t *testing.T) (string, uuid.UUID, uuid.UUID) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sound.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	uid, addr := store.NewID(), store.NewID()
	err = db.Update(func(tx *store.Tx) error {
		u := &store.User{ID: uid, Email: "sound@example.test", Active: true, EmailVerified: true, DateJoined: now}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		if err := tx.CreateSession("session-secret", &store.Session{ID: store.NewID(), UserID: uid, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleUntil: now.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.IssueToken("token-value", &store.Token{Kind: store.TokenPasswordReset, UserID: uid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := tx.CreateAddress(&store.Address{ID: addr, UserID: uid, Label: "Home", CreatedAt: now}, false); err != nil {
			return err
		}
		if _, err := tx.CreateAddress(&store.Address{ID: store.NewID(), UserID: uid, Label: "Work", CreatedAt: now.Add(time.Second)}, false); err != nil {
			return err
		}
		if err := tx.QueueMail(&store.Mail{ID: store.NewID(), UserID: uid, To: u.Email, Sealed: []byte("sealed"), NextAttemptAt: now, CreatedAt: now}); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: now, Event: "register", UserID: uid})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path, uid, addr
}

func faultsOf(t *testing.T, path string) []string {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var faults []string
	db.View(func(tx *store.Tx) error { faults = tx.Check(); return nil })
	return faults
}

// firstKey returns the first key of a bucket.
func firstKey(tx *bolt.Tx, bucket string) []byte {
	k, _ := tx.Bucket([]byte(bucket)).Cursor().First()
	return append([]byte(nil), k...)
}

// editUser rewrites one field of the user record, named as in its JSON
// form, and stores it in the stored form.
func editUser(tx *bolt.Tx, uid uuid.UUID, field string, value any) error {
	b := tx.Bucket([]byte("users"))
	u, err := store.DecodeUserRecord(b.Get(uid[:]))
	if err != nil {
		return err
	}
	js, _ := json.Marshal(u)
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return err
	}
	m[field] = value
	js, _ = json.Marshal(m)
	u = store.User{}
	if err := json.Unmarshal(js, &u); err != nil {
		return err
	}
	return b.Put(uid[:], store.EncodeUserRecord(&u))
}

// TestCheckCatchesEachBrokenInvariant breaks one invariant at a time in a
// sound store and expects Check to name it.
func TestCheckCatchesEachBrokenInvariant(t *testing.T) {
	path, uid, addr := soundStore(t)
	if f := faultsOf(t, path); len(f) != 0 {
		t.Fatalf("sound store: got faults %v", f)
	}
	for _, c := range corruptions(uid, addr) {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			broken := filepath.Join(t.TempDir(), "broken.db")
			os.WriteFile(broken, data, 0o600)
			bdb, err := bolt.Open(broken, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := bdb.Update(c.breakIt); err != nil {
				t.Fatal(err)
			}
			bdb.Close()
			faults := faultsOf(t, broken)
			if !strings.Contains(strings.Join(faults, "\n"), c.want) {
				t.Fatalf("got faults %q, want one mentioning %q", faults, c.want)
			}
		})
	}
}

// corruption breaks one invariant of soundStore's store; Check must then
// report a fault mentioning want.
type corruption struct {
	name, want string
	breakIt    func(tx *bolt.Tx) error
}

// corruptions are the broken invariants of TestCheckCatchesEachBrokenInvariant,
// for the user uid and its address addr.
func corruptions(uid, addr uuid.UUID) []corruption {
	return append(indexCorruptions(uid), recordCorruptions(uid, addr)...)
}

// indexCorruptions break an index: an entry missing, or one too many.
func indexCorruptions(uid uuid.UUID) []corruption {
	return []corruption{
		{"email index entry missing", "email index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("users_by_email")).Delete([]byte("sound@example.test"))
		}},
		{"stray email index entry", "email index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("users_by_email")).Put([]byte("ghost@example.test"), uid[:])
		}},
		{"session without by-user entry", "by-user index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("sessions_by_user")).Delete(firstKey(tx, "sessions_by_user"))
		}},
		{"session without expiry entry", "by-expiry index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("sessions_by_expiry")).Delete(firstKey(tx, "sessions_by_expiry"))
		}},
		{"token without expiry entry", "by-expiry index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("tokens_by_expiry")).Delete(firstKey(tx, "tokens_by_expiry"))
		}},
		{"stray token index entry", "tokens_by_user", func(tx *bolt.Tx) error {
			k := append(append(append([]byte{}, uid[:]...), 2), make([]byte, 32)...)
			return tx.Bucket([]byte("tokens_by_user")).Put(k, nil)
		}},
		{"stray session expiry entry", "sessions_by_expiry", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("sessions_by_expiry")).Put(make([]byte, 40), nil)
		}},
		{"queued mail not in the due index", "due index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("outbox_due")).Delete(firstKey(tx, "outbox_due"))
		}},
		{"stray audit index entry", "audit_by_user", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("audit_by_user")).Put(append(append([]byte{}, uid[:]...), make([]byte, 16)...), nil)
		}},
		{"imports entry without a user id", "imports", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("imports")).Put([]byte("django\x0042"), []byte("not an id"))
		}},
	}
}

// recordCorruptions break a record, or what its indexes say of it.
func recordCorruptions(uid, addr uuid.UUID) []corruption {
	return []corruption{
		{"user gone but records left", "missing user", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("users")).Delete(uid[:])
		}},
		{"address count disagrees", "counts", func(tx *bolt.Tx) error { return editUser(tx, uid, "address_count", 5) }},
		{"primary is not an address of the user", "primary", func(tx *bolt.Tx) error {
			return editUser(tx, uid, "primary_address_id", uuid.NewString())
		}},
		{"addresses but no primary", "no primary", func(tx *bolt.Tx) error {
			return editUser(tx, uid, "primary_address_id", uuid.Nil.String())
		}},
		{"more than ten addresses", "more than 10", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("addresses"))
			for range 10 {
				id := store.NewID()
				data := store.EncodeAddressRecord(&store.Address{ID: id, UserID: uid})
				if err := b.Put(append(append([]byte{}, uid[:]...), id[:]...), data); err != nil {
					return err
				}
			}
			return editUser(tx, uid, "address_count", 12)
		}},
		{"address of a missing user", "missing user", func(tx *bolt.Tx) error {
			other := store.NewID()
			data := store.EncodeAddressRecord(&store.Address{ID: addr, UserID: other})
			return tx.Bucket([]byte("addresses")).Put(append(append([]byte{}, other[:]...), addr[:]...), data)
		}},
		{"sent mail still holds its body", "holds its body", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("outbox"))
			k := firstKey(tx, "outbox")
			var m map[string]any
			json.Unmarshal(b.Get(k), &m)
			m["status"] = "sent"
			data, _ := json.Marshal(m)
			if err := tx.Bucket([]byte("outbox_due")).Delete(firstKey(tx, "outbox_due")); err != nil {
				return err
			}
			return b.Put(k, data)
		}},
		{"counters disagree", "counters", func(tx *bolt.Tx) error {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], 7)
			return tx.Bucket([]byte("meta")).Put([]byte("users"), v[:])
		}},
		{"email not normalised", "not normalised", func(tx *bolt.Tx) error {
			if err := editUser(tx, uid, "email", "Sound@Example.test"); err != nil {
				return err
			}
			return tx.Bucket([]byte("users_by_email")).Put([]byte("Sound@Example.test"), uid[:])
		}},
	}
}
