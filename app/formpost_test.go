package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// formContentTypes are what a plain HTML form sends (in the spellings a
// browser or a crafted page may use), and Content-Types that are not media
// types at all.
var formContentTypes = []string{
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=----WebKitFormBoundaryx",
	"text/plain",
	"Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
	"  MULTIPART/FORM-DATA;boundary=x  ",
	"text/plain;charset=utf-8",
	"text/ping", // <a ping>
	// malformed
	"",
	"text/plain, application/json",
	"application/json; charset",
	"/",
}

// formBody is a body of the kind each content type carries ("" for none).
func formBody(ct string) string {
	switch mt := strings.ToLower(ct); {
	case strings.Contains(mt, "urlencoded"):
		return "a=b"
	case strings.Contains(mt, "multipart"):
		return "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"
	}
	return `{"a":"b"}`
}

// TestIssue14FormContentTypesRefusedOnUnsafeMethods: routes that read no
// body (logout, session revoke, admin revoke-sessions, outbox retry) refuse
// a cross-site form post that a legacy browser sends without Origin or
// Sec-Fetch-Site, whatever its body; without a Content-Type they act.
func TestIssue14FormContentTypesRefusedOnUnsafeMethods(t *testing.T) {
	const email = "issue14-form@example.test"
	ts := newServerWithUser(t, email)
	s := ts.login(email, testPassword)

	// refused sends method path with every form content type, with its body
	// and without, and checks the caller is still signed in after each.
	refused := func(c *testClient, method, path string, stillWorks func()) {
		t.Helper()
		for _, ct := range formContentTypes {
			for _, body := range []any{nil, formBody(ct)} {
				r := c.send(t, method, path, body, func(r *http.Request) { r.Header["Content-Type"] = []string{ct} })
				if r.Status != 415 || r.Env.Code != CodeUnsupportedMedia {
					t.Fatalf("%s %s, Content-Type %q, body %v: got %d %q, want 415 %s: %s", method, path, ct, body != nil, r.Status, r.Env.Code, CodeUnsupportedMedia, r.Body)
				}
				stillWorks()
			}
		}
		// Two Content-Types, whichever comes first, are malformed too.
		for _, two := range [][]string{{"application/json", "text/plain"}, {"text/plain", "application/json"}} {
			r := c.send(t, method, path, `{"a":"b"}`, func(r *http.Request) { r.Header["Content-Type"] = two })
			if r.Status != 415 || r.Env.Code != CodeUnsupportedMedia {
				t.Fatalf("%s %s, Content-Types %q: got %d %q, want 415: %s", method, path, two, r.Status, r.Env.Code, r.Body)
			}
			stillWorks()
		}
	}
	signedIn := func(c *testClient) func() {
		return func() { t.Helper(); c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "") }
	}

	// Logout.
	refused(s, "POST", "/api/v1/auth/logout", signedIn(s))
	// A safe method with a form content type is not affected.
	s.send(t, "GET", "/api/v1/auth/profile", nil, secContentType("application/x-www-form-urlencoded")).want(t, 200, "")
	// Neither is a JSON content type: logout reads no body.
	j := ts.login(email, testPassword)
	j.send(t, "POST", "/api/v1/auth/logout", nil, secContentType("application/json; charset=utf-8")).want(t, 200, "")
	j.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	// Revoking one of my sessions.
	other := ts.login(email, testPassword)
	var sessions []sessionView
	s.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &sessions)
	var otherID uuid.UUID
	for _, v := range sessions {
		if !v.Current {
			otherID = v.ID // s and other are the only sessions left
		}
	}
	if len(sessions) != 2 || otherID == uuid.Nil {
		t.Fatalf("sessions: got %+v, want the current one and one other", sessions)
	}
	refused(s, "DELETE", "/api/v1/auth/sessions/"+otherID.String(), signedIn(other))
	s.do("DELETE", "/api/v1/auth/sessions/"+otherID.String(), nil).want(t, 200, "")
	other.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	// Staff: revoke a user's sessions, retry a failed mail.
	admin := ts.staff("issue14-boss@example.test")
	victim := ts.login(email, testPassword)
	revoke := "/api/v1/admin/users/" + ts.userID(email) + "/revoke-sessions"
	refused(admin, "POST", revoke, func() { signedIn(admin)(); signedIn(victim)() })
	admin.do("POST", revoke, nil).want(t, 200, "")
	victim.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	failed := failedMail(t, ts, "issue14-gone@example.test")
	stillFailed := func() {
		t.Helper()
		var list []outboxView
		admin.do("GET", "/api/v1/admin/outbox?status=failed", nil).want(t, 200, "").data(t, &list)
		if len(list) != 1 || list[0].ID != failed {
			t.Fatalf("failed mail: got %+v, want %s still failed", list, failed)
		}
	}
	refused(admin, "POST", "/api/v1/admin/outbox/"+failed.String()+"/retry", stillFailed)
	admin.do("POST", "/api/v1/admin/outbox/"+failed.String()+"/retry", nil).want(t, 200, "")

	// The one route allowed a form body takes it: without an API key it is
	// refused for the missing key, not for its content type, and a session
	// cookie is no key (a cross-site form carries only the cookie).
	ts.client().send(t, "POST", "/api/v1/introspect", "token=x", secContentType("application/x-www-form-urlencoded")).want(t, 401, CodeUnauthenticated)
	s.send(t, "POST", "/api/v1/introspect", "token=x", secContentType("application/x-www-form-urlencoded")).want(t, 401, CodeUnauthenticated)

	// And with no Content-Type and no body, logout logs out.
	s.do("POST", "/api/v1/auth/logout", nil).want(t, 200, "")
	s.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
}

// failedMail queues a mail to the address to and fails it, as the
// delivery loop does after a permanent refusal, and returns its id.
func failedMail(t *testing.T, ts *testServer, to string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := ts.srv.update(t.Context(), func(tx *txn) error {
		if err := tx.queueMail("password_changed", to, uuid.Nil, mailData(to)); err != nil {
			return err
		}
		due, err := tx.DueMail(tx.now.Add(time.Hour), 100)
		if err != nil || len(due) == 0 {
			return fmt.Errorf("queued mail not due: %v", err)
		}
		id = due[len(due)-1].ID
		return tx.FailMail(id, 3, "550 mailbox unavailable")
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
