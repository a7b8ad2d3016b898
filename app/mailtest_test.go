package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
)

// TestAdminMailTestSendsAtOnce (#21): staff's test mail goes straight
// through the configured SMTP server (not the outbox), is audited, and
// only staff may send it.
func TestAdminMailTestSendsAtOnce(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	var res mailTestResult
	admin.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": " Check@Example.test "}).want(t, 200, "").data(t, &res)
	if res.To != "check@example.test" || !strings.HasPrefix(res.Server, "smtp://") {
		t.Fatalf("answer: got %+v, want the normalized address and the server", res)
	}
	got := ts.waitMail("check@example.test", 1)
	if !strings.Contains(got[0].Subject, "Test email") || !strings.Contains(got[0].Text, "boss@example.test") {
		t.Fatalf("mail: got %q / %q, want the test mail naming the sender", got[0].Subject, got[0].Text)
	}
	var list []outboxView
	admin.do("GET", "/api/v1/admin/outbox", nil).want(t, 200, "").data(t, &list)
	for _, m := range list {
		if m.To == "check@example.test" {
			t.Fatalf("outbox: got the test mail %+v, want it sent outside the outbox", m)
		}
	}
	var events []auditView
	admin.do("GET", "/api/v1/admin/audit", nil).want(t, 200, "").data(t, &events)
	if len(events) == 0 || events[0].Event != "mail_test_sent" || events[0].Detail["result"] != "accepted" || events[0].Detail["to"] != "check@example.test" {
		t.Fatalf("audit: got %+v, want mail_test_sent first", events)
	}

	admin.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "no-at-sign"}).want(t, 400, CodeValidation)
	admin.do("POST", "/api/v1/admin/mail/test", map[string]string{}).want(t, 400, CodeValidation)
	customer := ts.addressUser("customer@example.test")
	customer.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "x@example.test"}).want(t, 403, CodeForbidden)
	ts.client().do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "x@example.test"}).want(t, 401, CodeUnauthenticated)
}

type refusingSender struct{}

func (refusingSender) Send(context.Context, string, []string, []byte) error {
	return errors.New("mail: authenticate to smtp.example:587 as \"shop\": 535 5.7.8 Authentication credentials invalid")
}

// TestAdminMailTestShowsTheServersError (#21): a refused test mail is a
// 502 smtp_error carrying the server's answer, and is audited as failed.
func TestAdminMailTestShowsTheServersError(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	ts.srv.SetMailSender(refusingSender{})
	r := admin.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "check@example.test"}).want(t, 502, CodeSMTPError)
	if !strings.Contains(r.Env.Message, "535 5.7.8 Authentication credentials invalid") {
		t.Fatalf("message: got %q, want the server's reply", r.Env.Message)
	}
	var events []auditView
	admin.do("GET", "/api/v1/admin/audit", nil).want(t, 200, "").data(t, &events)
	if len(events) == 0 || events[0].Event != "mail_test_sent" || events[0].Detail["result"] != "failed" || !strings.Contains(events[0].Detail["error"], "535") {
		t.Fatalf("audit: got %+v, want a failed mail_test_sent", events)
	}
}

// TestAdminMailTestRateLimited (#21): the recipient limit of every other
// mail bounds the test mail too, so the button cannot flood an inbox.
func TestAdminMailTestRateLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.RateLimits = ratelimit.Defaults()
		c.RateLimits.MailRecipient = ratelimit.Rate{N: 2, Per: time.Hour}
	})
	admin := ts.staff("boss@example.test")
	ts.srv.SetMailSender(refusingSender{}) // no wait for delivery needed
	for range 2 {
		admin.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "check@example.test"}).want(t, 502, CodeSMTPError)
	}
	r := admin.do("POST", "/api/v1/admin/mail/test", map[string]string{"to": "check@example.test"}).want(t, 429, CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
}
