package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

// newKey makes an API key through the admin API as staff and returns it.
func (ts *testServer) newKey(staff *testClient, name string, scopes ...string) (string, newAPIKeyView) {
	ts.t.Helper()
	var v newAPIKeyView
	staff.do("POST", "/api/v1/admin/api-keys", map[string]any{"name": name, "scopes": scopes}).want(ts.t, 201, "").data(ts.t, &v)
	return v.Key, v
}

// keyClient is a service calling with key, and no cookie.
func (ts *testServer) keyClient(key string) *testClient {
	c := ts.client()
	c.header.Set("Authorization", "Bearer "+key)
	return c
}

// quiet waits until no mail is queued, so that the delivery loop (which
// marks each mail sent in the store) writes nothing while a test counts
// the store's writes.
func (ts *testServer) quiet() {
	ts.t.Helper()
	testutil.WaitFor(ts.t, 10*time.Second, func() error {
		var queued []store.Mail
		ts.db.View(func(tx *store.Tx) error { queued, _ = tx.OutboxList(store.MailQueued, 1); return nil })
		if len(queued) > 0 {
			return fmt.Errorf("mail %s is still queued", queued[0].ID)
		}
		return nil
	})
}

// mustNotHold fails if the log, the audit log or the store file holds key.
func (ts *testServer) mustNotHold(t *testing.T, key string) {
	t.Helper()
	if strings.Contains(ts.logBuf.String(), key) {
		t.Fatal("the log holds an API key")
	}
	events, err := json.Marshal(secAudit(t, ts))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(events, []byte(key)) {
		t.Fatal("the audit log holds an API key")
	}
	for _, name := range []string{"api_keys", "api_keys_by_hash", "audit"} {
		for _, v := range secBucket(t, ts, name) {
			if bytes.Contains(v, []byte(key)) || bytes.Contains(v, []byte(key[len(apiKeyPrefix):])) {
				t.Fatalf("bucket %s holds an API key", name)
			}
		}
	}
}

// TestAPIKeyAdminLifecycle: staff make, list and revoke keys; the key is
// in the answer that makes it and nowhere else (list, log, audit, store);
// the input is checked; a revoked key is refused on its next request.
func TestAPIKeyAdminLifecycle(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("keys-boss@example.test")

	key, made := ts.newKey(admin, "Checkout", "users:read", "addresses:read", "users:read")
	if !wellFormedAPIKey(key) || !strings.HasPrefix(key, "mbk_") || len(key) != 47 {
		t.Fatalf("key %q: want mbk_ and 43 base64url characters", key)
	}
	if made.Name != "Checkout" || strings.Join(made.Scopes, " ") != "users:read addresses:read" || made.RevokedAt != nil || made.LastUsedAt != nil || made.ExpiresAt != nil {
		t.Fatalf("made: %+v", made)
	}
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")

	r := admin.do("GET", "/api/v1/admin/api-keys", nil).want(t, 200, "")
	if bytes.Contains(r.Body, []byte(key)) || bytes.Contains(r.Body, []byte(`"key"`)) {
		t.Fatalf("the list shows the key: %s", r.Body)
	}
	var list []apiKeyView
	r.data(t, &list)
	if len(list) != 1 || list[0].ID != made.ID || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(ts.clock.Now().Truncate(time.Minute)) {
		t.Fatalf("list: %s; want the key, last used this minute", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}

	// The input is checked, and unknown scopes are named.
	for _, c := range []struct {
		body  map[string]any
		field string
		part  string
	}{
		{map[string]any{"name": "x", "scopes": []string{"users:read", "users:admin", "everything"}}, "scopes", `"users:admin", "everything"`},
		{map[string]any{"name": "x", "scopes": []string{}}, "scopes", "at least one"},
		{map[string]any{"name": " ", "scopes": []string{"users:read"}}, "name", "required"},
		{map[string]any{"name": "x\ny", "scopes": []string{"users:read"}}, "name", "control"},
		{map[string]any{"name": "x", "scopes": []string{"users:read"}, "expires_at": "tomorrow"}, "expires_at", "RFC 3339"},
		{map[string]any{"name": "x", "scopes": []string{"users:read"}, "expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "future"},
	} {
		r := admin.do("POST", "/api/v1/admin/api-keys", c.body).want(t, 400, CodeValidation)
		if msgs := strings.Join(r.Env.Errors[c.field], " "); !strings.Contains(msgs, c.part) {
			t.Fatalf("%v: errors %v, want %s naming %q", c.body, r.Env.Errors, c.field, c.part)
		}
	}

	// Revoked: refused on the next request; revoking again changes nothing.
	var revoked apiKeyView
	admin.do("DELETE", "/api/v1/admin/api-keys/"+made.ID.String(), nil).want(t, 200, "").data(t, &revoked)
	if revoked.RevokedAt == nil {
		t.Fatalf("revoked: %+v", revoked)
	}
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	admin.do("DELETE", "/api/v1/admin/api-keys/"+made.ID.String(), nil).want(t, 200, "")
	admin.do("DELETE", "/api/v1/admin/api-keys/"+uuid.NewString(), nil).want(t, 404, CodeNotFound)
	admin.do("DELETE", "/api/v1/admin/api-keys/nope", nil).want(t, 404, CodeNotFound)

	n := 0
	for _, e := range secAudit(t, ts) {
		switch e.Event {
		case "api_key_created", "api_key_revoked":
			n++
			if e.Detail["key_id"] != made.ID.String() || e.Detail["key_name"] != "Checkout" || e.Detail["actor_email"] != "keys-boss@example.test" {
				t.Fatalf("audit %s: detail %v", e.Event, e.Detail)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d api key audit events, want created and revoked once each", n)
	}

	// Only staff sessions manage keys: customers 403, nobody 401.
	customer := ts.addressUser("keys-customer@example.test")
	customer.do("GET", "/api/v1/admin/api-keys", nil).want(t, 403, CodeForbidden)
	customer.do("POST", "/api/v1/admin/api-keys", map[string]any{"name": "x", "scopes": []string{"users:read"}}).want(t, 403, CodeForbidden)
	ts.client().do("GET", "/api/v1/admin/api-keys", nil).want(t, 401, CodeUnauthenticated)
	ts.checkStore()
	ts.mustNotHold(t, key)
}

// TestAPIKeyScopes: each admin route against a key of each scope (and of
// all of them): 200 where the scope covers it, else 403; the staff-only
// routes refuse every key with 403; the account routes do not know keys
// (401).
func TestAPIKeyScopes(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("scopes-boss@example.test")
	cust := ts.addressUser("scopes-cust@example.test")
	cust.do("POST", "/api/v1/auth/addresses", addressBody("Home")).want(t, 201, "")
	victim := "scopes-victim@example.test"
	ts.mustUser(victim, testPassword)
	cid, vid := ts.userID("scopes-cust@example.test"), ts.userID(victim)

	keys := map[string]string{}
	for _, sc := range scopeNames() {
		keys[sc], _ = ts.newKey(admin, "only "+sc, sc)
	}
	keys["all"], _ = ts.newKey(admin, "all", scopeNames()...)
	order := append(scopeNames(), "all")

	type route struct {
		method, path string
		body         any
		allowed      []string // the scopes (or "all") answered 200
	}
	admin.do("POST", "/api/v1/admin/api-keys", map[string]any{"name": "spare", "scopes": []string{"users:read"}}).want(t, 201, "")
	var spare []apiKeyView
	admin.do("GET", "/api/v1/admin/api-keys", nil).want(t, 200, "").data(t, &spare)
	routes := []route{
		{"GET", "/api/v1/admin/users", nil, []string{"users:read", "all"}},
		{"GET", "/api/v1/admin/users/" + cid, nil, []string{"users:read", "all"}},
		{"GET", "/api/v1/admin/users/" + cid + "/addresses", nil, []string{"users:read", "addresses:read", "all"}},
		{"PATCH", "/api/v1/admin/users/" + cid, map[string]any{"company_name": "ACME"}, []string{"users:write", "all"}},
		// The scope is checked before the user: every other key is 403 whether or not the victim is gone.
		{"DELETE", "/api/v1/admin/users/" + vid, nil, []string{"users:write"}},
		{"GET", "/api/v1/admin/backup", nil, nil},
		{"GET", "/api/v1/admin/api-keys", nil, nil},
		{"POST", "/api/v1/admin/api-keys", map[string]any{"name": "x", "scopes": []string{"users:read"}}, nil},
		{"DELETE", "/api/v1/admin/api-keys/" + spare[0].ID.String(), nil, nil},
		{"GET", "/api/v1/admin/audit", nil, nil},
		{"GET", "/api/v1/admin/outbox", nil, nil},
		{"GET", "/api/v1/admin/stats", nil, nil},
		{"POST", "/api/v1/admin/users/" + cid + "/revoke-sessions", nil, nil},
		{"POST", "/api/v1/admin/users/" + cid + "/restore", map[string]any{}, nil},
	}
	for _, rt := range routes {
		for _, sc := range order {
			want, code := 403, CodeForbidden
			for _, a := range rt.allowed {
				if a == sc {
					want, code = 200, ""
				}
			}
			if rt.method == "DELETE" && strings.Contains(rt.path, vid) && sc == "all" {
				want, code = 404, CodeNotFound // users:write deleted the victim first
			}
			r := ts.keyClient(keys[sc]).do(rt.method, rt.path, rt.body)
			if r.Status != want || r.Env.Code != code {
				t.Fatalf("%s %s with a %s key: got %d %q, want %d %q: %s", rt.method, rt.path, sc, r.Status, r.Env.Code, want, code, r.Body)
			}
			if want == 403 && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Fatalf("%s %s with a %s key: WWW-Authenticate %q", rt.method, rt.path, sc, r.Header.Get("WWW-Authenticate"))
			}
		}
	}

	// The account routes take sessions only: a key is no session.
	for _, rt := range []route{
		{"GET", "/api/v1/auth/profile", nil, nil},
		{"PATCH", "/api/v1/auth/profile", map[string]any{"first_name": "Key"}, nil},
		{"GET", "/api/v1/auth/addresses", nil, nil},
		{"POST", "/api/v1/auth/addresses", addressBody("Key"), nil},
		{"GET", "/api/v1/auth/sessions", nil, nil},
		{"GET", "/api/v1/auth/export", nil, nil},
		{"POST", "/api/v1/auth/password/change", map[string]any{"current_password": testPassword, "new_password": "another " + testPassword}, nil},
		{"DELETE", "/api/v1/auth/account", map[string]any{"password": testPassword}, nil},
	} {
		ts.keyClient(keys["all"]).do(rt.method, rt.path, rt.body).want(t, 401, CodeUnauthenticated)
	}

	// The admin list of addresses is the owner's own list, byte for byte.
	own := cust.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "")
	byKey := ts.keyClient(keys["addresses:read"]).do("GET", "/api/v1/admin/users/"+cid+"/addresses", nil).want(t, 200, "")
	if !bytes.Equal(own.Env.Data, byKey.Env.Data) || len(own.Env.Data) < 10 {
		t.Fatalf("addresses by key %s, want the owner's %s", byKey.Env.Data, own.Env.Data)
	}
	ts.keyClient(keys["addresses:read"]).do("GET", "/api/v1/admin/users/"+uuid.NewString()+"/addresses", nil).want(t, 404, CodeNotFound)
	admin.do("GET", "/api/v1/admin/users/"+cid+"/addresses", nil).want(t, 200, "")
	cust.do("GET", "/api/v1/admin/users/"+cid+"/addresses", nil).want(t, 403, CodeForbidden)
	ts.checkStore()
}

// TestAPIKeyBadKeysAre401: unknown, malformed, truncated, revoked and
// expired keys are 401 (never 500, never a session's answer), cost no
// write, and are never echoed or logged.
func TestAPIKeyBadKeysAre401(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("bad-boss@example.test")
	key, _ := ts.newKey(admin, "good", "users:read")
	var hour newAPIKeyView
	admin.do("POST", "/api/v1/admin/api-keys", map[string]any{"name": "hour", "scopes": []string{"users:read"}, "expires_at": ts.clock.Now().Add(time.Hour).Format(time.RFC3339)}).want(t, 201, "").data(t, &hour)
	expiring := hour.Key

	unknown := newAPIKey()
	bad := []string{
		"mbk_", "mbk_short", key[:len(key)-1], key + "A", key[:10] + "!" + key[11:],
		unknown, "mbk_" + strings.Repeat("A", 10_000), "mbk_" + strings.Repeat("é", 21) + "A",
		key[:20] + "+" + key[21:], key[:46] + "=", key[:20] + "\t" + key[21:], "mbk_ " + key[4:],
	}
	ts.quiet()
	before := ts.db.WriteStats()
	for _, k := range bad {
		for _, path := range []string{"/api/v1/admin/users", "/api/v1/admin/backup"} {
			c := ts.client()
			c.header["Authorization"] = []string{"Bearer " + k}
			// A staff cookie beside a bad key does not help: the key decides.
			c.http.Jar = admin.http.Jar
			r := c.do("GET", path, nil)
			if r.Status != 401 || r.Env.Code != CodeUnauthenticated || !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("key %.30q on %s: got %d %q (WWW-Authenticate %q), want 401", k, path, r.Status, r.Env.Code, r.Header.Get("WWW-Authenticate"))
			}
			if len(k) > 8 && bytes.Contains(r.Body, []byte(k)) {
				t.Fatalf("the answer echoes the key: %s", r.Body)
			}
		}
	}
	// Not our prefix: no key at all, so the session rules answer (none here).
	ts.keyClient("MBK_"+key[4:]).do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	// Two Authorization headers, one a good key: which counts would be a guess.
	two := ts.client()
	two.header["Authorization"] = []string{"Bearer " + key, "Bearer other"}
	two.do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	if after := ts.db.WriteStats(); after.PagesWritten != before.PagesWritten {
		t.Fatalf("bad keys wrote %d pages", after.PagesWritten-before.PagesWritten)
	}

	ts.keyClient(expiring).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
	ts.clock.Advance(time.Hour)
	ts.keyClient(expiring).do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
	for _, k := range append(bad, key, expiring, unknown) {
		if len(k) > 8 && strings.Contains(ts.logBuf.String(), k) {
			t.Fatalf("the log holds key %.20q…", k)
		}
	}
}

// TestAPIKeyLastUsedToTheMinuteWithoutWrites: a key's uses are written
// once per minute in one batched commit, not per request, and the list
// shows them to the minute before they are written.
func TestAPIKeyLastUsedToTheMinuteWithoutWrites(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("used-boss@example.test")
	key, made := ts.newKey(admin, "used", "users:read")
	key2, made2 := ts.newKey(admin, "used too", "users:read")
	stored := func(id uuid.UUID) time.Time {
		var at time.Time
		ts.db.View(func(tx *store.Tx) error {
			k, err := tx.APIKey(id)
			if err != nil {
				t.Fatal(err)
			}
			at = k.LastUsedAt
			return nil
		})
		return at
	}
	ts.clock.Advance(30 * time.Second) // 10:00:30
	ts.quiet()
	before := ts.db.WriteStats()
	for range 50 {
		ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
		ts.keyClient(key2).do("GET", "/api/v1/admin/users/"+made.ID.String(), nil).want(t, 404, CodeNotFound)
	}
	if after := ts.db.WriteStats(); after.PagesWritten != before.PagesWritten || after.GroupCommits != before.GroupCommits {
		t.Fatalf("100 key requests wrote: %+v, then %+v", before, after)
	}
	minute := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if !stored(made.ID).IsZero() {
		t.Fatal("a use was written before the flush")
	}
	var list []apiKeyView
	admin.do("GET", "/api/v1/admin/api-keys", nil).want(t, 200, "").data(t, &list)
	for _, v := range list {
		if v.LastUsedAt == nil || !v.LastUsedAt.Equal(minute) {
			t.Fatalf("listed before the flush: %+v, want last used %v", v, minute)
		}
	}

	before = ts.db.WriteStats()
	if err := ts.srv.flushKeyUses(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := ts.db.WriteStats(); after.GroupCommits != before.GroupCommits+1 {
		t.Fatalf("the flush made %d commits, want 1 for both keys", after.GroupCommits-before.GroupCommits)
	}
	if !stored(made.ID).Equal(minute) || !stored(made2.ID).Equal(minute) {
		t.Fatalf("stored last use %v, %v; want %v", stored(made.ID), stored(made2.ID), minute)
	}

	// More uses in the same minute note nothing: the next flush writes nothing.
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
	before = ts.db.WriteStats()
	ts.srv.flushKeyUses(t.Context())
	if after := ts.db.WriteStats(); after.GroupCommits != before.GroupCommits || after.PagesWritten != before.PagesWritten {
		t.Fatal("a flush with nothing new wrote")
	}
	// The next minute is noted and written.
	ts.clock.Advance(time.Minute) // 10:01:30
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
	ts.srv.flushKeyUses(t.Context())
	if got := stored(made.ID); !got.Equal(minute.Add(time.Minute)) {
		t.Fatalf("after another minute: stored %v, want %v", got, minute.Add(time.Minute))
	}
	if got := stored(made2.ID); !got.Equal(minute) {
		t.Fatalf("an unused key moved: %v", got)
	}
}

// TestAPIKeyActsAsItselfInTheAudit: a change made with a key names the key
// (actor_key_id, actor_key_name), not a person; keys change customers,
// never staff accounts or staff access; and the self-protection of staff
// does not apply to keys.
func TestAPIKeyActsAsItselfInTheAudit(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("audit-boss@example.test")
	ts.mustUser("audit-cust@example.test", testPassword)
	cid := ts.userID("audit-cust@example.test")
	key, made := ts.newKey(admin, "order system", "users:write", "users:read")
	svc := ts.keyClient(key)
	svc.header.Set("User-Agent", "OrderSystem/2.0")

	svc.do("PATCH", "/api/v1/admin/users/"+cid, map[string]any{"company_name": "ACME", "is_active": false}).want(t, 200, "")
	var found []string
	for _, e := range secAudit(t, ts) {
		if e.UserID.String() != cid || (e.Event != "user_updated" && e.Event != "user_deactivated") {
			continue
		}
		if e.Detail["actor_key_id"] != made.ID.String() || e.Detail["actor_key_name"] != "order system" || e.Detail["actor_id"] != "" || e.UserAgent != "OrderSystem/2.0" {
			t.Fatalf("audit %s: %+v", e.Event, e)
		}
		found = append(found, e.Event)
	}
	if len(found) != 2 {
		t.Fatalf("audit events by the key: %v, want user_updated and user_deactivated", found)
	}

	// Staff accounts and staff access are for staff.
	bid := ts.userID("audit-boss@example.test")
	svc.do("PATCH", "/api/v1/admin/users/"+bid, map[string]any{"first_name": "Pwned"}).want(t, 403, CodeForbidden)
	svc.do("PATCH", "/api/v1/admin/users/"+bid, map[string]any{"is_active": false}).want(t, 403, CodeForbidden)
	svc.do("DELETE", "/api/v1/admin/users/"+bid, nil).want(t, 403, CodeForbidden)
	svc.do("PATCH", "/api/v1/admin/users/"+cid, map[string]any{"is_staff": true}).want(t, 403, CodeForbidden)
	svc.do("PATCH", "/api/v1/admin/users/"+cid, map[string]any{"is_staff": false}).want(t, 200, "") // changes nothing
	var u adminUser
	admin.do("GET", "/api/v1/admin/users/"+cid, nil).want(t, 200, "").data(t, &u)
	if u.IsStaff || u.CompanyName != "ACME" || u.IsActive {
		t.Fatalf("customer after the key's changes: %+v", u)
	}
	var boss adminUser
	admin.do("GET", "/api/v1/admin/users/"+bid, nil).want(t, 200, "").data(t, &boss)
	if !boss.IsStaff || !boss.IsActive || boss.FirstName == "Pwned" {
		t.Fatalf("staff account after refused changes: %+v", boss)
	}
	svc.do("DELETE", "/api/v1/admin/users/"+cid, nil).want(t, 200, "")
	ts.mustNotHold(t, key)
	ts.checkStore()
}

// TestAPIKeyRevocationRacesUse: while services use a key (and its uses
// are flushed), staff revoke it; every request sent after the revocation
// answered is refused, none fails otherwise, and the revocation stands.
func TestAPIKeyRevocationRacesUse(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("race-boss@example.test")
	key, made := ts.newKey(admin, "racer", "users:read")
	var revoked atomic.Bool
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ok200, ok401 atomic.Int64
	for range 4 {
		wg.Go(func() {
			c := ts.keyClient(key)
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				req, _ := http.NewRequest("GET", ts.URL+"/api/v1/admin/users", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := c.http.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				res.Body.Close()
				switch {
				case res.StatusCode == 401:
					ok401.Add(1)
				case res.StatusCode == 200 && !after:
					ok200.Add(1)
				default:
					t.Errorf("status %d (sent after the revocation: %v)", res.StatusCode, after)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				ts.srv.flushKeyUses(t.Context())
				time.Sleep(time.Millisecond)
			}
		}
	})
	time.Sleep(100 * time.Millisecond)
	admin.do("DELETE", "/api/v1/admin/api-keys/"+made.ID.String(), nil).want(t, 200, "")
	revoked.Store(true)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	ts.srv.flushKeyUses(t.Context())
	if ok200.Load() == 0 || ok401.Load() == 0 {
		t.Fatalf("%d answered, %d refused: want both", ok200.Load(), ok401.Load())
	}
	ts.keyClient(key).do("GET", "/api/v1/admin/users", nil).want(t, 401, CodeUnauthenticated)
	ts.checkStore()
}
