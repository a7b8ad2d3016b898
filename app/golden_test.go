package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Golden answers: the JSON bodies of the routes, as the wire carries them,
// compared with testdata/golden/*.json. Most tests decode answers into the
// server's own structs, so a renamed JSON tag would pass them; it fails
// here. Ids, times, tokens and ports vary from run to run and are replaced
// by placeholders; key order is kept, since clients read it as written.
//
// After an intended change of an answer: go test ./app -run Golden -update

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json from the answers, and openapi.json from docs/openapi.yaml")

var goldenReplacements = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`"[A-Za-z0-9_-]{43}"`), `"<token>"`},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:<port>"},
	{regexp.MustCompile(`"preview":"[0-9a-f]{8}"`), `"preview":"<preview>"`},
}

// checkGolden compares body, normalised, with testdata/golden/name.json.
func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	for _, r := range goldenReplacements {
		body = r.re.ReplaceAll(body, []byte(r.with))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatalf("%s: answer is not JSON: %v\n%s", name, err, body)
	}
	out.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path) // #nosec G304 -- a fixed testdata path
	if err != nil {
		t.Fatalf("%s: %v (run with -update to create it)", name, err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s: the answer differs from %s (run with -update after an intended change)\ngot:\n%s\nwant:\n%s", name, path, out.Bytes(), want)
	}
}

// TestGoldenAnswers drives one account and one staff member through the
// routes whose answers clients parse, and checks each body.
func TestGoldenAnswers(t *testing.T) {
	ts := newTestServer(t, nil)
	admin := ts.staff("staff@example.test")
	golden := func(name string, r *response) {
		t.Helper()
		checkGolden(t, name, r.Body)
	}

	c := ts.client()
	golden("register", c.do("POST", "/api/v1/auth/register", registerBody("ann@example.test", testPassword)).want(t, 201, ""))
	golden("verify_email", c.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": ts.waitToken("ann@example.test", "verify-email", 1)}).want(t, 200, ""))
	golden("login", c.do("POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.test", "password": testPassword}).want(t, 200, ""))
	golden("profile", c.do("GET", "/api/v1/auth/profile", nil).want(t, 200, ""))
	golden("profile_patch", c.do("PATCH", "/api/v1/auth/profile", map[string]any{"phone": "030 1234567", "company_name": "Lee GmbH"}).want(t, 200, ""))
	body := addressBody("Home")
	body["region"], body["street_address_2"] = "Berlin", "Hinterhaus"
	golden("address_create", c.do("POST", "/api/v1/auth/addresses", body).want(t, 201, ""))
	golden("address_create_second", c.do("POST", "/api/v1/auth/addresses", addressBody("Work")).want(t, 201, ""))
	golden("address_list", c.do("GET", "/api/v1/auth/addresses", nil).want(t, 200, ""))
	golden("sessions", c.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, ""))
	golden("security_activity", c.do("GET", "/api/v1/auth/security/activity", nil).want(t, 200, ""))
	golden("export", c.do("GET", "/api/v1/auth/export", nil).want(t, 200, ""))

	// Errors, in the envelope.
	golden("error_validation", c.do("POST", "/api/v1/auth/addresses", map[string]any{"label": "x"}).want(t, 400, CodeValidation))
	golden("error_invalid_token", ts.client().do("POST", "/api/v1/auth/verify-email", map[string]string{"token": "nope"}).want(t, 400, CodeInvalidToken))
	golden("error_unauthenticated", ts.client().do("GET", "/api/v1/auth/profile", nil).want(t, 401, CodeUnauthenticated))
	golden("error_not_found", c.do("GET", "/api/v1/auth/addresses/00000000-0000-7000-8000-000000000000", nil).want(t, 404, CodeNotFound))
	golden("error_forbidden", c.do("GET", "/api/v1/admin/users", nil).want(t, 403, CodeForbidden))

	// Staff.
	id := ts.userID("ann@example.test")
	golden("admin_users", admin.do("GET", "/api/v1/admin/users?q=ann", nil).want(t, 200, ""))
	golden("admin_user", admin.do("GET", "/api/v1/admin/users/"+id, nil).want(t, 200, ""))
	golden("admin_user_patch", admin.do("PATCH", "/api/v1/admin/users/"+id, map[string]any{"last_name": "Lee-Smith"}).want(t, 200, ""))
	golden("admin_audit", admin.do("GET", "/api/v1/admin/audit?user_id="+id+"&limit=3", nil).want(t, 200, ""))
	golden("admin_stats", admin.do("GET", "/api/v1/admin/stats", nil).want(t, 200, ""))
	golden("admin_revoke_sessions", admin.do("POST", "/api/v1/admin/users/"+id+"/revoke-sessions", nil).want(t, 200, ""))
}
