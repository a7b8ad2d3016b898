package app

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/store"
)

// staff makes a verified staff account and returns its signed-in client.
func (ts *testServer) staff(email string) *testClient {
	ts.t.Helper()
	ts.mustUser(email, testPassword)
	secChangeUser(ts.t, ts, email, func(u *store.User) { u.Staff = true })
	return ts.login(email, testPassword)
}

func (ts *testServer) userID(email string) string {
	ts.t.Helper()
	var id string
	ts.db.View(func(tx *store.Tx) error {
		u, err := tx.UserByEmail(email)
		if err != nil {
			ts.t.Fatalf("user %s: %v", email, err)
		}
		id = u.ID.String()
		return nil
	})
	return id
}

// TestSEC39AdminRoutesAreStaffOnly: anonymous 401, customers 403, on every admin route.
func TestSEC39AdminRoutesAreStaffOnly(t *testing.T) {
	ts := newTestServer(t, nil)
	customer := ts.addressUser("customer@example.test")
	id := ts.userID("customer@example.test")
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/admin/users"}, {"GET", "/api/v1/admin/users/" + id}, {"PATCH", "/api/v1/admin/users/" + id},
		{"DELETE", "/api/v1/admin/users/" + id}, {"POST", "/api/v1/admin/users/" + id + "/revoke-sessions"},
		{"GET", "/api/v1/admin/audit"}, {"GET", "/api/v1/admin/outbox"}, {"POST", "/api/v1/admin/outbox/" + id + "/retry"},
		{"GET", "/api/v1/admin/backup"}, {"GET", "/api/v1/admin/stats"},
	}
	for _, rt := range routes {
		var body any
		if rt.method == "PATCH" {
			body = map[string]any{"is_staff": true}
		}
		ts.client().do(rt.method, rt.path, body).want(t, 401, CodeUnauthenticated)
		r := customer.do(rt.method, rt.path, body).want(t, 403, CodeForbidden)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %s: want Cache-Control no-store", rt.method, rt.path)
		}
	}
	// Nothing changed: still a customer, still there.
	customer.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "")
	var p profile
	customer.do("GET", "/api/v1/auth/profile", nil).data(t, &p)
	if p.IsStaff {
		t.Fatalf("customer became staff")
	}
}

func TestAdminUserSearchAndPaging(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	for i := range 7 {
		ts.client().do("POST", "/api/v1/auth/register", map[string]string{"email": fmt.Sprintf("u%d@example.test", i), "password": testPassword, "first_name": "Zed" + strconv.Itoa(i%2), "last_name": "Quill"}).want(t, 201, "")
	}
	var list []adminUser
	r := admin.do("GET", "/api/v1/admin/users?page=2&page_size=3", nil).want(t, 200, "")
	r.data(t, &list)
	if r.Header.Get("X-Total-Count") != "8" || len(list) != 3 || list[0].Email != "u2@example.test" {
		t.Fatalf("page 2: total %s, got %d users starting %q", r.Header.Get("X-Total-Count"), len(list), list[0].Email)
	}
	r = admin.do("GET", "/api/v1/admin/users?q=ZED1&page_size=2", nil).want(t, 200, "")
	r.data(t, &list)
	if r.Header.Get("X-Total-Count") != "3" || len(list) != 2 {
		t.Fatalf("search by name: total %s, got %d", r.Header.Get("X-Total-Count"), len(list))
	}
	r = admin.do("GET", "/api/v1/admin/users?q=u6@example", nil).want(t, 200, "")
	r.data(t, &list)
	if r.Header.Get("X-Total-Count") != "1" || list[0].Email != "u6@example.test" || list[0].IsActive != true || list[0].LastLoginAt != nil {
		t.Fatalf("search by email: %s %+v", r.Header.Get("X-Total-Count"), list)
	}
	admin.do("GET", "/api/v1/admin/users?page=0", nil).want(t, 400, CodeValidation)
	admin.do("GET", "/api/v1/admin/users?page_size=201", nil).want(t, 400, CodeValidation)
}

// TestSEC35DeactivationEndsSessions and the self-protection rules (SEC-41).
func TestSEC35DeactivationEndsSessionsAndStaffCannotLockThemselvesOut(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	user := ts.addressUser("user@example.test")
	id := ts.userID("user@example.test")
	var u adminUser
	admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false, "first_name": "Renamed"}).want(t, 200, "").data(t, &u)
	if u.IsActive || u.FirstName != "Renamed" {
		t.Fatalf("after deactivation: %+v", u)
	}
	user.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "user@example.test", "password": testPassword}).want(t, 401, CodeUnauthenticated)
	// The answer is the contract's admin user: the profile and is_active
	// (true again here) with last_login_at, not the profile alone.
	var back map[string]any
	admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": true}).want(t, 200, "").data(t, &back)
	for _, k := range []string{"id", "email", "first_name", "last_name", "phone", "company_name", "email_verified", "is_staff", "date_joined", "is_active", "last_login_at"} {
		if _, ok := back[k]; !ok {
			t.Fatalf("after reactivation: no %q in %v", k, back)
		}
	}
	if back["is_active"] != true {
		t.Fatalf("after reactivation: is_active %v", back["is_active"])
	}
	user = ts.login("user@example.test", testPassword)
	admin.do("POST", "/api/v1/admin/users/"+id+"/revoke-sessions", nil).want(t, 200, "")
	user.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)

	self := ts.userID("boss@example.test")
	admin.do("PATCH", "/api/v1/admin/users/"+self, map[string]any{"is_staff": false}).want(t, 400, CodeValidation)
	admin.do("PATCH", "/api/v1/admin/users/"+self, map[string]any{"is_active": false}).want(t, 400, CodeValidation)
	admin.do("DELETE", "/api/v1/admin/users/"+self, nil).want(t, 400, CodeValidation)
	var p profile
	admin.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &p)
	if !p.IsStaff {
		t.Fatalf("staff lost their own staff flag")
	}
	// Granting staff ends the user's customer sessions (lifetimes follow the role).
	user = ts.login("user@example.test", testPassword)
	admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_staff": true}).want(t, 200, "")
	user.do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated)
	admin.do("DELETE", "/api/v1/admin/users/"+id, nil).want(t, 200, "")
	admin.do("GET", "/api/v1/admin/users/"+id, nil).want(t, 404, CodeNotFound)
	admin.do("GET", "/api/v1/admin/users/not-an-id", nil).want(t, 404, CodeNotFound)
	ts.checkStore()

	// SEC-42: every admin action is an audit event naming the acting admin.
	var events []auditView
	admin.do("GET", "/api/v1/admin/audit?user_id="+id, nil).want(t, 200, "").data(t, &events)
	seen := map[string]bool{}
	for _, e := range events {
		if e.Detail["actor_id"] == self {
			seen[e.Event] = true
		}
		if e.At.Location() != time.UTC || e.IP == "" {
			t.Fatalf("event %s: want UTC time and an ip: %+v", e.Event, e)
		}
	}
	for _, ev := range []string{"user_deactivated", "user_activated", "user_updated", "sessions_revoked", "staff_granted", "user_deleted"} {
		if !seen[ev] {
			t.Fatalf("audit lacks %s by the acting admin: %+v", ev, events)
		}
	}
	admin.do("GET", "/api/v1/admin/audit?user_id=x", nil).want(t, 400, CodeValidation)
	admin.do("GET", "/api/v1/admin/audit?event=user_deleted&limit=1", nil).want(t, 200, "").data(t, &events)
	if len(events) != 1 || events[0].Event != "user_deleted" {
		t.Fatalf("event filter: %+v", events)
	}
	older := events[0].ID.String()
	admin.do("GET", "/api/v1/admin/audit?before="+older+"&limit=500", nil).want(t, 200, "").data(t, &events)
	for _, e := range events {
		if e.ID.String() >= older {
			t.Fatalf("before=%s returned a newer event %s", older, e.ID)
		}
	}
}

// TestSEC41AdminResponsesHoldNoSecrets: no hash, token or cookie value in
// any admin answer; token previews are hash fingerprints.
func TestSEC41AdminResponsesHoldNoSecrets(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	user := ts.addressUser("secret@example.test")
	user.do("POST", "/api/v1/auth/addresses", addressBody("Home")).want(t, 201, "")
	ts.client().do("POST", "/api/v1/auth/password-reset/request", map[string]string{"email": "secret@example.test"}).want(t, 200, "")
	resetTok := ts.waitToken("secret@example.test", "reset-password", 2)
	id := ts.userID("secret@example.test")
	var cookieValues []string
	for _, c := range user.http.Jar.Cookies(mustURL(t, ts.URL)) {
		cookieValues = append(cookieValues, c.Value)
	}
	var bodies [][]byte
	r := admin.do("GET", "/api/v1/admin/users/"+id, nil).want(t, 200, "")
	bodies = append(bodies, r.Body)
	var d struct {
		Addresses []addressView `json:"addresses"`
		Sessions  int           `json:"sessions"`
		Tokens    []adminTokenRow
		IsActive  bool `json:"is_active"`
	}
	r.data(t, &d)
	if len(d.Addresses) != 1 || d.Sessions != 1 || len(d.Tokens) != 2 || !d.IsActive {
		t.Fatalf("detail: %s", r.Body)
	}
	for _, tok := range d.Tokens {
		if len(tok.Preview) != 8 || strings.Contains(resetTok, tok.Preview) {
			t.Fatalf("preview %q must be a short fingerprint, not part of the token", tok.Preview)
		}
	}
	for _, path := range []string{"/api/v1/admin/users", "/api/v1/admin/users?q=secret", "/api/v1/admin/audit?limit=500", "/api/v1/admin/outbox"} {
		bodies = append(bodies, admin.do("GET", path, nil).want(t, 200, "").Body)
	}
	secretish := regexp.MustCompile(`\$argon2|[A-Za-z0-9_-]{43}`)
	for _, b := range bodies {
		if secretish.Match(b) || bytes.Contains(b, []byte(resetTok)) {
			t.Fatalf("admin answer holds a secret: %s", b)
		}
		for _, cv := range cookieValues {
			if bytes.Contains(b, []byte(cv)) {
				t.Fatalf("admin answer holds a cookie value")
			}
		}
	}
}

func TestAdminOutboxAndRetry(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	ts.client().do("POST", "/api/v1/auth/register", registerBody("mail@example.test", testPassword)).want(t, 201, "")
	ts.waitMail("mail@example.test", 1)
	// Fail a queued mail by hand (as the delivery loop does after a 5xx).
	failedID := failedMail(t, ts, "gone@example.test")
	var list []outboxView
	admin.do("GET", "/api/v1/admin/outbox?status=failed", nil).want(t, 200, "").data(t, &list)
	if len(list) != 1 || list[0].Status != "failed" || list[0].LastError != "550 mailbox unavailable" || list[0].Attempts != 3 {
		t.Fatalf("failed list: %+v", list)
	}
	admin.do("GET", "/api/v1/admin/outbox?status=weird", nil).want(t, 400, CodeValidation)
	admin.do("POST", "/api/v1/admin/outbox/"+failedID.String()+"/retry", nil).want(t, 200, "")
	ts.waitMail("gone@example.test", 1)
	admin.do("POST", "/api/v1/admin/outbox/"+failedID.String()+"/retry", nil).want(t, 400, CodeValidation) // sent now
	admin.do("POST", "/api/v1/admin/outbox/"+uuid.NewString()+"/retry", nil).want(t, 404, CodeNotFound)
}

// TestAdminBackupDuringWrites: a snapshot taken while writers run
// opens, passes the check, and holds every write acknowledged before it began.
func TestAdminBackupDuringWrites(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	user := ts.addressUser("writer@example.test")
	var acked sync.Map // label → true once its 201 came back
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			c := ts.client()
			for i := 0; !stop.Load(); i++ {
				email := fmt.Sprintf("w%d-%d@example.test", w, i)
				if c.do("POST", "/api/v1/auth/register", registerBody(email, testPassword)).Status == 201 {
					acked.Store(email, true)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			r := user.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint("L", i)))
			if r.Status == 201 {
				var a addressView
				r.data(t, &a)
				user.do("DELETE", "/api/v1/auth/addresses/"+a.ID.String(), nil)
			}
		}
	})
	time.Sleep(200 * time.Millisecond)
	var before []string
	acked.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })

	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/admin/backup", nil)
	res, err := admin.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, err := io.ReadAll(res.Body)
	res.Body.Close()
	stop.Store(true)
	wg.Wait()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" || !strings.Contains(res.Header.Get("Content-Disposition"), "marbelle-") || err != nil {
		t.Fatalf("backup: %d %v %v", res.StatusCode, res.Header, err)
	}
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(snapshot)) {
		t.Fatalf("Content-Length %s for %d bytes", cl, len(snapshot))
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	os.WriteFile(path, snapshot, 0o600)
	faults, err := Check(path)
	if err != nil || len(faults) > 0 {
		t.Fatalf("snapshot check: %v %v", err, faults)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *store.Tx) error {
		for _, e := range before {
			if _, err := tx.UserByEmail(e); err != nil {
				t.Fatalf("acknowledged before the backup but missing: %s", e)
			}
		}
		return nil
	})
	if len(before) == 0 {
		t.Fatalf("no write was acknowledged before the backup; the test proved nothing")
	}
}

func TestAdminDashboardCounts(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	ts.client().do("POST", "/api/v1/auth/register", registerBody("pending@example.test", testPassword)).want(t, 201, "")
	ts.mustUser("done@example.test", testPassword)
	var d dashboard
	admin.do("GET", "/api/v1/admin/stats", nil).want(t, 200, "").data(t, &d)
	if d.Users != 3 || d.Verified != 2 || d.Unverified != 1 || len(d.SignupsPerDay) != 30 {
		t.Fatalf("dashboard: %+v", d)
	}
	last := d.SignupsPerDay[29]
	if last.Date != ts.clock.Now().Format("2006-01-02") || last.Count != 3 {
		t.Fatalf("today: %+v", last)
	}
	ts.clock.Advance(48 * time.Hour)
	admin = ts.login("boss@example.test", testPassword)
	admin.do("GET", "/api/v1/admin/stats", nil).want(t, 200, "").data(t, &d)
	if d.SignupsPerDay[27].Count != 3 || d.SignupsPerDay[29].Count != 0 {
		t.Fatalf("two days later: %+v", d.SignupsPerDay[26:])
	}
}

// TestSEC07Argon2idAtRest: through the hot backup, every stored password
// hash is argon2id in PHC form at or above the floor with a salt of at
// least 16 bytes, and no plaintext password appears anywhere in the store.
func TestSEC07Argon2idAtRest(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.PasswordHash = password.Floor() })
	admin := ts.staff("boss@example.test")
	ts.mustUser("plain@example.test", "sunflower harbour 1234")
	r := admin.do("GET", "/api/v1/admin/backup", nil)
	if r.Status != 200 {
		t.Fatalf("backup: %d", r.Status)
	}
	hashes := regexp.MustCompile(`\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]+)\$`).FindAllSubmatch(r.Body, -1)
	if len(hashes) < 2 {
		t.Fatalf("found %d argon2id hashes in the snapshot, want one per user", len(hashes))
	}
	for _, h := range hashes {
		m, _ := strconv.Atoi(string(h[1]))
		tc, _ := strconv.Atoi(string(h[2]))
		salt, err := base64.RawStdEncoding.DecodeString(string(h[4]))
		if m < 19456 || tc < 2 || err != nil || len(salt) < 16 {
			t.Fatalf("hash %s: below the floor or salt under 16 bytes", h[0])
		}
	}
	for _, pw := range []string{testPassword, "sunflower harbour 1234"} {
		if bytes.Contains(r.Body, []byte(pw)) {
			t.Fatalf("the snapshot holds a plaintext password")
		}
	}
}

// TestSEC42AdminActionsAuditedWithActor: an admin action is an audit event
// on the target user, with a UTC time, the admin's ip and user agent, and
// the acting admin named in its detail.
func TestSEC42AdminActionsAuditedWithActor(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("boss@example.test")
	admin.header.Set("User-Agent", "AdminBrowser/1.0")
	ts.mustUser("cust@example.test", testPassword)
	id := ts.userID("cust@example.test")
	admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"is_active": false}).want(t, 200, "")
	admin.do("POST", "/api/v1/admin/users/"+id+"/revoke-sessions", nil).want(t, 200, "")
	r := admin.do("GET", "/api/v1/admin/audit?user_id="+id, nil).want(t, 200, "")
	if !regexp.MustCompile(`"at":"[0-9T:.-]+Z"`).Match(r.Body) {
		t.Fatalf("audit times must be RFC 3339 UTC: %s", r.Body)
	}
	var events []auditView
	r.data(t, &events)
	boss := ts.userID("boss@example.test")
	found := map[string]bool{}
	for _, e := range events {
		if e.Detail["actor_id"] == boss && e.Detail["actor_email"] == "boss@example.test" && e.IP != "" && e.UserAgent == "AdminBrowser/1.0" {
			found[e.Event] = true
		}
	}
	if !found["user_deactivated"] || !found["sessions_revoked"] {
		t.Fatalf("want user_deactivated and sessions_revoked naming the admin: %s", r.Body)
	}
}
