package app

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/marbelle/marbelle/store"
)

// FuzzDecodeJSON: any body gives a clean *Error or a decoded value, never a
// panic, and never a 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{`{"email":"a@b.test","password":"x"}`, `{"email":`, `{}{}`, `[]`, `null`, "{\"email\":\"\xff\"}", `{"is_primary":"yes"}`, ``, `{"label":1e999}`} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		targets := []any{&registerInput{}, &loginInput{}, &addressInput{}, &profileUpdateInput{}, &passwordChangeInput{}, &adminUserUpdate{}, &resetConfirmInput{}}
		for _, v := range targets {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			err := decodeJSON(httptest.NewRecorder(), r, v)
			if err == nil {
				continue
			}
			e, known := asError(err)
			if !known || e.Status() >= 500 {
				t.Fatalf("body %q: got %v, want a 4xx", body, err)
			}
		}
	})
}

// FuzzNormalizeEmail: accepted emails are normalised, stable, bounded and
// free of anything that could reach a mail header or hide in an address:
// no invisible or control characters, the local part in NFC, the domain in
// IDNA ASCII form, and the same form the store keys by. The store's
// normaliser never panics and is stable on any input, since Check and the
// version 3 migration rely on NormalizeEmail(NormalizeEmail(x)) being
// NormalizeEmail(x).
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Ann@Example.test", " a@b.c ", "a@b.test\r\nBcc: x@evil.test", "\"quoted\"@x.test", "a@[127.0.0.1]", "ü@ß.de", strings.Repeat("a", 300) + "@x.test",
		"user@münchen.de", "user@xn--mnchen-3ya.de", "USER@MÜNCHEN.DE", "mu\u0308ller@example.test", "a\u200b@b.test", "\ufeffa@b.test", "a@b\u202e.test",
		"a\u00ad@b.test", "a@xn--zz.test", "a@ＥＸＡＭＰＬＥ．com", "a@b@c.test", "ﬀ@ǅ.test", "\u0130@x.test", "a@-x.test", "x@" + strings.Repeat("ü", 240) + ".de", "a@b.test\n", "\u0085a@b.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		key := store.NormalizeEmail(raw)
		if again := store.NormalizeEmail(key); again != key {
			t.Fatalf("%q: store form %q not stable (%q)", raw, key, again)
		}
		e, msg := normalizeEmail(raw)
		if msg != "" {
			return
		}
		if strings.ContainsAny(e, "\r\n\t <>,;") || e != strings.ToLower(strings.TrimSpace(e)) || utf8.RuneCountInString(e) > maxEmailLength || !strings.Contains(e, "@") {
			t.Fatalf("%q accepted as %q", raw, e)
		}
		if strings.ContainsFunc(e, invisibleInEmail) || strings.ContainsFunc(strings.TrimSpace(raw), invisibleInEmail) {
			t.Fatalf("%q accepted as %q, with an invisible character", raw, e)
		}
		at := strings.LastIndexByte(e, '@')
		if !norm.NFC.IsNormalString(e[:at]) || strings.ContainsFunc(e[at+1:], func(r rune) bool { return r >= utf8.RuneSelf }) {
			t.Fatalf("%q accepted as %q: local part not NFC or domain not ASCII", raw, e)
		}
		if key != e {
			t.Fatalf("%q accepted as %q, but the store keys it as %q", raw, e, key)
		}
		if again, msg := normalizeEmail(e); msg != "" || again != e {
			t.Fatalf("%q: normal form %q not stable (%q %q)", raw, e, again, msg)
		}
	})
}

// FuzzNormalizePhone: accepted numbers are E.164 and stable.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"030 123456", "+49 30 123456", "12", "+1 (202) 555-0143", "0049301234567", "+99999999999999999", "tel:+4930123456"} {
		f.Add(s, "DE")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		if !validRegion(region) {
			region = "DE"
		}
		errs := fieldErrors{}
		p := normalizePhone(errs, "phone", raw, region)
		if len(errs) > 0 || p == "" {
			return
		}
		if p[0] != '+' || len(p) > 16 || strings.Trim(p[1:], "0123456789") != "" {
			t.Fatalf("%q accepted as %q", raw, p)
		}
		if again := normalizePhone(errs, "phone", p, region); again != p || len(errs) > 0 {
			t.Fatalf("%q: %q not stable (%q)", raw, p, again)
		}
	})
}

// FuzzSessionCookie: decoding never panics, only minted values decode, and
// no cookie authenticates without a stored session.
func FuzzSessionCookie(f *testing.F) {
	ts := newTestServer(f, nil)
	good, _ := ts.srv.sessionCookie(newSecret(), 0)
	f.Add(good.Value)
	f.Add("")
	f.Add("MTc5NTc1MDkzMXwyWGZLZkZSZmZma25KSldtWUg2aXVqUE1oRnRIMVowUlhPTUs2dEJGUnNhU2R6YW5iczhnanYyY05sWVdacDk0SV9ZREtqeWpkT0ZqVkcwPXy0H9yZrsniNXxcwhXsKwVAVmUYgiVM8vjQ7It6fzfT6g==")
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: ts.srv.cookieName, Value: value})
		// Only values minted with this server's keys decode, and those
		// carry a 43-character secret.
		if secret := ts.srv.cookieSecret(r); secret != "" && len(secret) != 43 {
			t.Fatalf("cookie %q decoded to %q, not a minted secret", value, secret)
		}
		if _, err := ts.srv.authenticate(r); err == nil {
			t.Fatalf("cookie %q authenticated without a session", value)
		}
	})
}

// FuzzTokenRoutes: any token string is a clean invalid_token (or a spent
// token for the one real value), never a 500, through the real handler.
func FuzzTokenRoutes(f *testing.F) {
	ts := newTestServer(f, nil)
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add("\x00\xff")
	f.Add(strings.Repeat("x", 5000))
	h := ts.srv.Handler()
	host := strings.TrimPrefix(ts.URL, "http://")
	f.Fuzz(func(t *testing.T, token string) {
		for _, path := range []string{"/api/v1/auth/verify-email", "/api/v1/auth/email-change/confirm", "/api/v1/auth/security/undo"} {
			body, _ := jsonMarshal(map[string]string{"token": token})
			r := httptest.NewRequest("POST", path, bytes.NewReader(body))
			r.Host = host
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 400 {
				b, _ := io.ReadAll(w.Body)
				t.Fatalf("%s %q: got %d %s, want 400", path, token, w.Code, b)
			}
		}
		ts.db.View(func(tx *store.Tx) error {
			if _, err := tx.ValidToken(store.TokenVerifyEmail, token, ts.clock.Now()); err == nil {
				t.Fatalf("junk token %q valid", token)
			}
			return nil
		})
	})
}
