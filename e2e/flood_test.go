package e2e

// Floods against the real binary (issue 14, items 7 and 8): a signed-in
// client that repeats writes cannot grow the store without end, and
// anyone naming one address cannot flood its inbox from the shop's domain.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

// floodClient sends JSON requests to a child, from a client IP of its
// choice (the child trusts X-Forwarded-For from loopback), with a session
// cookie jar.
type floodClient struct {
	http *http.Client
	base string
	ip   string
}

func newFloodClient(base, ip string) *floodClient {
	jar, _ := cookiejar.New(nil)
	return &floodClient{http: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: base, ip: ip}
}

func (c *floodClient) do(t *testing.T, method, path string, body any) (int, json.RawMessage) {
	t.Helper()
	res := testutil.SendJSON(t, c.http, method, c.base+path, body, http.Header{"X-Forwarded-For": {c.ip}})
	defer res.Body.Close()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	json.NewDecoder(res.Body).Decode(&env)
	return res.StatusCode, env.Data
}

func TestIssue14Item7And8FloodsAgainstTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	bin := buildBinary(t, "")
	dir := t.TempDir()
	// The shipped defaults but for the per-IP and per-account limits, which
	// the flood steps around by changing its IP (X-Forwarded-For from a
	// trusted loopback proxy), as a botnet would.
	c := startChild(t, bin, dir, map[string]string{
		"MARBELLE_RATE_LIMITS":     "login=1000/1m,register=1000/1m,token=1000/1m,login_failures=1000/1m",
		"MARBELLE_TRUSTED_PROXIES": "127.0.0.1/32",
	})
	c.waitReady(10 * time.Second)
	ip := 0
	next := func() *floodClient { ip++; return newFloodClient(c.URL, fmt.Sprintf("198.51.100.%d", ip%250+1)) }

	// Item 8: one address named by many clients gets at most five mails an
	// hour, and every answer is the same 200.
	const victim = "inbox@example.test"
	for i := range 40 {
		path, body := "/api/v1/auth/password-reset/request", any(map[string]string{"email": victim})
		switch i % 3 {
		case 1:
			path, body = "/api/v1/auth/resend-verification", map[string]string{"email": victim}
		case 2:
			path, body = "/api/v1/auth/register", registerJSON(victim, crashPassword)
		}
		if st, _ := next().do(t, "POST", path, body); st != 200 && st != 201 {
			t.Fatalf("flood request %d (%s): status %d, want the usual answer", i, path, st)
		}
	}
	// Every request naming the address takes from its budget, mail or not
	// (so the cap tells nothing about the account): here the first two
	// named an address without an account.
	testutil.WaitDevMails(t, nil, c.URL, victim, 3, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // any mail over the cap would be queued by now
	if got := testutil.DevMails(t, nil, c.URL, victim); len(got) != 3 {
		t.Fatalf("mails to one address after 40 requests: %d, want 3 (5 requests allowed, 2 of them before it had an account)", len(got))
	}

	// Item 7: a verified user's empty PATCHes write nothing; real writes
	// stop at the per-user limit (120 a minute by default).
	const user = "writer@example.test"
	if st, _ := next().do(t, "POST", "/api/v1/auth/register", registerJSON(user, crashPassword)); st != 201 {
		t.Fatalf("register: %d", st)
	}
	tok := testutil.WaitDevTokens(t, nil, c.URL, user, "verify-email", 1, 10*time.Second)[0]
	if st, _ := next().do(t, "POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	s := next()
	if st, _ := s.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": user, "password": crashPassword}); st != 200 {
		t.Fatalf("login: %d", st)
	}
	storePath := filepath.Join(dir, "marbelle.db")
	size := func() int64 {
		fi, err := os.Stat(storePath)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	_, before := s.do(t, "GET", "/api/v1/auth/security/activity", nil)
	sizeBefore := size()
	for range 100 {
		if st, _ := s.do(t, "PATCH", "/api/v1/auth/profile", map[string]any{}); st != 200 {
			t.Fatalf("empty PATCH: %d", st)
		}
	}
	_, after := s.do(t, "GET", "/api/v1/auth/security/activity", nil)
	if string(before) != string(after) || size() != sizeBefore {
		t.Fatalf("100 empty PATCHes changed the audit or the store (%d -> %d bytes)", sizeBefore, size())
	}
	limited := 0
	for i := range 150 {
		st, _ := s.do(t, "PATCH", "/api/v1/auth/profile", map[string]any{"first_name": fmt.Sprint("Name ", i)})
		switch st {
		case 200:
		case 429:
			limited++
		default:
			t.Fatalf("PATCH %d: %d", i, st)
		}
	}
	// The 100 empty PATCHes took their share of the budget too.
	if limited < 100 {
		t.Fatalf("writes refused by the per-user limit: %d of 150 after 100 empty ones, want at least 100", limited)
	}
}
