package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"github.com/marbelle/marbelle/store"
)

// Tests of the security fixes of issue 14, one (or more) per item, named
// after it. Items 6, 8 (IPv6), 9, 11, 12 and 13 have their own files.

// generousLimits turns every limit up so far that a test meets only the
// one it sets low.
func generousLimits(set func(*ratelimit.Limits)) func(*Config) {
	return func(c *Config) {
		lots := ratelimit.Rate{N: 100_000, Per: time.Minute}
		c.RateLimits = ratelimit.Limits{Login: lots, Register: lots, Token: lots, LoginFailures: lots, EmailChange: lots, UserWrites: lots, MailRecipient: lots}
		set(&c.RateLimits)
	}
}

// auditEvents returns the user's audit events (by email), newest first.
func (ts *testServer) auditEvents(email string) []store.Event {
	ts.t.Helper()
	var events []store.Event
	ts.db.View(func(tx *store.Tx) error {
		u, err := tx.UserByEmail(email)
		if err != nil {
			ts.t.Fatalf("user %s: %v", email, err)
		}
		events, err = tx.AuditEvents(u.ID, 1000)
		return err
	})
	return events
}

type verifyAnswer struct {
	Email            string `json:"email"`
	EmailVerified    bool   `json:"email_verified"`
	PasswordRequired bool   `json:"password_required"`
	SetPasswordToken string `json:"set_password_token"`
}

func TestIssue14Item1ResendAfterOwnerRegisteredCannotHijack(t *testing.T) {
	// Attacker registers first, the owner registers, the attacker asks for a
	// resend: the newest link must put neither password in force.
	ts := newTestServer(t, nil)
	const email = "hijack1@example.test"
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, "attacker chose this 99")).want(t, 201, "")
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(t, 201, "")
	ts.client().do("POST", "/api/v1/auth/resend-verification", map[string]string{"email": email}).want(t, 200, "")
	tok := ts.waitToken(email, "verify-email", 3)
	var v verifyAnswer
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "").data(t, &v)
	if !v.PasswordRequired || v.SetPasswordToken == "" || !v.EmailVerified {
		t.Fatalf("verify after two registrations and a resend: %+v, want password_required", v)
	}
	for _, pw := range []string{"attacker chose this 99", testPassword} {
		ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": pw}).want(t, 401, CodeUnauthenticated)
	}
	if h := secUser(t, ts, email).PasswordHash; h != "" {
		t.Fatalf("stored password after an ambiguous verification: %.12q…, want none", h)
	}
}

func TestIssue14Item1SecondRegistrationCannotSetThePassword(t *testing.T) {
	// The owner registers first; an attacker's second registration makes
	// the newest link carry no password (it used to carry the attacker's).
	ts := newTestServer(t, nil)
	const email = "hijack2@example.test"
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(t, 201, "")
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, "attacker chose this 99")).want(t, 201, "")
	var v verifyAnswer
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": ts.waitToken(email, "verify-email", 2)}).want(t, 200, "").data(t, &v)
	if !v.PasswordRequired {
		t.Fatalf("verify: %+v, want password_required", v)
	}
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "attacker chose this 99"}).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": v.SetPasswordToken, "password": "lantern meadow quiet 42"}).want(t, 200, "")
	ts.login(email, "lantern meadow quiet 42")
}

func TestIssue14Item1OneRegistrationKeepsItsPassword(t *testing.T) {
	// Registered once: the password is not on the user record before
	// verification, a resend stands for the same registration, the right
	// password before verification is still 403 email_not_verified, and
	// verification puts that password in force.
	ts := newTestServer(t, nil)
	const email = "once@example.test"
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(t, 201, "")
	if h := secUser(t, ts, email).PasswordHash; h != "" {
		t.Fatalf("unverified user record holds a password hash %.12q…, want none", h)
	}
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}).want(t, 403, CodeEmailNotVerified)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "not the password 1"}).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/resend-verification", map[string]string{"email": email}).want(t, 200, "")
	var v verifyAnswer
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": ts.waitToken(email, "verify-email", 2)}).want(t, 200, "").data(t, &v)
	if v.PasswordRequired || v.SetPasswordToken != "" {
		t.Fatalf("verify after one registration: %+v, want the registration's password kept", v)
	}
	ts.login(email, testPassword)
}

func TestIssue14Item2VerifyLinkDiesWithReset(t *testing.T) {
	// An unspent verification link used after a reset must not replace the
	// reset password nor touch the sessions.
	ts := newTestServer(t, nil)
	const email = "item2@example.test"
	verify := ts.registered(email)
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	reset := ts.waitToken(email, "reset-password", 2)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": reset, "password": "quiet harbour lantern 9"}).want(t, 200, "")
	s := ts.login(email, "quiet harbour lantern 9")
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": verify}).want(t, 400, CodeInvalidToken)
	ts.login(email, "quiet harbour lantern 9")
	s.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")

	// A verified account is never verified again, even by a live token.
	ts.db.Update(func(tx *store.Tx) error {
		u, _ := tx.UserByEmail(email)
		return tx.IssueToken("live-verify-token-for-a-verified-account-xx", &store.Token{Kind: store.TokenVerifyEmail, UserID: u.ID, PasswordHash: u.PasswordHash, CreatedAt: ts.clock.Now(), ExpiresAt: ts.clock.Now().Add(time.Hour)})
	})
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "live-verify-token-for-a-verified-account-xx"}).want(t, 400, CodeInvalidToken)
}

func TestIssue14Item3EmailChangeLinkDiesWithPasswordEvents(t *testing.T) {
	// Someone who once had the session and password asks to move the
	// account to their own address; any later security event of the owner
	// voids that link.
	events := []struct {
		name string
		act  func(t *testing.T, ts *testServer, email string, s *testClient)
	}{
		{"reset", func(t *testing.T, ts *testServer, email string, _ *testClient) {
			n := len(ts.mailsTo(email))
			ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
			rt := ts.waitToken(email, "reset-password", n+1)
			ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": rt, "password": "quiet harbour lantern 9"}).want(t, 200, "")
		}},
		{"change", func(t *testing.T, ts *testServer, _ string, s *testClient) {
			s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "quiet harbour lantern 9"}).want(t, 200, "")
		}},
		{"deactivation", func(t *testing.T, ts *testServer, email string, _ *testClient) {
			admin := ts.staff("staff-" + email)
			id := ts.userID(email)
			admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")
			admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": true}).want(t, 200, "")
		}},
		{"staff_change", func(t *testing.T, ts *testServer, email string, _ *testClient) {
			admin := ts.staff("staff-" + email)
			admin.do("PATCH", "/api/v1/admin/users/"+ts.userID(email), map[string]any{"is_staff": true}).want(t, 200, "")
		}},
	}
	for _, ev := range events {
		t.Run(ev.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			email := "item3-" + ev.name + "@example.test"
			ts.mustUser(email, testPassword)
			intruder := ts.login(email, testPassword)
			intruder.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "intruder@example.test", "password": testPassword}).want(t, 200, "")
			link := ts.waitToken("intruder@example.test", "confirm-email-change", 1)
			ev.act(t, ts, email, intruder)
			ts.client().do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": link}).want(t, 400, CodeInvalidToken)
			if u := secUser(t, ts, email); u.Email != email {
				t.Fatalf("after %s the old link moved the account to %s", ev.name, u.Email)
			}
		})
	}
}

func TestIssue14Item3UndoKeepsWorkingAfterPasswordChange(t *testing.T) {
	// Undo links answer a security event, so the stamp does not void them.
	const email = "undo-stays@example.test"
	ts := newServerWithUser(t, email)
	s := ts.login(email, testPassword)
	s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "quiet harbour lantern 9"}).want(t, 200, "")
	undo := undoToken(t, ts.waitMail(email, 2)[0])
	s.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": "quiet harbour lantern 9", "new_password": "other harbour lantern 8"}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "other harbour lantern 8"}).want(t, 403, CodePasswordResetRequired)
}

func TestIssue14Item5DeactivatedUsersCannotMoveTheirAccount(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss5@example.test")
	const email = "item5@example.test"
	ts.mustUser(email, testPassword)
	s := ts.login(email, testPassword)
	s.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "item5-new@example.test", "password": testPassword}).want(t, 200, "")
	change := ts.waitToken("item5-new@example.test", "confirm-email-change", 1)
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	reset := ts.waitToken(email, "reset-password", 2)
	id := ts.userID(email)
	admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")

	ts.client().do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": change}).want(t, 400, CodeInvalidToken)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": reset, "password": "quiet harbour lantern 9"}).want(t, 400, CodeInvalidToken)
	// While deactivated no new reset link is mailed either.
	n := len(ts.mailsTo(email))
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	ts.settle()
	if got := len(ts.mailsTo(email)); got != n {
		t.Fatalf("a deactivated account got a reset mail")
	}
	if u := secUser(t, ts, email); u.Email != email || u.Active {
		t.Fatalf("deactivated account changed: %s active=%v", u.Email, u.Active)
	}
}

func TestIssue14Item7EmptyProfilePatchWritesNothing(t *testing.T) {
	const email = "item7@example.test"
	ts := newServerWithUser(t, email)
	s := ts.login(email, testPassword)
	before := len(ts.auditEvents(email))
	updated := secUser(t, ts, email).UpdatedAt
	for _, body := range []any{map[string]any{}, map[string]any{"first_name": "Ann"}, map[string]any{"unknown": 1}} {
		s.do("PATCH", "/api/v1/auth/profile", body).want(t, 200, "")
	}
	if after := len(ts.auditEvents(email)); after != before {
		t.Fatalf("audit events after empty PATCHes: %d, want %d", after, before)
	}
	if u := secUser(t, ts, email); !u.UpdatedAt.Equal(updated) {
		t.Fatalf("updated_at moved on an empty PATCH")
	}
	s.do("PATCH", "/api/v1/auth/profile", map[string]any{"first_name": "Anna"}).want(t, 200, "")
	if after := len(ts.auditEvents(email)); after != before+1 {
		t.Fatalf("audit events after a real change: %d, want %d", after, before+1)
	}
}

func TestIssue14Item7AuthenticatedWritesAreLimitedPerUser(t *testing.T) {
	ts := newTestServer(t, generousLimits(func(rl *ratelimit.Limits) { rl.UserWrites = ratelimit.Rate{N: 5, Per: time.Minute} }))
	const email = "writes@example.test"
	ts.mustUser(email, testPassword)
	s := ts.login(email, testPassword)
	other := ts.login(email, testPassword) // a second session of the same user shares the budget
	for i := range 5 {
		c := s
		if i%2 == 1 {
			c = other
		}
		c.do("PATCH", "/api/v1/auth/profile", map[string]any{"first_name": fmt.Sprint("Name", i)}).want(t, 200, "")
	}
	r := other.do("PATCH", "/api/v1/auth/profile", map[string]any{"first_name": "Too many"}).want(t, 429, CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	s.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "") // reads are not limited
	ts.mustUser("writes2@example.test", testPassword)
	ts.login("writes2@example.test", testPassword).do("PATCH", "/api/v1/auth/profile", map[string]any{"first_name": "Own budget"}).want(t, 200, "")
}

func TestIssue14Item7AuditRetentionPrunedBySweeper(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AuditRetention = 48 * time.Hour })
	const email = "retention@example.test"
	ts.mustUser(email, testPassword)
	old := len(ts.auditEvents(email))
	if old == 0 {
		t.Fatal("no audit events to prune")
	}
	ts.clock.Advance(72 * time.Hour)
	ts.login(email, testPassword) // one fresh event
	res := ts.srv.sweep(t.Context())
	if res.Audit < old {
		t.Fatalf("sweep pruned %d audit events, want at least %d", res.Audit, old)
	}
	if got := ts.auditEvents(email); len(got) != 1 || got[0].Event != "login" {
		t.Fatalf("audit after the sweep: %+v, want only the fresh login", got)
	}
	ts.checkStore()
}

func TestIssue14Item8MailToOneRecipientIsCapped(t *testing.T) {
	ts := newTestServer(t, generousLimits(func(rl *ratelimit.Limits) { rl.MailRecipient = ratelimit.Rate{N: 5, Per: time.Hour} }))
	const email = "flooded@example.test"
	ts.mustUser(email, testPassword) // the verification mail is the first of five
	for range 8 {
		ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": email}).want(t, 200, "")
	}
	for range 3 {
		ts.client().do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(t, 201, "")
	}
	ts.settle()
	if n := len(ts.mailsTo(email)); n != 5 {
		t.Fatalf("mails to one address: %d, want 5 (the cap)", n)
	}
	capped := 0
	for _, e := range ts.auditEvents(email) {
		if e.Detail["reason"] == "recipient_limit" {
			capped++
		}
	}
	if capped != 7 {
		t.Fatalf("audit events naming the recipient limit: %d, want 7", capped)
	}
	// The same answer for an address with no account, and the cap applies
	// to it too (no account is told apart).
	for range 7 {
		ts.client().do("POST", "/api/v1/auth/register", registerBody("fresh@example.test", testPassword)).want(t, 201, "")
	}
	ts.settle()
	if n := len(ts.mailsTo("fresh@example.test")); n != 5 {
		t.Fatalf("mails to a new address: %d, want 5", n)
	}
}

func TestIssue14Item10NoAttackerTextInMail(t *testing.T) {
	ts := newTestServer(t, nil)
	const evilName = "Your account is blocked visit evil example"
	const evilUA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 CALL +1-555-0100 NOW"
	c := ts.client()
	reg := registerBody("victim10@example.test", testPassword)
	reg["first_name"] = evilName
	c.send(t, "POST", "/api/v1/auth/register", reg, func(r *http.Request) { r.Header.Set("User-Agent", evilUA) }).want(t, 201, "")
	c.send(t, "POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "victim10@example.test"}, func(r *http.Request) { r.Header.Set("User-Agent", evilUA) }).want(t, 200, "")
	ts.mustUser("owner10@example.test", testPassword)
	c.send(t, "POST", "/api/v1/auth/register", registerBody("owner10@example.test", testPassword), func(r *http.Request) { r.Header.Set("User-Agent", evilUA) }).want(t, 201, "")
	ts.settle()
	for _, m := range append(ts.mailsTo("victim10@example.test"), ts.mailsTo("owner10@example.test")...) {
		for _, part := range []string{m.Text, m.HTML} {
			if strings.Contains(part, "blocked") || strings.Contains(part, "555-0100") || strings.Contains(part, "Mozilla") {
				t.Fatalf("mail %q carries request text: %s", m.Subject, part)
			}
		}
	}
	already := ts.mailsTo("owner10@example.test")[0]
	if !strings.Contains(already.Text, "Chrome on Linux") {
		t.Fatalf("already-registered mail should name the browser family: %s", already.Text)
	}
}

func TestIssue14Item14LastStaffCannotBeRemoved(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.staff("a14@example.test")
	b := ts.staff("b14@example.test")
	idA, idB := ts.userID("a14@example.test"), ts.userID("b14@example.test")
	// Two staff demoting each other at once: one wins, never both.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, pair := range []struct {
		c  *testClient
		id string
	}{{a, idB}, {b, idA}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = pair.c.do("PATCH", "/api/v1/admin/users/"+pair.id, map[string]any{"is_staff": false}).Status
		}()
	}
	wg.Wait()
	var staff int
	ts.db.View(func(tx *store.Tx) error { staff = tx.ActiveStaff(); return nil })
	if staff != 1 {
		t.Fatalf("active staff after mutual demotion: %d (answers %v), want 1", staff, codes)
	}
	ts.checkStore()
}

func TestIssue14Item14LastStaffRefusals(t *testing.T) {
	ts := newTestServer(t, nil)
	boss := ts.staff("boss14@example.test")
	// The only staff member cannot delete their own account either.
	boss.do("DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}).want(t, 400, CodeValidation)
	// With two, one may remove the other, and the other is told by mail.
	second := ts.staff("second14@example.test")
	id := ts.userID("second14@example.test")
	n := len(ts.mailsTo("second14@example.test"))
	boss.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")
	m := ts.waitMail("second14@example.test", n+1)[0]
	if !strings.Contains(m.Subject, "staff account was changed") || !strings.Contains(m.Text, "account deactivated") || !strings.Contains(m.Text, "boss14@example.test") {
		t.Fatalf("notice to the changed staff member: %q %s", m.Subject, m.Text)
	}
	second.do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	// Now boss is the last active staff: nobody may remove them, and a
	// change that touches nothing sends no mail.
	n = len(ts.mailsTo("boss14@example.test"))
	boss.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")
	boss.do("DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}).want(t, 400, CodeValidation)
	ts.settle()
	if got := len(ts.mailsTo("boss14@example.test")); got != n {
		t.Fatalf("mail to the actor about their own change: %d, want %d", got, n)
	}
	// Customers changed by staff get no staff notice.
	ts.mustUser("cust14@example.test", testPassword)
	n = len(ts.mailsTo("cust14@example.test"))
	boss.do("PATCH", "/api/v1/admin/users/"+ts.userID("cust14@example.test"), map[string]any{"first_name": "Renamed"}).want(t, 200, "")
	ts.settle()
	if got := len(ts.mailsTo("cust14@example.test")); got != n {
		t.Fatalf("a customer got a staff notice")
	}
	ts.checkStore()
}
