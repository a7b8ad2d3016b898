package e2e

// Forward auth through the real Caddy and nginx (issue 16): each runs the
// configuration of docs/integration.md, read from the doc itself, in front
// of the built marbelle binary and of a small shop application that
// records the headers it gets. Without caddy or nginx the test of that
// proxy skips; MARBELLE_PROXY_TESTS=1 (as in CI) makes that a failure.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

const forwardPassword = "tangerine walrus umbrella 42"

// forwardRig is Marbelle with a customer and a staff member signed in, the
// shop application, and the addresses the proxies will listen on (chosen
// before Marbelle starts, which lists them in MARBELLE_FORWARD_AUTH_HOSTS).
type forwardRig struct {
	marbelle                  *child
	shop                      *shopApp
	caddyAddr, nginxAddr      string
	customerCookie            string // "name=value", from a real login
	staffCookie               string
	customerID, staffID       string
	customerEmail, staffEmail string
}

func startForwardRig(t *testing.T) *forwardRig {
	t.Helper()
	bin := buildBinary(t, "")
	dir := t.TempDir()
	rig := &forwardRig{caddyAddr: testutil.FreePort(t), nginxAddr: testutil.FreePort(t), customerEmail: "ann@example.test", staffEmail: "staff@example.test"}
	create := exec.Command(bin, "admin", "create", "--email", rig.staffEmail, "--password-stdin")
	create.Env = childEnv(dir, nil)
	create.Stdin = strings.NewReader(forwardPassword + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v %s", err, out)
	}
	rig.marbelle = startChild(t, bin, dir, map[string]string{"MARBELLE_FORWARD_AUTH_HOSTS": rig.caddyAddr + "," + rig.nginxAddr})
	rig.marbelle.waitReady(5 * time.Second)
	base := rig.marbelle.URL

	api := &http.Client{Timeout: 10 * time.Second}
	post := func(path, body string) *http.Response {
		t.Helper()
		res, err := api.Post(base+"/api/v1/auth"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			t.Fatalf("POST %s: got %d", path, res.StatusCode)
		}
		return res
	}
	post("/register", fmt.Sprintf(`{"email":%q,"password":%q,"first_name":"Ann","last_name":"Lee"}`, rig.customerEmail, forwardPassword))
	tok := testutil.WaitDevTokens(t, api, base, rig.customerEmail, "verify-email", 1, 10*time.Second)[0]
	post("/verify-email", fmt.Sprintf(`{"token":%q}`, tok))
	login := func(email string) (cookie, id string) {
		t.Helper()
		res := post("/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, forwardPassword))
		for _, c := range res.Cookies() {
			if strings.HasSuffix(c.Name, "marbelle_session") {
				cookie = c.Name + "=" + c.Value
			}
		}
		if cookie == "" {
			t.Fatalf("login %s: no session cookie", email)
		}
		req, _ := http.NewRequest("GET", base+"/api/v1/auth/profile", nil)
		req.Header.Set("Cookie", cookie)
		res, err := api.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env struct{ Data struct{ ID string } }
		if err := json.NewDecoder(res.Body).Decode(&env); err != nil || env.Data.ID == "" {
			t.Fatalf("profile of %s: %v", email, err)
		}
		return cookie, env.Data.ID
	}
	rig.customerCookie, rig.customerID = login(rig.customerEmail)
	rig.staffCookie, rig.staffID = login(rig.staffEmail)
	rig.shop = startShopApp(t)
	return rig
}

// marbelleHost is Marbelle's host:port, in place of account.shop.example.
func (rig *forwardRig) marbelleHost() string { return strings.TrimPrefix(rig.marbelle.URL, "http://") }

// shopApp is the shop's application: it answers every request with a page
// naming the X-Marbelle-* headers it got, and keeps each request's headers.
type shopApp struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startShopApp(t *testing.T) *shopApp {
	s := &shopApp{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Clone())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Shop</title><h1>Shop page %s for %s</h1>\n", r.URL.Path, r.Header.Get("X-Marbelle-Email"))
	}))
	t.Cleanup(s.Close)
	return s
}

// requests is how many requests the shop has had.
func (s *shopApp) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *shopApp) last() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1]
}

// proxyBinary is the path of a proxy's binary, or a skip (a failure with
// MARBELLE_PROXY_TESTS=1).
func proxyBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	testutil.Missing(t, "MARBELLE_PROXY_TESTS", name+" is missing: apt-get install caddy nginx-light")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// docConfig is the fenced block that follows the line
// "<!-- tested by e2e/forwardauth_test.go: NAME -->" in docs/integration.md.
func docConfig(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "integration.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- tested by e2e/forwardauth_test.go: " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)\n```\n")
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/integration.md has no tested %s configuration (a fenced block after the marker comment)", name)
	}
	return string(m[1])
}

// substitute puts the test's values in place of the doc's example values,
// in one pass (pairs: old, new, …), and fails when the doc no longer has
// one of them: the doc's table of values and the test must change together.
func substitute(t *testing.T, conf string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(conf, pairs[i]) {
			t.Fatalf("the documented configuration no longer contains %q, which the test replaces:\n%s", pairs[i], conf)
		}
	}
	return strings.NewReplacer(pairs...).Replace(conf)
}

// runProxy starts a proxy, kills it when the test ends, and returns once
// addr takes connections.
func runProxy(t *testing.T, addr string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out)
		}
	})
	testutil.WaitFor(t, 15*time.Second, func() error {
		select {
		case <-done:
			t.Fatalf("%s exited: %s", name, out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("%s not listening on %s: %v", filepath.Base(name), addr, err)
		}
		return c.Close()
	})
}

// startCaddy runs Caddy on the doc's Caddyfile and returns its base URL.
func startCaddy(t *testing.T, rig *forwardRig) string {
	t.Helper()
	caddy := proxyBinary(t, "caddy")
	dir := t.TempDir()
	conf := "{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}\n\n" + substitute(t, docConfig(t, "caddy"),
		"account.shop.example", rig.marbelleHost(),
		"shop.example {", "http://"+rig.caddyAddr+" {",
		"127.0.0.1:8080", rig.marbelleHost(),
		"127.0.0.1:3000", strings.TrimPrefix(rig.shop.URL, "http://"),
	)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
	runProxy(t, rig.caddyAddr, env, caddy, "run", "--config", file, "--adapter", "caddyfile")
	return "http://" + rig.caddyAddr
}

// startNginx runs nginx on the doc's server block, over TLS with a
// certificate made here, and returns its base URL and a client that
// trusts the certificate.
func startNginx(t *testing.T, rig *forwardRig) (string, *http.Client) {
	t.Helper()
	nginx := proxyBinary(t, "nginx")
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	site := substitute(t, docConfig(t, "nginx"),
		"/etc/ssl/shop.example/fullchain.pem", certFile,
		"/etc/ssl/shop.example/privkey.pem", keyFile,
		"listen 443 ssl", "listen "+rig.nginxAddr+" ssl",
		"account.shop.example", rig.marbelleHost(),
		"shop.example", "127.0.0.1",
		"127.0.0.1:8080", rig.marbelleHost(),
		"127.0.0.1:3000", strings.TrimPrefix(rig.shop.URL, "http://"),
	)
	// As root, master_process off keeps the one process as root (no
	// user switch); every path nginx writes is in dir.
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
access_log off;
client_body_temp_path %[1]s/body;
proxy_temp_path %[1]s/proxy;
fastcgi_temp_path %[1]s/fastcgi;
uwsgi_temp_path %[1]s/uwsgi;
scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, site)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	runProxy(t, rig.nginxAddr, []string{"PATH=/usr/bin:/bin"}, nginx, "-p", dir+"/", "-c", file, "-e", filepath.Join(dir, "error.log"))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	return "https://" + rig.nginxAddr, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	c := testutil.NewSelfSigned(t)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, c.Pool
}

// TestForwardAuthCaddy and TestForwardAuthNginx run the documented
// configurations; the checks are the same for both.
func TestForwardAuthCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Caddy; skipped under -short")
	}
	proxyBinary(t, "caddy")
	rig := startForwardRig(t)
	base := startCaddy(t, rig)
	checkForwardAuth(t, rig, base, &http.Client{Timeout: 10 * time.Second})
}

func TestForwardAuthNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and nginx; skipped under -short")
	}
	proxyBinary(t, "nginx")
	rig := startForwardRig(t)
	base, client := startNginx(t, rig)
	checkForwardAuth(t, rig, base, client)
}

// checkForwardAuth checks a proxy at base: the login redirect, 401 for
// API clients, the headers the shop gets, a client's own X-Marbelle-*
// headers never reaching the shop, and staff pages.
func checkForwardAuth(t *testing.T, rig *forwardRig, base string, client *http.Client) {
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	get := func(path, cookie, accept string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", accept)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	forged := []string{"X-Marbelle-User-Id", "00000000-0000-7000-8000-000000000000", "X-Marbelle-Email", "mallory@example.test", "X-Marbelle-Staff", "true"}

	t.Run("anonymous browser is sent to the login page", func(t *testing.T) {
		for _, path := range []string{"/orders/7?a=1&b=%2F", "/admin/users"} {
			before := rig.shop.requests()
			res, body := get(path, "", html, forged...)
			want := rig.marbelle.URL + "/login?next=" + url.QueryEscape(base+path)
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
				t.Errorf("GET %s: got %d Location %q, want 302 to %s\n%s", path, res.StatusCode, res.Header.Get("Location"), want, body)
			}
			if rig.shop.requests() != before {
				t.Errorf("GET %s: the shop got the request", path)
			}
		}
	})
	t.Run("anonymous API client gets 401", func(t *testing.T) {
		before := rig.shop.requests()
		res, body := get("/orders/7", "", "application/json", forged...)
		// Marbelle's envelope reaches the client through both proxies
		// (nginx by way of its error_page location).
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthenticated"`) {
			t.Errorf("got %d, want 401 with the envelope\n%s", res.StatusCode, body)
		}
		if rig.shop.requests() != before {
			t.Errorf("the shop got the request")
		}
	})
	t.Run("signed in, the shop gets the user and never the client's own headers", func(t *testing.T) {
		for _, c := range []struct{ cookie, id, email, staff string }{
			{rig.customerCookie, rig.customerID, rig.customerEmail, "false"},
			{rig.staffCookie, rig.staffID, rig.staffEmail, "true"},
		} {
			res, body := get("/orders/7", c.cookie, html, forged...)
			if res.StatusCode != 200 {
				t.Fatalf("%s: got %d, want 200\n%s", c.email, res.StatusCode, body)
			}
			h := rig.shop.last()
			want := map[string]string{"X-Marbelle-User-Id": c.id, "X-Marbelle-Email": c.email, "X-Marbelle-Staff": c.staff, "X-Marbelle-Aal": "1"}
			for k, v := range want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: the shop got %s %q, want %q", c.email, k, got, v)
				}
			}
		}
	})
	t.Run("public pages pass on no client-sent X-Marbelle header", func(t *testing.T) {
		for _, cookie := range []string{"", rig.customerCookie} {
			res, body := get("/about", cookie, html, forged...)
			if res.StatusCode != 200 {
				t.Fatalf("got %d, want 200\n%s", res.StatusCode, body)
			}
			for k, v := range rig.shop.last() {
				if strings.HasPrefix(k, "X-Marbelle-") {
					t.Errorf("signed in %v: the shop got %s %q", cookie != "", k, v)
				}
			}
		}
	})
	t.Run("a customer cannot open a staff page", func(t *testing.T) {
		before := rig.shop.requests()
		res, body := get("/admin/users", rig.customerCookie, html, forged...)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("got %d, want 403\n%s", res.StatusCode, body)
		}
		if rig.shop.requests() != before {
			t.Errorf("the shop got the request")
		}
		res, body = get("/admin/users", rig.staffCookie, html)
		if res.StatusCode != 200 || rig.shop.last().Get("X-Marbelle-User-Id") != rig.staffID {
			t.Errorf("staff: got %d, want 200 with the staff id\n%s", res.StatusCode, body)
		}
	})
}
