package app

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

// TestIssue14ImportedHashOverCapIsUnusable: records whose hash is over a
// cap (of every algorithm) or of a format Marbelle does not verify (the
// salted and unsalted SHA1/MD5 variants among them) are imported with no
// usable password and reported by pk; records at the cap (real vectors)
// import and log in. A login against an over-cap hash is a plain 401 and
// computes nothing, also when the hash is already in the store (imported by
// an older binary with laxer caps): a hash that is right for the password
// but one iteration over the cap still fails, which it could only do if it
// was never computed.
func TestIssue14ImportedHashOverCapIsUnusable(t *testing.T) {
	// A real PBKDF2 hash exactly at the cap, made here with the standard
	// library (no Django vector has 1,200,000 iterations).
	const atCapPassword = "at the cap Juniper-3"
	key, err := pbkdf2.Key(sha256.New, atCapPassword, []byte("capsalt"), password.MaxDjangoPBKDF2Iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	atCapPBKDF2 := fmt.Sprintf("pbkdf2_sha256$%d$capsalt$%s", password.MaxDjangoPBKDF2Iterations, base64.StdEncoding.EncodeToString(key))

	over := []struct {
		pk      int
		encoded string
		reason  string
	}{
		{1, testutil.DjangoPBKDF2(10_000_000), "pbkdf2_sha256 with 10000000 iterations is over the limit of 1200000"},
		{2, testutil.DjangoPBKDF2(password.MaxDjangoPBKDF2Iterations + 1), "pbkdf2_sha256 with 1200001 iterations is over the limit of 1200000"},
		{3, testutil.DjangoArgon2("argon2id", 1<<20, 32, 8), "argon2 with m=1048576,t=32,p=8 is over the limit of m=131072,t=3,p=16"},
		{4, testutil.DjangoArgon2("argon2id", 102400, 4, 8), "argon2 with m=102400,t=4,p=8 is over the limit of m=131072,t=3,p=16"},
		{5, testutil.DjangoArgon2("argon2i", 102400, 2, 64), "argon2 with m=102400,t=2,p=64 is over the limit of m=131072,t=3,p=16"},
		{6, testutil.DjangoBcrypt(16), "bcrypt_sha256 with cost 16 is over the limit of 13"},
		{7, testutil.DjangoBcrypt(password.MaxDjangoBcryptCost + 1), "bcrypt_sha256 with cost 14 is over the limit of 13"},
		{8, "pbkdf2_sha256$1$" + strings.Repeat("s", 200) + "$" + testutil.DjangoHash32, "a hash of 261 characters is over the limit of 128 (Django's column width)"},
		{9, "sha1$salt$" + strings.Repeat("a", 40), `the hash algorithm "sha1" is not supported`},
		{10, "md5$salt$" + strings.Repeat("a", 32), `the hash algorithm "md5" is not supported`},
		{11, "md5$$" + strings.Repeat("a", 32), `the hash algorithm "md5" is not supported`},
		{12, strings.Repeat("a", 32), "the hash algorithm (unrecognised) is not supported"}, // Django's unsalted MD5
		{13, "bcrypt$$2b$12$" + testutil.DjangoBcryptTail, `the hash algorithm "bcrypt" is not supported`},
		{14, "pbkdf2_sha1$260000$salt$aGFzaA==", `the hash algorithm "pbkdf2_sha1" is not supported`},
	}
	// At the caps, or at Django's defaults: vectors from djangohash_test.go.
	atCap := []struct {
		pk                int
		encoded, password string
	}{
		{20, atCapPBKDF2, atCapPassword},
		{21, "argon2$argon2id$v=19$m=102400,t=2,p=8$c2Vhc2FsdHNlYXNhbHQ$n/a6+o5lve5+w7Q7gx8Uuw", "lètmein"},
		{22, "bcrypt_sha256$$2b$05$CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC", "lètmein"},
	}
	email := func(pk int) string { return fmt.Sprintf("cap%d@example.com", pk) }
	var records, want []string
	for _, o := range over {
		records = append(records, djangoUserRecord(o.pk, email(o.pk), o.encoded))
		want = append(want, fmt.Sprintf("users.user pk=%d: repaired: password: %s; dropped, so the account must reset its password", o.pk, o.reason))
	}
	for _, a := range atCap {
		records = append(records, djangoUserRecord(a.pk, email(a.pk), a.encoded))
	}
	want = append(want,
		fmt.Sprintf("users: %d imported, 0 skipped, %d repaired", len(over)+len(atCap), len(over)),
		"addresses: 0 imported, 0 skipped, 0 repaired")

	dir := t.TempDir()
	report := mustImport(t, ImportDjangoInput{DataDir: dir, File: writeDump(t, records...)})
	if got := strings.TrimSuffix(report, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("report:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, o := range over {
		if strings.Contains(report, o.encoded) {
			t.Fatalf("the report shows the hash of pk=%d", o.pk)
		}
	}
	mustNoFaults(t, dir)

	ts := newTestServer(t, func(c *Config) { c.DataDir = dir })
	for _, o := range over {
		u := secUser(t, ts, email(o.pk))
		if u.PasswordHash != "" || !u.Active || !u.EmailVerified {
			t.Fatalf("pk=%d: got hash %.20q active %v verified %v, want an active account without a usable password", o.pk, u.PasswordHash, u.Active, u.EmailVerified)
		}
		for _, pw := range []string{"password", "", "lètmein"} {
			ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": email(o.pk), "password": pw + " "}).want(t, 401, CodeUnauthenticated)
		}
	}
	for _, a := range atCap {
		if h := secUser(t, ts, email(a.pk)).PasswordHash; h != a.encoded {
			t.Fatalf("pk=%d: stored %.30q…, want the Django hash as imported", a.pk, h)
		}
		ts.login(email(a.pk), a.password)
		if h := secUser(t, ts, email(a.pk)).PasswordHash; !strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("pk=%d: after the login the hash is %.20q…, want Marbelle's argon2id", a.pk, h)
		}
	}

	// A store imported by an older binary still holds over-cap hashes. Put
	// one back, right for its password but one iteration over the cap, and
	// others of every algorithm: each login is a plain 401.
	const pw = "over the cap Thistle-4"
	key, err = pbkdf2.Key(sha256.New, pw, []byte("capsalt"), password.MaxDjangoPBKDF2Iterations+1, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	rightButOver := fmt.Sprintf("pbkdf2_sha256$%d$capsalt$%s", password.MaxDjangoPBKDF2Iterations+1, base64.StdEncoding.EncodeToString(key))
	// CheckDjangoHash fails exactly when the login's check would neither
	// recognise nor accept the hash, whatever the password.
	if err := password.CheckDjangoHash(rightButOver); err == nil {
		t.Fatalf("the right password over the cap: the hash is recognised, want it refused")
	}
	for i, encoded := range []string{rightButOver, over[0].encoded, over[2].encoded, over[5].encoded} {
		addr := email(over[i].pk)
		secChangeUser(t, ts, addr, func(u *store.User) { u.PasswordHash = encoded })
		ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": addr, "password": pw}).want(t, 401, CodeUnauthenticated)
		if h := secUser(t, ts, addr).PasswordHash; h != encoded {
			t.Fatalf("a failed login changed the stored hash to %.20q…", h)
		}
	}
}
