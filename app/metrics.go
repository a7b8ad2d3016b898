package app

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// metrics are the server's counters, served in the Prometheus text format
// (0.0.4) on the private metrics listener only. Every label takes a bounded
// set of values: routes are the router's patterns or "other".
type metrics struct {
	version string

	mu       sync.Mutex
	requests map[requestLabels]uint64
	buckets  []float64 // upper bounds in seconds, ascending; +Inf is implicit
	counts   []uint64  // per bucket, not cumulative; the last is +Inf
	durSum   float64
	durCount uint64

	loginsOK, loginsFailed                        atomic.Uint64
	mailQueued, mailSent, mailRetried, mailFailed atomic.Uint64
	sweeperRuns                                   atomic.Uint64
	prunedTokens, prunedSessions, prunedMail      atomic.Uint64
	prunedAudit                                   atomic.Uint64
	// webhooks (#17)
	webhooksQueued, webhooksDelivered, webhooksRetried, webhooksFailed atomic.Uint64
	prunedDeliveries                                                   atomic.Uint64
}

type requestLabels struct {
	route, method string
	status        int
}

func newMetrics(version string) *metrics {
	b := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	return &metrics{version: version, requests: map[requestLabels]uint64{}, buckets: b, counts: make([]uint64, len(b)+1)}
}

func (m *metrics) observeRequest(l requestLabels, d time.Duration) {
	sec := d.Seconds()
	i, _ := slices.BinarySearch(m.buckets, sec) // first bound ≥ sec: le is inclusive
	m.mu.Lock()
	m.requests[l]++
	m.counts[i]++
	m.durSum += sec
	m.durCount++
	m.mu.Unlock()
}

// countEvents counts the committed audit events that are logins.
func (m *metrics) countEvents(events []store.Event) {
	for _, e := range events {
		switch e.Event {
		case "login":
			m.loginsOK.Add(1)
		case "login_failed":
			m.loginsFailed.Add(1)
		}
	}
}

func (m *metrics) countSweep(r store.SweepResult) {
	m.sweeperRuns.Add(1)
	m.prunedTokens.Add(uint64(r.Tokens))     // #nosec G115 -- a count, never negative
	m.prunedSessions.Add(uint64(r.Sessions)) // #nosec G115 -- a count, never negative
	m.prunedMail.Add(uint64(r.Mails))        // #nosec G115 -- a count, never negative
	m.prunedAudit.Add(uint64(r.Audit))       // #nosec G115 -- a count, never negative
}

// methodLabel is the method, or "other" for one the server never routes.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// withMetrics counts every request by route, method and status and times
// it. It sits outside every other middleware, so refusals (host, origin,
// panics turned into 500) are counted too.
func (s *Server) withMetrics(router *httprouter.Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		mw := &metricsWriter{statusWriter: statusWriter{ResponseWriter: w}}
		next.ServeHTTP(mw, r)
		l := requestLabels{route: mw.route, method: methodLabel(r.Method), status: mw.status}
		if l.route == "" {
			// No route ran: refused before routing, 404 or 405. These
			// look the pattern up (a 405 still names its route).
			l.route = routeLabel(router, r.Method, r.URL.Path)
		}
		if l.status == 0 {
			l.status = http.StatusOK
		}
		s.metrics.observeRequest(l, time.Since(start))
	})
}

// metricsWriter carries the matched route's pattern back to withMetrics;
// routes.go sets it when the route runs (setRouteLabel).
type metricsWriter struct {
	statusWriter
	route string
}

func (w *metricsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setRouteLabel gives the request's metricsWriter (under w's wrappers) the
// pattern of the route that serves it.
func setRouteLabel(w http.ResponseWriter, pattern string) {
	for {
		switch x := w.(type) {
		case *metricsWriter:
			x.route = pattern
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// routeLabel is the route pattern path matches (under method, else under
// any method: a 405 still names its route), with each parameter segment
// written ":name" (so ids become ":id"); "other" when no route matches.
func routeLabel(router *httprouter.Router, method, path string) string {
	h, ps, _ := router.Lookup(method, path)
	for _, m := range [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if h != nil {
			break
		}
		method = m
		h, ps, _ = router.Lookup(m, path)
	}
	if h == nil {
		return "other"
	}
	if len(ps) == 0 {
		return path
	}
	segs := strings.Split(path, "/")
	out := slices.Clone(segs)
	for i, seg := range segs {
		for _, p := range ps {
			if p.Value == seg && isParamSegment(router, method, segs, i, p.Key) {
				out[i] = ":" + p.Key
				break
			}
		}
	}
	return strings.Join(out, "/")
}

// isParamSegment reports whether segment i of a matched path is the
// parameter key (and not a static segment that happens to be equal): with
// that segment changed, the route must still match and the parameter change.
func isParamSegment(router *httprouter.Router, method string, segs []string, i int, key string) bool {
	const probe = "\x00probe"
	changed := slices.Clone(segs)
	changed[i] = probe
	h, ps, _ := router.Lookup(method, strings.Join(changed, "/"))
	return h != nil && ps.ByName(key) == probe
}

// MetricsHandler serves GET /metrics and the pprof profiles. Mount it on the
// private metrics listener only, never on the public handler.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		bw := bufio.NewWriter(w)
		s.metrics.write(bw, s.db.Size(), s.db.WriteStats())
		s.writeWebhookQueue(promWriter{bw})
		bw.Flush()
	})
	// Profiles, on the private listener only: they show where time and
	// memory go without exposing anything on the public address.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// write renders every metric in the text exposition format, sorted so that
// scrapes are stable.
func (m *metrics) write(bw *bufio.Writer, storeBytes int64, st store.WriteStats) {
	w := promWriter{bw}
	rows, counts, sum, count := m.httpSnapshot()
	writeRequests(w, rows)
	m.writeDurations(w, counts, sum, count)
	m.writeEvents(w)
	writeStore(w, storeBytes, st)
	m.writeBuildInfo(w)
}

// promWriter writes metric families in the text exposition format.
type promWriter struct{ *bufio.Writer }

func (w promWriter) head(name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (w promWriter) sample(name, labels string, v uint64) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s%s %d\n", name, labels, v)
}

// labeled is one sample of a family told apart by one label's value.
type labeled struct {
	value string
	n     uint64
}

// counters writes a counter family whose samples differ by label.
func (w promWriter) counters(name, help, label string, samples ...labeled) {
	w.head(name, "counter", help)
	for _, s := range samples {
		w.sample(name, label+`="`+s.value+`"`, s.n)
	}
}

// requestCount is one series of marbelle_http_requests_total.
type requestCount struct {
	l requestLabels
	n uint64
}

// httpSnapshot copies the request counters and the duration histogram in
// one hold of the lock, so that a scrape shows them at one moment; the
// series come sorted by route, method and status.
func (m *metrics) httpSnapshot() (rows []requestCount, counts []uint64, sum float64, count uint64) {
	m.mu.Lock()
	rows = make([]requestCount, 0, len(m.requests))
	for l, n := range m.requests {
		rows = append(rows, requestCount{l, n})
	}
	counts = slices.Clone(m.counts)
	sum, count = m.durSum, m.durCount
	m.mu.Unlock()
	slices.SortFunc(rows, func(a, b requestCount) int {
		return cmp.Or(strings.Compare(a.l.route, b.l.route), strings.Compare(a.l.method, b.l.method), cmp.Compare(a.l.status, b.l.status))
	})
	return rows, counts, sum, count
}

func writeRequests(w promWriter, rows []requestCount) {
	const req = "marbelle_http_requests_total"
	w.head(req, "counter", "HTTP requests answered, by route pattern (other: no route), method and status.")
	for _, r := range rows {
		w.sample(req, fmt.Sprintf(`route="%s",method="%s",status="%d"`, labelValue(r.l.route), labelValue(r.l.method), r.l.status), r.n)
	}
}

// writeDurations writes the histogram; counts are per bucket, and the
// format wants them cumulative.
func (m *metrics) writeDurations(w promWriter, counts []uint64, sum float64, count uint64) {
	const dur = "marbelle_http_request_duration_seconds"
	w.head(dur, "histogram", "Time to answer HTTP requests.")
	var cum uint64
	for i, le := range m.buckets {
		cum += counts[i]
		w.sample(dur+"_bucket", `le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"`, cum)
	}
	w.sample(dur+"_bucket", `le="+Inf"`, cum+counts[len(m.buckets)])
	fmt.Fprintf(w, "%s_sum %s\n", dur, formatFloat(sum))
	w.sample(dur+"_count", "", count)
}

// writeEvents writes the counters of logins, mail and the sweeper.
func (m *metrics) writeEvents(w promWriter) {
	w.counters("marbelle_logins_total", "Password logins, committed, by result.", "result",
		labeled{"failed", m.loginsFailed.Load()}, labeled{"ok", m.loginsOK.Load()})

	w.counters("marbelle_mail_total", "Outbox mail by event: queued (committed), sent, retried (a failed attempt to be retried), failed (given up).", "status",
		labeled{"failed", m.mailFailed.Load()}, labeled{"queued", m.mailQueued.Load()},
		labeled{"retried", m.mailRetried.Load()}, labeled{"sent", m.mailSent.Load()})

	const runs = "marbelle_sweeper_runs_total"
	w.head(runs, "counter", "Sweeps of expired tokens, ended sessions and old sent mail.")
	w.sample(runs, "", m.sweeperRuns.Load())

	w.counters("marbelle_sweeper_pruned_total", "Records removed by the sweeper, by kind.", "kind",
		labeled{"audit", m.prunedAudit.Load()}, labeled{"mail", m.prunedMail.Load()}, labeled{"sessions", m.prunedSessions.Load()},
		labeled{"tokens", m.prunedTokens.Load()}, labeled{"webhook_deliveries", m.prunedDeliveries.Load()})

	w.counters("marbelle_webhook_deliveries_total", "Webhook deliveries by outcome: queued (committed), delivered, retried (a failed attempt to be retried), failed (given up).", "outcome",
		labeled{"delivered", m.webhooksDelivered.Load()}, labeled{"failed", m.webhooksFailed.Load()},
		labeled{"queued", m.webhooksQueued.Load()}, labeled{"retried", m.webhooksRetried.Load()})
}

// writeStore writes the store's size and the group committer's statistics.
func writeStore(w promWriter, storeBytes int64, st store.WriteStats) {
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, g := range []struct{ name, typ, help, value string }{
		{"marbelle_store_size_bytes", "gauge", "Size of the store file in bytes.", strconv.FormatInt(storeBytes, 10)},
		{"marbelle_store_group_commits_total", "counter", "Shared write transactions committed (and fsynced) by the group committer.", u(st.GroupCommits)},
		{"marbelle_store_grouped_writes_total", "counter", "Writes carried by those commits; divided by the commits, the mean group size.", u(st.GroupedWrites)},
		{"marbelle_store_group_commit_seconds_total", "counter", "Time spent in those commits, work and fsyncs.", formatFloat(st.GroupCommitDur.Seconds())},
		{"marbelle_store_pages_written_total", "counter", "Pages written by all commits.", u(st.PagesWritten)},
		{"marbelle_store_free_pages", "gauge", "Free pages in the store file, reused before the file grows.", u(st.FreePages)},
		{"marbelle_store_freelist_bytes", "gauge", "Size of the freelist, written with every commit.", u(st.FreelistBytes)},
	} {
		w.head(g.name, g.typ, g.help)
		fmt.Fprintf(w, "%s %s\n", g.name, g.value)
	}
}

func (m *metrics) writeBuildInfo(w promWriter) {
	const build = "marbelle_build_info"
	w.head(build, "gauge", "Always 1; the version of this binary is a label.")
	version := m.version
	if version == "" {
		version = "unknown"
	}
	w.sample(build, `version="`+labelValue(version)+`"`, 1)
}

// labelValue escapes a label value as the text format requires.
func labelValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
