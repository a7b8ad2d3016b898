package password

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/marbelle/marbelle/internal/testutil"
)

// fixturePasswords are the plaintext test passwords of the users in the
// Django fixture, and djangoDefaultCost marks the hashes made at Django's
// default costs: both from ../../testdata/django/passwords.json, which the
// importer's tests and the password package's read alike.
var fixturePasswords, djangoDefaultCost = testutil.DjangoPasswords("../../testdata/django/passwords.json")

const fixtureFile = "../../testdata/django/dump.json"

// fixtureHashes returns the password field of every user in the fixture, by email.
func fixtureHashes(t testing.TB) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fixtureFile)
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		Model  string
		Fields struct{ Email, Password string }
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		if r.Model == "users.user" {
			out[r.Fields.Email] = r.Fields.Password
		}
	}
	return out
}

// TestVerifyDjangoFixtureHashes: every hash a real Django 3.2 wrote
// (PBKDF2, Argon2, BCryptSHA256) verifies with its password and no other;
// unusable ones are not recognised.
func TestVerifyDjangoFixtureHashes(t *testing.T) {
	hashes := fixtureHashes(t)
	algorithms := map[string]bool{}
	for email, encoded := range hashes {
		pw, usable := fixturePasswords[email]
		if !usable {
			if !strings.HasPrefix(encoded, "!") {
				t.Fatalf("%s: got %q, want an unusable password", email, encoded)
			}
			if ok, recognised := verifyDjango(encoded, ""); ok || recognised {
				t.Fatalf("%s: unusable password: got ok=%v recognised=%v, want neither", email, ok, recognised)
			}
			continue
		}
		algorithm, _, _ := strings.Cut(encoded, "$")
		algorithms[algorithm] = true
		t.Run(email, func(t *testing.T) {
			t.Parallel()
			if ok, recognised := verifyDjango(encoded, pw); !ok || !recognised {
				t.Fatalf("%s: got ok=%v recognised=%v, want both", algorithm, ok, recognised)
			}
			if djangoDefaultCost[email] {
				return // seconds under -race; the cheap ones check wrong passwords
			}
			if ok, recognised := verifyDjango(encoded, pw+" "); ok || !recognised {
				t.Fatalf("%s, wrong password: got ok=%v recognised=%v, want recognised only", algorithm, ok, recognised)
			}
		})
	}
	for _, a := range []string{"pbkdf2_sha256", "argon2", "bcrypt_sha256"} {
		if !algorithms[a] {
			t.Errorf("the fixture has no %s hash", a)
		}
	}
}

// TestVerifyDjangoKnownVectors: vectors from outside this code — Django's
// own test suite, RFC 7914 §11 (PBKDF2-HMAC-SHA256), the argon2 reference
// implementation's tests, and Django 3.2 with a fixed salt.
func TestVerifyDjangoKnownVectors(t *testing.T) {
	for _, v := range []struct {
		name, encoded, password string
		costly                  bool // verified once: seconds under -race
	}{
		{"django test suite pbkdf2", "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", "lètmein", true},
		// RFC 7914 §11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), first 32 bytes.
		{"rfc 7914", "pbkdf2_sha256$1$salt$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=", "passwd", false},
		// phc-winner-argon2 test.c: "password", "somesalt", t=2, m=64 MiB, p=1.
		{"argon2id reference", "argon2$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password", true},
		{"argon2i reference", "argon2$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", "password", true},
		// Django 3.2, make_password('lètmein', 'seasaltseasalt', 'argon2').
		{"django argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2Vhc2FsdHNlYXNhbHQ$n/a6+o5lve5+w7Q7gx8Uuw", "lètmein", true},
		// Django 3.2, BCryptSHA256PasswordHasher().encode('lètmein', b'$2b$05$CCCCCCCCCCCCCCCCCCCCC.').
		{"django bcrypt_sha256", "bcrypt_sha256$$2b$05$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC", "lètmein", false},
	} {
		t.Run(v.name, func(t *testing.T) {
			if ok, recognised := verifyDjango(v.encoded, v.password); !ok || !recognised {
				t.Fatalf("got ok=%v recognised=%v, want both", ok, recognised)
			}
			if err := CheckDjangoHash(v.encoded); err != nil {
				t.Fatalf("CheckDjangoHash: %v", err)
			}
			if v.costly {
				return
			}
			// (Not password+"\x00": HMAC pads its key with zeros, so to
			// PBKDF2, in Django too, trailing NULs change nothing.)
			for _, wrong := range []string{"", strings.ToUpper(v.password), v.password + "x"} {
				if ok, recognised := verifyDjango(v.encoded, wrong); ok || !recognised {
					t.Fatalf("%q: got ok=%v recognised=%v, want recognised only", wrong, ok, recognised)
				}
			}
		})
	}
}

// TestVerifyDjangoRefusesQuickly: malformed hashes, other algorithms and
// hashes over a cost cap are not recognised, and refusing them computes
// nothing (a crafted iteration count costs no time).
func TestVerifyDjangoRefusesQuickly(t *testing.T) {
	b32 := "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="
	for _, v := range []struct{ encoded, why string }{
		{"pbkdf2_sha256$1000000000000$salt$" + b32, "over the limit of 1200000"},
		{"pbkdf2_sha256$1200001$salt$" + b32, "over the limit"},
		{"pbkdf2_sha256$18446744073709551616$salt$" + b32, "iterations"},
		{"pbkdf2_sha256$0$salt$" + b32, "iterations"},
		{"pbkdf2_sha256$-1$salt$" + b32, "iterations"},
		{"pbkdf2_sha256$1e6$salt$" + b32, "iterations"},
		{"pbkdf2_sha256$1$$" + b32, "malformed"},
		{"pbkdf2_sha256$1$salt$c2hvcnQ=", "hash"},
		{"pbkdf2_sha256$1$salt$not base64!", "hash"},
		{"pbkdf2_sha256$1$salt$" + b32 + "$extra", "malformed"},
		{"argon2$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "over the limit"},
		{"argon2$argon2id$v=19$m=65536,t=1000,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "over the limit"},
		{"argon2$argon2id$v=19$m=65536,t=2,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "parameters"},
		{"argon2$argon2id$v=19$m=65536,t=2,p=1,x=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "parameters"},
		{"argon2$argon2d$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "variant"},
		{"argon2$argon2id$v=16$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "version 19"},
		{"argon2$argon2i$m=512,t=2,p=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "malformed"},
		{"argon2$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "salt"},
		{"bcrypt_sha256$$2b$31$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC", "cost 31 is over the limit of 13"},
		{"bcrypt_sha256$$2b$05$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaV", "malformed"},
		{"bcrypt_sha256$$2x$05$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC", "malformed"},
		{"bcrypt$$2b$05$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC", `"bcrypt" is not supported`},
		{"pbkdf2_sha1$260000$salt$aGFzaA==", `"pbkdf2_sha1" is not supported`},
		{"md5$salt$0123456789abcdef0123456789abcdef", `"md5" is not supported`},
		{"", "(unrecognised) is not supported"},
		{"hunter2", "(unrecognised) is not supported"},
		{"!unusable", "not supported"},
		{"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "not supported"},
	} {
		start := time.Now()
		ok, recognised := verifyDjango(v.encoded, "password")
		if d := time.Since(start); ok || recognised || d > 50*time.Millisecond {
			t.Fatalf("%q: got ok=%v recognised=%v after %v, want neither, at once", v.encoded, ok, recognised, d)
		}
		if err := CheckDjangoHash(v.encoded); err == nil || !strings.Contains(err.Error(), v.why) {
			t.Fatalf("%q: got %v, want an error saying %q", v.encoded, err, v.why)
		}
	}
}

// TestHasherVerifyDjango: Verify accepts a Django hash, says to rehash it,
// takes a hashing slot for it, and fails a crafted one quickly (after the
// dummy hash, like any foreign hash).
func TestHasherVerifyDjango(t *testing.T) {
	ctx := context.Background()
	h, err := NewHasher(cheap, 1, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	const enc = "pbkdf2_sha256$1$salt$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="
	if ok, rehash, err := h.Verify(ctx, enc, "passwd"); !ok || !rehash || err != nil {
		t.Fatalf("right password: got ok=%v rehash=%v err=%v, want ok and rehash", ok, rehash, err)
	}
	if ok, rehash, err := h.Verify(ctx, enc, "passwd2"); ok || rehash || err != nil {
		t.Fatalf("wrong password: got ok=%v rehash=%v err=%v, want a plain failure", ok, rehash, err)
	}
	start := time.Now()
	if ok, _, err := h.Verify(ctx, "pbkdf2_sha256$999999999999$salt$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=", "passwd"); ok || err != nil {
		t.Fatalf("crafted iteration count: got ok=%v err=%v, want a plain failure", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("crafted iteration count took %v", d)
	}
	mem := <-h.free // the only slot is taken
	if _, _, err := h.Verify(ctx, enc, "passwd"); !errors.Is(err, ErrBusy) {
		t.Fatalf("no free slot: got %v, want ErrBusy", err)
	}
	h.free <- mem
}
