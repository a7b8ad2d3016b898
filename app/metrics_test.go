package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// scrape reads /metrics through the server's metrics handler and parses it,
// failing the test on any line that is not valid text exposition format.
func scrape(t testing.TB, s *Server) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: got status %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics Content-Type: got %q, want text/plain; version=0.0.4; charset=utf-8", ct)
	}
	return parseExposition(t, rec.Body.String())
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (\S+)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
)

// parseExposition checks the text format (every line a HELP, a TYPE or a
// sample; HELP and TYPE once per family, before its samples; histogram
// buckets cumulative and +Inf equal to _count) and returns each sample as
// `name{labels}` → value, labels exactly as written.
func parseExposition(t testing.TB, body string) map[string]float64 {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("exposition does not end in a newline")
	}
	out := map[string]float64{}
	help, types := map[string]bool{}, map[string]string{}
	lastBucket := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if m := helpRE.FindStringSubmatch(line); m != nil {
			if help[m[1]] {
				t.Fatalf("HELP for %s twice", m[1])
			}
			help[m[1]] = true
			continue
		}
		if m := typeRE.FindStringSubmatch(line); m != nil {
			if types[m[1]] != "" {
				t.Fatalf("TYPE for %s twice", m[1])
			}
			types[m[1]] = m[2]
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %q is not a HELP, TYPE or sample line", line)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Fatalf("line %q: value: %v", line, err)
		}
		family := m[1]
		if types[family] == "" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(family, suffix); ok && types[base] == "histogram" {
					family = base
				}
			}
		}
		if types[family] == "" || !help[family] {
			t.Fatalf("sample %q before the HELP and TYPE of its family", line)
		}
		if strings.HasSuffix(m[1], "_bucket") {
			if v < lastBucket[family] {
				t.Fatalf("bucket %q: %v is below the previous bucket %v: not cumulative", line, v, lastBucket[family])
			}
			lastBucket[family] = v
		}
		key := m[1] + m[2]
		if _, dup := out[key]; dup {
			t.Fatalf("sample %s twice", key)
		}
		out[key] = v
	}
	for family, typ := range types {
		if typ != "histogram" {
			continue
		}
		inf, ok := out[family+`_bucket{le="+Inf"}`]
		if !ok || inf != out[family+"_count"] {
			t.Fatalf("%s: +Inf bucket %v (present %v), want it equal to _count %v", family, inf, ok, out[family+"_count"])
		}
	}
	return out
}

// serveLocal sends one request straight to the public handler, as if from
// 127.0.0.1 to host 127.0.0.1.
func serveLocal(s *Server, method, path string) int {
	req := httptest.NewRequest(method, path, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:5555"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code
}

func TestMetricsCountRequestsByRoutePatternMethodAndStatus(t *testing.T) {
	ts := newTestServer(t, nil)
	// One write through the group committer, for the store's series.
	if err := ts.db.Batch(func(tx *store.Tx) error {
		return tx.CreateUser(&store.User{ID: store.NewID(), Email: "metrics@example.test", DateJoined: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	id := store.NewID().String()
	requests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/healthz", 200},
		{"GET", "/healthz", 200},
		{"GET", "/api/v1/auth/addresses/" + id, 401},
		{"GET", "/api/v1/auth/addresses/not-a-uuid", 401},
		{"PATCH", "/api/v1/auth/addresses/" + id + "/set-primary", 401},
		{"PATCH", "/api/v1/auth/addresses/set-primary/set-primary", 401}, // an id equal to a static segment
		{"DELETE", "/healthz", 405},
		{"PROPFIND", "/healthz", 405},
		{"GET", "/api/v1/no/such/" + id, 404},
		{"GET", "/metrics", 404},
	}
	for _, r := range requests {
		if got := serveLocal(ts.srv, r.method, r.path); got != r.status {
			t.Fatalf("%s %s: got %d, want %d", r.method, r.path, got, r.status)
		}
	}
	// A refused host is counted too (withMetrics is outermost).
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Host = "evil.example"
	ts.srv.Handler().ServeHTTP(httptest.NewRecorder(), req)

	got := scrape(t, ts.srv)
	want := map[string]float64{
		`marbelle_http_requests_total{route="/healthz",method="GET",status="200"}`:                                 3,
		`marbelle_http_requests_total{route="/healthz",method="GET",status="400"}`:                                 1,
		`marbelle_http_requests_total{route="/api/v1/auth/addresses/:id",method="GET",status="401"}`:               2,
		`marbelle_http_requests_total{route="/api/v1/auth/addresses/:id/set-primary",method="PATCH",status="401"}`: 2,
		`marbelle_http_requests_total{route="/healthz",method="DELETE",status="405"}`:                              1,
		`marbelle_http_requests_total{route="/healthz",method="other",status="405"}`:                               1,
		`marbelle_http_requests_total{route="other",method="GET",status="404"}`:                                    2,
		`marbelle_http_request_duration_seconds_count`:                                                             12,
		`marbelle_http_request_duration_seconds_bucket{le="+Inf"}`:                                                 12,
		`marbelle_logins_total{result="ok"}`:                                                                       0,
		`marbelle_sweeper_runs_total`:                                                                              0,
		`marbelle_build_info{version="unknown"}`:                                                                   1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: got %v, want %v", k, got[k], v)
		}
	}
	total := 0.0
	for k, v := range got {
		if strings.HasPrefix(k, "marbelle_http_requests_total{") {
			total += v
		}
	}
	if total != 12 {
		t.Fatalf("sum of marbelle_http_requests_total: got %v, want 12 (no other series)", total)
	}
	if got["marbelle_store_size_bytes"] != float64(ts.db.Size()) || ts.db.Size() == 0 {
		t.Fatalf("marbelle_store_size_bytes: got %v, want %d", got["marbelle_store_size_bytes"], ts.db.Size())
	}
	// The store's write activity is the store's own count.
	st := ts.db.WriteStats()
	if st.GroupCommits == 0 {
		t.Fatal("no group commit counted for the test's user")
	}
	for name, want := range map[string]uint64{
		"marbelle_store_group_commits_total":  st.GroupCommits,
		"marbelle_store_grouped_writes_total": st.GroupedWrites,
		"marbelle_store_pages_written_total":  st.PagesWritten,
	} {
		if got[name] != float64(want) {
			t.Fatalf("%s: got %v, want %d", name, got[name], want)
		}
	}
	for _, name := range []string{"marbelle_store_group_commit_seconds_total", "marbelle_store_free_pages", "marbelle_store_freelist_bytes"} {
		if _, ok := got[name]; !ok {
			t.Fatalf("%s missing", name)
		}
	}
	for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"} {
		if _, ok := got[`marbelle_http_request_duration_seconds_bucket{le="`+le+`"}`]; !ok {
			t.Fatalf("histogram bucket le=%s missing", le)
		}
	}
}

func TestRouteLabelIsTheRoutePatternOrOther(t *testing.T) {
	ts := newTestServer(t, nil)
	router := ts.srv.routes()
	id := store.NewID().String()
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/healthz", "/healthz"},
		{"POST", "/api/v1/auth/login", "/api/v1/auth/login"},
		{"GET", "/api/v1/auth/login", "/api/v1/auth/login"}, // 405: still its route
		{"DELETE", "/api/v1/auth/sessions/" + id, "/api/v1/auth/sessions/:id"},
		{"PUT", "/api/v1/auth/addresses/" + id, "/api/v1/auth/addresses/:id"},
		{"PATCH", "/api/v1/auth/addresses/addresses/set-primary", "/api/v1/auth/addresses/:id/set-primary"},
		{"GET", "/api/v1/dev/mail/12345", "/api/v1/dev/mail/:id"},
		{"GET", "/", "other"},
		{"GET", "/account/" + id, "other"},
		{"GET", "/healthz/", "other"}, // redirected, not a route
		{"GET", "/api/v1/auth/addresses/" + id + "/x", "other"},
	} {
		if got := routeLabel(router, tc.method, tc.path); got != tc.want {
			t.Fatalf("routeLabel(%s %s): got %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestMetricsCountLoginsAndMailAfterCommit(t *testing.T) {
	const email = "metrics@example.test"
	ts := newServerWithUser(t, email)

	before := scrape(t, ts.srv)
	ts.login(email, testPassword)
	ts.login(email, testPassword)
	anon := ts.client()
	anon.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong password 1234"}).want(t, 401, CodeUnauthenticated)
	anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.test", "password": "wrong password 1234"}).want(t, 401, CodeUnauthenticated)
	after := scrape(t, ts.srv)
	for _, tc := range []struct {
		key  string
		want float64
	}{
		{`marbelle_logins_total{result="ok"}`, 2},
		{`marbelle_logins_total{result="failed"}`, 2},
	} {
		if d := after[tc.key] - before[tc.key]; d != tc.want {
			t.Fatalf("%s rose by %v, want %v", tc.key, d, tc.want)
		}
	}
	// A registration queues exactly one mail, the verification link.
	anon.do("POST", "/api/v1/auth/register", registerBody("second@example.test", testPassword)).want(t, 201, "")
	queued := scrape(t, ts.srv)[`marbelle_mail_total{status="queued"}`]
	if d := queued - after[`marbelle_mail_total{status="queued"}`]; d != 1 {
		t.Fatalf("marbelle_mail_total{status=\"queued\"} rose by %v for a registration, want 1", d)
	}

	// Everything queued gets sent by the delivery loop; sent catches up.
	ts.waitMail("second@example.test", 1)
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, ts.srv)[`marbelle_mail_total{status="sent"}`] != queued {
		if time.Now().After(deadline) {
			t.Fatalf("sent: got %v, want %v (all queued mail)", scrape(t, ts.srv)[`marbelle_mail_total{status="sent"}`], queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(ts.sink.List()); float64(n) != queued {
		t.Fatalf("mails in the sink: got %d, want %v (queued)", n, queued)
	}
}

func TestMetricsCountRetriedAndFailedOnlyWhenRecorded(t *testing.T) {
	ts := newTestServer(t, nil)
	m := &store.Mail{ID: store.NewID(), Kind: "k", To: "x@example.test", CreatedAt: ts.clock.Now(), NextAttemptAt: ts.clock.Now().Add(time.Hour)}
	if err := ts.db.Update(func(tx *store.Tx) error { return tx.QueueMail(m) }); err != nil {
		t.Fatalf("QueueMail: %v", err)
	}
	q := ts.srv.MailQueue()
	if err := q.Retry(m.ID.String(), 1, "421 busy", ts.clock.Now().Add(2*time.Hour)); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if err := q.Failed(m.ID.String(), 2, "550 no"); err != nil {
		t.Fatalf("Failed: %v", err)
	}
	if err := q.Retry(store.NewID().String(), 1, "x", ts.clock.Now()); err == nil {
		t.Fatalf("Retry of an unknown mail: got nil, want an error")
	}
	if err := q.Sent("not-an-id", ts.clock.Now()); err == nil {
		t.Fatalf("Sent with a bad id: got nil, want an error")
	}
	got := scrape(t, ts.srv)
	for key, want := range map[string]float64{
		`marbelle_mail_total{status="retried"}`: 1,
		`marbelle_mail_total{status="failed"}`:  1,
		`marbelle_mail_total{status="sent"}`:    0,
		`marbelle_mail_total{status="queued"}`:  0, // queued outside a flow: not counted
	} {
		if got[key] != want {
			t.Fatalf("%s: got %v, want %v", key, got[key], want)
		}
	}
}

func TestMetricsHandlerServesOnlyGetMetrics(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/metrics", 200},
		{"HEAD", "/metrics", 200},
		{"POST", "/metrics", 405},
		{"GET", "/", 404},
		{"GET", "/healthz", 404},
		{"GET", "/api/v1/auth/profile", 404},
	} {
		rec := httptest.NewRecorder()
		ts.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Fatalf("metrics handler %s %s: got %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
	// And the public handler answers /metrics like any unknown path.
	ts.client().do("GET", "/metrics", nil).want(t, 404, CodeNotFound)
}

func TestSweeperPrunesCountsAndLogsCountsOnly(t *testing.T) {
	ts := newTestServer(t, nil)
	now := ts.clock.Now()
	u := &store.User{ID: store.NewID(), Email: "sweep@example.test", Active: true, DateJoined: now, UpdatedAt: now}
	const secret = "session-secret-not-to-be-logged"
	err := ts.db.Update(func(tx *store.Tx) error {
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		for i := range 3 {
			exp := now.Add(-store.DefaultTokenGrace - time.Duration(i+1)*time.Hour)
			if err := tx.IssueToken(fmt.Sprintf("tok-%d", i), &store.Token{Kind: store.TokenKind(1 + i), UserID: u.ID, CreatedAt: exp.Add(-time.Hour), ExpiresAt: exp}); err != nil {
				return err
			}
		}
		return tx.CreateSession(secret, &store.Session{ID: store.NewID(), UserID: u.ID, ExpiresAt: now.Add(-time.Minute), IdleUntil: now.Add(-time.Minute)})
	})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	res := ts.srv.sweep(context.Background())
	if res.Tokens != 3 || res.Sessions != 1 || res.Mails != 0 {
		t.Fatalf("sweep: got %+v, want 3 tokens, 1 session, 0 mails", res)
	}
	ts.srv.sweep(context.Background()) // nothing left: still a run
	got := scrape(t, ts.srv)
	for key, want := range map[string]float64{
		`marbelle_sweeper_runs_total`:                    2,
		`marbelle_sweeper_pruned_total{kind="tokens"}`:   3,
		`marbelle_sweeper_pruned_total{kind="sessions"}`: 1,
		`marbelle_sweeper_pruned_total{kind="mail"}`:     0,
	} {
		if got[key] != want {
			t.Fatalf("%s: got %v, want %v", key, got[key], want)
		}
	}
	logs := ts.logBuf.String()
	if !strings.Contains(logs, `"msg":"sweep","tokens":3,"sessions":1,"mail":0`) {
		t.Fatalf("log: want a sweep line with the counts, got:\n%s", logs)
	}
	if strings.Contains(logs, secret) || strings.Contains(logs, u.ID.String()) || strings.Contains(logs, u.Email) {
		t.Fatalf("sweep log names a secret, user id or email:\n%s", logs)
	}
}

func TestRunSweeperSweepsAtOnceAndReturnsWhenCancelled(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.srv.runSweeper(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.metrics.sweeperRuns.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no sweep after start, want one at once")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("runSweeper still running after its context was cancelled")
	}
}

// TestServeRunsTheMetricsListenerAndStopsIt: the metrics are on their own
// listener, never on the public one, and Serve closes both on shutdown.
func TestServeRunsTheMetricsListenerAndStopsIt(t *testing.T) {
	cfg := testConfig(t)
	cfg.Addr = "127.0.0.1:0"
	cfg.DevSMTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var base, metricsURL string
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, ServeOptions{
			Version:      "v9.9.9-test",
			MetricsReady: func(u string) { mu.Lock(); metricsURL = u; mu.Unlock() },
			Ready:        func(u string) { mu.Lock(); base = u; mu.Unlock(); close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatalf("Serve not ready")
	}
	mu.Lock()
	defer mu.Unlock()
	if metricsURL == "" {
		t.Fatalf("MetricsReady not called before Ready")
	}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Fatalf("GET /healthz: got %d, want 200", code)
	}
	if code, _ := get(base + "/metrics"); code != 404 {
		t.Fatalf("public GET /metrics: got %d, want 404", code)
	}
	code, body := get(metricsURL)
	if code != 200 || !strings.Contains(body, `marbelle_build_info{version="v9.9.9-test"} 1`) || !strings.Contains(body, `marbelle_http_requests_total{route="/healthz",method="GET",status="200"} 1`) {
		t.Fatalf("GET %s: got %d\n%s\nwant 200 with build info and the /healthz request", metricsURL, code, body)
	}
	parseExposition(t, body)

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after cancel: got %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Serve did not return after cancel")
	}
	host := strings.TrimPrefix(strings.TrimSuffix(metricsURL, "/metrics"), "http://")
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Fatalf("metrics listener %s still accepts after Serve returned", host)
	}
	// The store was closed: it opens again at once.
	db, err := OpenStore(cfg.DataDir, false)
	if err != nil {
		t.Fatalf("reopen store after Serve: got %v, want nil", err)
	}
	db.Close()
}
