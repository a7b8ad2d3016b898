package store_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/store"
)

// storeFixture is a file in testdata written by the store code of an
// earlier schema version (testdata/README.md says which commit and how),
// and what that code could write: fields and token kinds came later.
type storeFixture struct {
	file    string
	version uint64 // the schema version it was written at
	devices bool   // User.KnownDevices and MustResetPassword, undo tokens
	stamps  bool   // User.SecurityStamp and Frozen, Token.Stamp
}

var storeFixtures = []storeFixture{
	{"schema1.db", 1, false, false},
	{"schema2-json.db", 2, true, false},
	{"schema2-binary.db", 2, true, true},
	{"schema3-userv1.db", 3, true, false},
	{"schema3.db", 3, true, true},
	{"schema4.db", 4, true, true},
	{"schema5.db", 5, true, true},
}

// fixtureID is the generator's id(n).
func fixtureID(n int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("0193a000-0000-7000-8000-%012x", n))
}

// fixtureT0 is the generator's t0.
var fixtureT0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// openFixture opens a copy of a fixture (never the file itself: Open
// migrates it) with today's code.
func openFixture(t *testing.T, name string) (*store.DB, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return mustOpenPath(t, path), path
}

// TestFixturesOfEarlierSchemasOpenAndRead: a store written by the code of
// each earlier schema version opens with today's code, which migrates it to
// SchemaVersion; Check finds nothing, and every record reads back with the
// values the old code was given.
func TestFixturesOfEarlierSchemasOpenAndRead(t *testing.T) {
	for _, fx := range storeFixtures {
		t.Run(fx.file, func(t *testing.T) {
			db, path := openFixture(t, fx.file)
			mustCheck(t, db)
			mustView(t, db, func(tx *store.Tx) error {
				checkFixtureUsers(t, tx, fx)
				checkFixtureSessions(t, tx)
				checkFixtureAddresses(t, tx)
				checkFixtureTokens(t, tx, fx)
				checkFixtureOutbox(t, tx)
				checkFixtureAudit(t, tx)
				return nil
			})
			mustClose(t, db)
			if v := rawSchemaVersion(t, path); v != store.SchemaVersion {
				t.Fatalf("schema_version after Open: got %d, want %d", v, store.SchemaVersion)
			}
			// One form per record kind since version 4: no JSON, no V1 user;
			// users in V3 (with the language) since version 5.
			for bucket, form := range map[string]byte{"users": 0xB3, "sessions": 0xC2, "addresses": 0xA1} {
				for k, v := range rawValues(t, path, bucket) {
					if len(v) == 0 || v[0] != form {
						t.Errorf("%s %x: stored as %.12q…, want the binary form %#x", bucket, k, v, form)
					}
				}
			}
		})
	}
}

func checkFixtureUsers(t *testing.T, tx *store.Tx, fx storeFixture) {
	t.Helper()
	const hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"
	ann := store.User{ID: fixtureID(1), Email: "ann@example.test", FirstName: "Ann", LastName: "Lée", Phone: "+4930123456",
		CompanyName: "Lee & Co", PasswordHash: hash, EmailVerified: true, Active: true, DateJoined: fixtureT0,
		LastLoginAt: fixtureT0.Add(time.Hour), PrimaryAddressID: fixtureID(12), AddressCount: 2}
	bob := store.User{ID: fixtureID(2), Email: "bob@example.test", FirstName: "Bob", PasswordHash: hash, Active: true,
		DateJoined: fixtureT0.Add(time.Minute)}
	staff := store.User{ID: fixtureID(3), Email: "staff@example.test", FirstName: "Sam", LastName: "Staff", PasswordHash: hash,
		EmailVerified: true, Active: true, Staff: true, DateJoined: fixtureT0.Add(2 * time.Minute)}
	// Schema 3 keys the decomposed ü composed and the domain in punycode.
	idn := store.User{ID: fixtureID(4), Email: "j\u00fcrgen@xn--bcher-kva.example", FirstName: "Jürgen", PasswordHash: hash,
		EmailVerified: true, Active: true, DateJoined: fixtureT0.Add(3 * time.Minute)}
	if fx.devices {
		ann.KnownDevices = []string{"dev-a", "dev-b"}
		idn.MustResetPassword = true
	}
	if fx.stamps {
		ann.SecurityStamp = 5
		idn.Frozen = true
	}
	lookups := map[string]store.User{
		"ANN@example.test": ann, "bob@example.test": bob, "staff@example.test": staff,
		"Ju\u0308rgen@Bücher.example": idn, "jürgen@XN--BCHER-KVA.example": idn,
	}
	for email, want := range lookups {
		got, err := tx.UserByEmail(email)
		if err != nil {
			t.Errorf("UserByEmail(%+q): %v", email, err)
			continue
		}
		got.UpdatedAt = time.Time{} // the old code moved it as it saw fit
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("UserByEmail(%+q):\n got %+v\nwant %+v", email, *got, want)
		}
	}
	if st := tx.Stats(); st.Users != 4 || st.Verified != 3 {
		t.Errorf("Stats: got %+v, want 4 users, 3 verified", st)
	}
	if n := tx.ActiveStaff(); n != 1 {
		t.Errorf("ActiveStaff: got %d, want 1", n)
	}
}

func checkFixtureSessions(t *testing.T, tx *store.Tx) {
	t.Helper()
	want := map[string]store.Session{
		"session-ann": {ID: fixtureID(21), UserID: fixtureID(1), CreatedAt: fixtureT0, LastSeenAt: fixtureT0.Add(time.Hour),
			ExpiresAt: fixtureT0.Add(30 * 24 * time.Hour), IdleUntil: fixtureT0.Add(49 * time.Hour), IP: "192.0.2.1",
			UserAgent: "Mozilla/5.0", Hash: store.HashSecret("session-ann"), Methods: []string{"password"}, AAL: 1},
		"session-staff": {ID: fixtureID(22), UserID: fixtureID(3), Staff: true, CreatedAt: fixtureT0, LastSeenAt: fixtureT0,
			ExpiresAt: fixtureT0.Add(12 * time.Hour), IdleUntil: fixtureT0.Add(time.Hour), IP: "2001:db8::1",
			UserAgent: "curl/8", Hash: store.HashSecret("session-staff"), Methods: []string{"password"}, AAL: 1},
	}
	for secret, w := range want {
		got, err := tx.SessionBySecret(secret)
		if err != nil || !reflect.DeepEqual(*got, w) {
			t.Errorf("SessionBySecret(%s): got %+v, %v\nwant %+v", secret, got, err, w)
		}
	}
	if got, _ := tx.UserSessions(fixtureID(1)); len(got) != 1 {
		t.Errorf("UserSessions(ann): got %d, want 1", len(got))
	}
}

func checkFixtureAddresses(t *testing.T, tx *store.Tx) {
	t.Helper()
	home := store.Address{ID: fixtureID(11), UserID: fixtureID(1), Label: "Home", FirstName: "Ann", LastName: "Lée",
		StreetAddress: "Hauptstr. 1", City: "Berlin", Region: "BE", PostalCode: "10115", Country: "DE",
		CreatedAt: fixtureT0, UpdatedAt: fixtureT0}
	work := store.Address{ID: fixtureID(12), UserID: fixtureID(1), Label: "Work", Company: "Lee & Co", StreetAddress: "Allee 2",
		StreetAddress2: "4. OG", City: "Berlin", PostalCode: "10117", Country: "DE", Phone: "+4930999999",
		CreatedAt: fixtureT0.Add(time.Minute), UpdatedAt: fixtureT0.Add(time.Minute)}
	got, primary, err := tx.Addresses(fixtureID(1))
	if err != nil || primary != work.ID || !slices.Equal(got, []store.Address{work, home}) {
		t.Errorf("Addresses(ann): got %+v, primary %s, %v\nwant %+v, primary %s", got, primary, err, []store.Address{work, home}, work.ID)
	}
	if got, primary, err := tx.Addresses(fixtureID(2)); len(got) != 0 || primary != uuid.Nil || err != nil {
		t.Errorf("Addresses(bob): got %+v, %s, %v, want none", got, primary, err)
	}
}

func checkFixtureTokens(t *testing.T, tx *store.Tx, fx storeFixture) {
	t.Helper()
	now := fixtureT0.Add(3 * time.Hour)
	cases := []struct {
		raw  string
		kind store.TokenKind
		live bool
	}{
		{"verify-bob-1", store.TokenVerifyEmail, false}, // voided by verify-bob-2
		{"verify-bob-2", store.TokenVerifyEmail, true},
		{"reset-ann-1", store.TokenPasswordReset, false}, // spent
		{"change-ann-1", store.TokenEmailChange, true},
		{"reset-staff-1", store.TokenPasswordReset, true},
	}
	if fx.devices {
		cases = append(cases, []struct {
			raw  string
			kind store.TokenKind
			live bool
		}{{"undo-ann-1", store.TokenUndo, true}, {"undo-ann-2", store.TokenUndo, false}}...)
	}
	for _, c := range cases {
		tok, err := tx.ValidToken(c.kind, c.raw, now)
		switch {
		case c.live && err != nil:
			t.Errorf("ValidToken(%s): %v, want it live", c.raw, err)
		case !c.live && !errors.Is(err, store.ErrTokenInvalid):
			t.Errorf("ValidToken(%s): got %v, want ErrTokenInvalid (spent or voided)", c.raw, err)
		case c.raw == "change-ann-1" && tok.NewEmail != "ann.new@example.test":
			t.Errorf("change-ann-1: new email %q", tok.NewEmail)
		case c.live && fx.stamps && tok.UserID == fixtureID(1) && tok.Stamp != 5:
			t.Errorf("%s: stamp %d, want 5", c.raw, tok.Stamp)
		}
	}
	want := 2 // reset-ann-1, change-ann-1
	if fx.devices {
		want += 2 // undo-ann-1, undo-ann-2
	}
	if got, err := tx.UserTokens(fixtureID(1)); len(got) != want || err != nil {
		t.Errorf("UserTokens(ann): got %d, %v, want %d", len(got), err, want)
	}
}

func checkFixtureOutbox(t *testing.T, tx *store.Tx) {
	t.Helper()
	at := fixtureT0.Add(2 * time.Hour)
	for _, c := range []struct {
		id     int
		status store.MailStatus
		sealed string
		check  func(*store.Mail) bool
	}{
		{31, store.MailQueued, "sealed-queued", func(m *store.Mail) bool { return m.UserID == fixtureID(2) && m.To == "bob@example.test" }},
		{32, store.MailSent, "", func(m *store.Mail) bool { return m.SentAt.Equal(at.Add(time.Second)) }},
		{33, store.MailFailed, "sealed-failed", func(m *store.Mail) bool { return m.Attempts == 5 && m.LastError == "550 no such user" }},
	} {
		m, err := tx.Mail(fixtureID(c.id))
		if err != nil || m.Status != c.status || string(m.Sealed) != c.sealed || !c.check(m) {
			t.Errorf("Mail(%d): got %+v, %v, want %s", c.id, m, err, c.status)
		}
	}
	due, err := tx.DueMail(at.Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].ID != fixtureID(31) {
		t.Errorf("DueMail: got %+v, %v, want the queued mail only", due, err)
	}
}

func checkFixtureAudit(t *testing.T, tx *store.Tx) {
	t.Helper()
	events, err := tx.AuditEvents(fixtureID(1), 10)
	if err != nil || len(events) != 2 || events[0].Event != "login" || events[0].Detail["aal"] != "1" || events[1].Event != "register" {
		t.Errorf("AuditEvents(ann): got %+v, %v, want login then register", events, err)
	}
	all, err := tx.AuditEvents(uuid.Nil, 10)
	if err != nil || len(all) != 4 {
		t.Errorf("AuditEvents(all): got %d, %v, want 4", len(all), err)
	}
}

// rawSchemaVersion reads meta/schema_version of a closed store file.
func rawSchemaVersion(t *testing.T, path string) uint64 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v uint64
	bdb.View(func(btx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(btx.Bucket([]byte("meta")).Get([]byte("schema_version")))
		return nil
	})
	return v
}

// rawValues returns the values of a bucket of a closed store file, by key.
func rawValues(t *testing.T, path, bucket string) map[string][]byte {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	out := map[string][]byte{}
	bdb.View(func(btx *bolt.Tx) error {
		return btx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	return out
}
