package ui_test

// Browser tests: Debian's Chromium, headless, driven with chromedp, against
// the real server (app.Serve) on 127.0.0.1 with the development SMTP sink.
//
// One Chromium process serves the whole run (started by the first test that
// needs it, stopped by TestMain); each test gets a fresh browser context,
// with its own cookies, storage and cache, in a window of its own.
//
// Without a browser they skip; with MARBELLE_BROWSER_TESTS=1 (as in CI) a
// missing browser is a failure. MARBELLE_CHROMIUM names another browser
// binary; MARBELLE_SCREENSHOT_DIR is where a failing test leaves its
// screenshot. MARBELLE_DOCS_SCREENSHOT=path makes TestAccountScreenshot
// write the README's picture of the account page.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/marbelle/marbelle/app"
	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/ui"
)

const (
	siteName    = "Birch & Bramble"
	password    = "tangerine walrus umbrella 42"
	newPassword = "copper lantern meadow 77"
	stepTimeout = 10 * time.Second
)

// --- the server ---

// startServer runs the real server on 127.0.0.1:0 with the dev SMTP sink
// and returns its base URL; it stops when the test ends. extra holds
// environment overrides, name then value.
func startServer(t *testing.T, extra ...string) string {
	t.Helper()
	return serve(t, serverConfig(t, extra...))
}

// startServerWithStaff is startServer with a staff account (email, the
// test password) made in the store before the server opens it, the way
// `marbelle admin create` does.
func startServerWithStaff(t *testing.T, email string, extra ...string) string {
	t.Helper()
	cfg := serverConfig(t, extra...)
	in := app.AdminCreateInput{DataDir: cfg.DataDir, Email: email, Password: password, Hash: cfg.PasswordHash, MinLength: cfg.PasswordMinLength}
	if _, err := app.AdminCreate(context.Background(), in); err != nil {
		t.Fatalf("admin create: %v", err)
	}
	return serve(t, cfg)
}

// newStaffBrowser starts a server with the staff account boss@example.test
// (extra as for startServer) and returns its base URL and a browser logged
// in as that staff member, on the admin page.
func newStaffBrowser(t *testing.T, extra ...string) (string, *browser) {
	t.Helper()
	base := startServerWithStaff(t, "boss@example.test", extra...)
	b := newBrowser(t, base)
	b.login("boss@example.test", password)
	b.open("/admin")
	return base, b
}

// serverConfig is the configuration of a test server, with its own data
// dir. Every test here that starts a server drives Chromium, so where none
// can be driven it skips (or fails) first, before starting anything.
func serverConfig(t *testing.T, extra ...string) app.Config {
	t.Helper()
	chromiumPath(t)
	env := map[string]string{
		"MARBELLE_DATA_DIR":      t.TempDir(),
		"MARBELLE_PASSWORD_HASH": "m=256,t=1,p=1",
		"MARBELLE_RATE_LIMITS":   "off",
		"MARBELLE_ADDR":          "127.0.0.1:0",
		"MARBELLE_DEV_SMTP_ADDR": "127.0.0.1:0",
		"MARBELLE_SITE_NAME":     siteName,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	cfg, err := app.LoadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Addr, cfg.DevSMTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

// serve runs the server of cfg until the test ends and returns its base URL.
func serve(t *testing.T, cfg app.Config) string {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, log, io.Discard, app.ServeOptions{
			Ready: func(url string) { ready <- url },
			UI:    ui.Handler,
		})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server ended before it was ready: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("server not ready after 10 s\n%s", logs)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop within 15 s")
		}
		if t.Failed() && logs.String() != "" {
			t.Logf("server log (warnings and errors):\n%s", logs)
		}
	})
	return url
}

// --- a customer set up through the API (no browser) ---

type customer struct {
	t     *testing.T
	base  string
	email string
	http  *http.Client
}

type envelope struct {
	Success bool                `json:"success"`
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Data    json.RawMessage     `json:"data"`
	Errors  map[string][]string `json:"errors"`
}

func (c *customer) call(method, path string, in any) envelope {
	c.t.Helper()
	res := c.send(method, path, in)
	defer res.Body.Close()
	var env envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		c.t.Fatalf("%s %s: %d, body not JSON: %v", method, path, res.StatusCode, err)
	}
	if !env.Success {
		c.t.Fatalf("%s %s: %d %s %s %v", method, path, res.StatusCode, env.Code, env.Message, env.Errors)
	}
	return env
}

// status sends a request and returns the status only, whatever it is.
func (c *customer) status(method, path string, in any) int {
	c.t.Helper()
	res := c.send(method, path, in)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// send sends in as a JSON body (none when nil) with the customer's cookies.
func (c *customer) send(method, path string, in any) *http.Response {
	c.t.Helper()
	return testutil.SendJSON(c.t, c.http, method, c.base+path, in, nil)
}

var linkRE = regexp.MustCompile(`http://[^\s"<>]+`)

// mailLink waits for a captured mail to `to` with a link to path and returns the link.
func (c *customer) mailLink(to, path string) string {
	c.t.Helper()
	var link string
	testutil.WaitFor(c.t, stepTimeout, func() error {
		for _, m := range testutil.DevMails(c.t, c.http, c.base, to) {
			for _, l := range linkRE.FindAllString(m.Text, -1) {
				if strings.HasPrefix(l, c.base+path) {
					link = l
					return nil
				}
			}
		}
		return fmt.Errorf("no mail to %s with a link to %s", to, path)
	})
	return link
}

// newCustomer registers, verifies (through the mailed link) and logs in.
func newCustomer(t *testing.T, base, email, firstName string) *customer {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &customer{t: t, base: base, email: email, http: &http.Client{Jar: jar, Timeout: stepTimeout}}
	c.call("POST", "/api/v1/auth/register", map[string]string{"email": email, "password": password, "first_name": firstName, "last_name": "Tester"})
	link := c.mailLink(email, "/verify-email?token=")
	c.call("POST", "/api/v1/auth/verify-email", map[string]string{"token": link[strings.Index(link, "token=")+len("token="):]})
	c.call("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	return c
}

func (c *customer) addAddress(label, street, postal, city, country string) {
	c.t.Helper()
	c.call("POST", "/api/v1/auth/addresses", map[string]string{
		"label": label, "first_name": "Ada", "last_name": "Lovelace", "street_address": street,
		"postal_code": postal, "city": city, "country": country,
	})
}

// --- the browser ---

type browser struct {
	t    *testing.T
	ctx  context.Context // the tab; steps derive a timeout from it
	base string

	mu      sync.Mutex
	dialogs []string
	console []string
	probing bool // CSP reports and dialogs are expected (the probes of TestSEC49BrowserStoredXSS)
}

// chromiumPath is the browser to drive, or a skip (a failure with
// MARBELLE_BROWSER_TESTS=1) when there is none. Under -short every browser
// test skips here, first of all: -short is the quick loop.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives Chromium; skipped under -short")
	}
	return testutil.Chromium(t)
}

// shared is the one Chromium of the run, started by the first test that
// needs it and stopped by TestMain.
var shared struct {
	once    sync.Once
	ctx     context.Context // the browser's first tab
	cancel  func()
	profile string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
	}
	if shared.profile != "" {
		os.RemoveAll(shared.profile)
	}
	os.Exit(code)
}

// sharedBrowser returns the context of the run's Chromium, starting it the
// first time (or skips, or fails: see chromiumPath).
func sharedBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	shared.once.Do(func() {
		profile, err := os.MkdirTemp("", "marbelle-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		shared.profile = profile
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(exe),
			chromedp.UserDataDir(profile),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.WindowSize(1280, 800),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(allocCtx)
		shared.ctx = ctx
		shared.cancel = func() {
			cancelBrowser()
			cancelAlloc()
		}
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }() // starts the browser, bound to ctx (no deadline)
		select {
		case shared.err = <-started:
		case <-time.After(30 * time.Second):
			shared.err = errors.New("Chromium did not start within 30 s")
		}
	})
	if shared.err != nil {
		t.Fatalf("start Chromium: %v", shared.err)
	}
	return shared.ctx
}

// newBrowser opens a tab in a fresh browser context of the shared
// Chromium, records dialogs (and dismisses them) and console messages, and
// on failure saves a screenshot.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	parent := sharedBrowser(t)
	b := &browser{t: t, base: base}
	ctx, cancelTab := chromedp.NewContext(parent, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(cancelTab) // closes the tab and disposes of its browser context
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }() // opens the tab, bound to ctx (no deadline)
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("open a tab: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not open a tab within 30 s")
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
	t.Cleanup(b.screenshotOnFailure) // runs before the tab is closed
	t.Cleanup(b.checkConsole)        // runs first, so that its failure gets a screenshot
	return b
}

// downloads makes this browser context save downloads into a new folder,
// and returns the folder.
func (b *browser) downloads() string {
	b.t.Helper()
	dir := b.t.TempDir()
	c := chromedp.FromContext(b.ctx)
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	_, err := cdp.Call(ctx, c.Browser, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: c.BrowserContextID, DownloadPath: dir,
	})
	if err != nil {
		b.t.Fatalf("set the download folder: %v", err)
	}
	return dir
}

// downloaded waits for one finished download in dir and returns its name and content.
func (b *browser) downloaded(dir string) (string, []byte) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 1 && !strings.HasSuffix(entries[0].Name(), ".crdownload") {
			data, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
			if err != nil {
				b.t.Fatal(err)
			}
			return entries[0].Name(), data
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no finished download in %s after %s: %v", dir, stepTimeout, entries)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// checkConsole fails the test for any uncaught exception or CSP report.
func (b *browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probing {
		return
	}
	for _, m := range b.console {
		if strings.HasPrefix(m, "exception:") || strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
			b.t.Errorf("browser console: %s", m)
		}
	}
}

// listen runs in the tab's event loop: record, never block or call back.
func (b *browser) listen(ev any) {
	switch ev := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		b.mu.Lock()
		b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
		b.mu.Unlock()
		go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		b.mu.Lock()
		b.console = append(b.console, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		b.mu.Unlock()
	case *runtime.EventExceptionThrown:
		b.mu.Lock()
		b.console = append(b.console, "exception: "+ev.ExceptionDetails.Text+" "+describe(ev.ExceptionDetails.Exception))
		b.mu.Unlock()
	case *cdplog.EventEntryAdded:
		b.mu.Lock()
		b.console = append(b.console, "log "+string(ev.Entry.Source)+"/"+string(ev.Entry.Level)+": "+ev.Entry.Text)
		b.mu.Unlock()
	}
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

func (b *browser) dialogCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.dialogs)
}

// cspViolations are the console messages about the Content-Security-Policy.
func (b *browser) cspViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Content-Security-Policy") {
			out = append(out, m)
		}
	}
	return out
}

func (b *browser) screenshotOnFailure() {
	t := b.t
	if !t.Failed() {
		return
	}
	b.mu.Lock()
	t.Logf("browser console:\n  %s", strings.Join(b.console, "\n  "))
	b.mu.Unlock()
	dir := os.Getenv("MARBELLE_SCREENSHOT_DIR")
	if dir == "" {
		// Not t.TempDir: that is removed when the test ends, with the picture.
		d, err := os.MkdirTemp("", "marbelle-screenshots-")
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		dir = d
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Logf("screenshot of %s at failure: %s", loc, name)
}

// do runs steps with a timeout and fails the test with what on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.pageText())
	}
}

// eval runs a JavaScript expression and decodes its value (a promise's,
// once it settles).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// open loads a path and waits until the page has rendered its view.
func (b *browser) open(path string) {
	b.t.Helper()
	b.openURL(b.base + path)
}

func (b *browser) openURL(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.waitFor(`document.querySelector("#view h1") && !document.querySelector("#view [aria-busy]")`, "the page rendered")
}

// waitFor waits until a JavaScript expression is truthy.
func (b *browser) waitFor(expr, what string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, b.pageText())
	}
}

// see waits until the page shows text.
func (b *browser) see(text string) {
	b.t.Helper()
	b.waitFor(`document.body.innerText.includes(`+js(text)+`)`, fmt.Sprintf("%q on the page", text))
	if bad := eval[string](b, `(document.body.innerText.match(/\b(null|undefined|NaN|\[object Object\])\b/) || [""])[0]`); bad != "" {
		b.t.Errorf("the page shows %q:\n%s", bad, b.pageText())
	}
}

// fill replaces a field's value the way a paste does (input.insertText).
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		// Focus the field and select what it holds, so the insertion replaces it.
		chromedp.Evaluate[chromedp.Void](`(e => { e.focus(); e.select(); })(document.querySelector(`+js(sel)+`))`),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: value})
			return err
		}),
	)
	if got := eval[string](b, `document.querySelector(`+js(sel)+`).value`); got != value {
		b.t.Fatalf("fill %s: the field holds %q, want %q", sel, got, value)
	}
}

// choose picks an option of a select, as a person would (input and change events).
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.do("choose "+value+" in "+sel, chromedp.Evaluate[chromedp.Void](`(e => {
		e.focus();
		e.value = `+js(value)+`;
		e.dispatchEvent(new Event("input", { bubbles: true }));
		e.dispatchEvent(new Event("change", { bubbles: true }));
	})(document.querySelector(`+js(sel)+`))`))
	if got := eval[string](b, `document.querySelector(`+js(sel)+`).value`); got != value {
		b.t.Fatalf("choose %s: the select holds %q", sel, got)
	}
}

// click clicks the first visible element a CSS selector matches.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// press clicks the button or link, inside the element scope (CSS), whose text is text.
func (b *browser) press(scope, text string) {
	b.t.Helper()
	b.clickWhere(scope+" button, "+scope+" a", `e => e.textContent.trim() === `+js(text), fmt.Sprintf("a %q button or link in %s", text, scope))
}

// openMail opens the captured mail with this subject in the mail viewer.
func (b *browser) openMail(subject string) {
	b.t.Helper()
	b.clickWhere(".mail-item", `e => e.querySelector(".subj").textContent === `+js(subject), "the mail "+subject)
	b.waitFor(`document.querySelector("#message") && document.querySelector("#message").textContent === `+js(subject), "the mail "+subject+" open")
}

// clickWhere waits for an element matching sel for which the JavaScript
// predicate holds, then clicks it like a person (mouse events at its centre).
func (b *browser) clickWhere(sel, predicate, what string) {
	b.t.Helper()
	find := `[...document.querySelectorAll(` + js(sel) + `)].find(` + predicate + `)`
	b.waitFor(find, what)
	b.do("click "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		id, err := chromedp.Evaluate[string](`(() => {
			const e = `+find+`;
			if (!e.id) e.id = "click-" + Math.random().toString(36).slice(2);
			return e.id;
		})()`)(ctx, t)
		if err != nil {
			return err
		}
		_, err = chromedp.Click(chromedp.ID(id))(ctx, t)
		return err
	}))
}

func (b *browser) login(email, pw string) {
	b.t.Helper()
	b.open("/login")
	b.fill("#login [name=email]", email)
	b.fill("#login [name=password]", pw)
	b.press("#login", "Log in")
	b.see("You are logged in.")
}

// loginFails tries to log in and expects the wrong-credentials message.
func (b *browser) loginFails(email, pw string) {
	b.t.Helper()
	b.open("/login")
	b.fill("#login [name=email]", email)
	b.fill("#login [name=password]", pw)
	b.press("#login", "Log in")
	b.see("The email or password is not correct.")
}

// --- the tests ---

// TestBrowserJourney walks a customer through every main flow, checking
// what the page says at each step.
func TestBrowserJourney(t *testing.T) {
	base := startServer(t)
	b := newBrowser(t, base)

	// An unknown address shows the site's own "not found" page.
	b.open("/no-such-page")
	b.see("Page not found")
	b.see("There is nothing at this address.")

	// Register.
	b.open("/")
	b.see("Welcome to " + siteName)
	b.press("main", "Create an account")
	b.see("Create an account")
	b.fill("#register [name=first_name]", "Ada")
	b.fill("#register [name=last_name]", "Lovelace")
	b.fill("#register [name=email]", "ada@example.test")
	b.fill("#register [name=password]", password)
	b.press("#register", "Create account")
	b.see("Check your inbox")
	b.see("Thanks for registering.")
	b.see("We sent the link to ada@example.test.")

	// Read the mail in the viewer and follow its link.
	b.press("main", "open the captured mail")
	b.see("Captured mail")
	b.openMail("Confirm your email address for " + siteName)
	b.see("Welcome to " + siteName + "! Please confirm your email address (ada@example.test)")
	// The HTML part: only in a sandboxed frame that may run nothing, loaded
	// from the route that serves it under a sandbox policy of its own.
	b.press(".tabs", "HTML")
	b.waitFor(`document.querySelector("iframe.mail-html")`, "the HTML part's frame")
	frame := eval[map[string]any](b, `(() => { const f = document.querySelector("iframe.mail-html"); return { sandbox: f.getAttribute("sandbox"), src: /^\/api\/v1\/dev\/mail\/[\w-]+\/html$/.test(new URL(f.src).pathname), srcdoc: f.hasAttribute("srcdoc"), framesInMain: document.querySelectorAll("main iframe").length }; })()`)
	if frame["sandbox"] != "" || frame["src"] != true || frame["srcdoc"] != false || frame["framesInMain"] != float64(1) {
		t.Errorf("HTML part: %v, want one iframe with an empty sandbox attribute loading /api/v1/dev/mail/{id}/html", frame)
	}
	served := eval[map[string]any](b, `fetch(document.querySelector("iframe.mail-html").src).then(async r => ({ csp: r.headers.get("Content-Security-Policy"), html: (await r.text()).includes("Confirm email address") }))`)
	if csp, _ := served["csp"].(string); !strings.HasPrefix(csp, "sandbox") || served["html"] != true {
		t.Errorf("the frame's source: %v, want the mail's HTML under a sandbox CSP", served)
	}
	// Chromium runs a sandboxed frame in a process of its own: a target
	// whose address is the page the frame shows (a refused frame shows an
	// error page instead).
	var loaded string
	for deadline := time.Now().Add(stepTimeout); loaded == "" && time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		infos, err := chromedp.Targets(b.ctx)
		if err != nil {
			t.Fatalf("list targets: %v", err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, base+"/api/v1/dev/mail/") && strings.HasSuffix(info.URL, "/html") {
				loaded = info.URL
			}
		}
	}
	if loaded == "" {
		t.Errorf("the HTML part's frame did not load its page (refused or unreachable)")
	}
	if n := eval[int](b, `document.querySelectorAll(".mail-reader a[href*=token]").length`); n != 0 {
		t.Errorf("the HTML part's links were put into the page (%d)", n)
	}
	b.press(".tabs", "Text")
	b.click(`.mail-text a[href*="/verify-email?token="]`)
	b.see("Your email address is verified. You can log in now.")
	if loc := eval[string](b, `location.href`); strings.Contains(loc, "token") || !strings.HasSuffix(loc, "/verify-email") {
		t.Errorf("after the verification link the address bar shows %s, want the token removed", loc)
	}

	// Log in (the email is filled in already).
	b.press("main", "Log in")
	b.see("Welcome back to " + siteName)
	if got := eval[string](b, `document.querySelector("#login [name=email]").value`); got != "ada@example.test" {
		t.Errorf("login email prefilled with %q", got)
	}
	b.fill("#login [name=password]", password)
	b.press("#login", "Log in")
	b.see("Welcome, Ada. You are logged in.")
	b.see("Hello, Ada.")
	b.see("You have no saved addresses yet.")
	for _, item := range []string{"Account", "Addresses", "Security", "Log out"} {
		b.waitFor(`[...document.querySelectorAll("#nav a, #nav button")].some(e => e.textContent === `+js(item)+`)`, "nav item "+item)
	}

	// Edit the profile.
	b.press("main", "Edit profile")
	b.fill("#profile-form [name=first_name]", "Augusta Ada")
	b.fill("#profile-form [name=phone]", "+49 30 1234567")
	b.fill("#profile-form [name=company_name]", "Analytical Engines")
	b.press("#profile-form", "Save profile")
	b.see("Your profile is saved.")
	b.see("Augusta Ada Lovelace")
	b.see("0301234567") // national: the default region is DE
	b.see("Analytical Engines")

	// Two addresses; the second becomes primary.
	b.press("#nav", "Addresses")
	b.see("0 of 10 addresses")
	addAddress := func(label, street, postal, city, country string) {
		t.Helper()
		b.press("main", "Add an address")
		b.see("Add an address")
		b.fill("#address-form [name=label]", label)
		b.fill("#address-form [name=street_address]", street)
		b.fill("#address-form [name=postal_code]", postal)
		b.fill("#address-form [name=city]", city)
		b.choose("#address-form [name=country]", country)
		b.press("#address-form", "Save address")
		b.see("The address is saved. (“" + label + "”)")
	}
	addAddress("Home", "Unter den Linden 1", "10117", "Berlin", "DE")
	b.see("1 of 10 addresses")
	b.see("Germany")
	addAddress("Office", "1 Rue de Rivoli", "75001", "Paris", "FR")
	b.see("2 of 10 addresses")
	b.see("France")
	if got := eval[string](b, `document.querySelector(".address.primary .label").textContent`); got != "Home" {
		t.Errorf("primary after two adds: %q, want Home (the first address)", got)
	}
	b.press(`li[data-label="Office"]`, "Make primary")
	b.see("“Office” is now your primary address.")
	b.waitFor(`document.querySelector(".addresses > li").dataset.label === "Office" && document.querySelector(".address.primary .label").textContent === "Office" && document.querySelectorAll(".address.primary").length === 1`,
		"Office listed first and the only primary")
	if got := eval[string](b, `document.querySelector('li[data-label="Office"] h2').innerText`); !strings.Contains(strings.ToLower(got), "primary") {
		t.Errorf("Office card heading %q does not say primary", got)
	}

	// Change the password.
	b.press("#nav", "Security")
	b.see("Where you are logged in")
	b.see("This device")
	b.fill("#password-form [name=current_password]", password)
	b.fill("#password-form [name=new_password]", newPassword)
	b.press("#password-form", "Change password")
	b.see("Your password is changed. Your other sessions have been logged out.")

	// Change the email through the mailed link.
	b.fill("#email-form [name=new_email]", "augusta@example.test")
	b.fill("#email-form [name=password]", newPassword)
	b.press("#email-form", "Send confirmation link")
	b.see("Check the inbox of the new address for a link to confirm the change. We sent it to augusta@example.test.")
	b.press("footer", "Captured mail (development)")
	b.see("Captured mail")
	b.openMail("Confirm your new email address for " + siteName)
	b.click(`.mail-text a[href*="/confirm-email-change?token="]`)
	b.see("Your email address is changed.")
	b.see("From now on you log in with augusta@example.test.")
	if loc := eval[string](b, `location.href`); strings.Contains(loc, "token") {
		t.Errorf("after the email-change link the address bar shows %s", loc)
	}

	// Log out, and in again with the new email.
	b.press("#nav", "Log out")
	b.see("You are logged out.")
	b.waitFor(`!document.querySelector("#logout") && [...document.querySelectorAll("#nav a")].some(e => e.textContent === "Log in")`, "the signed-out navigation")
	b.fill("#login [name=email]", "augusta@example.test")
	b.fill("#login [name=password]", newPassword)
	b.press("#login", "Log in")
	b.see("Hello, Augusta Ada.")
	b.see("augusta@example.test")
	b.see("Office") // the primary address at a glance
	if v := b.cspViolations(); len(v) != 0 {
		t.Errorf("CSP violations during the journey:\n%s", strings.Join(v, "\n"))
	}
}

// TestBrowserFieldErrors: the API's field errors appear next to their
// fields, linked by aria-describedby; the rest goes in the form's alert.
func TestBrowserFieldErrors(t *testing.T) {
	base := startServer(t)
	b := newBrowser(t, base)
	b.open("/register")

	// Keyboard: the first Tab reaches the skip link, which leads into the
	// content; focus is visible.
	b.do("tab", chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, `(() => { const e = document.activeElement, r = e.getBoundingClientRect(); return e.className + (r.left >= 0 && r.width > 0 ? " visible" : " hidden") + " " + getComputedStyle(e).outlineStyle; })()`); got != "skip visible solid" {
		t.Errorf("first Tab: focus on %q, want the visible skip link with a focus ring", got)
	}
	b.do("follow the skip link", chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, `document.activeElement.name + " " + getComputedStyle(document.activeElement).outlineStyle`); got != "first_name solid" {
		t.Errorf("Tab after the skip link: focus on %q, want the first field (first_name) with a focus ring", got)
	}

	b.fill("#register [name=first_name]", "Ada")
	b.fill("#register [name=last_name]", "Lovelace")
	b.fill("#register [name=email]", "not-an-email")
	b.fill("#register [name=password]", "short")
	b.press("#register", "Create account")
	b.waitFor(`document.querySelector("#register [name=email]").getAttribute("aria-invalid") === "true"`, "the email field marked invalid")

	type described struct {
		Invalid string `json:"invalid"`
		Text    string `json:"text"`
		Next    bool   `json:"next"` // the message follows the field
		Focused bool   `json:"focused"`
	}
	read := func(form, name string) described {
		return eval[described](b, `(() => {
			const i = document.querySelector(`+js("#"+form+" [name="+name+"]")+`);
			const ids = (i.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
			const err = ids.map(id => document.getElementById(id)).find(e => e && e.classList.contains("field-error"));
			return {
				invalid: i.getAttribute("aria-invalid") || "",
				text: ids.map(id => document.getElementById(id)?.textContent || "").join(" | "),
				next: !!err && i.nextElementSibling === err && err.offsetHeight > 0,
				focused: document.activeElement === i,
			};
		})()`)
	}
	email := read("register", "email")
	if email.Invalid != "true" || !strings.Contains(email.Text, "Enter a valid email address.") || !email.Next {
		t.Errorf("email field: %+v, want aria-invalid and the message right after it", email)
	}
	if !email.Focused {
		t.Errorf("focus is not on the first invalid field (email)")
	}
	pw := read("register", "password")
	if pw.Invalid != "true" || !strings.Contains(pw.Text, "Use at least 8 characters.") || !pw.Next {
		t.Errorf("password field: %+v, want aria-invalid and the length message", pw)
	}
	if !strings.Contains(pw.Text, "At least 8 characters. A few unrelated words") {
		t.Errorf("password field lost its hint from aria-describedby: %q", pw.Text)
	}
	if first := read("register", "first_name"); first.Invalid != "" || first.Text != "" {
		t.Errorf("first_name marked although it is fine: %+v", first)
	}
	alert := eval[string](b, `document.querySelector("#register .alert").textContent + "|" + document.querySelector("#register .alert").getAttribute("role")`)
	if alert != "Please correct the highlighted fields.|alert" {
		t.Errorf("form alert: %q, want the envelope's message in a role=alert region", alert)
	}

	// Correct the email: its error goes, the password's stays.
	b.fill("#register [name=email]", "ada@example.test")
	b.press("#register", "Create account")
	b.waitFor(`!document.querySelector("#register [name=email]").hasAttribute("aria-invalid") && document.querySelector("#register [name=password]").getAttribute("aria-invalid") === "true"`, "only the password still invalid")
	if email := read("register", "email"); email.Text != "" {
		t.Errorf("email still described by %q after correcting it", email.Text)
	}

	// A failure without fields: the message in the form-level alert only.
	b.open("/login")
	b.fill("#login [name=email]", "nobody@example.test")
	b.fill("#login [name=password]", "wrong password 123")
	b.press("#login", "Log in")
	b.see("The email or password is not correct.")
	if n := eval[int](b, `document.querySelectorAll("#login [aria-invalid]").length`); n != 0 {
		t.Errorf("%d fields marked invalid for a wrong password; want only the form message", n)
	}

	// A rate limit says when to try again, and the button counts down.
	limited := startServer(t, "MARBELLE_RATE_LIMITS", "login=1/1m")
	b.openURL(limited + "/login")
	b.fill("#login [name=email]", "nobody@example.test")
	b.fill("#login [name=password]", "wrong password 123")
	b.do("submit with Enter", chromedp.KeyEvent(kb.Enter))
	b.see("The email or password is not correct.")
	b.do("submit with Enter again", chromedp.KeyEvent(kb.Enter))
	b.see("Too many requests. Please try again in")
	b.waitFor(`/^Try again in [0-9]+ s$/.test(document.querySelector("#login button[type=submit]").textContent) && document.querySelector("#login button[type=submit]").getAttribute("aria-disabled") === "true"`,
		"the submit button counting down to the retry")

	// At the address limit the add button explains why it does nothing.
	c := newCustomer(t, base, "full@example.test", "Fiona")
	for i := range 10 {
		c.addAddress(fmt.Sprintf("Address %d", i+1), "Street 1", "10115", "Berlin", "DE")
	}
	b.login("full@example.test", password)
	b.open("/account/addresses")
	b.see("10 of 10 addresses")
	b.see("You have 10 addresses, the most you can keep. Delete one to add another.")
	if d := eval[string](b, `document.querySelector("#add-address").getAttribute("aria-disabled") + " " + document.querySelector("#add-address").getAttribute("aria-describedby")`); d != "true limit-note" {
		t.Errorf("add button at the limit: %q, want aria-disabled and described by the explanation", d)
	}

	// Deleting asks first; Cancel keeps the address.
	b.press(`li[data-label="Address 10"]`, "Delete")
	b.see("Delete the address “Address 10”? This cannot be undone.")
	if f := eval[string](b, `document.activeElement.textContent`); f != "Delete address" {
		t.Errorf("focus after Delete: %q, want the confirming button", f)
	}
	b.press(`li[data-label="Address 10"]`, "Cancel")
	b.waitFor(`!document.querySelector(".confirm")`, "the question gone")
	b.see("10 of 10 addresses")
	b.press(`li[data-label="Address 10"]`, "Delete")
	b.press(`li[data-label="Address 10"]`, "Delete address")
	b.see("The address “Address 10” is deleted.")
	b.see("9 of 10 addresses")
	if n := eval[int](b, `document.querySelectorAll('li[data-label="Address 10"], #limit-note, #add-address[aria-disabled]').length`); n != 0 {
		t.Errorf("after deleting one of 10: the address, the limit note or the disabled add button is still there (%d)", n)
	}

	// Deleting the account: a wrong password is an error on that field.
	b.open("/account")
	b.press("main", "Delete my account…")
	b.fill("#delete-account [name=password]", "not my password")
	b.press("#delete-account", "Delete my account")
	b.waitFor(`document.querySelector("#delete-account [name=password]").getAttribute("aria-invalid") === "true"`, "the password marked wrong")
	if got := read("delete-account", "password"); !strings.Contains(got.Text, "The password is not correct.") || !got.Next {
		t.Errorf("wrong password on account deletion: %+v", got)
	}
	b.fill("#delete-account [name=password]", password)
	b.press("#delete-account", "Delete my account")
	b.see("Your account and everything stored with it are deleted.")
	b.see("Welcome to " + siteName)
	b.loginFails("full@example.test", password)
}

// TestBrowserPhoneWidth: at 360 px the signed-in pages, the staff pages
// included, do not scroll sideways (a wide table scrolls in its own box)
// and their main controls are on screen.
func TestBrowserPhoneWidth(t *testing.T) {
	base := startServerWithStaff(t, "staff@example.test")
	c := newCustomer(t, base, "a.very.long.email.address.for.testing@subdomain.example.test", "Maximiliane")
	c.call("PATCH", "/api/v1/auth/profile", map[string]string{"company_name": "Internationale Handelsgesellschaft für Gartenbedarf mbH"})
	c.addAddress("Home", "Kurfürstendamm 123, Hinterhaus, 3. Obergeschoss links", "10711", "Berlin", "DE")
	c.addAddress("Workshop", "Straße des 17. Juni 135", "10623", "Berlin", "DE")
	b := newBrowser(t, base)
	b.do("phone viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	b.login(c.email, password)

	check := func(path string, selectors ...string) {
		t.Helper()
		b.open(path)
		b.waitFor(`document.querySelector("#view .card")`, "the page's content on "+path)
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("%s: scrollWidth %d > 360: the page scrolls sideways", path, w)
		}
		// Every field has a label; headings go down one level at a time from one h1.
		if unlabelled := eval[[]string](b, `[...document.querySelectorAll("input:not([hidden]), select")].filter(i => !i.labels || !i.labels.length).map(i => i.name || i.id)`); len(unlabelled) != 0 {
			t.Errorf("%s: fields without a label: %v", path, unlabelled)
		}
		if order := eval[string](b, `(() => {
			const levels = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map(h => +h.tagName[1]);
			const bad = levels[0] !== 1 || levels.filter(l => l === 1).length !== 1 || levels.some((l, i) => i > 0 && l > levels[i - 1] + 1);
			return bad ? levels.join(",") : "";
		})()`); order != "" {
			t.Errorf("%s: heading levels out of order: %s", path, order)
		}
		for _, sel := range append([]string{"#nav a", "#logout", "#view h1"}, selectors...) {
			state := eval[string](b, `(() => {
				const e = document.querySelector(`+js(sel)+`);
				if (!e) return "missing";
				const r = e.getBoundingClientRect(), s = getComputedStyle(e);
				if (r.width < 1 || r.height < 1 || s.visibility === "hidden" || s.display === "none") return "hidden";
				if (r.left < 0 || r.right > 360) return "off screen: " + r.left + ".." + r.right;
				return "ok";
			})()`)
			if state != "ok" {
				t.Errorf("%s: %s is %s", path, sel, state)
			}
		}
	}
	check("/account", "#edit-profile", `a[href="/account/addresses"].btn`, "#delete-reveal")
	check("/account/addresses", "#add-address", ".addresses .actions button")
	b.press("main", "Add an address")
	b.waitFor(`document.querySelector("#address-form")`, "the address form")
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("address form: scrollWidth %d > 360", w)
	}
	check("/account/security", "#password-form button[type=submit]", "#email-form button[type=submit]", ".sessions li", "#export", ".activity li")

	// The staff pages, signed in as staff.
	var me struct{ ID string }
	json.Unmarshal(c.call("GET", "/api/v1/auth/profile", nil).Data, &me)
	b.press("#nav", "Log out")
	b.see("You are logged out.")
	b.login("staff@example.test", password)
	check("/admin", ".subnav a", ".chart", "#backup-link")
	check("/admin/users", ".filters input", ".filters button", ".table-wrap", "#page-of")
	// The users table is wider than the phone: it scrolls inside its box,
	// which stays on screen and can be reached with the keyboard.
	if box := eval[string](b, `(() => {
		const w = document.querySelector(".table-wrap"), r = w.getBoundingClientRect();
		return [w.scrollWidth > w.clientWidth, getComputedStyle(w).overflowX, r.right <= 360, w.tabIndex].join(" ");
	})()`); box != "true auto true 0" {
		t.Errorf("users table box: %q, want a box narrower than its table, scrolling on its own, on screen and focusable", box)
	}
	check("/admin/user?id="+me.ID, "#act-active", "#act-delete", "#act-edit")
	check("/admin/audit", ".filters select", ".table-wrap")
	check("/admin/outbox", ".filters select", ".table-wrap")
	check("/admin/api-keys", "#key-form button[type=submit]", `#key-form [name="scope:users:read"]`)
	check("/admin/webhooks", "#webhook-form button[type=submit]", `#webhook-form [name="event:*"]`) // #17
}

// TestBrowserAdminDeactivatesUser: staff find a customer, open them,
// deactivate them, and the customer's next request is refused; staff also
// edit a user, end their sessions and delete them (after a confirmation).
func TestBrowserAdminDeactivatesUser(t *testing.T) {
	base := startServerWithStaff(t, "boss@example.test")
	c := newCustomer(t, base, "carla@example.test", "Carla")
	otto := newCustomer(t, base, "otto@example.test", "Otto")
	b := newBrowser(t, base)
	b.login("boss@example.test", password)

	b.press("#nav", "Admin")
	b.see("The accounts at a glance")
	b.press(".subnav", "Users")
	b.see("3 users")
	b.see("Page 1 of 1")

	// Paging: one user a page.
	b.open("/admin/users?page_size=1")
	b.see("Page 1 of 3")
	b.press(".pager", "Next page")
	b.see("Page 2 of 3")
	if got := eval[string](b, `location.search`); got != "?page_size=1&page=2" {
		t.Errorf("second page at %q", got)
	}
	b.press(".pager", "Previous page")
	b.see("Page 1 of 3")

	// Search, open, deactivate.
	b.fill(".filters [name=q]", "CARLA")
	b.press(".filters", "Search users")
	b.see("Users matching “CARLA”")
	b.see("1 user")
	if n := eval[int](b, `document.querySelectorAll(".table-wrap tbody tr").length`); n != 1 {
		t.Errorf("search for carla: %d rows, want 1", n)
	}
	b.press(".table-wrap", "carla@example.test")
	b.see("Carla Tester")
	b.see("1 open session")
	b.press("main", "Deactivate")
	b.see("carla@example.test is deactivated and logged out everywhere.")
	b.see("Deactivated: cannot log in")
	b.see("0 open sessions")
	b.waitFor(`document.activeElement.id === "act-active" && document.activeElement.textContent === "Activate"`, "focus on the Activate button")
	if got := c.status("GET", "/api/v1/auth/profile", nil); got != http.StatusUnauthorized {
		t.Errorf("the deactivated customer's next request: %d, want 401", got)
	}
	if got := c.status("POST", "/api/v1/auth/login", map[string]string{"email": c.email, "password": password}); got != http.StatusUnauthorized {
		t.Errorf("the deactivated customer's login: %d, want 401", got)
	}
	b.press("main", "This user's audit log")
	b.see("Account deactivated by staff")
	b.see("actor_email: boss@example.test")

	// Another user: edit, end sessions, delete after a confirmation.
	b.open("/admin/users?q=otto")
	b.press(".table-wrap", "otto@example.test")
	b.see("Otto Tester")
	b.press("main", "Edit details")
	b.fill("#user-form [name=phone]", "12")
	b.press("#user-form", "Save details")
	b.waitFor(`document.querySelector("#user-form [name=phone]").getAttribute("aria-invalid") === "true"`, "the phone marked wrong")
	b.fill("#user-form [name=phone]", "+49 30 1234567")
	b.fill("#user-form [name=company_name]", "Otto & Söhne")
	b.press("#user-form", "Save details")
	b.see("The user is saved.")
	b.see("+49301234567")
	b.see("Otto & Söhne")
	b.press("main", "End all sessions")
	b.see("1 session ended.")
	if got := otto.status("GET", "/api/v1/auth/profile", nil); got != http.StatusUnauthorized {
		t.Errorf("after ending Otto's sessions: %d, want 401", got)
	}
	b.press("main", "Delete user…")
	b.see("Delete otto@example.test with their addresses, sessions and links?")
	b.press(".confirm", "Cancel")
	b.waitFor(`!document.querySelector(".confirm") && document.activeElement.id === "act-delete"`, "the question gone, focus back")
	b.press("main", "Delete user…")
	b.press(".confirm", "Delete user")
	b.see("otto@example.test: The user and everything stored with them are deleted.")
	b.see("2 users")
	if got := otto.status("POST", "/api/v1/auth/login", map[string]string{"email": otto.email, "password": password}); got != http.StatusUnauthorized {
		t.Errorf("login of the deleted user: %d, want 401", got)
	}
}

// TestBrowserAdminDashboard: the dashboard's counts, its chart (one bar a
// day for 30 days, with a text alternative and a table), the backup
// download, the outbox and the audit log's paging.
func TestBrowserAdminDashboard(t *testing.T) {
	base := startServerWithStaff(t, "boss@example.test")
	c := newCustomer(t, base, "dora@example.test", "Dora")
	c.call("POST", "/api/v1/auth/register", map[string]string{"email": "eve@example.test", "password": password, "first_name": "Eve", "last_name": "Tester"})
	b := newBrowser(t, base)
	b.login("boss@example.test", password)
	b.open("/admin")
	b.see("Sign-ups in the last 30 days")
	type dash struct {
		Stats     string
		Bars      int
		BarTitles int
		Heights   []float64
		Role      string
		Label     string
		Counts    []int // the table's
	}
	d := eval[dash](b, `(() => {
		const svg = document.querySelector("svg.chart"), bars = [...svg.querySelectorAll("rect.bar")];
		return {
			Stats: [...document.querySelectorAll(".stats dt, .stats dd")].map(e => e.textContent).join(" "),
			Bars: bars.length, BarTitles: bars.filter(r => r.querySelector("title")?.textContent).length,
			Heights: bars.map(r => +r.getAttribute("height")),
			Role: svg.getAttribute("role"), Label: svg.getAttribute("aria-label"),
			Counts: [...document.querySelectorAll("details tbody tr td:last-child")].map(e => +e.textContent),
		};
	})()`)
	if d.Stats != "Users 3 Verified 2 Not verified 1" {
		t.Errorf("counts: %q", d.Stats)
	}
	if d.Bars != 30 || d.BarTitles != 30 || len(d.Counts) != 30 {
		t.Errorf("chart: %d bars (%d with a title), table %d rows; want 30 each", d.Bars, d.BarTitles, len(d.Counts))
	}
	sum, full := 0, 0
	for i, n := range d.Counts {
		sum += n
		if n > 0 && i < len(d.Heights) && d.Heights[i] == 100 {
			full++
		}
	}
	if sum != 3 || full == 0 {
		t.Errorf("table counts %v (want 3 sign-ups in all), bar heights %v (want the busiest day full height)", d.Counts, d.Heights)
	}
	if d.Role != "img" || !strings.HasPrefix(d.Label, "3 sign-ups in the last 30 days, the most on ") {
		t.Errorf("chart text alternative: role %q, label %q", d.Role, d.Label)
	}
	// The backup: a plain link the browser downloads with the cookie.
	dir := b.downloads()
	b.click("#backup-link")
	name, data := b.downloaded(dir)
	if !regexp.MustCompile(`^marbelle-\d{8}T\d{6}Z\.db$`).MatchString(name) || len(data) < 1024 {
		t.Errorf("backup download: %s, %d bytes", name, len(data))
	}
	if p := eval[string](b, `location.pathname`); p != "/admin" {
		t.Errorf("after the backup download the page is %s", p)
	}

	// The outbox lists the mail sent, and filters by status.
	b.press(".subnav", "Outbox")
	b.see("Confirm your email address for " + siteName)
	b.choose(".filters [name=status]", "failed")
	b.press(".filters", "Show mail")
	b.see("No mail.")
	if got := eval[string](b, `location.search`); got != "?status=failed" {
		t.Errorf("outbox filter at %q", got)
	}

	// The audit log: filtered by event, a page at a time (?limit=, 50
	// unless set), then older ones.
	b.press(".subnav", "Audit log")
	b.see("Backup downloaded")
	b.see("Staff account created")
	b.open("/admin/audit?limit=1")
	b.choose(".filters [name=event]", "login")
	b.press(".filters", "Show events")
	b.see("1 event.")
	if got := eval[string](b, `location.search`); got != "?limit=1&event=login" {
		t.Errorf("audit filter at %q", got)
	}
	more := `document.querySelector("#events").closest("section").querySelector(".actions button")`
	b.press("main", "Older events")
	b.see("2 events.")
	b.press("main", "Older events")
	b.see("2 events, back to the oldest.") // the boss's login and Dora's
	if got := eval[string](b, `[...document.querySelectorAll(".table-wrap tbody tr td:nth-child(3)")].map(e => e.textContent).join(" ") + " " + `+more+`.hidden`); got != "boss@example.test dora@example.test true" {
		t.Errorf("after the older events: %q, want the two logins, newest first, and no more button", got)
	}
	b.fill(".filters [name=user_id]", "nope")
	b.press(".filters", "Show events")
	b.see("Use a user id.")
}

// TestBrowserAdminAPIKeys: staff make an API key on its page, see it once
// (selected, with a copy button), a service uses it, the list never shows
// it again, and revoking it (after a confirmation) stops the service.
func TestBrowserAdminAPIKeys(t *testing.T) {
	base, b := newStaffBrowser(t)
	b.press(".subnav", "API keys")
	b.see("No API keys yet.")

	// No scope: the form says so.
	b.fill("#key-form [name=name]", "Checkout")
	b.press("#key-form", "Make the key")
	b.see("Give the key at least one scope")
	b.click(`#key-form [name="scope:addresses:read"]`)
	b.click(`#key-form [name="scope:users:read"]`)
	b.press("#key-form", "Make the key")
	b.see("it is shown only this once")
	b.waitFor(`document.activeElement.id === "new-key"`, "focus on the new key")
	key := eval[string](b, `document.querySelector("#new-key").value`)
	if !regexp.MustCompile(`^mbk_[A-Za-z0-9_-]{43}$`).MatchString(key) {
		t.Fatalf("shown key %q", key)
	}
	b.see("users:read, addresses:read")
	use := func() int { return testutil.BearerStatus(t, base+"/api/v1/admin/users", key) }
	if got := use(); got != 200 {
		t.Fatalf("the shown key: %d, want 200", got)
	}
	b.press("#new-key-box", "I have stored it: hide the key")
	b.waitFor(`!document.querySelector("#new-key")`, "the key hidden")
	b.open("/admin/api-keys")
	b.see("Checkout")
	if strings.Contains(b.pageText(), key) || strings.Contains(eval[string](b, `document.documentElement.outerHTML`), key[4:]) {
		t.Fatal("the page shows the key again")
	}

	b.press(".table-wrap", "Revoke…")
	b.see("Every service using it is refused from its next request.")
	b.press(".confirm", "Cancel")
	b.waitFor(`!document.querySelector(".confirm")`, "the question gone")
	b.press(".table-wrap", "Revoke…")
	b.press(".confirm", "Revoke the key")
	b.see("“Checkout”: The API key is revoked")
	b.see("Revoked")
	if got := use(); got != 401 {
		t.Fatalf("the revoked key: %d, want 401", got)
	}
	b.open("/admin/audit")
	b.see("API key revoked")
	b.see("key_name: Checkout")
}

// TestBrowserUndoLink: a customer sees their security activity and
// downloads their data; after a password change they follow the "This
// wasn't me" link of the notice, which spends nothing until they confirm;
// then every session is gone and logging in asks for a password reset.
func TestBrowserUndoLink(t *testing.T) {
	base := startServer(t)
	c := newCustomer(t, base, "uma@example.test", "Uma")
	b := newBrowser(t, base)
	b.login(c.email, password)

	// Customers have no staff pages.
	if eval[bool](b, `[...document.querySelectorAll("#nav a")].some(a => a.textContent === "Admin")`) {
		t.Errorf("a customer's navigation shows Admin")
	}
	b.open("/admin/users")
	b.see("Not allowed")
	b.see("This page is for the shop's staff only.")

	// Security activity and the data export.
	b.open("/account/security")
	b.see("Security activity")
	labels := eval[[]string](b, `[...document.querySelectorAll(".activity li strong")].map(e => e.textContent)`)
	if len(labels) < 4 || labels[0] != "Logged in" || labels[len(labels)-1] != "Account created" || !slices.Contains(labels, "Email address verified") {
		t.Errorf("activity, newest first: %v", labels)
	}
	if meta := eval[string](b, `document.querySelector(".activity li .meta").textContent`); meta != "IP address 127.0.0.1 · Chrome on Linux" {
		t.Errorf("newest activity's details: %q", meta)
	}
	dir := b.downloads()
	b.press("main", "Download my data")
	b.see("Your data is saved as account-export-")
	name, data := b.downloaded(dir)
	var doc struct {
		Schema  string `json:"schema"`
		Profile struct {
			Email string `json:"email"`
		} `json:"profile"`
		Events []any `json:"audit_events"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || !strings.HasSuffix(name, ".json") || doc.Schema != "marbelle.export.v1" || doc.Profile.Email != c.email || len(doc.Events) != len(labels) {
		t.Errorf("export %s: %+v (%v)\n%s", name, doc, err, data)
	}

	// A password change mails a notice with the link.
	b.fill("#password-form [name=current_password]", password)
	b.fill("#password-form [name=new_password]", newPassword)
	b.press("#password-form", "Change password")
	b.see("Your password is changed.")
	b.waitFor(`document.querySelector(".activity li strong").textContent === "Password changed"`, "the change listed first in the activity")
	c.call("POST", "/api/v1/auth/login", map[string]string{"email": c.email, "password": newPassword}) // another session, after the change

	b.open("/dev/mail")
	b.openMail("Your " + siteName + " password was changed")
	undoURL := eval[string](b, `document.querySelector('.mail-text a[href*="/undo?token="]').href`)
	// A mail scanner following the link spends nothing.
	if res, err := http.Get(undoURL); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", undoURL, res, err)
	} else {
		res.Body.Close()
	}
	b.click(`.mail-text a[href*="/undo?token="]`)
	b.see("Secure your account")
	b.see("signs out every device and asks for a new password before the next sign-in. After a change of the email address it locks the account until the shop restores it for you.")
	if loc := eval[string](b, `location.href`); loc != base+"/undo" {
		t.Errorf("address bar on the undo page: %s, want the token removed", loc)
	}
	if got := c.status("GET", "/api/v1/auth/profile", nil); got != 200 {
		t.Fatalf("opening the link (no button pressed) ended a session: %d", got)
	}
	b.press("main", "Sign out everywhere and lock my account")
	b.see("Every device has been signed out. Please reset your password before you log in again.")
	b.waitFor(`!document.querySelector("#logout")`, "the signed-out navigation")
	if got := c.status("GET", "/api/v1/auth/profile", nil); got != http.StatusUnauthorized {
		t.Errorf("the other session after the undo: %d, want 401", got)
	}
	b.open("/account")
	b.see("Please log in to see this page.")

	// Logging in, even with the right password, asks for a reset.
	b.fill("#login [name=email]", c.email)
	b.fill("#login [name=password]", newPassword)
	b.press("#login", "Log in")
	b.see("For your security, please reset your password before you log in.")
	b.press("#login", "Reset your password")
	b.see("Forgot your password?")
	if got := eval[string](b, `document.querySelector("#forgot [name=email]").value`); got != c.email {
		t.Errorf("forgot-password email prefilled with %q", got)
	}

	// The link works once.
	b.openURL(undoURL)
	b.press("main", "Sign out everywhere and lock my account")
	b.see("This link is invalid or has expired.")
	b.see("Choose a new password")
}

// TestSEC49BrowserStoredXSS (SEC-49): markup in stored data shows as text, no
// dialog opens and the CSP reports nothing.
func TestSEC49BrowserStoredXSS(t *testing.T) {
	base := startServer(t)
	const name = `<img src=x onerror=alert(1)>`
	const label = `</script><script>alert(2)</script>`
	c := newCustomer(t, base, "xss@example.test", name)
	c.addAddress(label, "Street 1", "10115", "Berlin", "DE")
	b := newBrowser(t, base)
	b.login("xss@example.test", password)

	b.see("Hello, " + name + ".")
	b.see(label)
	b.open("/account/addresses")
	b.see(label)
	if got := eval[string](b, `document.querySelector(".addresses .label").textContent`); got != label {
		t.Errorf("address label shows %q, want %q literally", got, label)
	}
	b.open("/account/security")
	b.see("Where you are logged in")
	b.open("/account")
	b.see("Hello, " + name + ".")
	if n := eval[int](b, `document.querySelectorAll("main img, main script").length`); n != 0 {
		t.Errorf("%d img/script elements in main: stored markup was rendered", n)
	}
	if got := eval[string](b, `document.title`); got != "Your account · "+siteName {
		t.Errorf("title %q", got)
	}
	time.Sleep(300 * time.Millisecond) // let any stray handler run
	if n := b.dialogCount(); n != 0 {
		b.mu.Lock()
		t.Errorf("JavaScript dialogs opened: %v", b.dialogs)
		b.mu.Unlock()
	}
	if v := b.cspViolations(); len(v) != 0 {
		t.Errorf("CSP violations in the console:\n%s", strings.Join(v, "\n"))
	}

	// The probes work: an inline script is refused and reported, and a dialog is seen.
	b.mu.Lock()
	b.probing = true
	b.mu.Unlock()
	b.do("inject an inline script", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.createElement("script"); s.textContent = "window.probe = 1"; document.head.append(s); })()`))
	b.do("open a dialog", chromedp.Evaluate[chromedp.Void](`setTimeout(() => alert("probe"), 0)`))
	deadline := time.Now().Add(5 * time.Second)
	for len(b.cspViolations()) == 0 || b.dialogCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the probes saw %d CSP reports and %d dialogs; the checks above cannot be trusted", len(b.cspViolations()), b.dialogCount())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if eval[bool](b, `window.probe === 1`) {
		t.Errorf("an inline script ran: the CSP does not hold")
	}
}

// TestSEC50BrowserPasswordFieldsAndStorage (SEC-50): password inputs are typed
// and labelled for password managers, paste works, every signed-in page
// has a visible logout, and no session value or token reaches script-
// readable storage.
func TestSEC50BrowserPasswordFieldsAndStorage(t *testing.T) {
	base := startServer(t)
	c := newCustomer(t, base, "sam@example.test", "Sam")
	b := newBrowser(t, base)

	type field struct {
		Name, Type, Autocomplete string
		PasteOK                  bool
	}
	checkPasswords := func(path string, want int) {
		t.Helper()
		fields := eval[[]field](b, `[...document.querySelectorAll("input")]
			.filter(i => /pass/i.test(i.name + i.id + i.autocomplete) || i.type === "password")
			.map(i => {
				const e = new ClipboardEvent("paste", { bubbles: true, cancelable: true, clipboardData: new DataTransfer() });
				return { Name: i.name, Type: i.type, Autocomplete: i.autocomplete, PasteOK: i.dispatchEvent(e) && !i.readOnly && !i.disabled };
			})`)
		if len(fields) != want {
			t.Errorf("%s: %d password inputs, want %d: %+v", path, len(fields), want, fields)
		}
		for _, f := range fields {
			if f.Type != "password" || (f.Autocomplete != "current-password" && f.Autocomplete != "new-password") || !f.PasteOK {
				t.Errorf("%s: password input %+v: want type=password, autocomplete current-password or new-password, paste allowed", path, f)
			}
		}
	}
	type storage struct {
		Cookie  string `json:"cookie"`
		Local   int    `json:"local"`
		Session int    `json:"session"`
		All     string `json:"all"`
	}
	checkStorage := func(when string, secrets ...string) {
		t.Helper()
		s := eval[storage](b, `({
			cookie: document.cookie,
			local: localStorage.length,
			session: sessionStorage.length,
			all: JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage}) + location.href + history.state,
		})`)
		if s.Cookie != "" || s.Local != 0 || s.Session != 0 {
			t.Errorf("%s: script-readable state: cookie %q, localStorage %d items, sessionStorage %d items", when, s.Cookie, s.Local, s.Session)
		}
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s.All, secret) {
				t.Errorf("%s: a token is still readable by scripts (storage or address bar): %s", when, s.All)
			}
		}
	}

	b.open("/login")
	checkPasswords("/login", 1)
	b.open("/register")
	checkPasswords("/register", 1)

	b.login(c.email, password)
	checkStorage("after login")
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, ck := range cookies.Cookies {
		if ck.Name == "marbelle_session" {
			session = ck
		}
	}
	if session == nil || !session.HTTPOnly {
		t.Fatalf("no HttpOnly session cookie in the browser after login: %+v", cookies.Cookies)
	}
	checkStorage("after login", session.Value)

	for _, p := range []string{"/account", "/account/addresses", "/account/security", "/dev/mail"} {
		b.open(p)
		b.waitFor(`document.querySelector("#logout")`, "the logout button on "+p)
		if vis := eval[bool](b, `(() => { const r = document.querySelector("#logout").getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; })()`); !vis {
			t.Errorf("%s: the logout button is not visible", p)
		}
		switch p {
		case "/account":
			b.press("main", "Delete my account…")
			b.waitFor(`!document.querySelector("#delete-account").hidden`, "the account deletion form")
			checkPasswords(p, 1) // delete account
		case "/account/security":
			checkPasswords(p, 4) // current + new password, email change, authenticator setup
		}
	}

	// A token link: the reset page takes the token out of the address bar
	// and keeps it out of storage.
	c.call("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": c.email})
	link := c.mailLink(c.email, "/reset-password?token=")
	token := link[strings.Index(link, "token=")+len("token="):]
	b.open(strings.TrimPrefix(link, base))
	b.see("Choose a new password")
	checkStorage("after opening the reset link", token, session.Value)
	if loc := eval[string](b, `location.href`); loc != base+"/reset-password" {
		t.Errorf("address bar after the reset link: %s, want %s", loc, base+"/reset-password")
	}
	checkPasswords("/reset-password", 1)
	b.fill("#reset [name=password]", newPassword)
	b.press("#reset", "Save new password")
	b.see("Your password has been reset. Please log in with the new password.")
	checkStorage("after the reset", token, session.Value)
	// The reset ended the session: the page says so and the next visit is signed out.
	b.waitFor(`!document.querySelector("#logout")`, "no logout button after the reset")
	b.open("/account")
	b.see("Please log in to see this page.")
	if loc := eval[string](b, `location.pathname + location.search`); loc != "/login?next=%2Faccount" {
		t.Errorf("signed-out visit of /account went to %s, want /login?next=%%2Faccount", loc)
	}
	b.fill("#login [name=email]", c.email)
	b.fill("#login [name=password]", newPassword)
	b.press("#login", "Log in")
	b.see("Hello, Sam.")
	if p := eval[string](b, `location.pathname`); p != "/account" {
		t.Errorf("after logging in from the redirect: at %s, want /account", p)
	}
}

// TestAccountScreenshot writes the README's picture of the account page
// (1280×800, signed in, two addresses) to $MARBELLE_DOCS_SCREENSHOT.
func TestAccountScreenshot(t *testing.T) {
	out := os.Getenv("MARBELLE_DOCS_SCREENSHOT")
	if out == "" {
		t.Skip("set MARBELLE_DOCS_SCREENSHOT=docs/account.png (a path) to write the screenshot")
	}
	base := startServer(t)
	c := newCustomer(t, base, "ada@example.com", "Ada")
	c.call("PATCH", "/api/v1/auth/profile", map[string]string{"last_name": "Lovelace", "phone": "+44 20 7946 0321", "company_name": "Analytical Engines Ltd"})
	c.addAddress("Home", "12 St James's Square", "SW1Y 4JH", "London", "GB")
	c.addAddress("Workshop", "Unter den Linden 1", "10117", "Berlin", "DE")
	b := newBrowser(t, base)
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
	b.login(c.email, password)
	b.open("/account")
	b.see("Primary address")
	b.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}

// TestIssue14BrowserVerifyAsksForPassword: an address registered twice
// before it was verified trusts neither password; the verify page goes
// straight on to "choose your password", and only that password works.
func TestIssue14BrowserVerifyAsksForPassword(t *testing.T) {
	base := startServer(t)
	const email = "twice@example.test"
	jar, _ := cookiejar.New(nil)
	c := &customer{t: t, base: base, email: email, http: &http.Client{Jar: jar, Timeout: stepTimeout}}
	c.call("POST", "/api/v1/auth/register", map[string]string{"email": email, "password": "attacker chose this 99", "first_name": "Mallory", "last_name": "First"})
	c.call("POST", "/api/v1/auth/register", map[string]string{"email": email, "password": password, "first_name": "Tia", "last_name": "Owner"})
	// The newest link is the second mail's: wait until both are there.
	testutil.WaitFor(t, stepTimeout, func() error {
		if n := len(testutil.DevMails(t, c.http, base, email)); n != 2 {
			return fmt.Errorf("verification mails to %s: %d, want 2", email, n)
		}
		return nil
	})
	link := c.mailLink(email, "/verify-email?token=")

	b := newBrowser(t, base)
	b.openURL(link)
	b.see("Please choose a password to finish.")
	b.fill("#reset [name=password]", newPassword)
	b.press("#reset", "Choose your password")
	b.see("For your safety you have been logged out everywhere.")
	b.loginFails(email, password)
	b.login(email, newPassword)
}

// TestBrowserStaffSecondFactor: with MARBELLE_STAFF_MFA=required a staff
// member without a second factor sees why admin refuses them, sets up an
// authenticator app on the security page (the server's QR code and key),
// keeps the recovery codes, logs in again with a code (from
// github.com/pquerna/otp, not Marbelle's code) and reaches admin at AAL2.
func TestBrowserStaffSecondFactor(t *testing.T) {
	_, b := newStaffBrowser(t, "MARBELLE_STAFF_MFA", "required")
	b.see("Staff accounts must sign in with a second factor")

	b.open("/account/security")
	b.fill("#totp-setup-form [name=password]", password)
	b.press("#totp-setup-form", "Set up an authenticator app")
	b.waitFor(`document.querySelector("#totp-qr svg path")`, "the QR code")
	secret := eval[string](b, `document.querySelector("#totp-secret").textContent`)
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatalf("code for %q: %v", secret, err)
		}
		return c
	}
	b.fill("#totp-confirm-form [name=code]", code(time.Now()))
	b.press("#totp-confirm-form", "Confirm")
	b.waitFor(`document.querySelectorAll("#recovery-codes li").length === 10`, "ten recovery codes")
	b.press("main", "I have saved them")
	b.see("Authenticator app: on")

	b.click("#logout")
	b.see("You are logged out")
	b.open("/login")
	b.fill("#login [name=email]", "boss@example.test")
	b.fill("#login [name=password]", password)
	b.press("#login", "Log in")
	b.waitFor(`document.querySelector("#login-mfa [name=code]")`, "the second step")
	b.fill("#login-mfa [name=code]", code(time.Now().Add(30*time.Second))) // the next step: the confirm used this one
	b.press("#login-mfa", "Continue")
	b.see("You are logged in.")
	aal := eval[float64](b, `fetch("/api/v1/auth/session").then(r => r.json()).then(j => j.data.session.aal)`)
	if aal != 2 {
		t.Fatalf("session after the second step: aal %v, want 2", aal)
	}
	b.open("/admin")
	b.see("Sign-ups in the last 30 days")
}

// TestBrowserPasskey: with Chromium's virtual authenticator (CTAP2,
// internal, resident keys, user verification) a customer adds a passkey
// on the security page, logs out, logs in with it from the login page and
// the session check says AAL2. A credential made for another RP id does
// not log in. WebAuthn needs a domain, so the pages are opened on
// localhost.
func TestBrowserPasskey(t *testing.T) {
	direct := startServer(t)
	newCustomer(t, direct, "pia@example.test", "Pia")
	base := strings.Replace(direct, "127.0.0.1", "localhost", 1)
	b := newBrowser(t, base)
	var authID cdpwebauthn.AuthenticatorID
	b.do("a virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		authID = res.AuthenticatorID
		return err
	}))
	b.login("pia@example.test", password)
	b.open("/account/security")
	b.click("#passkey-add")
	b.see("The passkey is added.")

	b.click("#logout")
	b.see("You are logged out")
	b.open("/login")
	// The autofill (conditional mediation) may sign in by itself, at any
	// moment; else the button does.
	eval[bool](b, `(() => { const p = document.querySelector("#passkey-login"); if (p && location.pathname === "/login") p.click(); return true; })()`)
	b.waitFor(`location.pathname !== "/login"`, "the passkey login")
	session := func() string {
		return eval[string](b, `fetch("/api/v1/auth/session").then(r => r.json()).then(j => j.success ? j.data.session.aal + " " + j.data.session.methods.join(",") : j.code)`)
	}
	if got := session(); got != "2 passkey" {
		t.Fatalf("session after a passkey login: %q, want AAL2 by passkey", got)
	}

	// A resident credential for another RP id: the browser offers nothing
	// for this site, and no session opens. The credentials are swapped
	// before logging out: the logged-out page's autofill could otherwise
	// sign in again with the old one before the swap.
	b.do("a credential for another site", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.ClearCredentials, cdpwebauthn.ClearCredentialsParams{AuthenticatorID: authID}); err != nil {
			return err
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		// The generated Credential always sends CMTG members, which this
		// Chromium refuses; the command's own fields are sent instead.
		type credential struct {
			CredentialID         []byte  `json:"credentialId"`
			IsResidentCredential bool    `json:"isResidentCredential"`
			RpID                 string  `json:"rpId"`
			PrivateKey           []byte  `json:"privateKey"`
			UserHandle           []byte  `json:"userHandle"`
			SignCount            float64 `json:"signCount"`
		}
		type params struct {
			AuthenticatorID cdpwebauthn.AuthenticatorID `json:"authenticatorId"`
			Credential      credential                  `json:"credential"`
		}
		_, err = cdp.Call(ctx, tg, cdp.Command[params, cdp.Empty]{Method: cdpwebauthn.AddCredential.Method}, params{AuthenticatorID: authID, Credential: credential{
			CredentialID: []byte("another-site-credential"), IsResidentCredential: true, RpID: "other.example", PrivateKey: pkcs8, UserHandle: []byte("someone"), SignCount: 1,
		}})
		return err
	}))
	b.click("#logout")
	b.see("You are logged out")
	b.open("/login")
	b.waitFor(`document.querySelector("#passkey-login")`, "the passkey button")
	eval[bool](b, `(document.querySelector("#passkey-login").click(), true)`)
	time.Sleep(2 * time.Second)
	if got := session(); got != "unauthenticated" || eval[string](b, `location.pathname`) != "/login" {
		t.Fatalf("a credential of another RP id: session %q on %s, want none", got, eval[string](b, `location.pathname`))
	}
}
