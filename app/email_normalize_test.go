package app

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/store"
)

// cheap hashing for AdminCreate, as the test config's MARBELLE_PASSWORD_HASH.
var cheap = password.Params{Memory: 256, Time: 1, Threads: 1}

// invisibleRunes are the characters issue 14 names, and a few more of the
// Cc, Cf and default-ignorable kinds, that must never be part of an email.
var invisibleRunes = []struct {
	r    rune
	name string
}{
	{'\u200B', "zero-width space"},
	{'\u200C', "zero-width non-joiner"},
	{'\u200D', "zero-width joiner"},
	{'\u2060', "word joiner"},
	{'\uFEFF', "byte order mark"},
	{'\u00AD', "soft hyphen"},
	{'\u202A', "left-to-right embedding"},
	{'\u202B', "right-to-left embedding"},
	{'\u202C', "pop directional formatting"},
	{'\u202D', "left-to-right override"},
	{'\u202E', "right-to-left override"},
	{'\u2066', "left-to-right isolate"},
	{'\u2067', "right-to-left isolate"},
	{'\u2068', "first strong isolate"},
	{'\u2069', "pop directional isolate"},
	{'\u200E', "left-to-right mark"},
	{'\u200F', "right-to-left mark"},
	{'\u061C', "arabic letter mark"},
	{'\u0000', "NUL (Cc)"},
	{'\u0007', "bell (Cc)"},
	{'\u007F', "delete (Cc)"},
	{'\u0085', "next line (Cc)"},
	{'\u0600', "arabic number sign (Cf)"},
	{'\U000E0041', "tag latin capital A (Cf)"},
	{'\uFE0F', "variation selector 16"},
	{'\u3164', "hangul filler"},
	{'\u034F', "combining grapheme joiner"},
}

// TestIssue14EmailInvisibleCharactersRefused: an address holding an
// invisible or control character, anywhere, is 400 validation_error on its
// field with a message saying so, on every route an email enters by, and
// creates or finds nothing; the CLI and the importer refuse it too.
func TestIssue14EmailInvisibleCharactersRefused(t *testing.T) {
	ts := newServerWithUser(t, "ann@example.test")
	ann := ts.login("ann@example.test", testPassword)
	users := len(secStoredUsers(t, ts))
	wantRefused := func(t *testing.T, r *response, field string) {
		t.Helper()
		r.want(t, 400, CodeValidation)
		if got := r.Env.Errors[field]; !slices.Equal(got, []string{msgEmailInvisible}) {
			t.Fatalf("errors.%s: got %q, want %q", field, got, msgEmailInvisible)
		}
	}
	for _, c := range invisibleRunes {
		addrs := []string{"ann" + string(c.r) + "@example.test", "ann@exa" + string(c.r) + "mple.test"}
		if !unicode.IsSpace(c.r) { // white space around an address is trimmed, as before
			addrs = append(addrs, string(c.r)+"ann@example.test", "ann@example.test"+string(c.r))
		}
		for _, addr := range addrs {
			t.Run(fmt.Sprintf("%s %+q", c.name, addr), func(t *testing.T) {
				cl := ts.client()
				wantRefused(t, cl.do("POST", "/api/v1/auth/register", registerBody(addr, testPassword)), "email")
				wantRefused(t, cl.do("POST", "/api/v1/auth/login", map[string]string{"email": addr, "password": testPassword}), "email")
				wantRefused(t, cl.do("POST", "/api/v1/auth/resend-verification", map[string]string{"email": addr}), "email")
				wantRefused(t, cl.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": addr}), "email")
				wantRefused(t, ann.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": addr, "password": testPassword}), "new_email")
			})
		}
	}
	if got := len(secStoredUsers(t, ts)); got != users {
		t.Fatalf("got %d accounts, want %d", got, users)
	}
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.test", "password": testPassword}).want(t, 200, "")

	// The other ways in: admin create and the importer.
	dir := t.TempDir()
	if _, err := AdminCreate(context.Background(), AdminCreateInput{DataDir: dir, Email: "boss\u200b@example.test", Password: testPassword, Hash: cheap, MinLength: 8}); err == nil || !strings.Contains(err.Error(), msgEmailInvisible) {
		t.Fatalf("admin create: got %v, want %q", err, msgEmailInvisible)
	}
	report := mustImport(t, ImportDjangoInput{DataDir: dir, File: writeDump(t,
		djangoUserRecord(1, "zw\u200bsp@example.com", ""),
		djangoUserRecord(2, "rlo@exam\u202eple.com", ""),
	)})
	for _, l := range []string{
		`users.user pk=1: skipped: email "zw\u200bsp@example.com" is not an address Marbelle accepts`,
		`users.user pk=2: skipped: email "rlo@exam\u202eple.com" is not an address Marbelle accepts`,
		"users: 0 imported, 2 skipped, 0 repaired",
	} {
		if !strings.Contains(report, l+"\n") {
			t.Fatalf("import report does not say %s:\n%s", l, report)
		}
	}
}

// TestIssue14EmailIDNIsOneAccount: an address with an internationalised
// domain is stored in its ASCII (punycode) form, so its Unicode and ASCII
// spellings are one account: registering the other spelling is the
// "already registered" path, and login, reset, email change and the admin
// search work with either. A domain IDNA refuses is not an address.
func TestIssue14EmailIDNIsOneAccount(t *testing.T) {
	const (
		unicodeAddr = "user@münchen.de"
		asciiAddr   = "user@xn--mnchen-3ya.de"
	)
	ts := newTestServer(t, nil)
	c := ts.client()
	c.do("POST", "/api/v1/auth/register", registerBody(unicodeAddr, testPassword)).want(t, 201, "")
	// The verification mail goes to the stored, ASCII form.
	tok := ts.waitToken(asciiAddr, "verify-email", 1)
	var p profile
	c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "").data(t, &p)
	if p.Email != asciiAddr {
		t.Fatalf("profile email: got %q, want %q", p.Email, asciiAddr)
	}

	// The ASCII spelling is the same account: same answer, no second
	// account, and its owner is told.
	c.do("POST", "/api/v1/auth/register", registerBody(asciiAddr, "another fine password 77")).want(t, 201, "")
	if m := secWaitSubject(t, ts, asciiAddr, "already have"); secMailHasToken(t, ts, m) {
		t.Fatalf("the already-registered notice carries a token")
	}
	for _, spelling := range []string{"USER@MÜNCHEN.DE", "User@XN--MNCHEN-3YA.DE", "user@mu\u0308nchen.de", "user@ｍüｎｃｈｅｎ.de"} {
		c.do("POST", "/api/v1/auth/register", registerBody(spelling, testPassword)).want(t, 201, "")
	}
	if users := secStoredUsers(t, ts); len(users) != 1 || users[0].Email != asciiAddr {
		t.Fatalf("accounts: got %+v, want one, stored as %q", users, asciiAddr)
	}

	// Login with either spelling; the second registration's password is
	// not the account's.
	for _, spelling := range []string{unicodeAddr, asciiAddr, "USER@MÜNCHEN.DE", "user@mu\u0308nchen.de"} {
		ts.login(spelling, testPassword)
	}
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": unicodeAddr, "password": "another fine password 77"}).want(t, 401, CodeUnauthenticated)

	// A reset asked for by the Unicode spelling reaches the account.
	c.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": unicodeAddr}).want(t, 200, "")
	secWaitToken(t, ts, asciiAddr, "reset-password", 1)

	// Email change: to a Unicode spelling of a taken address tells its
	// owner; to a free one stores the ASCII form.
	ts.mustUser("bob@example.test", testPassword)
	bob := ts.login("bob@example.test", testPassword)
	bob.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "USER@münchen.de", "password": testPassword}).want(t, 200, "")
	secWaitSubject(t, ts, asciiAddr, "Email change attempt")
	bob.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "bob@bücher.example", "password": testPassword}).want(t, 200, "")
	tok = secWaitToken(t, ts, "bob@xn--bcher-kva.example", "confirm-email-change", 1)
	bob.do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": tok}).want(t, 200, "").data(t, &p)
	if p.Email != "bob@xn--bcher-kva.example" {
		t.Fatalf("changed email: got %q, want the ASCII form", p.Email)
	}
	ts.login("bob@bücher.example", testPassword)

	// Staff find the account by either spelling, or by the Unicode domain.
	admin := ts.staff("boss@example.test")
	for _, q := range []string{unicodeAddr, asciiAddr, "münchen", "MÜNCHEN.DE", "user@"} {
		r := admin.do("GET", "/api/v1/admin/users?q="+url.QueryEscape(q), nil).want(t, 200, "")
		var list []struct{ Email string }
		r.data(t, &list)
		if r.Header.Get("X-Total-Count") != "1" || len(list) != 1 || list[0].Email != asciiAddr {
			t.Fatalf("search %q: got %s %+v, want the one account", q, r.Header.Get("X-Total-Count"), list)
		}
	}

	// The admin CLI stores the ASCII form as well.
	dir := t.TempDir()
	if _, err := AdminCreate(context.Background(), AdminCreateInput{DataDir: dir, Email: "chef@bücher.example", Password: testPassword, Hash: cheap, MinLength: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := AdminCreate(context.Background(), AdminCreateInput{DataDir: dir, Email: "chef@xn--bcher-kva.example", Password: testPassword, Hash: cheap, MinLength: 8}); err == nil || !strings.Contains(err.Error(), "already has an account") {
		t.Fatalf("admin create with the ASCII spelling: got %v, want an existing account", err)
	}

	// The importer takes the two spellings as one address, the lowest pk's.
	report := mustImport(t, ImportDjangoInput{DataDir: t.TempDir(), File: writeDump(t,
		djangoUserRecord(1, "User@München.de", ""),
		djangoUserRecord(2, asciiAddr, ""),
		djangoUserRecord(3, "user@MU\u0308NCHEN.de", ""),
	)})
	for _, l := range []string{
		"users.user pk=2: skipped: same email as pk=1 once normalised (Unicode composition or IDN domain spelling); only the lowest pk is imported",
		"users.user pk=3: skipped: same email as pk=1 once normalised (Unicode composition or IDN domain spelling); only the lowest pk is imported",
		"users: 1 imported, 2 skipped, 0 repaired",
	} {
		if !strings.Contains(report, l+"\n") {
			t.Fatalf("import report does not say %q:\n%s", l, report)
		}
	}

	// Domains IDNA refuses.
	for _, addr := range []string{"user@xn--zz.de", "user@-münchen.de", "user@münchen-.de", "user@a_b.de", "user@xn--mnchen-3ya--.de"} {
		r := c.do("POST", "/api/v1/auth/register", registerBody(addr, testPassword)).want(t, 400, CodeValidation)
		if got := r.Env.Errors["email"]; len(got) != 1 || !strings.Contains(got[0], "not a valid domain name") {
			t.Fatalf("%q: errors.email %q, want it to name the domain", addr, got)
		}
	}
}

// TestIssue14EmailLocalPartNFC: the local part is stored in NFC, so its
// composed and decomposed spellings are one account, whichever came first.
func TestIssue14EmailLocalPartNFC(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, c := range []struct{ first, second, stored string }{
		{"m\u00fcller@example.test", "mu\u0308ller@example.test", "m\u00fcller@example.test"},
		{"jo\u0301zsef@example.test", "j\u00f3zsef@example.test", "j\u00f3zsef@example.test"},
		{"A\u0308NNA@example.test", "\u00e4nna@example.test", "\u00e4nna@example.test"},
	} {
		t.Run(c.stored, func(t *testing.T) {
			cl := ts.client()
			cl.do("POST", "/api/v1/auth/register", registerBody(c.first, testPassword)).want(t, 201, "")
			tok := ts.waitToken(c.stored, "verify-email", 1)
			var p profile
			cl.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "").data(t, &p)
			if p.Email != c.stored {
				t.Fatalf("stored email: got %+q, want %+q", p.Email, c.stored)
			}
			cl.do("POST", "/api/v1/auth/register", registerBody(c.second, testPassword)).want(t, 201, "")
			secWaitSubject(t, ts, c.stored, "already have")
			n := 0
			for _, u := range secStoredUsers(t, ts) {
				if store.NormalizeEmail(u.Email) == c.stored {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("got %d accounts for %+q, want 1", n, c.stored)
			}
			ts.login(c.first, testPassword)
			ts.login(c.second, testPassword)
		})
	}
}
