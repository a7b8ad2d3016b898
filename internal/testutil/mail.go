package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// TokenRE finds, by kind, the link of a mail that verifies, resets or
// confirms something, and its token (43 characters of base64url, 256 bits)
// as the first submatch.
var TokenRE = map[string]*regexp.Regexp{
	"verify-email":         regexp.MustCompile(`/verify-email\?token=([A-Za-z0-9_-]{43})`),
	"reset-password":       regexp.MustCompile(`/reset-password\?token=([A-Za-z0-9_-]{43})`),
	"confirm-email-change": regexp.MustCompile(`/confirm-email-change\?token=([A-Za-z0-9_-]{43})`),
}

// UndoRE finds the "This wasn't me" link of a security notice and its
// token. It is not in TokenRE: the undo link opens no flow of its own.
var UndoRE = regexp.MustCompile(`/undo\?token=([A-Za-z0-9_-]{43})`)

// ServingRE finds the base URL in the line `marbelle serve` prints on
// stdout once it listens.
var ServingRE = regexp.MustCompile(`serving on (http://\S+)`)

// DevMail is one mail of a development server's SMTP sink, as
// GET /api/v1/dev/mail lists it.
type DevMail struct {
	ID      string   `json:"id"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
}

// DevMails returns, newest first, the mails that the sink of the
// development server at base holds for addr alone (To is exactly addr), or
// every mail when addr is "". c sends the request (nil: a plain client).
// The test fails unless the server answers 200 with a success envelope.
func DevMails(tb testing.TB, c *http.Client, base, addr string) []DevMail {
	tb.Helper()
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := c.Get(base + "/api/v1/dev/mail")
	if err != nil {
		tb.Fatalf("GET /api/v1/dev/mail: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("GET /api/v1/dev/mail: %v", err)
	}
	var env struct {
		Success bool      `json:"success"`
		Data    []DevMail `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || res.StatusCode != 200 || !env.Success {
		tb.Fatalf("GET /api/v1/dev/mail: got %d (%v): %s, want 200 and a list", res.StatusCode, err, body)
	}
	if addr == "" {
		return env.Data
	}
	var out []DevMail
	for _, m := range env.Data {
		if len(m.To) == 1 && m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

// WaitDevMails waits (within at most) until the sink of the development
// server at base holds n mails to addr, and returns them, newest first.
func WaitDevMails(tb testing.TB, c *http.Client, base, addr string, n int, within time.Duration) []DevMail {
	tb.Helper()
	var got []DevMail
	WaitFor(tb, within, func() error {
		if got = DevMails(tb, c, base, addr); len(got) < n {
			return fmt.Errorf("got %d mails to %s, want %d", len(got), addr, n)
		}
		return nil
	})
	return got
}

// DevTokens returns the tokens of kind (a key of TokenRE) in the mails to
// addr that the sink of the development server at base holds, newest first.
func DevTokens(tb testing.TB, c *http.Client, base, addr, kind string) []string {
	tb.Helper()
	re := TokenRE[kind]
	if re == nil {
		tb.Fatalf("no token kind %q", kind)
	}
	var out []string
	for _, m := range DevMails(tb, c, base, addr) {
		if match := re.FindStringSubmatch(m.Text); match != nil {
			out = append(out, match[1])
		}
	}
	return out
}

// WaitDevTokens waits (within at most) until the sink of the development
// server at base holds n mails to addr with a link of kind, and returns
// their tokens, newest first.
func WaitDevTokens(tb testing.TB, c *http.Client, base, addr, kind string, n int, within time.Duration) []string {
	tb.Helper()
	var toks []string
	WaitFor(tb, within, func() error {
		if toks = DevTokens(tb, c, base, addr, kind); len(toks) < n {
			return fmt.Errorf("got %d mails to %s with a %s link, want %d", len(toks), addr, kind, n)
		}
		return nil
	})
	return toks
}
