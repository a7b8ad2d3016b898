package app

import (
	"bytes"
	"fmt"
	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// A. Passwords and credential storage

func TestSEC01PasswordLengthCountsCodePoints(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	long := strings.Repeat("quartz vixen 0123456789 ", 6) // 144 characters, no context word
	cases := []struct {
		name, password string
		status         int
	}{
		{"7 characters", "Zq7#kP2", 400},
		{"8 emoji (32 bytes)", "🐙🦊🐢🦉🐝🦋🐬🦀", 201},
		{"4 emoji (16 bytes)", "🐙🦊🐢🦉", 400},
		{"128 characters", long[:128], 201},
		{"129 characters", long[:129], 400},
	}
	for i, tc := range cases {
		r := c.do("POST", "/api/v1/auth/register", registerBody(fmt.Sprintf("sec01-%d@example.test", i), tc.password))
		if r.Status != tc.status {
			t.Fatalf("%s: got %d, want %d: %s", tc.name, r.Status, tc.status, r.Body)
		}
		if tc.status == 400 && (r.Env.Code != CodeValidation || len(r.Env.Errors["password"]) == 0) {
			t.Fatalf("%s: got %q %v, want validation_error on password", tc.name, r.Env.Code, r.Env.Errors)
		}
	}
	// The same bounds hold when the password is changed.
	ts.mustUser("sec01-change@example.test", testPassword)
	s := ts.login("sec01-change@example.test", testPassword)
	for _, pw := range []string{long[:129], "🐙🦊🐢🦉"} {
		r := s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": pw}).want(t, 400, CodeValidation)
		if len(r.Env.Errors["new_password"]) == 0 {
			t.Fatalf("change to %d code points: got %v, want a message on new_password", len([]rune(pw)), r.Env.Errors)
		}
	}
}

func TestSEC02CommonPasswordsRefusedEverywhere(t *testing.T) {
	ts := newTestServer(t, nil)
	anon := ts.client()
	common := []string{"password1234", "qwertyuiop", "1234567890", "PASSWORD1234"}
	for i, pw := range common {
		r := anon.do("POST", "/api/v1/auth/register", registerBody(fmt.Sprintf("sec02-%d@example.test", i), pw)).want(t, 400, CodeValidation)
		if msgs := strings.Join(r.Env.Errors["password"], " "); !strings.Contains(msgs, "common") {
			t.Fatalf("register %q: got errors.password %q, want it to say the password is too common", pw, msgs)
		}
	}

	const email = "sec02-user@example.test"
	ts.mustUser(email, testPassword)
	s := ts.login(email, testPassword)
	for _, pw := range common {
		r := s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": pw}).want(t, 400, CodeValidation)
		if msgs := strings.Join(r.Env.Errors["new_password"], " "); !strings.Contains(msgs, "common") {
			t.Fatalf("change to %q: got errors.new_password %q, want the reason", pw, msgs)
		}
	}
	ts.login(email, testPassword) // unchanged

	anon.do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	tok := secWaitToken(t, ts, email, "reset-password", 1)
	for _, pw := range common {
		r := anon.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": tok, "password": pw}).want(t, 400, CodeValidation)
		if msgs := strings.Join(r.Env.Errors["password"], " "); !strings.Contains(msgs, "common") {
			t.Fatalf("reset to %q: got errors.password %q, want the reason", pw, msgs)
		}
	}
	ts.login(email, testPassword) // unchanged
	// The refused attempts spent nothing: the link still works.
	anon.do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": tok, "password": "fresh mango pavilion 7"}).want(t, 200, "")
	ts.login(email, "fresh mango pavilion 7")
}

func TestSEC03ContextWordsRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	reg := func(email, first, pw string) *response {
		b := registerBody(email, pw)
		b["first_name"] = first
		return c.do("POST", "/api/v1/auth/register", b)
	}
	r := reg("marigold77@example.test", "Ann", "marigold77 is my password").want(t, 400, CodeValidation)
	if len(r.Env.Errors["password"]) == 0 {
		t.Fatalf("local part in password: got %v, want a message on password", r.Env.Errors)
	}
	for _, pw := range []string{"zebulon-rides-again", "ZEBULON rides again"} {
		r = reg("sec03-z@example.test", "Zebulon", pw).want(t, 400, CodeValidation)
		if len(r.Env.Errors["password"]) == 0 {
			t.Fatalf("first name in %q: got %v, want a message on password", pw, r.Env.Errors)
		}
	}
	r = reg("sec03-l@example.test", "Ann", "mr lee walks his dog").want(t, 400, CodeValidation) // last name Lee
	if len(r.Env.Errors["password"]) == 0 {
		t.Fatalf("last name in password: got %v, want a message on password", r.Env.Errors)
	}
	// The same passwords pass for accounts they say nothing about.
	reg("marigold77@example.test", "Ann", "harbour lights forever 4").want(t, 201, "")
	reg("sec03-z@example.test", "Ann", "zebulon-rides-again").want(t, 201, "")
}

func TestSEC04NoCompositionRules(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.client()
	for i, pw := range []string{"correct horse battery staple", "ééééééééééé1", "83920571649302", "zyxwvutsrqpo"} {
		c.do("POST", "/api/v1/auth/register", registerBody(fmt.Sprintf("sec04-%d@example.test", i), pw)).want(t, 201, "")
	}
}

func TestSEC05PasswordCheckedExactly(t *testing.T) {
	ts := newTestServer(t, nil)
	const email = "sec05@example.test"
	p := strings.Repeat("Vortex quill 93 ", 7)[:100]
	ts.mustUser(email, p)
	c := ts.client()
	for name, pw := range map[string]string{
		"first 72 bytes": p[:72],
		"upper-cased":    strings.ToUpper(p),
		"lower-cased":    strings.ToLower(p),
		"leading space":  " " + p,
		"trailing space": p + " ",
		"last char cut":  p[:99],
	} {
		if r := secLogin(t, c, email, pw); r.Status != 401 || r.Env.Code != CodeUnauthenticated {
			t.Fatalf("password %s: got %d %s, want 401 unauthenticated", name, r.Status, r.Body)
		}
	}
	secLogin(t, c, email, p).want(t, 200, "")
}

func TestSEC06ChangeNeedsCurrentPassword(t *testing.T) {
	const email = "sec06@example.test"
	const next = "fresh mango pavilion 7"
	ts := newServerWithUser(t, email)
	s := ts.login(email, testPassword)
	for _, cur := range []string{"wrong", "", strings.ToUpper(testPassword)} {
		r := s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": cur, "new_password": next}).want(t, 400, CodeValidation)
		if len(r.Env.Errors["current_password"]) == 0 {
			t.Fatalf("current %q: got %v, want a message on current_password", cur, r.Env.Errors)
		}
	}
	c := ts.client()
	secLogin(t, c, email, next).want(t, 401, CodeUnauthenticated)
	secLogin(t, c, email, testPassword).want(t, 200, "")
	// The same body with the right current password does change it.
	s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": next}).want(t, 200, "")
	secLogin(t, ts.client(), email, next).want(t, 200, "")
}

func TestSEC08LoginDoesNotTellAccountsApart(t *testing.T) {
	// A hash that costs clearly more than the rest of a login, so that a
	// path skipping the (dummy) hash would show in the timing.
	ts := newTestServer(t, func(c *Config) { c.PasswordHash = password.Params{Memory: 8192, Time: 1, Threads: 1} })
	const email = "sec08@example.test"
	ts.mustUser(email, testPassword)
	c := ts.client()
	attempt := func(i int, unknown bool) (*response, time.Duration) {
		e := email
		if unknown {
			e = fmt.Sprintf("nobody-%d@example.test", i)
		}
		start := time.Now()
		r := secLogin(t, c, e, "wrong password guess")
		return r, time.Since(start)
	}
	attempt(-1, true) // warm up both paths
	attempt(-1, false)
	ref, _ := attempt(0, false)
	ref.want(t, 401, CodeUnauthenticated)
	var unknown, wrong []time.Duration
	for i := 1; i <= 20; i++ {
		for _, isUnknown := range []bool{i%2 == 0, i%2 != 0} {
			r, d := attempt(i, isUnknown)
			if r.Status != 401 || !bytes.Equal(r.Body, ref.Body) {
				t.Fatalf("unknown=%v: got %d %s, want 401 %s", isUnknown, r.Status, r.Body, ref.Body)
			}
			if diff := secHeaderDiff(r.Header, ref.Header); diff != "" {
				t.Fatalf("unknown=%v: headers differ: %s", isUnknown, diff)
			}
			if isUnknown {
				unknown = append(unknown, d)
			} else {
				wrong = append(wrong, d)
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	mu, mw := median(unknown), median(wrong)
	if hi, lo := max(mu, mw), min(mu, mw); hi > 3*lo {
		t.Fatalf("median login time: unknown email %v, wrong password %v; want within 3x of each other", mu, mw)
	}
}

func TestSEC09DisabledAccountFailsLikeWrongPassword(t *testing.T) {
	const email = "sec09@example.test"
	ts := newServerWithUser(t, email)
	c := ts.client()
	wrong := secLogin(t, c, email, "not the password").want(t, 401, CodeUnauthenticated)
	secSetActive(t, ts, email, false)
	for _, pw := range []string{testPassword, "not the password"} {
		r := secLogin(t, c, email, pw)
		if r.Status != 401 || !bytes.Equal(r.Body, wrong.Body) {
			t.Fatalf("deactivated, password %q: got %d %s, want 401 %s", pw, r.Status, r.Body, wrong.Body)
		}
		if diff := secHeaderDiff(r.Header, wrong.Header); diff != "" {
			t.Fatalf("deactivated: headers differ from a wrong password: %s", diff)
		}
	}
	if c.secCookie("marbelle_session") != "" {
		t.Fatalf("deactivated login: got a session cookie, want none")
	}
	// Each attempt is recorded like any failed login.
	failed := 0
	for _, e := range secAudit(t, ts) {
		if e.Event == "login_failed" && e.Email == email {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("login_failed events: got %d, want 3 (one wrong password, two on the deactivated account)", failed)
	}
}

func TestSEC10PerAccountFailureLimitSameForUnknownEmails(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.RateLimits = ratelimit.Defaults()
		c.RateLimits.Login = ratelimit.Rate{N: 1000, Per: time.Minute} // the per-IP limit is SEC-11's
	})
	const email = "sec10@example.test"
	ts.mustUser(email, testPassword)
	ts.mustUser("sec10-other@example.test", testPassword)
	c := ts.client()
	run := func(emails func(i int) string) []*response {
		var out []*response
		for i := 1; i <= 11; i++ {
			r := secLogin(t, c, emails(i), "wrong password guess")
			want, code := 401, CodeUnauthenticated
			if i == 11 {
				want, code = 429, CodeRateLimited
			}
			if r.Status != want || r.Env.Code != code {
				t.Fatalf("%s attempt %d: got %d %q, want %d %q", emails(i), i, r.Status, r.Env.Code, want, code)
			}
			out = append(out, r)
		}
		secRetryAfter(t, out[10])
		return out
	}
	known := run(func(int) string { return email })
	// Unknown email, written differently each time: the key is the normalised string.
	ghost := run(func(i int) string {
		if i%2 == 0 {
			return "  GHOST-sec10@Example.TEST "
		}
		return "ghost-sec10@example.test"
	})
	for i := range known {
		if !bytes.Equal(known[i].Body, ghost[i].Body) || known[i].Header.Get("Retry-After") != ghost[i].Header.Get("Retry-After") {
			t.Fatalf("attempt %d: existing %s (Retry-After %q), unknown %s (Retry-After %q); want identical", i+1,
				known[i].Body, known[i].Header.Get("Retry-After"), ghost[i].Body, ghost[i].Header.Get("Retry-After"))
		}
	}
	// The limit is per account: another account still logs in.
	secLogin(t, c, "sec10-other@example.test", testPassword).want(t, 200, "")
	// And it is a window: after 15 minutes the owner gets in again.
	ts.clock.Advance(15*time.Minute + time.Second)
	secLogin(t, ts.client(), email, testPassword).want(t, 200, "")
}

func TestSEC11PerIPLimitUsesSocketPeer(t *testing.T) {
	login := func(ts *testServer, i int, xff string) *response {
		return secLogin(t, ts.client(), fmt.Sprintf("sec11-%d@example.test", i), "wrong password guess", secHeader("X-Forwarded-For", xff))
	}
	// sixthLimited sends six logins from what should count as one client:
	// five are answered, the sixth is refused.
	sixthLimited := func(ts *testServer, xff func(i int) string) {
		t.Helper()
		for i := 1; i <= 6; i++ {
			r := login(ts, i, xff(i))
			if i <= 5 {
				r.want(t, 401, CodeUnauthenticated)
				continue
			}
			r.want(t, 429, CodeRateLimited)
			secRetryAfter(t, r)
		}
	}
	// Untrusted peer: X-Forwarded-For is ignored; the 6th login is refused.
	ts := newTestServer(t, func(c *Config) { c.RateLimits = ratelimit.Defaults() })
	sixthLimited(ts, func(i int) string { return fmt.Sprintf("10.9.%d.1", i) })

	// Trusted proxy: each forwarded client has its own budget.
	tp := newTestServer(t, func(c *Config) {
		c.RateLimits = ratelimit.Defaults()
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	for i := 1; i <= 6; i++ {
		login(tp, i, fmt.Sprintf("10.9.%d.1", i)).want(t, 401, CodeUnauthenticated)
	}
	// One forwarded client is limited, whatever it puts on the left of the
	// header (only the hop the proxy appended is believed).
	sixthLimited(tp, func(i int) string { return fmt.Sprintf("192.0.2.%d, 10.7.7.7", i) })
}

func TestSEC12NoDefaultAccounts(t *testing.T) {
	ts := newTestServer(t, nil)
	if users := secStoredUsers(t, ts); len(users) != 0 {
		t.Fatalf("fresh store: got %d users, want 0", len(users))
	}
	if n := len(secBucket(t, ts, "users_by_email")); n != 0 {
		t.Fatalf("fresh store: got %d email index entries, want 0", n)
	}
	c := ts.client()
	for _, cred := range [][2]string{
		{"admin@localhost", "admin"}, {"admin@example.com", "admin"}, {"admin", "admin"},
		{"root@localhost", "root"}, {"admin@localhost", "password"}, {"staff@localhost", "staff"},
	} {
		secLogin(t, c, cred[0], cred[1]).want(t, 401, CodeUnauthenticated)
	}
}
