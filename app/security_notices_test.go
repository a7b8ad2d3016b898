package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// subjects lists the subjects of the mails to addr, oldest first.
func (ts *testServer) subjects(addr string) []string {
	var out []string
	list := ts.mailsTo(addr)
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].Subject)
	}
	return out
}

func countSubject(subjects []string, part string) int {
	n := 0
	for _, s := range subjects {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

func undoToken(t *testing.T, m mail.Captured) string {
	t.Helper()
	match := testutil.UndoRE.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("notice %q has no undo link: %s", m.Subject, m.Text)
	}
	return match[1]
}

// settle waits until the outbox is empty, so counting mails is exact.
func (ts *testServer) settle() {
	ts.t.Helper()
	testutil.WaitFor(ts.t, 10*time.Second, func() error {
		var due []store.Mail
		ts.db.View(func(tx *store.Tx) error { due, _ = tx.DueMail(ts.clock.Now().Add(time.Hour), 10); return nil })
		if len(due) > 0 {
			return fmt.Errorf("outbox never drained: %d queued", len(due))
		}
		return nil
	})
}

// TestNoticesOncePerEventWithUndo: each security event mails its owner
// exactly one notice carrying a "This wasn't me" link (deletion: none).
func TestNoticesOncePerEventWithUndo(t *testing.T) {
	ts := newServerWithUser(t, "n@example.test")
	c := ts.login("n@example.test", testPassword)
	c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "n@example.test"}).want(t, 200, "")
	rt := ts.waitToken("n@example.test", "reset-password", 3)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": rt, "password": "quiet harbour lantern 9"}).want(t, 200, "")
	c = ts.login("n@example.test", "quiet harbour lantern 9")
	c.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "n2@example.test", "password": "quiet harbour lantern 9"}).want(t, 200, "")
	et := ts.waitToken("n2@example.test", "confirm-email-change", 1)
	ts.client().do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": et}).want(t, 200, "")
	ts.settle()
	old := ts.subjects("n@example.test")
	for _, part := range []string{"password was changed", "password was reset", "email address was changed"} {
		if countSubject(old, part) != 1 {
			t.Fatalf("notice %q: got %v, want exactly one", part, old)
		}
	}
	for _, m := range ts.mailsTo("n@example.test") {
		if strings.Contains(m.Subject, "was changed") || strings.Contains(m.Subject, "was reset") {
			undoToken(t, m)
			if !onlyUndoToken(m.Text) {
				t.Fatalf("notice %q carries another token", m.Subject)
			}
		}
	}
	// Deletion: one notice, no undo link.
	c = ts.login("n2@example.test", "quiet harbour lantern 9")
	c.do("DELETE", "/api/v1/auth/account", map[string]string{"password": "quiet harbour lantern 9"}).want(t, 200, "")
	ts.settle()
	got := ts.waitMail("n2@example.test", 2)
	if countSubject(ts.subjects("n2@example.test"), "was deleted") != 1 || testutil.UndoRE.MatchString(got[0].Text) {
		t.Fatalf("deletion notice: %v", ts.subjects("n2@example.test"))
	}
	ts.checkStore()
}

// TestUndoRevertsEmailChangeAndEndsSessions: the link on the old address's
// notice takes the account back, ends every session, works once, and mails
// nothing of its own.
func TestIssue14UndoOfEmailChangeFreezesAccount(t *testing.T) {
	// Item 4: the owner moved away from an address (say it was lost), the
	// old mailbox's "This wasn't me" must not hand the account back to it.
	// The undo freezes the account, tells both addresses, and staff restore.
	ts := newTestServer(t, nil)
	admin := ts.staff("staff@example.test")
	ts.mustUser("victim@example.test", testPassword)
	attacker := ts.login("victim@example.test", testPassword)
	attacker.do("POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "attacker@example.test", "password": testPassword}).want(t, 200, "")
	et := ts.waitToken("attacker@example.test", "confirm-email-change", 1)
	ts.client().do("POST", "/api/v1/auth/email-change/confirm", map[string]string{"token": et}).want(t, 200, "")
	ts.settle()
	notice := ts.mailsTo("victim@example.test")[0]
	undo := undoToken(t, notice)
	// A reset link mailed to the new address before the undo must die with it.
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "attacker@example.test"}).want(t, 200, "")
	early := ts.waitToken("attacker@example.test", "reset-password", 2)

	r := ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 200, "")
	if !strings.Contains(r.Env.Message, "contact the shop") {
		t.Fatalf("undo message: %q", r.Env.Message)
	}
	attacker.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 400, CodeInvalidToken)
	// Frozen: the account keeps the address it had, the right password is
	// refused with a message to contact the shop, the old address has no
	// account, and no link (early or new) works.
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "attacker@example.test", "password": testPassword}).want(t, 403, CodeAccountFrozen)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "victim@example.test", "password": testPassword}).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": early, "password": "quiet harbour lantern 9"}).want(t, 400, CodeInvalidToken)
	ts.settle() // the undo's notices are delivered before counting
	before := len(ts.mailsTo("attacker@example.test"))
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "attacker@example.test"}).want(t, 200, "")
	ts.settle()
	for _, addr := range []string{"victim@example.test", "attacker@example.test"} {
		if m := ts.waitMail(addr, 1)[0]; !strings.Contains(m.Subject, "locked") {
			t.Fatalf("newest mail to %s: %q, want the account-locked notice", addr, m.Subject)
		}
	}
	if n := len(ts.mailsTo("attacker@example.test")); n != before {
		t.Fatalf("a frozen account got a reset mail: %d mails, want %d", n, before)
	}

	// Staff restore it to the address the owner proved to them; the owner
	// chooses a new password from the mailed link; the audit names staff.
	id := ts.userID("attacker@example.test")
	var u adminUser
	admin.do("GET", "/api/v1/admin/users/"+id, nil).want(t, 200, "").data(t, &u)
	if !u.IsFrozen {
		t.Fatalf("admin view: is_frozen false, want true")
	}
	victimMails := len(ts.mailsTo("victim@example.test"))
	admin.do("POST", "/api/v1/admin/users/"+id+"/restore", map[string]string{"email": "victim@example.test"}).want(t, 200, "").data(t, &u)
	if u.IsFrozen || u.Email != "victim@example.test" {
		t.Fatalf("after restore: %+v", u)
	}
	admin.do("POST", "/api/v1/admin/users/"+id+"/restore", map[string]string{}).want(t, 400, CodeValidation)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "victim@example.test", "password": testPassword}).want(t, 403, CodePasswordResetRequired)
	rt := ts.waitToken("victim@example.test", "reset-password", victimMails+1)
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": rt, "password": "quiet harbour lantern 9"}).want(t, 200, "")
	ts.login("victim@example.test", "quiet harbour lantern 9")

	var events []store.Event
	ts.db.View(func(tx *store.Tx) error {
		u, _ := tx.UserByEmail("victim@example.test")
		events, _ = tx.AuditEvents(u.ID, 100)
		return nil
	})
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Event] = seen[e.Event] || (e.Event == "security_undo" && e.Detail["frozen"] == "yes") || (e.Event == "account_restored" && e.Detail["actor_email"] == "staff@example.test")
	}
	if !seen["security_undo"] || !seen["account_restored"] {
		t.Fatalf("audit lacks the freeze or the restore: %+v", events)
	}
	ts.checkStore()
}

// TestUndoPasswordChangeRequiresReset and the link's expiry.
func TestUndoPasswordChangeRequiresResetAndExpires(t *testing.T) {
	ts := newServerWithUser(t, "p@example.test")
	c := ts.login("p@example.test", testPassword)
	c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}).want(t, 200, "")
	undo := undoToken(t, ts.waitMail("p@example.test", 2)[0])
	c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": "fresh mango pavilion 7", "new_password": "quiet harbour lantern 9"}).want(t, 200, "")
	second := undoToken(t, ts.waitMail("p@example.test", 3)[0])
	// A newer notice does not void the older link; 7 days + 1 s later both are dead.
	ts.clock.Advance(7*24*time.Hour + time.Second)
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 400, CodeInvalidToken)
	ts.clock.Advance(-2 * time.Second)
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 200, "")
	// The other link still works (an intruder's undo must not void the owner's); it only repeats the lock.
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": second}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": second}).want(t, 400, CodeInvalidToken)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "p@example.test", "password": "quiet harbour lantern 9"}).want(t, 403, CodePasswordResetRequired)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "p@example.test", "password": "wrong password here"}).want(t, 401, CodeUnauthenticated)
}

// TestNewDeviceNotice: a sign-in from a device not seen before mails one
// notice; a known device mails nothing; the first sign-in ever is quiet.
func TestNewDeviceNotice(t *testing.T) {
	ts := newServerWithUser(t, "d@example.test")
	ts.login("d@example.test", testPassword)
	ts.login("d@example.test", testPassword)
	ts.settle()
	if n := countSubject(ts.subjects("d@example.test"), "New sign-in"); n != 0 {
		t.Fatalf("known device: got %d notices, want 0", n)
	}
	phone := ts.client()
	phone.header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
	phone.do("POST", "/api/v1/auth/login", map[string]string{"email": "d@example.test", "password": testPassword}).want(t, 200, "")
	ts.settle()
	if n := countSubject(ts.subjects("d@example.test"), "New sign-in"); n != 1 {
		t.Fatalf("new device: got %d notices, want 1", n)
	}
	phone.header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1") // an update, same family
	phone.do("POST", "/api/v1/auth/login", map[string]string{"email": "d@example.test", "password": testPassword}).want(t, 200, "")
	ts.settle()
	if n := countSubject(ts.subjects("d@example.test"), "New sign-in"); n != 1 {
		t.Fatalf("same device after a browser update: got %d notices, want still 1", n)
	}
	var u *store.User
	ts.db.View(func(tx *store.Tx) error { u, _ = tx.UserByEmail("d@example.test"); return nil })
	if len(u.KnownDevices) != 2 || strings.Contains(strings.Join(u.KnownDevices, ","), "127.0.0.1") {
		t.Fatalf("known devices: %v (want 2 fingerprints, no ip in clear)", u.KnownDevices)
	}
	for i := range 12 {
		u.RememberDevice(strings.Repeat("x", i+1))
	}
	if len(u.KnownDevices) != store.MaxKnownDevices {
		t.Fatalf("known devices kept: %d, want %d", len(u.KnownDevices), store.MaxKnownDevices)
	}
}

// TestShopCanTurnNoticesOff: with notices off nothing is mailed for them.
func TestShopCanTurnNoticesOff(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SecurityNotices = map[string]bool{"account_deleted": true} })
	ts.mustUser("q@example.test", testPassword)
	c := ts.login("q@example.test", testPassword)
	c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}).want(t, 200, "")
	ts.settle()
	if n := countSubject(ts.subjects("q@example.test"), "password was changed"); n != 0 {
		t.Fatalf("password notice while turned off: %d", n)
	}
	if _, err := parseNotices("new_device, bogus"); err == nil {
		t.Fatalf("unknown notice name must be refused")
	}
	if on, _ := parseNotices(""); len(on) != len(securityNotices) {
		t.Fatalf("default: got %v, want all on", on)
	}
}

// TestExportHoldsExactlyTheCustomersData.
func TestExportHoldsExactlyTheCustomersData(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.addressUser("exp@example.test")
	b := ts.addressUser("other@example.test")
	a.do("POST", "/api/v1/auth/addresses", addressBody("Mine")).want(t, 201, "")
	b.do("POST", "/api/v1/auth/addresses", addressBody("Theirs")).want(t, 201, "")
	r := a.do("GET", "/api/v1/auth/export", nil).want(t, 200, "")
	if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("export headers: %v", r.Header)
	}
	var doc exportDocument
	r.data(t, &doc)
	if doc.Schema != "marbelle.export.v1" || doc.Profile.Email != "exp@example.test" || len(doc.Addresses) != 1 || doc.Addresses[0].Label != "Mine" || len(doc.Sessions) != 1 || !doc.Sessions[0].Current {
		t.Fatalf("export: %+v", doc)
	}
	if len(doc.Events) < 3 {
		t.Fatalf("export events: %+v", doc.Events)
	}
	if strings.Contains(string(r.Body), "other@example.test") || strings.Contains(string(r.Body), "Theirs") || strings.Contains(string(r.Body), "argon2") {
		t.Fatalf("export holds someone else's data or a hash: %s", r.Body)
	}
	var act securityActivity
	a.do("GET", "/api/v1/auth/security/activity", nil).want(t, 200, "").data(t, &act)
	if len(act.Events) < 3 || act.Events[0].At.Before(act.Events[len(act.Events)-1].At) || len(act.Sessions) != 1 {
		t.Fatalf("activity: %+v", act)
	}
	ts.client().do("GET", "/api/v1/auth/export", nil).want(t, 401, CodeUnauthenticated)
}

// TestPreRegistrationCannotChooseTheOwnersPassword: someone who registers
// an address first cannot sign in once its owner registers and verifies:
// after two registrations verification sets neither password and asks the
// mailbox owner to choose one.
func TestPreRegistrationCannotChooseTheOwnersPassword(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.client().do("POST", "/api/v1/auth/register", registerBody("owner@example.test", "attacker chose this 99")).want(t, 201, "")
	ts.client().do("POST", "/api/v1/auth/register", registerBody("owner@example.test", testPassword)).want(t, 201, "")
	tok := ts.waitToken("owner@example.test", "verify-email", 2)
	var v struct {
		Email            string `json:"email"`
		PasswordRequired bool   `json:"password_required"`
		SetPasswordToken string `json:"set_password_token"`
	}
	ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(t, 200, "").data(t, &v)
	if !v.PasswordRequired || len(v.SetPasswordToken) < 43 || v.Email != "owner@example.test" {
		t.Fatalf("verify answer: %+v, want password_required with a set_password_token", v)
	}
	for _, pw := range []string{"attacker chose this 99", testPassword} {
		ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "owner@example.test", "password": pw}).want(t, 401, CodeUnauthenticated)
	}
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": v.SetPasswordToken, "password": "lantern meadow quiet 42"}).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": v.SetPasswordToken, "password": "lantern meadow quiet 43"}).want(t, 400, CodeInvalidToken)
	ts.login("owner@example.test", "lantern meadow quiet 42")
}

// TestCurrentPasswordGuessesAreLimited: a stolen session cannot guess the
// password without limit on change, email change or deletion.
func TestCurrentPasswordGuessesAreLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RateLimits = ratelimit.Defaults() })
	ts.mustUser("guess@example.test", testPassword)
	c := ts.login("guess@example.test", testPassword)
	for i := range 10 {
		c.do("DELETE", "/api/v1/auth/account", map[string]string{"password": fmt.Sprint("guess ", i)}).want(t, 400, CodeValidation)
	}
	r := c.do("POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}).want(t, 429, CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("want Retry-After")
	}
}
