package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

const fixtureFile = "testdata/django/dump.json"

// fixturePasswords are the plaintext test passwords of the users in the
// Django fixture, and djangoDefaultCost marks the hashes made at Django's
// default costs: both from testdata/django/passwords.json, which the
// importer's tests and the password package's read alike.
var fixturePasswords, djangoDefaultCost = testutil.DjangoPasswords("testdata/django/passwords.json")

// fixtureReportLines is what importing testdata/django/dump.json into an
// empty store reports: every broken case of make_fixture.py, by pk.
var fixtureReportLines = []string{
	`users.user pk=6: skipped: same email as pk=5 but for case; only the lowest pk is imported`,
	`users.user pk=11: repaired: phone "123456789" is not a valid phone number; dropped`,
	`users.user pk=12: skipped: email "not-an-email" is not an address Marbelle accepts`,
	`users.user pk=13: repaired: inactive, never logged in and without a usable password; imported as deactivated`,
	`users.address pk=4: repaired: also marked primary; pk=3, the oldest primary, stays primary`,
	`users.address pk=6: repaired: user pk=3 had no primary address; this, its oldest, becomes primary`,
	`users.address pk=18: skipped: user pk=4 has more than 10 addresses; its 10 oldest are kept`,
	`users.address pk=19: skipped: user pk=4 has more than 10 addresses; its 10 oldest are kept`,
	`users.address pk=21: skipped: its user pk=6 is skipped`,
	`users.address pk=22: repaired: country "de" taken as DE`,
	`users.address pk=23: repaired: phone "+1999999999999" is not a valid phone number for DE; dropped`,
	`users.address pk=24: skipped: country "XX" is not an ISO 3166-1 alpha-2 code`,
	`users.address pk=25: skipped: city is missing`,
	`users.address pk=26: skipped: its user pk=12 is skipped`,
	`users: 11 imported, 2 skipped, 2 repaired`,
	`addresses: 20 imported, 6 skipped, 4 repaired`,
}

const dryRunBanner = "Dry run: nothing was written. The import would do this:\n"

// mustImport runs an import and returns its printed report.
func mustImport(t testing.TB, in ImportDjangoInput) string {
	t.Helper()
	r, err := ImportDjango(context.Background(), in)
	if err != nil {
		t.Fatalf("import (dry run %v): %v", in.DryRun, err)
	}
	return r.String()
}

// storeDump is everything an import can change, as JSON: counters, users
// with their addresses and primary, and the audit log.
func storeDump(t testing.TB, dir string) string {
	t.Helper()
	db, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type userDump struct {
		User      store.User
		Addresses []store.Address
		Primary   uuid.UUID
	}
	var out struct {
		Stats store.Stats
		Users []userDump
		Audit []store.Event
	}
	err = db.View(func(tx *store.Tx) error {
		out.Stats = tx.Stats()
		page, err := tx.Users("", 0, 1<<20)
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			addrs, primary, err := tx.Addresses(u.ID)
			if err != nil {
				return err
			}
			out.Users = append(out.Users, userDump{u, addrs, primary})
		}
		out.Audit, err = tx.AuditEvents(uuid.Nil, 1<<20)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustNoFaults(t testing.TB, dir string) {
	t.Helper()
	faults, err := Check(filepath.Join(dir, StoreFile))
	if err != nil || len(faults) > 0 {
		t.Fatalf("check: got %v %q, want no faults", err, faults)
	}
}

func mustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportDjangoFixture: the real Django dump imports with every
// repair reported; a dry run reports the same and writes nothing; a second
// run changes nothing; and every imported account then works through the
// real HTTP handler with its Django password, which is rehashed to
// argon2id on the first login.
func TestImportDjangoFixture(t *testing.T) {
	dir := t.TempDir()
	dumpBytes := mustReadFile(t, fixtureFile)
	in := ImportDjangoInput{DataDir: dir, File: fixtureFile}

	// A dry run on a data dir without a store creates nothing.
	dry := ImportDjangoInput{DataDir: dir, File: fixtureFile, DryRun: true}
	dryReport := mustImport(t, dry)
	if _, err := os.Stat(filepath.Join(dir, StoreFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dry run created the store: %v", err)
	}
	report := mustImport(t, in)
	if got, want := strings.Split(strings.TrimSuffix(report, "\n"), "\n"), fixtureReportLines; !slices.Equal(got, want) {
		t.Fatalf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if dryReport != dryRunBanner+report {
		t.Fatalf("the dry run reported\n%s\nthe import\n%s", dryReport, report)
	}
	mustNoFaults(t, dir)
	before := storeDump(t, dir)
	storeBytes := mustReadFile(t, filepath.Join(dir, StoreFile))

	// Once imported, a dry run leaves the file's bytes as they were and
	// reports what a real second run reports.
	dryAgain := mustImport(t, dry)
	if !bytes.Equal(storeBytes, mustReadFile(t, filepath.Join(dir, StoreFile))) {
		t.Fatalf("a dry run changed the store file")
	}
	again := mustImport(t, in)
	if dryAgain != dryRunBanner+again {
		t.Fatalf("the dry run reported\n%s\nthe second run\n%s", dryAgain, again)
	}
	if !strings.HasSuffix(again, "users: 0 imported, 13 skipped, 0 repaired\naddresses: 0 imported, 26 skipped, 0 repaired\n") {
		t.Fatalf("second run counts:\n%s", again)
	}
	for _, l := range []string{
		"users.user pk=1: skipped: already imported",
		"users.user pk=6: skipped: same email as pk=5 but for case; only the lowest pk is imported",
		"users.address pk=3: skipped: already imported with its user pk=2",
		"users.address pk=24: skipped: country \"XX\" is not an ISO 3166-1 alpha-2 code",
	} {
		if !strings.Contains(again, l+"\n") {
			t.Fatalf("second run does not say %q:\n%s", l, again)
		}
	}
	if after := storeDump(t, dir); after != before {
		t.Fatalf("the second run changed the store:\n%s\nwas:\n%s", after, before)
	}
	if !bytes.Equal(dumpBytes, mustReadFile(t, fixtureFile)) {
		t.Fatalf("the import changed its input file")
	}
	mustNoFaults(t, dir)

	// How the accounts mapped.
	var dump struct {
		Stats store.Stats
		Users []struct {
			User      store.User
			Addresses []store.Address
		}
		Audit []store.Event
	}
	if err := json.Unmarshal([]byte(before), &dump); err != nil {
		t.Fatal(err)
	}
	users := map[string]store.User{}
	for _, u := range dump.Users {
		users[u.User.Email] = u.User
	}
	if dump.Stats.Users != 11 || len(users) != 11 || len(dump.Audit) != 11 {
		t.Fatalf("got %d users (counter %d) and %d audit events, want 11 each", len(users), dump.Stats.Users, len(dump.Audit))
	}
	for _, c := range []struct {
		email                   string
		active, verified, staff bool
	}{
		{"alice@example.com", true, true, false},
		{"bob@example.com", true, true, true},
		{"erin@example.com", true, true, false},
		{"frank@example.com", true, true, false},
		{"grace@example.com", true, false, false}, // inactive, never logged in: not verified yet
		{"heidi@example.com", false, true, false}, // inactive after a login: deactivated
		{"ivan@example.com", true, true, true},    // superuser
		{"ken@example.com", false, false, false},  // inactive, no password, never logged in
	} {
		u, ok := users[c.email]
		if !ok || u.Active != c.active || u.EmailVerified != c.verified || u.Staff != c.staff {
			t.Fatalf("%s: got %+v, want active %v verified %v staff %v", c.email, u, c.active, c.verified, c.staff)
		}
	}
	alice := users["alice@example.com"]
	if alice.Phone != "+493012345678" || alice.CompanyName != "Arnold GmbH" || alice.FirstName != "Alice" ||
		!alice.DateJoined.Equal(time.Date(2023, 1, 1, 9, 0, 0, 123e6, time.UTC)) || !alice.LastLoginAt.Equal(time.Date(2023, 2, 10, 9, 0, 0, 123e6, time.UTC)) ||
		!strings.HasPrefix(alice.PasswordHash, "pbkdf2_sha256$260000$") {
		t.Fatalf("alice: got %+v", alice)
	}
	if users["judy@example.com"].Phone != "" || users["frank@example.com"].PasswordHash != "" || users["ken@example.com"].PasswordHash != "" {
		t.Fatalf("judy's phone, frank's and ken's passwords: got %+v", users)
	}
	if e := dump.Audit[0]; e.Event != "imported" || e.Detail["source"] != "django" || e.Detail["pk"] == "" {
		t.Fatalf("audit: got %+v, want an imported event with the Django pk", e)
	}

	// Now serve the imported store.
	ts := newTestServer(t, func(c *Config) { c.DataDir = dir })
	storedHash := func(t testing.TB, email string) string {
		var hash string
		err := ts.db.View(func(tx *store.Tx) error {
			u, err := tx.UserByEmail(email)
			if err == nil {
				hash = u.PasswordHash
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		return hash
	}
	type addr struct {
		label   string
		primary bool
	}
	listAddresses := func(t testing.TB, c *testClient) []addressView {
		var list []addressView
		c.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "").data(t, &list)
		return list
	}
	for _, c := range []struct {
		email, djangoEmail string // djangoEmail: as Django had it, when not the same
		addresses          []addr // primary first, then oldest first
	}{
		{email: "alice@example.com", addresses: []addr{{"Home", true}, {"Office", false}}},
		{email: "bob@example.com", addresses: []addr{{"Home", true}, {"Cottage", false}}},
		{email: "carol@example.com", addresses: []addr{{"Home", true}, {"Office", false}, {"Parents", false}}},
		{email: "dave@example.com", addresses: []addr{{"Place 3", true}, {"Place 1", false}, {"Place 2", false}, {"Place 4", false}, {"Place 5", false}, {"Place 6", false}, {"Place 7", false}, {"Place 8", false}, {"Place 9", false}, {"Place 10", false}}},
		{email: "erin@example.com", djangoEmail: "Erin@Example.com", addresses: []addr{{"Home", true}}},
		{email: "ivan@example.com"},
		{email: "judy@example.com", addresses: []addr{{"Home", true}, {"Studio", false}}},
	} {
		t.Run(c.email, func(t *testing.T) {
			password := fixturePasswords[cmpOr(c.djangoEmail, c.email)]
			if strings.HasPrefix(storedHash(t, c.email), "$argon2id$") {
				t.Fatalf("stored hash is argon2id before any login")
			}
			cl := ts.client()
			if !djangoDefaultCost[c.email] { // seconds each under -race
				cl.do("POST", "/api/v1/auth/login", map[string]string{"email": c.email, "password": password + "x"}).want(t, 401, CodeUnauthenticated)
			}
			cl.do("POST", "/api/v1/auth/login", map[string]string{"email": strings.ToUpper(c.email), "password": password}).want(t, 200, "")
			if h := storedHash(t, c.email); !strings.HasPrefix(h, "$argon2id$v=19$m=256,t=1,p=1$") {
				t.Fatalf("after the first login the stored hash is %.20q…, want Marbelle's argon2id", h)
			}
			ts.login(c.email, password) // and the new hash takes the same password
			var got []addr
			for _, a := range listAddresses(t, cl) {
				got = append(got, addr{a.Label, a.IsPrimary})
			}
			if !slices.Equal(got, c.addresses) {
				t.Fatalf("addresses: got %v, want %v", got, c.addresses)
			}
		})
	}

	// The address details survive, repaired where the report says so.
	judy := listAddresses(t, ts.login("judy@example.com", fixturePasswords["judy@example.com"]))
	if judy[0].Country != "DE" || judy[0].Phone != "+49301234567" || judy[1].Phone != "" || !judy[0].CreatedAt.Equal(time.Date(2023, 1, 23, 9, 0, 0, 123e6, time.UTC)) {
		t.Fatalf("judy's addresses: got %+v", judy)
	}
	alicesHome := listAddresses(t, ts.login("alice@example.com", fixturePasswords["alice@example.com"]))[0]
	if alicesHome.StreetAddress2 != "Hinterhaus" || alicesHome.Region != "Berlin" || alicesHome.Phone != "+493012345678" || alicesHome.PostalCode != "10115" {
		t.Fatalf("alice's home: got %+v", alicesHome)
	}
	var ivan profile
	ts.login("ivan@example.com", fixturePasswords["ivan@example.com"]).do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &ivan)
	if !ivan.IsStaff {
		t.Fatalf("a Django superuser must be staff: got %+v", ivan)
	}

	// The duplicate's password is not the account's; a deactivated account
	// fails like a wrong password.
	cl := ts.client()
	cl.do("POST", "/api/v1/auth/login", map[string]string{"email": "erin@example.com", "password": fixturePasswords["erin@example.com"]}).want(t, 401, CodeUnauthenticated)
	cl.do("POST", "/api/v1/auth/login", map[string]string{"email": "heidi@example.com", "password": fixturePasswords["heidi@example.com"]}).want(t, 401, CodeUnauthenticated)

	// The unverified account verifies as any other, then logs in.
	grace := fixturePasswords["grace@example.com"]
	cl.do("POST", "/api/v1/auth/login", map[string]string{"email": "grace@example.com", "password": grace}).want(t, 403, CodeEmailNotVerified)
	if h := storedHash(t, "grace@example.com"); !strings.HasPrefix(h, "pbkdf2_sha256$") {
		t.Fatalf("an unverified login must not rehash yet: got %.20q…", h)
	}
	// Her imported password was never proven by her mailbox either (the
	// Django version let anyone register any address): verification asks
	// her to choose one (issue 14, item 1).
	cl.do("POST", "/api/v1/auth/resend-verification", map[string]string{"email": "grace@example.com"}).want(t, 200, "")
	var v struct {
		PasswordRequired bool   `json:"password_required"`
		SetPasswordToken string `json:"set_password_token"`
	}
	cl.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": ts.waitToken("grace@example.com", "verify-email", 1)}).want(t, 200, "").data(t, &v)
	if !v.PasswordRequired {
		t.Fatalf("verifying an imported unverified account: %+v, want password_required", v)
	}
	cl.do("POST", "/api/v1/auth/login", map[string]string{"email": "grace@example.com", "password": grace}).want(t, 401, CodeUnauthenticated)
	grace = "violet harbour chose 77"
	cl.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": v.SetPasswordToken, "password": grace}).want(t, 200, "")
	ts.login("grace@example.com", grace)
	if h := storedHash(t, "grace@example.com"); !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("grace after login: got %.20q…, want argon2id", h)
	}

	// The unusable password fails like a wrong one, and a reset sets one.
	for _, pw := range []string{"", "!", "anything at all"} {
		cl.do("POST", "/api/v1/auth/login", map[string]string{"email": "frank@example.com", "password": pw + " "}).want(t, 401, CodeUnauthenticated)
	}
	cl.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "frank@example.com"}).want(t, 200, "")
	tok := ts.waitToken("frank@example.com", "reset-password", 1)
	cl.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": tok, "password": testPassword}).want(t, 200, "")
	ts.login("frank@example.com", testPassword)

	err := ts.db.View(func(tx *store.Tx) error {
		if faults := tx.Check(); len(faults) > 0 {
			t.Fatalf("check after the logins: %q", faults)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestImportDjangoSmallBatches: one user per transaction reports and
// stores the same as the default batch.
func TestImportDjangoSmallBatches(t *testing.T) {
	dir := t.TempDir()
	report := mustImport(t, ImportDjangoInput{DataDir: dir, File: fixtureFile, BatchSize: 1})
	if got := strings.Split(strings.TrimSuffix(report, "\n"), "\n"); !slices.Equal(got, fixtureReportLines) {
		t.Fatalf("report:\n%s", report)
	}
	mustNoFaults(t, dir)
}

// TestImportDjangoRefusesHeldStore: while a server holds the store, the
// import (dry or not) says so at once, as admin create does, and reads
// nothing into it.
func TestImportDjangoRefusesHeldStore(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, dry := range []bool{false, true} {
		start := time.Now()
		var r *ImportReport
		r, err = ImportDjango(context.Background(), ImportDjangoInput{DataDir: dir, File: fixtureFile, DryRun: dry})
		if err == nil || err.Error() != errStoreHeld("import").Error() || r != nil {
			t.Fatalf("dry run %v: got %v %v, want %q", dry, r, err, errStoreHeld("import"))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("dry run %v: took %v", dry, d)
		}
	}
	if !strings.Contains(err.Error(), "in use by a running server") {
		t.Fatalf("message: %v", err)
	}
}

// writeDump writes a dumpdata file of the given records.
func writeDump(t testing.TB, records ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(path, []byte("[\n"+strings.Join(records, ",\n")+"\n]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func djangoUserRecord(pk int, email, password string) string {
	b, _ := json.Marshal(map[string]any{"model": "users.user", "pk": pk, "fields": map[string]any{
		"password": password, "last_login": nil, "is_superuser": false, "username": email, "first_name": "Test", "last_name": "User",
		"is_staff": false, "is_active": true, "date_joined": "2024-03-01T10:00:00Z", "email": email, "phone": nil, "company_name": "",
		"groups": []int{}, "user_permissions": []int{},
	}})
	return string(b)
}

// djangoAddressRecord is a primary address; change overrides fields.
func djangoAddressRecord(pk, user int, change ...any) string {
	fields := map[string]any{
		"user": user, "label": "Home", "first_name": "Test", "last_name": "User", "company": "", "street_address": "Main St 1",
		"street_address_2": "", "city": "Berlin", "state": "", "postal_code": "10115", "country": "DE", "phone": "",
		"is_primary": true, "created_at": "2024-03-01T10:00:00", "updated_at": "2024-03-02T10:00:00",
	}
	for i := 0; i+1 < len(change); i += 2 {
		fields[change[i].(string)] = change[i+1]
	}
	b, _ := json.Marshal(map[string]any{"model": "users.address", "pk": pk, "fields": fields})
	return string(b)
}

// TestImportDjangoPrimaryWasSkipped: when a user's only primary cannot be
// imported (invalid, or beyond the 10 oldest), the oldest imported address
// becomes primary, and the report says why.
func TestImportDjangoPrimaryWasSkipped(t *testing.T) {
	records := []string{
		djangoUserRecord(1, "one@example.com", ""),
		djangoUserRecord(2, "two@example.com", ""),
		djangoAddressRecord(1, 1, "country", "ZZ"),
		djangoAddressRecord(2, 1, "is_primary", false, "label", "Second", "created_at", "2024-03-05T10:00:00Z"),
		djangoAddressRecord(3, 1, "is_primary", false, "label", "First", "created_at", "2024-03-04T10:00:00+01:00"),
	}
	for i := range 11 {
		day := time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
		records = append(records, djangoAddressRecord(10+i, 2, "is_primary", i == 10, "label", fmt.Sprint("Place ", i+1), "created_at", day))
	}
	dir := t.TempDir()
	report := mustImport(t, ImportDjangoInput{DataDir: dir, File: writeDump(t, records...)})
	want := `users.address pk=1: skipped: country "ZZ" is not an ISO 3166-1 alpha-2 code
users.address pk=3: repaired: user pk=1's primary address (pk=1) is skipped; this, its oldest address, becomes primary
users.address pk=10: repaired: user pk=2's primary address (pk=20) is skipped; this, its oldest address, becomes primary
users.address pk=20: skipped: user pk=2 has more than 10 addresses; its 10 oldest are kept
users: 2 imported, 0 skipped, 0 repaired
addresses: 12 imported, 2 skipped, 2 repaired
`
	if report != want {
		t.Fatalf("report:\n%s\nwant:\n%s", report, want)
	}
	mustNoFaults(t, dir)
	db, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *store.Tx) error {
		for email, label := range map[string]string{"one@example.com": "First", "two@example.com": "Place 1"} {
			u, err := tx.UserByEmail(email)
			if err != nil {
				t.Fatal(err)
			}
			list, _, err := tx.Addresses(u.ID)
			if err != nil || list[0].Label != label || list[0].ID != u.PrimaryAddressID {
				t.Fatalf("%s: got primary %q (%v), want %q", email, list[0].Label, err, label)
			}
		}
		return nil
	})
}

// TestImportDjangoMapsByPK: the mapping from Django pk to account makes
// re-runs exact: an account renamed or deleted in Marbelle since is not
// imported again, an email an account already has is not taken over, and
// a delta import adds only the new users. A crafted password hash is
// dropped at once; unreadable records and other models are reported.
func TestImportDjangoMapsByPK(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = db.Update(func(tx *store.Tx) error {
		return tx.CreateUser(&store.User{ID: store.NewID(), Email: "owner@example.com", Active: true, EmailVerified: true, DateJoined: now, UpdatedAt: now})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	const crafted = "pbkdf2_sha256$1000000000000$salt$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="
	records := []string{
		djangoUserRecord(1, "Owner@Example.com", "pbkdf2_sha256$1$salt$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="),
		djangoUserRecord(2, "new@example.com", ""),
		djangoUserRecord(3, "crafted@example.com", crafted),
		`{"model": "users.user", "pk": 4, "fields": {"email": 5}}`,
		`{"model": "auth.group", "pk": 1, "fields": {"name": "shop staff", "permissions": []}}`,
		djangoAddressRecord(1, 2),
		djangoAddressRecord(2, 1),
		djangoAddressRecord(3, 99),
	}
	start := time.Now()
	report := mustImport(t, ImportDjangoInput{DataDir: dir, File: writeDump(t, records...)})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the import of a crafted hash took %v", d)
	}
	want := `ignored: 1 records of model auth.group (only users.user and users.address are read)
users.user pk=1: skipped: an account with this email already exists in Marbelle
users.user pk=3: repaired: password: pbkdf2_sha256 with 1000000000000 iterations is over the limit of 1200000; dropped, so the account must reset its password
users.user pk=4: skipped: its fields cannot be read: json: cannot unmarshal number into Go struct field djangoUserFields.email of type string
users.address pk=2: skipped: its user pk=1 is skipped
users.address pk=3: skipped: its user pk=99 is not in the file
users: 2 imported, 2 skipped, 1 repaired
addresses: 1 imported, 2 skipped, 0 repaired
`
	if report != want {
		t.Fatalf("report:\n%s\nwant:\n%s", report, want)
	}

	// In Marbelle since: new@ deletes its account, crafted@ changes its email.
	db, err = OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		u, err := tx.UserByEmail("new@example.com")
		if err != nil {
			return err
		}
		if err := tx.DeleteUser(u.ID); err != nil {
			return err
		}
		c, err := tx.UserByEmail("crafted@example.com")
		if err != nil {
			return err
		}
		if c.PasswordHash != "" {
			t.Errorf("crafted hash stored: %q", c.PasswordHash)
		}
		_, err = tx.ChangeEmail(c.ID, "renamed@example.com", now)
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	delta := append(records, djangoUserRecord(5, "delta@example.com", ""))
	report = mustImport(t, ImportDjangoInput{DataDir: dir, File: writeDump(t, delta...)})
	for _, l := range []string{
		"users.user pk=2: skipped: already imported (the account has been deleted in Marbelle since)\n",
		"users.user pk=3: skipped: already imported\n",
		"users.address pk=1: skipped: already imported with its user pk=2\n",
		"users: 1 imported, 4 skipped, 0 repaired\n",
	} {
		if !strings.Contains(report, l) {
			t.Fatalf("delta report does not say %q:\n%s", l, report)
		}
	}
	var after struct{ Users []struct{ User store.User } }
	if err := json.Unmarshal([]byte(storeDump(t, dir)), &after); err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range after.Users {
		emails = append(emails, u.User.Email)
	}
	slices.Sort(emails)
	if want := []string{"delta@example.com", "owner@example.com", "renamed@example.com"}; !slices.Equal(emails, want) {
		t.Fatalf("accounts after the delta: got %v, want %v", emails, want)
	}
	mustNoFaults(t, dir)
}

// TestImportDjangoBadFiles: a file that is not a dumpdata list fails the
// command (exit 1) before the store is opened.
func TestImportDjangoBadFiles(t *testing.T) {
	for _, c := range []struct{ name, content, want string }{
		{"empty", "", "the file is empty"},
		{"object", `{"model": "users.user"}`, "not a dumpdata list"},
		{"not json", `users,email`, "not JSON"},
		{"unterminated", `[{"model": "users.user", "pk": 1, "fields": {}}`, "the list does not end"},
		{"broken record", `[{"model": }]`, "record 1"},
		{"string pk", `[{"model": "users.user", "pk": "x", "fields": {}}]`, "pk \"x\" is not an integer"},
		{"trailing data", `[] []`, "unexpected data after the list"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(t.TempDir(), "dump.json")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := ImportDjango(context.Background(), ImportDjangoInput{DataDir: dir, File: path})
			if err == nil || r != nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v %v, want an error naming the file and saying %q", r, err, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, StoreFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a bad file created the store: %v", err)
			}
		})
	}
	if _, err := ImportDjango(context.Background(), ImportDjangoInput{DataDir: t.TempDir(), File: filepath.Join(t.TempDir(), "missing.json")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v", err)
	}
}
