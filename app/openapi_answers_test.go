package app

// Holding the answers of the tests to docs/openapi.yaml: testClient.send
// records each answer, and TestMain (main_test.go) calls
// checkRecordedAnswers once every test has run.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/marbelle/marbelle/mail"
)

// recordedAnswer is one answer a test received.
type recordedAnswer struct {
	test   string
	method string
	target string // path and query, as sent
	status int
	header http.Header
	body   []byte
}

// answerLog collects the answers of every test server of the run.
var answerLog struct {
	sync.Mutex
	list []recordedAnswer
}

// record keeps an answer that a test of this server received, for TestMain.
func (ts *testServer) record(t testing.TB, req *http.Request, res *http.Response, body []byte) {
	a := recordedAnswer{test: t.Name(), method: req.Method, target: req.URL.RequestURI(), status: res.StatusCode, header: res.Header, body: body}
	answerLog.Lock()
	answerLog.list = append(answerLog.list, a)
	answerLog.Unlock()
}

// servedOperations are the routes of a development server (the dev mail
// routes included), as OpenAPI operations: "METHOD /path/{id}".
func servedOperations() map[string]bool {
	s := &Server{sink: mail.NewSink(1, slog.New(slog.DiscardHandler))}
	s.routes() // registers, and lists, every route; none runs
	out := map[string]bool{}
	for _, r := range s.routeList {
		method, pattern, _ := strings.Cut(r, " ")
		out[method+" "+openapiPath(pattern)] = true
	}
	return out
}

// checkRecordedAnswers validates the recorded answers and writes each kind
// of mismatch to w, once, with its first example; it reports whether all
// answers matched. With -v it also says how many it checked, how long that
// took, and which operations no test exercised. Answers that differ only
// in X-Request-Id and Date are checked once, on as many goroutines as the
// tests may use.
func checkRecordedAnswers(w io.Writer) bool {
	answerLog.Lock()
	list := answerLog.list
	answerLog.Unlock()
	if len(list) == 0 {
		return true
	}
	start := time.Now()
	c, err := newAnswerChecker(servedOperations())
	if err != nil {
		fmt.Fprintf(w, "openapi: %v\n", err)
		return false
	}
	type group struct {
		first recordedAnswer
		n     int
		res   checkResult
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, a := range list {
		k := a.key()
		if g := byKey[k]; g != nil {
			g.n++
			continue
		}
		g := &group{first: a, n: 1}
		byKey[k] = g
		groups = append(groups, g)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(groups); i = int(next.Add(1) - 1) {
				groups[i].res = c.check(groups[i].first)
			}
		})
	}
	wg.Wait()

	type mismatch struct {
		first recordedAnswer
		err   error
		n     int
	}
	var order []string
	found := map[string]*mismatch{}
	for _, op := range slices.Sorted(maps.Keys(c.served)) {
		method, path, _ := strings.Cut(op, " ")
		if item := c.doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
			key := "routes.go serves " + op + ", which docs/openapi.yaml does not describe"
			found[key] = &mismatch{err: errors.New("describe it")}
			order = append(order, key)
		}
	}
	checked, skipped := 0, 0
	seen := map[string]bool{}
	for _, g := range groups {
		r := g.res
		switch {
		case errors.Is(r.err, errNotAPI):
			skipped += g.n
			continue
		case r.err != nil:
			key := fmt.Sprintf("%s → %d: %s", r.label, g.first.status, firstLine(r.err.Error()))
			if m := found[key]; m != nil {
				m.n += g.n
			} else {
				found[key] = &mismatch{first: g.first, err: r.err, n: g.n}
				order = append(order, key)
			}
		}
		if r.routed {
			seen[r.label] = true
		}
		checked += g.n
	}
	elapsed := time.Since(start)
	for _, key := range order {
		m := found[key]
		if m.n == 0 {
			fmt.Fprintf(w, "openapi: %s\n", key)
			continue
		}
		fmt.Fprintf(w, "openapi: %s (%d answers; first in %s: %s %s)\n%s\n    body: %s\n", key, m.n, m.first.test, m.first.method, m.first.target, indent(trimLines(m.err.Error(), 12)), snippet(m.first.body))
	}
	if len(found) > 0 {
		fmt.Fprintf(w, "FAIL: %d kinds of answers do not match docs/openapi.yaml (change the code or the description; the description is the contract clients generate code from)\n", len(found))
	}
	if testing.Verbose() || len(found) > 0 {
		fmt.Fprintf(w, "openapi: %d answers (%d distinct) checked against docs/openapi.yaml in %v; %d to web pages, outside the API, skipped\n", checked, len(groups), elapsed.Round(time.Millisecond), skipped)
	}
	if testing.Verbose() {
		var idle []string
		for _, op := range c.operations() {
			if !seen[op] {
				idle = append(idle, op)
			}
		}
		if len(idle) > 0 {
			fmt.Fprintf(w, "openapi: operations no answer exercised: %s\n", strings.Join(idle, ", "))
		}
	}
	return len(found) == 0
}

// key is what makes an answer another check: everything but the headers
// that differ on every answer.
func (a recordedAnswer) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d\n", a.method, a.target, a.status)
	names := slices.Sorted(maps.Keys(a.header))
	for _, k := range names {
		if k == "X-Request-Id" || k == "Date" {
			b.WriteString(k + "\n")
			continue
		}
		fmt.Fprintf(&b, "%s: %q\n", k, a.header[k])
	}
	b.Write(a.body)
	return b.String()
}

// errNotAPI marks an answer outside the API: a web page.
var errNotAPI = errors.New("not an API path")

// answerChecker holds answers to the description.
type answerChecker struct {
	doc    *openapi3.T
	router routers.Router
	// unrouted are the answers to requests that match no operation
	// (components/x-marbelle-unrouted), by status.
	unrouted map[int]*openapi3.ResponseRef
	// served are the operations the server serves: one described ahead of
	// the code (notServedYet) matches no route yet.
	served map[string]bool
}

// checkResult is the outcome of holding one answer to the description:
// label names the operation it was held to (routed), or the request that
// matched none.
type checkResult struct {
	label  string
	routed bool
	err    error
}

func newAnswerChecker(served map[string]bool) (*answerChecker, error) {
	// The mail viewer's HTML part is text; openapi3filter decodes only
	// text/plain as such.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	src, err := os.ReadFile(openapiYAMLPath)
	if err != nil {
		return nil, err
	}
	data, err := yamlToJSON(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openapiYAMLPath, err)
	}
	doc, err := loadOpenAPI(data)
	if err != nil {
		return nil, err
	}
	closeObjects(doc)
	doc.Servers = nil // match paths whatever the test server's address
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	c := &answerChecker{doc: doc, router: router, unrouted: map[int]*openapi3.ResponseRef{}, served: served}
	ext, _ := doc.Components.Extensions["x-marbelle-unrouted"].(map[string]any)
	responses, _ := ext["responses"].(map[string]any)
	for status, v := range responses {
		ref, _ := v.(map[string]any)["$ref"].(string)
		r := doc.Components.Responses[strings.TrimPrefix(ref, "#/components/responses/")]
		var code int
		if _, err := fmt.Sscan(status, &code); err != nil || r == nil {
			return nil, fmt.Errorf("components/x-marbelle-unrouted: %s: no response %q", status, ref)
		}
		c.unrouted[code] = r
	}
	if len(c.unrouted) == 0 {
		return nil, errors.New("components/x-marbelle-unrouted describes no answers")
	}
	return c, nil
}

// closeObjects makes every object schema that lists its properties refuse
// any other, so that an answer carrying a field the description does not
// name fails. The published description leaves objects open, since fields
// are only ever added, and clients should ignore those they do not know.
// Inline members of an allOf stay open: each lists only part of the object.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(r *openapi3.SchemaRef, part bool)
	walk = func(r *openapi3.SchemaRef, part bool) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && !(part && r.Ref == "") {
			closed := false
			s.AdditionalProperties.Has = &closed
		}
		for _, p := range s.Properties {
			walk(p, false)
		}
		walk(s.Items, false)
		walk(s.AdditionalProperties.Schema, false)
		for _, x := range slices.Concat(s.OneOf, s.AnyOf) {
			walk(x, false)
		}
		for _, x := range s.AllOf {
			walk(x, true)
		}
	}
	content := func(r *openapi3.ResponseRef) {
		if r == nil || r.Value == nil {
			return
		}
		for _, mt := range r.Value.Content {
			walk(mt.Schema, false)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s, false)
	}
	for _, r := range doc.Components.Responses {
		content(r)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, r := range op.Responses.Map() {
				content(r)
			}
		}
	}
}

// operations lists every described operation, "METHOD /path", sorted.
func (c *answerChecker) operations() []string {
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// isAPIPath reports whether path is the API's (or a probe's): everything
// else is a web page of the UI.
func isAPIPath(path string) bool {
	switch strings.TrimSuffix(path, "/") {
	case "/healthz", "/readyz":
		return true
	}
	return strings.HasPrefix(path, "/api/")
}

// find is the operation a request to path with method matches. No
// described path ends in a slash, so such a path matches none (the
// router would match it to an empty {id}).
func (c *answerChecker) find(method string, u *url.URL) (*routers.Route, map[string]string, bool) {
	if len(u.Path) > 1 && strings.HasSuffix(u.Path, "/") {
		return nil, nil, false
	}
	route, params, err := c.router.FindRoute(&http.Request{Method: method, URL: u})
	if err != nil || !c.served[route.Method+" "+route.Path] {
		return nil, nil, false
	}
	return route, params, true
}

// unroutedStatuses are the statuses a request that matches no operation may
// be answered: a redirect to the path without its trailing slash (301 for
// GET, 307 otherwise), 405 when the path takes other methods, 404 when it
// takes none, the OPTIONS answers, and the refusals that come before any
// route (Host, cross-origin, body size, form content types, a fault).
func (c *answerChecker) unroutedStatuses(method string, u *url.URL) map[int]bool {
	ok := map[int]bool{400: true, 403: true, 413: true, 415: true, 500: true}
	other := false
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if _, _, found := c.find(m, u); found && m != method {
			other = true
		}
	}
	trimmed := *u
	trimmed.Path = strings.TrimSuffix(u.Path, "/")
	_, _, redirect := c.find(method, &trimmed)
	redirect = redirect && trimmed.Path != u.Path
	switch {
	case method == http.MethodOptions:
		ok[204] = true // a CORS preflight, on any path
		if other {
			ok[200] = true
		} else {
			ok[404] = true
		}
	case other:
		ok[405] = true
	case redirect && method == http.MethodGet:
		ok[301] = true
	case redirect:
		ok[307] = true
	default:
		ok[404] = true
	}
	return ok
}

// check holds one answer to the description. It may run on several
// goroutines at once.
func (c *answerChecker) check(a recordedAnswer) checkResult {
	u, err := url.ParseRequestURI(a.target)
	if err != nil {
		return checkResult{label: a.target, err: err}
	}
	if !isAPIPath(u.Path) {
		return checkResult{err: errNotAPI}
	}
	var r checkResult
	route, params, found := c.find(a.method, u)
	if found {
		r.label, r.routed = route.Method+" "+route.Path, true
	} else {
		r.label = a.method + " " + u.Path + " (no operation)"
		if !c.unroutedStatuses(a.method, u)[a.status] {
			r.err = fmt.Errorf("status %d is not how a request that matches no operation is answered (components/x-marbelle-unrouted); is the route described?", a.status)
			return r
		}
		op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(a.status, c.unrouted[a.status]))}
		route = &routers.Route{Spec: c.doc, Path: u.Path, Method: a.method, Operation: op}
	}
	r.err = c.checkAnswer(a, u, route, params)
	return r
}

func (c *answerChecker) checkAnswer(a recordedAnswer, u *url.URL, route *routers.Route, params map[string]string) error {
	resp := route.Operation.Responses.Status(a.status)
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("status %d is not described for this operation", a.status)
	}
	if len(resp.Value.Content) == 0 {
		if err := c.checkHeaders(resp.Value, a.header); err != nil {
			return err
		}
		if len(bytes.TrimSpace(a.body)) > 0 && !isRedirect(a.status) && a.method != http.MethodHead {
			return errors.New("the answer has a body, and the description none")
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    &http.Request{Method: a.method, URL: u, Header: http.Header{}},
			PathParams: params,
			Route:      route,
		},
		Status:  a.status,
		Header:  a.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	return checkFailureCode(a)
}

func isRedirect(status int) bool {
	return status == http.StatusMovedPermanently || status == http.StatusFound || status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect
}

// checkHeaders checks that the headers a described answer requires are
// there (openapi3filter skips answers without a body schema and redirects).
func (c *answerChecker) checkHeaders(r *openapi3.Response, h http.Header) error {
	for name, hr := range r.Headers {
		if hr.Value != nil && hr.Value.Required && h.Get(name) == "" {
			return fmt.Errorf("the described header %s is missing", name)
		}
	}
	return nil
}

// checkFailureCode checks that a failure's code is one whose status
// (codeStatus) is the answer's.
func checkFailureCode(a recordedAnswer) error {
	var env struct {
		Success *bool  `json:"success"`
		Code    string `json:"code"`
	}
	if json.Unmarshal(a.body, &env) != nil || env.Success == nil || *env.Success || env.Code == "" {
		return nil
	}
	if st := codeStatus[env.Code]; st != a.status {
		return fmt.Errorf("code %s has status %d (errors.go), but came with %d", env.Code, st, a.status)
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func trimLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
