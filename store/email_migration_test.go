package store_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// TestNormalizeEmailSpellingsAreOneKey: the Unicode and punycode spellings
// of a domain and the composed and decomposed spellings of a local part
// give one key; the key is stable.
func TestNormalizeEmailSpellingsAreOneKey(t *testing.T) {
	for _, c := range []struct {
		want      string
		spellings []string
	}{
		{"user@xn--mnchen-3ya.de", []string{"user@münchen.de", " USER@MÜNCHEN.DE ", "user@mu\u0308nchen.de", "user@XN--MNCHEN-3YA.DE", "user@ｍüｎｃｈｅｎ.de"}},
		{"m\u00fcller@example.test", []string{"mu\u0308ller@example.test", "MU\u0308LLER@Example.Test", "M\u00dcLLER@example.test"}},
		{"plain@example.test", []string{"Plain@Example.test", "plain@example.test"}},
	} {
		for _, s := range c.spellings {
			if got := store.NormalizeEmail(s); got != c.want {
				t.Errorf("NormalizeEmail(%+q) = %+q, want %+q", s, got, c.want)
			}
		}
		if got := store.NormalizeEmail(c.want); got != c.want {
			t.Errorf("NormalizeEmail(%+q) = %+q, want it unchanged", c.want, got)
		}
	}
	// A domain IDNA refuses keeps its lower-cased spelling, and says why.
	if got, err := store.CanonicalEmail("A@Bad_Domain.test"); got != "a@bad_domain.test" || err == nil {
		t.Errorf("CanonicalEmail of an invalid domain: got %q, %v, want the lower-cased form and an error", got, err)
	}
}

// v2User is one account as a version 2 store held it.
type v2User struct {
	name     string
	email    string // as version 2 stored it: trimmed and lower-cased only
	joined   time.Time
	verified bool
	id       uuid.UUID
}

// writeV2Store writes a store in the version 2 layout: the users are made
// through the store (so counters and indexes agree), then their emails and
// users_by_email keys are set by hand to version 2's spelling and the
// schema version to 2.
func writeV2Store(t *testing.T, users []*v2User) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v2.db")
	db := mustOpenPath(t, path)
	for i, u := range users {
		u.id = store.NewID()
		su := &store.User{ID: u.id, Email: strings.Repeat("x", i+1) + "@placeholder.test", FirstName: u.name, LastName: "V2", Active: true, EmailVerified: u.verified, DateJoined: u.joined, UpdatedAt: u.joined}
		mustUpdate(t, db, func(tx *store.Tx) error { return tx.CreateUser(su) })
	}
	mustClose(t, db)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		idx := tx.Bucket([]byte("users_by_email"))
		for i, u := range users {
			if err := idx.Delete([]byte(strings.Repeat("x", i+1) + "@placeholder.test")); err != nil {
				return err
			}
			if err := idx.Put([]byte(u.email), u.id[:]); err != nil {
				return err
			}
			if err := editUser(tx, u.id, "email", u.email); err != nil {
				return err
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], 2)
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), v[:])
	})
	return path
}

// TestOpenMigratesEmailKeysToVersion3: opening a version 2 store re-keys
// users_by_email and User.Email under the new rules in the opening
// transaction. Where accounts collide, the verified one, else the oldest,
// gets the key and the others keep a key no lookup reaches, each collision
// logged with both ids; Check passes on the result; a second open changes
// nothing.
func TestOpenMigratesEmailKeysToVersion3(t *testing.T) {
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	users := []*v2User{
		{name: "idn old", email: "user@münchen.de", joined: day(1)},
		{name: "idn new", email: "user@xn--mnchen-3ya.de", joined: day(2)},
		{name: "decomposed", email: "mu\u0308ller@example.test", joined: day(3)},
		{name: "idn alone", email: "anna@bücher.example", joined: day(4), verified: true},
		{name: "plain", email: "plain@example.test", joined: day(5)},
		{name: "nfc unverified", email: "zoe\u0308@example.test", joined: day(6)},
		{name: "nfc verified", email: "zo\u00eb@example.test", joined: day(7), verified: true},
		{name: "both old, older", email: "ida@köln.de", joined: day(8)},
		{name: "both old, younger", email: "ida@ko\u0308ln.de", joined: day(9)},
		{name: "bad domain", email: "odd@under_score.test", joined: day(10)},
	}
	by := map[string]*v2User{}
	for _, u := range users {
		by[u.name] = u
	}
	path := writeV2Store(t, users)

	var logs bytes.Buffer
	db, err := store.Open(path, store.Options{Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open v2: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	mustCheck(t, db)

	checkMigratedEmails(t, db, by, len(users))

	// One warning per collision, naming both ids, and no email.
	for _, pair := range [][2]string{{"idn old", "idn new"}, {"nfc verified", "nfc unverified"}, {"both old, older", "both old, younger"}} {
		line := "kept_user_id=" + by[pair[0]].id.String() + " left_user_id=" + by[pair[1]].id.String()
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no warning with %q in the log:\n%s", line, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 3 || strings.Contains(logs.String(), "@") {
		t.Errorf("got %d warnings, want 3 and no email in them:\n%s", n, logs.String())
	}

	// The accounts stay usable: the kept one changes its email, a left one
	// is deleted, and Check still passes; a second open migrates nothing.
	mustUpdate(t, db, func(tx *store.Tx) error {
		if _, err := tx.ChangeEmail(by["idn old"].id, "user@bücher.example", t0); err != nil {
			return err
		}
		return tx.DeleteUser(by["both old, younger"].id)
	})
	mustCheck(t, db)
	mustClose(t, db)
	logs.Reset()
	db2, err := store.Open(path, store.Options{Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	mustCheck(t, db2)
	mustView(t, db2, func(tx *store.Tx) error {
		u, err := tx.UserByEmail("user@XN--BCHER-KVA.example")
		if err != nil || u.ID != by["idn old"].id {
			t.Errorf("after the change: got %v %v", u, err)
		}
		return nil
	})
	if logs.Len() != 0 {
		t.Errorf("the second open logged:\n%s", logs.String())
	}
}

// checkMigratedEmails checks where each account of
// TestOpenMigratesEmailKeysToVersion3 is after the migration, what each
// spelling finds, the counters of its n users, and the email index keys.
func checkMigratedEmails(t *testing.T, db *store.DB, by map[string]*v2User, n int) {
	t.Helper()
	// Where each account is now, and what each spelling finds.
	wantEmail := map[string]string{
		"idn old":           "user@xn--mnchen-3ya.de",
		"idn new":           "user@münchen.de", // the spelling the older one left
		"decomposed":        "m\u00fcller@example.test",
		"idn alone":         "anna@xn--bcher-kva.example",
		"plain":             "plain@example.test",
		"nfc unverified":    "zoe\u0308@example.test", // left: the verified one keeps the key
		"nfc verified":      "zo\u00eb@example.test",
		"both old, older":   "ida@xn--kln-sna.de",
		"both old, younger": "ida@ko\u0308ln.de",
		"bad domain":        "odd@under_score.test",
	}
	lookups := map[string]string{
		"user@münchen.de":           "idn old",
		"USER@XN--MNCHEN-3YA.DE":    "idn old",
		"mu\u0308ller@example.test": "decomposed",
		"anna@bücher.example":       "idn alone",
		"zoe\u0308@example.test":    "nfc verified",
		"ida@ko\u0308ln.de":         "both old, older",
		"plain@example.test":        "plain",
		"odd@under_score.test":      "bad domain",
	}
	mustView(t, db, func(tx *store.Tx) error {
		for name, want := range wantEmail {
			u, err := tx.User(by[name].id)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if u.Email != want {
				t.Errorf("%s: email %+q, want %+q", name, u.Email, want)
			}
		}
		for spelling, name := range lookups {
			u, err := tx.UserByEmail(spelling)
			if err != nil || u.ID != by[name].id {
				t.Errorf("UserByEmail(%+q): got %v %v, want %s", spelling, u, err, name)
			}
		}
		if st := tx.Stats(); st.Users != n || st.Verified != 2 {
			t.Errorf("counters: got %+v", st)
		}
		return nil
	})
	var keys []string
	for _, k := range rawKeysOpen(t, db, "users_by_email") {
		keys = append(keys, string(k))
	}
	var want []string
	for _, e := range wantEmail {
		want = append(want, e)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("users_by_email keys:\n%+q\nwant\n%+q", keys, want)
	}
}

// rawKeysOpen returns the sorted keys of a bucket of an open store, read
// through a backup (bbolt holds the file).
func rawKeysOpen(t *testing.T, db *store.DB, bucket string) [][]byte {
	t.Helper()
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := rawKeys(t, copyPath, bucket)
	slices.SortFunc(keys, bytes.Compare)
	return keys
}
