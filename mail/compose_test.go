package mail

import (
	"context"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

const testToken = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE" // 43 chars, like 32 random bytes base64url

func sampleData(kind Kind) Data {
	d := Data{
		SiteName:  "Marbelle",
		BaseURL:   "http://127.0.0.1:8080",
		FirstName: "<script>alert(1)</script>",
		Email:     "bob@example.com",
		NewEmail:  "bob.new@example.com",
		TTL:       "24 hours",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 <b>test</b>",
	}
	switch kind {
	case KindVerifyEmail:
		d.Link = d.BaseURL + "/verify-email?token=" + testToken
	case KindPasswordReset:
		d.Link, d.TTL = d.BaseURL+"/reset-password?token="+testToken, "1 hour"
	case KindEmailChangeConfirm:
		d.Link = d.BaseURL + "/confirm-email?token=" + testToken
	case KindAccountRestored:
		d.Link, d.TTL = d.BaseURL+"/reset-password?token="+testToken, "1 hour"
	case KindSignInChanged:
		d.Changes = "An authenticator app was added."
	case KindStaffChanged:
		d.Changes, d.Actor = "staff access removed", "alice@example.com"
	}
	return d
}

func hrefs(h string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(h, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func TestComposeEveryKind(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	forgot := "http://127.0.0.1:8080/forgot-password"
	cases := []struct {
		kind       Kind
		link       bool
		forgot     bool
		mentionNew bool
	}{
		{KindVerifyEmail, true, false, false},
		{KindAlreadyRegistered, false, true, false},
		{KindPasswordReset, true, false, false},
		{KindPasswordChanged, false, true, false},
		{KindPasswordResetDone, false, true, false},
		{KindEmailChangeConfirm, true, false, true},
		{KindEmailChanged, false, false, true},
		{KindEmailTaken, false, true, false},
		{KindNewDevice, false, true, false},
		{KindAccountDeleted, false, false, false},
		{KindAccountFrozen, false, false, false},
		{KindAccountRestored, true, false, false},
		{KindStaffChanged, false, false, false},
		{KindSMTPTest, false, false, false},
		{KindSignInChanged, false, true, false},
	}
	if len(cases) != len(kindSpecs()) {
		t.Fatalf("got %d test cases, want one per kind (%d)", len(cases), len(kindSpecs()))
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			d := sampleData(tc.kind)
			m, err := c.Compose(tc.kind, "Marbelle <no-reply@localhost>", "bob@example.com", d)
			if err != nil {
				t.Fatalf("Compose: got %v, want nil", err)
			}
			if m.From != "Marbelle <no-reply@localhost>" || m.To != "bob@example.com" {
				t.Fatalf("addresses: got %q -> %q, want the ones passed in", m.From, m.To)
			}
			if !strings.Contains(m.Subject, "Marbelle") || len(m.Subject) > 70 || strings.ContainsAny(m.Subject, "\r\n") {
				t.Fatalf("Subject: got %q, want a short single line naming the site", m.Subject)
			}
			if tc.link {
				if !hasLine(m.Text, d.Link) {
					t.Fatalf("text: got %q, want the link %q on a line of its own", m.Text, d.Link)
				}
				if !strings.Contains(strings.Join(hrefs(m.HTML), " "), d.Link) {
					t.Fatalf("html: got hrefs %q, want %q", hrefs(m.HTML), d.Link)
				}
			} else if strings.Contains(m.Text, "token=") || strings.Contains(m.HTML, "token=") {
				t.Fatalf("got a token link in a %s mail, want none", tc.kind)
			}
			if tc.forgot {
				if !hasLine(m.Text, forgot) {
					t.Fatalf("text: got %q, want %q on a line of its own", m.Text, forgot)
				}
				if !strings.Contains(strings.Join(hrefs(m.HTML), " "), forgot) {
					t.Fatalf("html: got hrefs %q, want %q", hrefs(m.HTML), forgot)
				}
			}
			if tc.mentionNew && (!strings.Contains(m.Text, d.NewEmail) || !strings.Contains(m.HTML, d.NewEmail)) {
				t.Fatalf("got text %q, want it to name the new address %q", m.Text, d.NewEmail)
			}
			if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
				t.Fatalf("html: got %q, want FirstName escaped", m.HTML)
			}
			if strings.Contains(m.HTML, "<b>test</b>") {
				t.Fatalf("html: got an unescaped user agent in %q", m.HTML)
			}
			if !strings.Contains(m.Text, "<script>alert(1)</script>") {
				t.Fatalf("text: got %q, want FirstName verbatim (plain text needs no escaping)", m.Text)
			}
			if !strings.Contains(m.Text, d.IP) || !strings.Contains(m.HTML, d.IP) {
				t.Fatalf("got text %q, want the request IP %q", m.Text, d.IP)
			}
			for _, bad := range []string{"<no value>", "ZgotmplZ", "\n\n\n"} {
				if strings.Contains(m.Text, bad) || strings.Contains(m.HTML, bad) {
					t.Fatalf("got %q in the output, want none:\n%s\n%s", bad, m.Text, m.HTML)
				}
			}
			for _, res := range []string{"src=", "<link", "<img", "<script src", "url("} {
				if strings.Contains(m.HTML, res) {
					t.Fatalf("html: got %q, want no external resources", res)
				}
			}
			// What Outlook and several webmail clients do not support
			// (checked for real by Mailpit's html-check in e2e).
			for _, bad := range []string{"margin", "border-radius", "display:", "word-break", "<style", "<body style", "<p ", "<div"} {
				if strings.Contains(m.HTML, bad) {
					t.Fatalf("html: got %q, want tables and inline padding only", bad)
				}
			}
			if _, err := m.Bytes(time.Now()); err != nil {
				t.Fatalf("Bytes: got %v, want nil", err)
			}
		})
	}
}

func TestComposeTTL(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Compose(KindPasswordReset, "Marbelle <no-reply@localhost>", "bob@example.com", sampleData(KindPasswordReset))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "valid for 1 hour") || !strings.Contains(m.HTML, "valid for 1 hour") {
		t.Fatalf("got %q, want the TTL text", m.Text)
	}
}

func TestComposeRefusesBadData(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		kind Kind
		edit func(*Data)
	}{
		"unknown kind":      {"nope", func(*Data) {}},
		"no site name":      {KindPasswordChanged, func(d *Data) { d.SiteName = "" }},
		"no link":           {KindVerifyEmail, func(d *Data) { d.Link = "" }},
		"javascript link":   {KindVerifyEmail, func(d *Data) { d.Link = "javascript:alert(1)" }},
		"link with space":   {KindPasswordReset, func(d *Data) { d.Link = "http://x.example/a b" }},
		"no new email":      {KindEmailChangeConfirm, func(d *Data) { d.NewEmail = "" }},
		"no base url":       {KindPasswordChanged, func(d *Data) { d.BaseURL = "" }},
		"relative base url": {KindAlreadyRegistered, func(d *Data) { d.BaseURL = "/shop" }},
	}
	for name, tc := range cases {
		d := sampleData(tc.kind)
		tc.edit(&d)
		if m, err := c.Compose(tc.kind, "Marbelle <no-reply@localhost>", "bob@example.com", d); err == nil {
			t.Fatalf("%s: got %+v, want an error", name, m)
		}
	}
}

func TestComposeKeepsFieldsOnOneLine(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	d := sampleData(KindPasswordChanged)
	d.SiteName = "Marbelle\r\nBcc: eve@example.com"
	d.FirstName = "Bob\n\nClick http://evil.example/"
	m, err := c.Compose(KindPasswordChanged, "Marbelle <no-reply@localhost>", "bob@example.com", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Fatalf("Subject: got %q, want one line", m.Subject)
	}
	if hasLine(m.Text, "Click http://evil.example/") {
		t.Fatalf("text: got %q, want FirstName kept on the greeting line", m.Text)
	}
}

// TestComposeVerifyLinkThroughSink is what the app's end-to-end tests rely
// on: the token link can be grepped from the captured text part.
func TestComposeVerifyLinkThroughSink(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	sink, addr := startSink(t, 10)
	sender := newSender(t, "smtp://"+addr, "", nil)
	m, err := c.Compose(KindVerifyEmail, "Marbelle <no-reply@localhost>", "bob@example.com", sampleData(KindVerifyEmail))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.Bytes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), "no-reply@localhost", []string{m.To}, raw); err != nil {
		t.Fatal(err)
	}
	list := sink.List()
	if len(list) != 1 {
		t.Fatalf("got %d captured, want 1", len(list))
	}
	got := testutil.TokenRE["verify-email"].FindStringSubmatch(list[0].Text)
	if got == nil || got[1] != testToken {
		t.Fatalf("got %v from %q, want token %q", got, list[0].Text, testToken)
	}
	if list[0].Subject != m.Subject || list[0].HTML != m.HTML {
		t.Fatalf("got subject %q, want %q and the same HTML", list[0].Subject, m.Subject)
	}
}

// TestNoticesCarryTheUndoLink: the security notices show the "This wasn't
// me" link in both parts when given one, and nothing when not.
func TestNoticesCarryTheUndoLink(t *testing.T) {
	c, err := NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	undo := "http://127.0.0.1:8080/undo?token=" + testToken
	for _, kind := range []Kind{KindPasswordChanged, KindPasswordResetDone, KindEmailChanged, KindNewDevice} {
		d := sampleData(kind)
		d.UndoLink, d.UndoTTL = undo, "7 days"
		m, err := c.Compose(kind, "Shop <no-reply@example.com>", "bob@example.com", d)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !hasLine(m.Text, undo) || !strings.Contains(m.Text, "7 days") {
			t.Fatalf("%s text lacks the undo link:\n%s", kind, m.Text)
		}
		found := false
		for _, h := range hrefs(m.HTML) {
			found = found || h == undo
		}
		if !found {
			t.Fatalf("%s html lacks the undo link", kind)
		}
		d.UndoLink = ""
		m, _ = c.Compose(kind, "Shop <no-reply@example.com>", "bob@example.com", d)
		if strings.Contains(m.Text, "Wasn't you?") {
			t.Fatalf("%s: undo text without a link", kind)
		}
	}
}
