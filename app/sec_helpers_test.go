package app

// Security tests: one test per requirement of SECURITY.md §3 (SEC-NN),
// each through the real HTTP handler on a loopback port with a real store
// file and the real mail path (outbox → delivery loop → SMTP sink). Two
// more SEC-25 tests hold the "This wasn't me" link of the email-change
// notice to its promise (they skip with "BUG:" while the bugs are open).
// SEC-07, 39, 41, 42 (admin), 44, 49, 50 (browser) and 56 are not here.
//
// One file per section of SECURITY.md §3: sec_passwords_test.go (A,
// passwords and credential storage), sec_tokens_test.go (B, registration,
// verification, reset, email change), sec_sessions_test.go (C),
// sec_access_test.go (D, access control), sec_browser_test.go (E, browser
// boundary), sec_input_test.go (F, input, errors, logging, configuration);
// this file holds their helpers, prefixed with sec so that they cannot
// clash with other test files of the package.

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// ---------------------------------------------------------------------------
// Helpers

// secOpt adjusts one request before it is sent.
type secOpt = func(*http.Request)

func secHeader(k, v string) secOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// secHost sets the request's Host header (the URL still points at the test server).
func secHost(h string) secOpt { return func(r *http.Request) { r.Host = h } }

// secContentType replaces the JSON content type secSend sets for a body
// ("" sends none).
func secContentType(v string) secOpt {
	return func(r *http.Request) {
		if v == "" {
			r.Header.Del("Content-Type")
		} else {
			r.Header.Set("Content-Type", v)
		}
	}
}

// secSend is c.do with control over headers, Host and content type.
func (c *testClient) secSend(t testing.TB, method, path string, body any, opts ...secOpt) *response {
	t.Helper()
	return c.send(t, method, path, body, opts...)
}

// secCookie returns the value of the named cookie in c's jar ("" if none).
func (c *testClient) secCookie(name string) string {
	u, _ := url.Parse(c.ts.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// secSetCookie puts a cookie in c's jar, as a browser holding it would.
func (c *testClient) secSetCookie(name, value string) {
	u, _ := url.Parse(c.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// secSetCookies parses every Set-Cookie header of r.
func secSetCookies(t testing.TB, r *response) []*http.Cookie {
	t.Helper()
	var out []*http.Cookie
	for _, line := range r.Header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out = append(out, ck)
	}
	return out
}

// secSecret decodes a session cookie value into the session secret.
func secSecret(t testing.TB, ts *testServer, value string) string {
	t.Helper()
	var secret []byte
	if err := ts.srv.cookies.Decode(ts.srv.cookieName, value, &secret); err != nil {
		t.Fatalf("decode cookie: %v", err)
	}
	return string(secret)
}

// secLogin posts a login and returns the answer.
func secLogin(t testing.TB, c *testClient, email, password string, opts ...secOpt) *response {
	t.Helper()
	return c.secSend(t, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, opts...)
}

// secUser reads a user from the store by email.
func secUser(t testing.TB, ts *testServer, email string) *store.User {
	t.Helper()
	var u *store.User
	if err := ts.db.View(func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByEmail(email)
		return err
	}); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// secChangeUser changes a user's stored record in one write transaction,
// behind the API's back (as an operator with the store file could). change
// must only change the record: the closure may run twice (batchtwice).
func secChangeUser(t testing.TB, ts *testServer, email string, change func(*store.User)) {
	t.Helper()
	if err := ts.db.Update(func(tx *store.Tx) error {
		u, err := tx.UserByEmail(email)
		if err != nil {
			return err
		}
		change(u)
		return tx.PutUser(u)
	}); err != nil {
		t.Fatalf("change user %s: %v", email, err)
	}
}

// secSetActive flips a user's Active flag in the store (as an admin would).
func secSetActive(t testing.TB, ts *testServer, email string, active bool) {
	t.Helper()
	secChangeUser(t, ts, email, func(u *store.User) { u.Active = active })
}

// secBucket returns every value of a bucket, read from a consistent copy
// of the live store (the server holds the file's lock).
func secBucket(t testing.TB, ts *testServer, name string) [][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := ts.db.Backup(f); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open snapshot: %v", err)
	}
	defer db.Close()
	var out [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(name))
		if b == nil {
			return fmt.Errorf("no bucket %q", name)
		}
		return b.ForEach(func(_, v []byte) error {
			out = append(out, bytes.Clone(v))
			return nil
		})
	}); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// secStoredUsers lists every user record in the store.
func secStoredUsers(t testing.TB, ts *testServer) []store.User {
	t.Helper()
	var page store.UserPage
	if err := ts.db.View(func(tx *store.Tx) error {
		var err error
		page, err = tx.Users("", 0, 1_000_000)
		return err
	}); err != nil {
		t.Fatalf("users: %v", err)
	}
	return page.Users
}

// secAudit returns every audit event, newest first.
func secAudit(t testing.TB, ts *testServer) []store.Event {
	t.Helper()
	var events []store.Event
	if err := ts.db.View(func(tx *store.Tx) error {
		var err error
		events, err = tx.AuditEvents(uuid.Nil, 100_000)
		return err
	}); err != nil {
		t.Fatalf("audit: %v", err)
	}
	return events
}

var secFlushN atomic.Int64

// secFlushMail returns once every mail queued so far has reached the sink:
// the outbox is delivered one mail at a time, oldest first, so once a mail
// queued now has arrived, every earlier one has too. It registers a fresh
// address to queue that mail.
func secFlushMail(t testing.TB, ts *testServer) {
	t.Helper()
	addr := fmt.Sprintf("flush-%d@example.test", secFlushN.Add(1))
	ts.client().secSend(t, "POST", "/api/v1/auth/register", registerBody(addr, testPassword)).want(t, 201, "")
	ts.waitMail(addr, 1)
}

// secWaitMail waits for a mail to addr that match accepts and returns the
// newest such mail; what describes the mail wanted, for the failure.
func secWaitMail(t testing.TB, ts *testServer, addr, what string, match func(mail.Captured) bool) mail.Captured {
	t.Helper()
	var found mail.Captured
	testutil.WaitFor(t, 10*time.Second, func() error {
		var subjects []string
		for _, m := range ts.mailsTo(addr) {
			if match(m) {
				found = m
				return nil
			}
			subjects = append(subjects, m.Subject)
		}
		return fmt.Errorf("no mail to %s %s; got subjects %q", addr, what, subjects)
	})
	return found
}

// secWaitSubject waits for a mail to addr whose subject contains part and
// returns the newest such mail.
func secWaitSubject(t testing.TB, ts *testServer, addr, part string) mail.Captured {
	t.Helper()
	return secWaitMail(t, ts, addr, fmt.Sprintf("with a subject containing %q", part), func(m mail.Captured) bool {
		return strings.Contains(m.Subject, part)
	})
}

// secTokens returns the tokens of kind (verify-email, reset-password,
// confirm-email-change) in the mails to addr, newest first. Mails of other
// kinds (notices) are skipped, so that a new notice cannot shift the count.
func secTokens(ts *testServer, addr, kind string) []string {
	re := regexp.MustCompile(`/` + regexp.QuoteMeta(kind) + `\?token=([A-Za-z0-9_-]+)`)
	var out []string
	for _, m := range ts.mailsTo(addr) {
		if match := re.FindStringSubmatch(m.Text); match != nil {
			out = append(out, match[1])
		}
	}
	return out
}

// secWaitToken waits until addr has received n mails with a link of kind
// and returns the newest token.
func secWaitToken(t testing.TB, ts *testServer, addr, kind string, n int) string {
	t.Helper()
	var toks []string
	testutil.WaitFor(t, 10*time.Second, func() error {
		if toks = secTokens(ts, addr, kind); len(toks) < n {
			return fmt.Errorf("got %d mails to %s with a %s link, want %d", len(toks), addr, kind, n)
		}
		return nil
	})
	return toks[0]
}

var secTokenLinkRE = regexp.MustCompile(`(/[A-Za-z0-9_./-]*)\?token=([^\s"'&<>]*)`)

// secMailHasToken reports whether a notice carries a token that could do
// more than lock the account down: any link token other than the
// "This wasn't me" /undo link (which ends sessions and forces a reset).
// Each undo token found is checked to be worthless as a verification,
// reset or email-change token.
func secMailHasToken(t testing.TB, ts *testServer, m mail.Captured) bool {
	t.Helper()
	for _, match := range secTokenLinkRE.FindAllStringSubmatch(m.Text+"\n"+m.HTML, -1) {
		path, tok := match[1], match[2]
		if !strings.HasSuffix(path, "/undo") {
			return true
		}
		c := ts.client()
		for _, try := range []struct {
			path string
			body map[string]string
		}{
			{"/api/v1/auth/verify-email", map[string]string{"token": tok}},
			{"/api/v1/auth/password-reset/confirm", map[string]string{"token": tok, "password": "undo as reset 12345"}},
			{"/api/v1/auth/email-change/confirm", map[string]string{"token": tok}},
		} {
			if r := c.do("POST", try.path, try.body); r.Status != 400 || r.Env.Code != CodeInvalidToken {
				t.Fatalf("the undo token of %q works on %s: got %d %s", m.Subject, try.path, r.Status, r.Body)
			}
		}
	}
	return false
}

// secHeaderDiff describes the first difference between two header sets,
// ignoring the headers that differ per answer (Date, X-Request-Id).
func secHeaderDiff(a, b http.Header) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		if k != "Date" && k != "X-Request-Id" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Equal(a[k], b[k]) {
			return fmt.Sprintf("%s: %q vs %q", k, a[k], b[k])
		}
	}
	return ""
}

// secRetryAfter fails unless r carries an integer Retry-After of at least 1.
func secRetryAfter(t testing.TB, r *response) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("Retry-After: got %q, want an integer ≥ 1", v)
	}
	return n
}

// secHTTPSConfig is the test config behind a proxy at https://shop.example.
func secHTTPSConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.BaseURL = "https://shop.example"
	cfg.AllowedHosts = append(cfg.AllowedHosts, "shop.example")
	return cfg
}

// secProductionEnv is a complete, valid production environment.
func secProductionEnv(t *testing.T) map[string]string {
	return map[string]string{
		"MARBELLE_ENV":           "production",
		"MARBELLE_DATA_DIR":      t.TempDir(),
		"MARBELLE_SECRET_KEY":    "production-secret-key-0123456789-abcdef",
		"MARBELLE_BASE_URL":      "https://shop.example",
		"MARBELLE_SMTP_URL":      "smtps://user:pass@smtp.example:465",
		"MARBELLE_MAIL_FROM":     "Shop <no-reply@shop.example>",
		"MARBELLE_ALLOWED_HOSTS": "shop.example",
		"MARBELLE_PASSWORD_HASH": "m=19456,t=2,p=1",
	}
}

// secAddressBody is a valid address.
func secAddressBody(label string) map[string]string {
	return map[string]string{
		"label": label, "first_name": "Ann", "last_name": "Lee", "street_address": "Hauptstr. 1",
		"city": "Berlin", "postal_code": "10115", "country": "DE",
	}
}

// secLeakRE matches what an answer must never show of the internals.
var secLeakRE = regexp.MustCompile(`goroutine|panic|runtime\.|\.go:[0-9]+|bbolt|securecookie`)
