package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// softKey is a software authenticator for the API tests: it makes the
// attestation and assertion answers a browser would send (fmt "none",
// ES256). The browser test (ui/browser_test.go) uses Chromium's own
// virtual authenticator instead.
type softKey struct {
	t      testing.TB
	priv   *ecdsa.PrivateKey
	credID []byte
	count  uint32
	rpID   string
	origin string
	handle []byte
}

var b64 = base64.RawURLEncoding

func newSoftKey(t testing.TB, ts *testServer) *softKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	u, _ := url.Parse(ts.URL)
	return &softKey{t: t, priv: priv, credID: id, rpID: "localhost", origin: "http://localhost:" + u.Port()}
}

// pk sends a request as a browser on http://localhost:port would: WebAuthn
// refuses IP addresses as relying-party ids. (The client's jar matches
// cookies by the Host sent, so they are carried across here.)
func pk(t testing.TB, c *testClient, method, path string, body any) *response {
	t.Helper()
	u, _ := url.Parse(c.ts.URL)
	cookies := c.http.Jar.Cookies(u)
	r := c.send(t, method, path, body, func(r *http.Request) {
		r.Host = "localhost:" + u.Port()
		for _, ck := range cookies {
			r.AddCookie(ck)
		}
	})
	// A session opened here is the client's for its other requests too.
	if set := (&http.Response{Header: r.Header}).Cookies(); len(set) > 0 {
		c.http.Jar.SetCookies(u, set)
	}
	return r
}

// options reads the challenge (and user handle) of begin's answer.
func (k *softKey) options(r *response) (challenge string) {
	var o struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	r.data(k.t, &o)
	if o.User.ID != "" {
		h, err := b64.DecodeString(o.User.ID)
		if err != nil {
			k.t.Fatalf("user handle %q: %v", o.User.ID, err)
		}
		k.handle = h
	}
	return o.Challenge
}

func (k *softKey) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return cd
}

// create answers a registration for challenge.
func (k *softKey) create(challenge string) map[string]any {
	pub, err := k.priv.PublicKey.Bytes() // 0x04 | X | Y
	if err != nil {
		k.t.Fatal(err)
	}
	x, y := pub[1:33], pub[33:65]
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	rp := sha256.Sum256([]byte(k.rpID))
	auth := append(rp[:], 0x45) // UP, UV, AT
	auth = binary.BigEndian.AppendUint32(auth, k.count)
	auth = append(auth, make([]byte, 16)...) // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.credID)))
	auth = append(append(auth, k.credID...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", challenge)), "attestationObject": b64.EncodeToString(att)}}
}

// get answers an assertion for challenge with flags (0x05: UP and UV).
func (k *softKey) get(challenge string, flags byte) map[string]any {
	k.count++
	rp := sha256.Sum256([]byte(k.rpID))
	auth := binary.BigEndian.AppendUint32(append(rp[:], flags), k.count)
	cd := k.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(bytes.Clone(auth), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.handle)}}
}

// registerPasskey registers k for the signed-in c.
func registerPasskey(t *testing.T, c *testClient, k *softKey, name string) passkeyView {
	t.Helper()
	challenge := k.options(pk(t, c, "POST", "/api/v1/auth/passkeys/register/begin", map[string]any{}).want(t, 200, ""))
	body := k.create(challenge)
	body["name"] = name
	var v passkeyView
	pk(t, c, "POST", "/api/v1/auth/passkeys/register/finish", body).want(t, 201, "").data(t, &v)
	return v
}

// passkeyLogin logs c in with k and returns the answer.
func passkeyLogin(t *testing.T, c *testClient, k *softKey, flags byte, status int, code string) *response {
	t.Helper()
	challenge := k.options(pk(t, c, "POST", "/api/v1/auth/passkeys/login/begin", map[string]any{}).want(t, 200, ""))
	return pk(t, c, "POST", "/api/v1/auth/passkeys/login/finish", k.get(challenge, flags)).want(t, status, code)
}

// TestPasskeyRegisterLoginAAL2: a passkey is registered, listed, and logs
// in (discoverable, user verified) at AAL2; the password login of its
// owner asks for it; rename and delete (with the password) work.
func TestPasskeyRegisterLoginAAL2(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	k := newSoftKey(t, ts)
	v := registerPasskey(t, c, k, "Laptop")
	if v.Name != "Laptop" || v.LastUsedAt != nil {
		t.Fatalf("registered: %+v", v)
	}
	b := ts.client()
	passkeyLogin(t, b, k, 0x05, 200, "")
	var check sessionCheck
	b.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &check)
	if check.Session.AAL != 2 || strings.Join(check.Session.Methods, ",") != "passkey" {
		t.Fatalf("passkey session: %+v", check.Session)
	}
	var list []passkeyView
	pk(t, c, "GET", "/api/v1/auth/passkeys", nil).want(t, 200, "").data(t, &list)
	if len(list) != 1 || list[0].LastUsedAt == nil {
		t.Fatalf("list after use: %+v", list)
	}
	var p mfaPending
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": mfaEmail, "password": testPassword}).want(t, 200, "").data(t, &p)
	if !p.MFARequired || strings.Join(p.Methods, ",") != "passkey" {
		t.Fatalf("password login of a passkey owner: %+v", p)
	}
	pk(t, c, "PATCH", "/api/v1/auth/passkeys/"+v.ID.String(), map[string]string{"name": "Work laptop"}).want(t, 200, "")
	pk(t, c, "PATCH", "/api/v1/auth/passkeys/"+v.ID.String(), map[string]string{"name": ""}).want(t, 400, CodeValidation)
	pk(t, c, "DELETE", "/api/v1/auth/passkeys/"+v.ID.String(), map[string]string{"password": "wrong"}).want(t, 400, CodeValidation)
	pk(t, c, "DELETE", "/api/v1/auth/passkeys/"+v.ID.String(), map[string]string{"password": testPassword}).want(t, 200, "")
	passkeyLogin(t, ts.client(), k, 0x05, 401, CodeUnauthenticated)
	ts.login(mfaEmail, testPassword) // one step again
}

// TestPasskeyBadInputIsA400: malformed JSON, a wrong challenge, a replayed
// assertion, an expired ceremony, another RP id, no user verification and
// a counter that went backwards are all refused cleanly, never a 500.
func TestPasskeyBadInputIsA400(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	k := newSoftKey(t, ts)
	registerPasskey(t, c, k, "Phone")
	anon := ts.client()
	for _, body := range []any{map[string]any{}, map[string]any{"id": "x"}, map[string]any{"id": "!!", "rawId": "!!", "type": "public-key", "response": map[string]any{"clientDataJSON": "%%%"}}, "[1,2]", `{"response":7}`} {
		for _, path := range []string{"/api/v1/auth/passkeys/login/finish", "/api/v1/auth/passkeys/register/finish"} {
			r := c.do("POST", path, body)
			if path == "/api/v1/auth/passkeys/login/finish" {
				r = anon.do("POST", path, body)
			}
			if r.Status != 400 {
				t.Fatalf("%s %v: got %d, want 400: %s", path, body, r.Status, r.Body)
			}
		}
	}
	// A challenge the server never gave.
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", k.get(b64.EncodeToString([]byte("not a challenge of ours, 32 byte")), 0x05)).want(t, 400, CodeValidation)
	// Replay: the ceremony ends with its first use.
	challenge := k.options(pk(t, anon, "POST", "/api/v1/auth/passkeys/login/begin", nil).want(t, 200, ""))
	assertion := k.get(challenge, 0x05)
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", assertion).want(t, 200, "")
	ts.client().do("POST", "/api/v1/auth/passkeys/login/finish", assertion).want(t, 400, CodeValidation)
	// Expired ceremony (5 minutes).
	challenge = k.options(pk(t, anon, "POST", "/api/v1/auth/passkeys/login/begin", nil).want(t, 200, ""))
	ts.clock.Advance(ceremonyTTL + time.Second)
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", k.get(challenge, 0x05)).want(t, 400, CodeValidation)
	// No user verification, another RP id: refused by the library.
	challenge = k.options(pk(t, anon, "POST", "/api/v1/auth/passkeys/login/begin", nil).want(t, 200, ""))
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", k.get(challenge, 0x01)).want(t, 400, CodeValidation)
	other := *k
	other.rpID = "evil.example"
	challenge = k.options(pk(t, anon, "POST", "/api/v1/auth/passkeys/login/begin", nil).want(t, 200, ""))
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", other.get(challenge, 0x05)).want(t, 400, CodeValidation)
	// The counter went backwards: a copied key.
	k.count = 0
	passkeyLogin(t, ts.client(), k, 0x05, 401, CodeUnauthenticated)
	// The same credential cannot be registered twice.
	challenge = k.options(pk(t, c, "POST", "/api/v1/auth/passkeys/register/begin", nil).want(t, 200, ""))
	pk(t, c, "POST", "/api/v1/auth/passkeys/register/finish", k.create(challenge)).want(t, 400, CodeValidation)
	// A registration answer cannot finish a login ceremony and the reverse.
	challenge = k.options(pk(t, c, "POST", "/api/v1/auth/passkeys/register/begin", nil).want(t, 200, ""))
	pk(t, anon, "POST", "/api/v1/auth/passkeys/login/finish", k.get(challenge, 0x05)).want(t, 400, CodeValidation)
}

// TestSEC39StaffPasskeyLoginOpensAdmin: a staff member's passkey login is
// AAL2, which MARBELLE_STAFF_MFA=required accepts.
func TestSEC39StaffPasskeyLoginOpensAdmin(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.StaffMFARequired = true })
	staff := ts.staff("boss@example.test")
	staff.do("GET", "/api/v1/admin/users", nil).want(t, 403, CodeMFARequired)
	k := newSoftKey(t, ts)
	registerPasskey(t, staff, k, "Security key")
	b := ts.client()
	passkeyLogin(t, b, k, 0x05, 200, "")
	b.do("GET", "/api/v1/admin/users", nil).want(t, 200, "")
	var d adminUserDetail
	b.do("GET", "/api/v1/admin/users/"+ts.userID("boss@example.test"), nil).want(t, 200, "").data(t, &d)
	if d.SignInMethods == nil || len(d.SignInMethods.Passkeys) != 1 || d.SignInMethods.Passkeys[0].Name != "Security key" {
		t.Fatalf("admin detail: %+v", d.SignInMethods)
	}
}
