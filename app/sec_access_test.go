package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ---------------------------------------------------------------------------
// D. Access control

func TestSEC37AccountRoutesNeedASession(t *testing.T) {
	ts := newServerWithUser(t, "sec37@example.test")
	owner := ts.login("sec37@example.test", testPassword)
	var created struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	}
	owner.do("POST", "/api/v1/auth/addresses", secAddressBody("Home")).want(t, 201, "").data(t, &created)
	addr := created.ID
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/auth/profile", nil},
		{"PATCH", "/api/v1/auth/profile", map[string]string{"first_name": "Zed"}},
		{"POST", "/api/v1/auth/password/change", map[string]string{"current_password": testPassword, "new_password": "fresh mango pavilion 7"}},
		{"POST", "/api/v1/auth/email-change/request", map[string]string{"new_email": "sec37-new@example.test", "password": testPassword}},
		{"GET", "/api/v1/auth/sessions", nil},
		{"DELETE", "/api/v1/auth/sessions/" + uuid.New().String(), nil},
		{"DELETE", "/api/v1/auth/account", map[string]string{"password": testPassword}},
		{"GET", "/api/v1/auth/addresses", nil},
		{"POST", "/api/v1/auth/addresses", secAddressBody("Home")},
		{"GET", "/api/v1/auth/addresses/" + addr, nil},
		{"PUT", "/api/v1/auth/addresses/" + addr, secAddressBody("Work")},
		{"PATCH", "/api/v1/auth/addresses/" + addr, map[string]string{"label": "Work"}},
		{"DELETE", "/api/v1/auth/addresses/" + addr, nil},
		{"PATCH", "/api/v1/auth/addresses/" + addr + "/set-primary", nil},
	}
	for _, cookie := range []string{"", "garbage", strings.Repeat("A", 200)} {
		c := ts.client()
		if cookie != "" {
			c.secSetCookie("marbelle_session", cookie)
		}
		for _, rt := range routes {
			r := c.do(rt.method, rt.path, rt.body)
			if r.Status != 401 || r.Env.Code != CodeUnauthenticated {
				t.Fatalf("%s %s with cookie %q: got %d %q, want 401 unauthenticated", rt.method, rt.path, cookie, r.Status, r.Env.Code)
			}
		}
	}
	if u := secUser(t, ts, "sec37@example.test"); u.FirstName != "Ann" {
		t.Fatalf("profile changed without a session: %q", u.FirstName)
	}
	owner.do("GET", "/api/v1/auth/addresses/"+addr, nil).want(t, 200, "").data(t, &created)
	if created.Label != "Home" {
		t.Fatalf("address changed without a session: label %q", created.Label)
	}
	var list []json.RawMessage
	owner.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "").data(t, &list)
	if len(list) != 1 {
		t.Fatalf("addresses: got %d, want 1", len(list))
	}
	secLogin(t, ts.client(), "sec37@example.test", testPassword).want(t, 200, "")
}

func TestSEC40NoMassAssignment(t *testing.T) {
	const email = "sec40@example.test"
	ts := newServerWithUser(t, email)
	c := ts.login(email, testPassword)
	var before, after profile
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &before)

	c.do("PATCH", "/api/v1/auth/profile", map[string]any{
		"first_name": "Zed", "is_staff": true, "staff": true, "email_verified": false,
		"id": "00000000-0000-7000-8000-000000000001", "date_joined": "2000-01-01T00:00:00Z",
		"active": false, "password_hash": "$argon2id$v=19$m=256,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	}).want(t, 200, "").data(t, &after)
	if after.FirstName != "Zed" || after.IsStaff || !after.EmailVerified || after.ID != before.ID || !after.DateJoined.Equal(before.DateJoined) || after.Email != email {
		t.Fatalf("after PATCH with protected fields: got %+v, want only first_name changed from %+v", after, before)
	}
	u := secUser(t, ts, email)
	if u.Staff || !u.EmailVerified || !u.Active || u.ID != before.ID {
		t.Fatalf("stored user: got staff=%v verified=%v active=%v id=%v", u.Staff, u.EmailVerified, u.Active, u.ID)
	}
	secLogin(t, ts.client(), email, testPassword).want(t, 200, "") // hash untouched

	for _, body := range []map[string]any{{"email": "x@y.test"}, {"first_name": "Quentin", "email": "x@y.test"}, {"email": nil}, {"email": email}} {
		r := c.do("PATCH", "/api/v1/auth/profile", body).want(t, 400, CodeValidation)
		if len(r.Env.Errors["email"]) == 0 {
			t.Fatalf("PATCH %v: got %v, want a message on email", body, r.Env.Errors)
		}
	}
	c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &after)
	if after.Email != email || after.FirstName != "Zed" {
		t.Fatalf("after refused PATCH: got %s %s, want %s Zed", after.Email, after.FirstName, email)
	}

	// Addresses: id, user_id and the timestamps are the server's.
	ts.mustUser("sec40-other@example.test", testPassword)
	other := ts.login("sec40-other@example.test", testPassword)
	var otherP profile
	other.do("GET", "/api/v1/auth/profile", nil).want(t, 200, "").data(t, &otherP)
	forgedID := "00000000-0000-7000-8000-0000000000aa"
	body := map[string]any{
		"label": "Home", "first_name": "Ann", "last_name": "Lee", "street_address": "Hauptstr. 1",
		"city": "Berlin", "postal_code": "10115", "country": "DE",
		"id": forgedID, "user_id": otherP.ID.String(), "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z",
	}
	var a addressView
	c.do("POST", "/api/v1/auth/addresses", body).want(t, 201, "").data(t, &a)
	now := ts.clock.Now()
	if a.ID.String() == forgedID || a.ID == uuid.Nil || !a.CreatedAt.Equal(now) || !a.UpdatedAt.Equal(now) {
		t.Fatalf("created address: id %s, created %v, updated %v; want a server id and %v", a.ID, a.CreatedAt, a.UpdatedAt, now)
	}
	var list []addressView
	other.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "").data(t, &list)
	if len(list) != 0 {
		t.Fatalf("the user_id in the body gave another user %d addresses", len(list))
	}
	c.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "").data(t, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("own addresses: got %+v, want the one created", list)
	}
	ts.clock.Advance(time.Minute)
	var changed addressView
	c.do("PATCH", "/api/v1/auth/addresses/"+a.ID.String(), map[string]any{"label": "Work", "id": forgedID, "user_id": otherP.ID.String(), "created_at": "2000-01-01T00:00:00Z"}).want(t, 200, "").data(t, &changed)
	if changed.ID != a.ID || !changed.CreatedAt.Equal(a.CreatedAt) || changed.Label != "Work" || !changed.UpdatedAt.Equal(ts.clock.Now()) {
		t.Fatalf("patched address: got %+v, want only the label and updated_at changed from %+v", changed, a)
	}
	other.do("GET", "/api/v1/auth/addresses/"+a.ID.String(), nil).want(t, 404, CodeNotFound)
}
