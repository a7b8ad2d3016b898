package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// testServer is the real handler on a loopback port, with a real store
// file, the real dev SMTP sink and the real delivery loop.
type testServer struct {
	t      testing.TB
	srv    *Server
	http   *httptest.Server
	db     *store.DB
	sink   *mail.Sink
	clock  *testutil.Clock // tests move it
	URL    string
	logBuf *testutil.SyncBuffer
}

// testConfig is a development config with cheap hashing and no rate limits.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := parseConfig(map[string]string{
		"MARBELLE_DATA_DIR":      t.TempDir(),
		"MARBELLE_SECRET_KEY":    "test-secret-key-0123456789-abcdefghijklmnop",
		"MARBELLE_RATE_LIMITS":   "off",
		"MARBELLE_PASSWORD_HASH": "m=256,t=1,p=1",
	})
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// newTestServer starts a server; change adjusts the config first.
func newTestServer(t testing.TB, change func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	if change != nil {
		change(&cfg)
	}
	return startTestServer(t, cfg, nil)
}

// startTestServer starts a server on cfg as it is, for configs the harness
// cannot make from the test config (production: no mail sink; an https
// base URL), optionally with a web UI. Development configs get the mail
// sink and a fast delivery loop.
func startTestServer(t testing.TB, cfg Config, uiHandler http.Handler) *testServer {
	t.Helper()
	logBuf := &testutil.SyncBuffer{}
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelInfo // as in production: per-request lines are debug
	}
	log := slog.New(slog.NewJSONHandler(logBuf, &slog.HandlerOptions{Level: level}))
	db, err := OpenStore(cfg.DataDir, false)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	clock := testutil.NewClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	hs := httptest.NewUnstartedServer(nil)
	base := "http://" + hs.Listener.Addr().String()
	opts := Options{Now: clock.Now, BaseURL: base, HashWait: 10 * time.Second, UI: uiHandler}
	var sink *mail.Sink
	var sinkLn net.Listener
	if !cfg.Production() {
		if sinkLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("sink listen: %v", err)
		}
		sink = mail.NewSink(1000, log)
		go sink.Serve(sinkLn)
		opts.Sink = sink
	}
	srv, err := New(cfg, db, log, opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	stop := func() {}
	if sink != nil {
		sender, err := mail.NewSMTPSender("smtp://"+sinkLn.Addr().String(), "localhost", nil)
		if err != nil {
			t.Fatalf("sender: %v", err)
		}
		d := mail.NewDeliverer(srv.MailQueue(), sender, log, mail.DeliveryOptions{Now: clock.Now, Interval: 50 * time.Millisecond, BaseBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		srv.SetMailWaker(d.Notify)
		srv.SetMailSender(sender)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		stop = func() { cancel(); <-done; sink.Close() }
	}
	ts := &testServer{t: t, srv: srv, http: hs, db: db, sink: sink, clock: clock, URL: base, logBuf: logBuf}
	t.Cleanup(func() {
		hs.Close()
		stop()
		db.Close()
	})
	return ts
}

// testClient is one browser-like or curl-like caller with its own cookie jar.
type testClient struct {
	ts     *testServer
	http   *http.Client
	header http.Header
}

func (ts *testServer) client() *testClient {
	jar, _ := cookiejar.New(nil)
	return &testClient{ts: ts, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, header: http.Header{}}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	Env    struct {
		Success bool                `json:"success"`
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Data    json.RawMessage     `json:"data"`
		Errors  map[string][]string `json:"errors"`
	}
}

// do sends body (marshalled to JSON unless it is a string or nil).
func (c *testClient) do(method, path string, body any) *response {
	c.ts.t.Helper()
	return c.send(c.ts.t, method, path, body)
}

// send is do with options that adjust the request before it goes.
func (c *testClient) send(t testing.TB, method, path string, body any, opts ...func(*http.Request)) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.ts.URL+path, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for _, o := range opts {
		o(req)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	c.ts.waitTouches()
	r := &response{Status: res.StatusCode, Header: res.Header}
	r.Body, _ = io.ReadAll(res.Body)
	c.ts.record(t, req, res, r.Body) // TestMain holds it to docs/openapi.yaml
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.Body, &r.Env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, r.Body)
		}
	}
	return r
}

// want fails unless the answer has status and (for failures) code.
func (r *response) want(t testing.TB, status int, code string) *response {
	t.Helper()
	if r.Status != status || r.Env.Code != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.Env.Code, status, code, r.Body)
	}
	return r
}

func (r *response) data(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		t.Fatalf("data: %v: %s", err, r.Body)
	}
}

const testPassword = "tangerine walrus umbrella 42"

func registerBody(email, password string) map[string]string {
	return map[string]string{"email": email, "password": password, "first_name": "Ann", "last_name": "Lee"}
}

// mailsTo returns the captured mails to addr, newest first.
func (ts *testServer) mailsTo(addr string) []mail.Captured {
	var out []mail.Captured
	for _, m := range ts.sink.List() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

// waitMail waits until addr has at least n mails and returns them, newest first.
func (ts *testServer) waitMail(addr string, n int) []mail.Captured {
	ts.t.Helper()
	var got []mail.Captured
	testutil.WaitFor(ts.t, 10*time.Second, func() error {
		if got = ts.mailsTo(addr); len(got) < n {
			return fmt.Errorf("got %d mails to %s, want %d", len(got), addr, n)
		}
		return nil
	})
	return got
}

// waitToken waits for the n-th mail to addr and returns the token of kind in the newest one.
func (ts *testServer) waitToken(addr, kind string, n int) string {
	ts.t.Helper()
	m := ts.waitMail(addr, n)[0]
	match := testutil.TokenRE[kind].FindStringSubmatch(m.Text)
	if match == nil {
		ts.t.Fatalf("newest mail to %s (%q) has no %s link: %s", addr, m.Subject, kind, m.Text)
	}
	return match[1]
}

// registered registers email with testPassword through the API, leaving
// it unverified, and returns the verification token mailed to it.
func (ts *testServer) registered(email string) string {
	ts.t.Helper()
	ts.client().do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).want(ts.t, 201, "")
	return ts.waitToken(email, "verify-email", 1)
}

// mustUser registers and verifies an account.
func (ts *testServer) mustUser(email, password string) {
	ts.t.Helper()
	c := ts.client()
	before := len(ts.mailsTo(email))
	c.do("POST", "/api/v1/auth/register", registerBody(email, password)).want(ts.t, 201, "")
	tok := ts.waitToken(email, "verify-email", before+1)
	c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": tok}).want(ts.t, 200, "")
}

// newServerWithUser starts a test server holding one registered and
// verified account, email with testPassword: the opening of most tests.
func newServerWithUser(t testing.TB, email string) *testServer {
	t.Helper()
	ts := newTestServer(t, nil)
	ts.mustUser(email, testPassword)
	return ts
}

// login returns a client holding a session.
func (ts *testServer) login(email, password string) *testClient {
	ts.t.Helper()
	c := ts.client()
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}).want(ts.t, 200, "")
	return c
}

func mustURL(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func mailData(to string) mail.Data {
	return mail.Data{FirstName: "Test", Email: to, NewEmail: to, TTL: "1 hour"}
}

// onlyUndoToken reports whether every token link in a notice is its
// "This wasn't me" link: a notice never carries a link that verifies,
// resets or confirms anything.
func onlyUndoToken(text string) bool {
	for _, re := range testutil.TokenRE {
		if re.MatchString(text) {
			return false
		}
	}
	return strings.Count(text, "token=") == strings.Count(text, "/undo?token=")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// waitTouches waits for the background session touches a request started,
// so that tests which move the clock see them committed.
func (ts *testServer) waitTouches() {
	if ts.srv == nil {
		return
	}
	for i := 0; len(ts.srv.touchSlots) > 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
}
