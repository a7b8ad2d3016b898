package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/store"
)

// benchRequest sends one request through the whole handler in-process.
func benchRequest(b *testing.B, h http.Handler, host, method, path, body string, cookie *http.Cookie, want int) {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	r.Host = host
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: got %d, want %d: %s", method, path, w.Code, want, w.Body)
	}
}

func benchSetup(b *testing.B, addresses int) (*testServer, http.Handler, string, *http.Cookie) {
	ts := newTestServer(b, nil)
	c := ts.addressUser("bench@example.test")
	for i := range addresses {
		c.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint("A", i))).want(b, 201, "")
	}
	return ts, ts.srv.Handler(), strings.TrimPrefix(ts.URL, "http://"), c.http.Jar.Cookies(mustURL(b, ts.URL))[0]
}

// benchGET times one GET of path through the whole handler, as the bench
// user (with its session cookie) or anonymously.
func benchGET(b *testing.B, path string, signedIn bool) {
	_, h, host, cookie := benchSetup(b, 0)
	if !signedIn {
		cookie = nil
	}
	b.ReportAllocs()
	for b.Loop() {
		benchRequest(b, h, host, "GET", path, "", cookie, 200)
	}
}

func BenchmarkHealthz(b *testing.B) { benchGET(b, "/healthz", false) }

// BenchmarkSessionLookup: who asks. cookie: decode the cookie, read
// session and user. bearer: read the header, then session and user.
// api_key: find the key in the header, check its form, hash it, read the
// key (and note its use).
func BenchmarkSessionLookup(b *testing.B) {
	ts, _, host, cookie := benchSetup(b, 0)
	token := ts.sessionToken(b, "bench@example.test", testPassword)
	// One key, made once: -count reruns the sub-benchmarks, and each key
	// made would grow the (inline, so copied per read) api_keys bucket.
	key := newAPIKey()
	k := &store.APIKey{ID: store.NewID(), Name: "bench", Scopes: []string{scopeUsersRead, scopeAddressesRead}, CreatedAt: ts.clock.Now()}
	if err := ts.db.Update(func(tx *store.Tx) error { return tx.CreateAPIKey(key, k) }); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"cookie", func(r *http.Request) { r.AddCookie(cookie) }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = host
			bc.set(r)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ts.srv.authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("api_key", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		r.Header.Set("Authorization", "Bearer "+key)
		b.ReportAllocs()
		for b.Loop() {
			raw, _ := presentedAPIKey(r)
			if _, err := ts.srv.authenticateKey(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkProfileRead(b *testing.B) { benchGET(b, "/api/v1/auth/profile", true) }

// BenchmarkForwardAuth: what a proxy asks for each page it protects; the
// same session read as BenchmarkProfileRead, answered in headers.
func BenchmarkForwardAuth(b *testing.B) { benchGET(b, "/api/v1/auth/forward", true) }

// BenchmarkAddressCreate: one create and one delete per iteration, each
// answered after its fsynced commit (sequential: no commit to share).
func BenchmarkAddressCreate(b *testing.B) {
	ts, h, host, cookie := benchSetup(b, 0)
	benchAddressCreate(b, ts, h, host, cookie)
}

// benchAddressCreate times address creates (each deleted, untimed, after it).
func benchAddressCreate(b *testing.B, ts *testServer, h http.Handler, host string, cookie *http.Cookie) {
	body := `{"label":"Bench","first_name":"Bench","last_name":"User","street_address":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DE"}`
	var uid [16]byte
	ts.db.View(func(tx *store.Tx) error { u, _ := tx.UserByEmail("bench@example.test"); uid = u.ID; return nil })
	b.ReportAllocs()
	for b.Loop() {
		benchRequest(b, h, host, "POST", "/api/v1/auth/addresses", body, cookie, 201)
		b.StopTimer()
		ts.db.Update(func(tx *store.Tx) error {
			list, _, _ := tx.Addresses(uid)
			return tx.DeleteAddress(uid, list[0].ID)
		})
		b.StartTimer()
	}
}

// BenchmarkTokenSpend: issue and spend a token in the store (the core of
// every confirm route), one write transaction each.
func BenchmarkTokenSpend(b *testing.B) {
	ts, _, _, _ := benchSetup(b, 0)
	var uid [16]byte
	ts.db.View(func(tx *store.Tx) error { u, _ := tx.UserByEmail("bench@example.test"); uid = u.ID; return nil })
	now := ts.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		raw := newSecret()
		err := ts.db.Batch(func(tx *store.Tx) error {
			if err := tx.IssueToken(raw, &store.Token{Kind: store.TokenPasswordReset, UserID: uid, CreatedAt: now, ExpiresAt: now.Add(3600e9)}); err != nil {
				return err
			}
			_, err := tx.SpendToken(store.TokenPasswordReset, raw, now)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
