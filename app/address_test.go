package app

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/marbelle/marbelle/store"
)

func addressBody(label string) map[string]any {
	return map[string]any{
		"label": label, "first_name": "Ann", "last_name": "Lee", "street_address": "Hauptstr. 1",
		"city": "Berlin", "postal_code": "10115", "country": "DE",
	}
}

// checkStore fails the test if any stored invariant is broken.
func (ts *testServer) checkStore() {
	ts.t.Helper()
	var faults []string
	ts.db.View(func(tx *store.Tx) error { faults = tx.Check(); return nil })
	if len(faults) > 0 {
		ts.t.Fatalf("store check: %s", strings.Join(faults, "; "))
	}
}

func (c *testClient) addresses(t testing.TB) []addressView {
	t.Helper()
	var list []addressView
	c.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, "").data(t, &list)
	return list
}

func primaries(list []addressView) int {
	n := 0
	for _, a := range list {
		if a.IsPrimary {
			n++
		}
	}
	return n
}

func (ts *testServer) addressUser(email string) *testClient {
	ts.mustUser(email, testPassword)
	return ts.login(email, testPassword)
}

func TestAddressCRUDAndPrimaryRules(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("addr@example.test")

	var first, second, third addressView
	body := addressBody("Home")
	body["is_primary"] = false // the first is primary whatever the request says
	body["phone"] = "030 1234567"
	body["id"] = "00000000-0000-0000-0000-000000000001"
	body["created_at"] = "2000-01-01T00:00:00Z"
	c.do("POST", "/api/v1/auth/addresses", body).want(t, 201, "").data(t, &first)
	if !first.IsPrimary || first.Phone != "+49301234567" || first.ID.String() == body["id"] || first.CreatedAt.Year() == 2000 {
		t.Fatalf("first address: got %+v", first)
	}
	c.do("POST", "/api/v1/auth/addresses", addressBody("Office")).want(t, 201, "").data(t, &second)
	if second.IsPrimary {
		t.Fatalf("second address must not be primary")
	}
	b3 := addressBody("Parents")
	b3["is_primary"] = true
	b3["country"] = "us"
	b3["phone"] = "(202) 555-0143"
	c.do("POST", "/api/v1/auth/addresses", b3).want(t, 201, "").data(t, &third)
	if !third.IsPrimary || third.Country != "US" || third.Phone != "+12025550143" {
		t.Fatalf("third: got %+v (lower-case country normalised; phone read in the address's country)", third)
	}
	// Ordering: primary first, then oldest first.
	list := c.addresses(t)
	if len(list) != 3 || list[0].ID != third.ID || list[1].ID != first.ID || list[2].ID != second.ID || primaries(list) != 1 {
		t.Fatalf("order: got %v", list)
	}
	// set-primary
	var got addressView
	c.do("PATCH", "/api/v1/auth/addresses/"+second.ID.String()+"/set-primary", nil).want(t, 200, "").data(t, &got)
	if !got.IsPrimary || primaries(c.addresses(t)) != 1 || c.addresses(t)[0].ID != second.ID {
		t.Fatalf("after set-primary: %v", c.addresses(t))
	}
	// PATCH changes only what it names; is_primary false never leaves none.
	c.do("PATCH", "/api/v1/auth/addresses/"+second.ID.String(), map[string]any{"city": "Hamburg", "is_primary": false}).want(t, 200, "").data(t, &got)
	if got.City != "Hamburg" || got.Label != "Office" || !got.IsPrimary {
		t.Fatalf("patch: got %+v", got)
	}
	// PUT replaces: required fields required, optional ones cleared.
	r := c.do("PUT", "/api/v1/auth/addresses/"+first.ID.String(), map[string]any{"label": "Home"})
	r.want(t, 400, CodeValidation)
	for _, f := range []string{"first_name", "last_name", "street_address", "city", "postal_code", "country"} {
		if len(r.Env.Errors[f]) == 0 {
			t.Fatalf("PUT without %s: errors %v", f, r.Env.Errors)
		}
	}
	c.do("PUT", "/api/v1/auth/addresses/"+first.ID.String(), addressBody("Home 2")).want(t, 200, "").data(t, &got)
	if got.Label != "Home 2" || got.Phone != "" || !got.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("put: got %+v", got)
	}
	c.do("GET", "/api/v1/auth/addresses/"+first.ID.String(), nil).want(t, 200, "").data(t, &got)
	if got.Label != "Home 2" {
		t.Fatalf("get after put: %+v", got)
	}
	// Deleting the primary promotes the oldest remaining one.
	c.do("DELETE", "/api/v1/auth/addresses/"+second.ID.String(), nil).want(t, 200, "")
	list = c.addresses(t)
	if len(list) != 2 || list[0].ID != first.ID || !list[0].IsPrimary || primaries(list) != 1 {
		t.Fatalf("after deleting the primary: %v", list)
	}
	c.do("DELETE", "/api/v1/auth/addresses/"+first.ID.String(), nil).want(t, 200, "")
	c.do("DELETE", "/api/v1/auth/addresses/"+third.ID.String(), nil).want(t, 200, "")
	if list := c.addresses(t); len(list) != 0 {
		t.Fatalf("after deleting all: %v", list)
	}
	ts.checkStore()
	ts.client().do("GET", "/api/v1/auth/addresses", nil).want(t, 401, CodeUnauthenticated)
}

func TestAddressLimitOfTen(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("ten@example.test")
	for i := range 10 {
		c.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint("A", i))).want(t, 201, "")
	}
	r := c.do("POST", "/api/v1/auth/addresses", addressBody("Eleventh")).want(t, 400, CodeValidation)
	if !strings.Contains(r.Env.Message, "10") {
		t.Fatalf("limit message must explain the limit: %q", r.Env.Message)
	}
	ts.checkStore()
}

func TestAddressValidation(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("val@example.test")
	cases := []struct {
		field string
		value any
	}{
		{"country", "XX"}, {"country", "usa"}, {"country", "D"}, {"country", "1A"},
		{"phone", "12"}, {"phone", "not a phone"},
		{"label", strings.Repeat("l", 51)}, {"label", ""}, {"first_name", ""}, {"last_name", strings.Repeat("n", 151)},
		{"street_address", strings.Repeat("s", 256)}, {"city", ""}, {"postal_code", strings.Repeat("9", 21)},
		{"region", strings.Repeat("r", 101)}, {"company", "Line\nbreak"}, {"street_address_2", strings.Repeat("s", 256)},
	}
	for _, tc := range cases {
		body := addressBody("Home")
		body[tc.field] = tc.value
		r := c.do("POST", "/api/v1/auth/addresses", body).want(t, 400, CodeValidation)
		if len(r.Env.Errors[tc.field]) == 0 || len(r.Env.Errors) != 1 {
			t.Fatalf("%s=%q: got errors %v, want exactly %s named", tc.field, tc.value, r.Env.Errors, tc.field)
		}
	}
	r := c.do("POST", "/api/v1/auth/addresses", map[string]any{}).want(t, 400, CodeValidation)
	if len(r.Env.Errors) != 7 {
		t.Fatalf("empty create: got %v, want the 7 required fields named", r.Env.Errors)
	}
	c.do("POST", "/api/v1/auth/addresses", map[string]any{"label": 5}).want(t, 400, CodeValidation)
	if n := len(c.addresses(t)); n != 0 {
		t.Fatalf("failed creates stored %d addresses", n)
	}
}

// TestSEC38AddressOwnership: another user's address id is 404 for every
// method and stays unchanged.
func TestSEC38AddressOwnership(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.addressUser("owner@example.test")
	b := ts.addressUser("intruder@example.test")
	var x addressView
	a.do("POST", "/api/v1/auth/addresses", addressBody("Home")).want(t, 201, "").data(t, &x)
	b.do("POST", "/api/v1/auth/addresses", addressBody("Mine")).want(t, 201, "")
	id := x.ID.String()
	b.do("GET", "/api/v1/auth/addresses/"+id, nil).want(t, 404, CodeNotFound)
	b.do("PUT", "/api/v1/auth/addresses/"+id, addressBody("Stolen")).want(t, 404, CodeNotFound)
	b.do("PATCH", "/api/v1/auth/addresses/"+id, map[string]any{"label": "Stolen"}).want(t, 404, CodeNotFound)
	b.do("DELETE", "/api/v1/auth/addresses/"+id, nil).want(t, 404, CodeNotFound)
	b.do("PATCH", "/api/v1/auth/addresses/"+id+"/set-primary", nil).want(t, 404, CodeNotFound)
	b.do("GET", "/api/v1/auth/addresses/not-a-uuid", nil).want(t, 404, CodeNotFound)
	var after addressView
	a.do("GET", "/api/v1/auth/addresses/"+id, nil).want(t, 200, "").data(t, &after)
	if after != x {
		t.Fatalf("owner's address changed: %+v vs %+v", after, x)
	}
	if list := b.addresses(t); len(list) != 1 || list[0].Label != "Mine" {
		t.Fatalf("intruder's list: %v", list)
	}
}

// TestConcurrentSetPrimary: 50 goroutines move the primary among
// 10 addresses; after every single request the store holds exactly one.
func TestConcurrentSetPrimary(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("primary@example.test")
	var ids []string
	for i := range 10 {
		var a addressView
		c.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint("A", i))).want(t, 201, "").data(t, &a)
		ids = append(ids, a.ID.String())
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			id := ids[rand.IntN(len(ids))]
			r := c.do("PATCH", "/api/v1/auth/addresses/"+id+"/set-primary", nil)
			if r.Status != 200 {
				t.Errorf("set-primary: got %d %s", r.Status, r.Body)
			}
			if n := primaries(c.addresses(t)); n != 1 {
				t.Errorf("after a request: %d primaries, want 1", n)
			}
			ts.db.View(func(tx *store.Tx) error {
				if f := tx.Check(); len(f) > 0 {
					t.Errorf("store check: %v", f)
				}
				return nil
			})
		})
	}
	wg.Wait()
	if n := primaries(c.addresses(t)); n != 1 {
		t.Fatalf("afterwards: %d primaries, want 1", n)
	}
}

// TestConcurrentCreatesStopAtTen: 30 parallel creates for a user
// with none: exactly 10 succeed and exactly one is primary.
func TestConcurrentCreatesStopAtTen(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("thirty@example.test")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 30 {
		wg.Go(func() {
			body := addressBody(fmt.Sprint("A", i))
			body["is_primary"] = i%2 == 0
			r := c.do("POST", "/api/v1/auth/addresses", body)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	list := c.addresses(t)
	if codes[201] != 10 || codes[400] != 20 || len(list) != 10 || primaries(list) != 1 {
		t.Fatalf("got codes %v, %d addresses, %d primaries; want 10×201, 20×400, 10, 1", codes, len(list), primaries(list))
	}
	ts.checkStore()
}

// TestConcurrentDeletePrimaryAndSetPrimary: deleting the primary while
// another is made primary still leaves exactly one.
func TestConcurrentDeletePrimaryAndSetPrimary(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.addressUser("delprim@example.test")
	for round := range 10 {
		for i := range 4 {
			c.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint(round, i))).want(t, 201, "")
		}
		list := c.addresses(t)
		primary := list[0].ID.String()
		other := list[1+rand.IntN(len(list)-1)].ID.String()
		var wg sync.WaitGroup
		wg.Go(func() { c.do("DELETE", "/api/v1/auth/addresses/"+primary, nil) })
		wg.Go(func() { c.do("PATCH", "/api/v1/auth/addresses/"+other+"/set-primary", nil) })
		wg.Go(func() { c.do("PATCH", "/api/v1/auth/addresses/"+other, map[string]any{"is_primary": true}) })
		wg.Wait()
		if n := primaries(c.addresses(t)); n != 1 {
			t.Fatalf("round %d: %d primaries, want 1", round, n)
		}
		ts.checkStore()
		for _, a := range c.addresses(t) {
			c.do("DELETE", "/api/v1/auth/addresses/"+a.ID.String(), nil).want(t, 200, "")
		}
	}
}

// BenchmarkAddressList measures listing 10 addresses through the whole
// handler (middleware, session lookup, one read transaction, JSON).
func BenchmarkAddressList(b *testing.B) {
	ts := newTestServer(b, nil)
	c := ts.addressUser("bench@example.test")
	for i := range 10 {
		c.do("POST", "/api/v1/auth/addresses", addressBody(fmt.Sprint("A", i))).want(b, 201, "")
	}
	cookie := c.http.Jar.Cookies(mustURL(b, ts.URL))[0]
	h := ts.srv.Handler()
	host := strings.TrimPrefix(ts.URL, "http://")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/auth/addresses", nil)
		req.Host = host
		req.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("got %d", w.Code)
		}
	}
}
