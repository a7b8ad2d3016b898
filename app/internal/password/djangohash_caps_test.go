package password

import (
	"fmt"
	"strings"
	"testing"
)

// Hash strings for the cap tests (app/importer_caps_test.go has the same
// for the import's). Their salts and hashes are well formed, so only a
// cost parameter can make a hash over a cap refused; none needs to be
// computable, since the point is that none is computed.
const (
	capB32   = "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=" // 32 bytes, standard base64
	capSalt  = "c29tZXNhbHQ"                                  // argon2 "somesalt"
	capArgon = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"  // argon2 32-byte hash
	capBcr   = "CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC"
)

func capPBKDF2(iter int) string { return fmt.Sprintf("pbkdf2_sha256$%d$salt$%s", iter, capB32) }
func capArgon2(variant string, m, t, p int) string {
	return fmt.Sprintf("argon2$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, m, t, p, capSalt, capArgon)
}
func capBcrypt(cost int) string { return fmt.Sprintf("bcrypt_sha256$$2b$%02d$%s", cost, capBcr) }

// TestIssue14DjangoHashCapsAreTheBoundary: each cap is exactly where
// acceptance ends: at the cap a hash is recognised (parsed only here,
// nothing computed), one over it is not, and refusing it hands back
// nothing that could compute it.
func TestIssue14DjangoHashCapsAreTheBoundary(t *testing.T) {
	for _, c := range []struct{ name, atCap, overCap string }{
		{"pbkdf2 iterations", capPBKDF2(MaxDjangoPBKDF2Iterations), capPBKDF2(MaxDjangoPBKDF2Iterations + 1)},
		{"argon2id memory", capArgon2("argon2id", maxDjangoArgon2Memory, 2, 8), capArgon2("argon2id", maxDjangoArgon2Memory+1, 2, 8)},
		{"argon2id time", capArgon2("argon2id", 102400, maxDjangoArgon2Time, 8), capArgon2("argon2id", 102400, maxDjangoArgon2Time+1, 8)},
		{"argon2id lanes", capArgon2("argon2id", 102400, 2, maxDjangoArgon2Threads), capArgon2("argon2id", 102400, 2, maxDjangoArgon2Threads+1)},
		{"argon2i all at once", capArgon2("argon2i", maxDjangoArgon2Memory, maxDjangoArgon2Time, maxDjangoArgon2Threads), capArgon2("argon2i", maxDjangoArgon2Memory, maxDjangoArgon2Time+1, maxDjangoArgon2Threads)},
		{"bcrypt_sha256 cost", capBcrypt(MaxDjangoBcryptCost), capBcrypt(MaxDjangoBcryptCost + 1)},
		{"length", "pbkdf2_sha256$1$" + strings.Repeat("s", maxDjangoHashLength-len("pbkdf2_sha256$1$$")-len(capB32)) + "$" + capB32,
			"pbkdf2_sha256$1$" + strings.Repeat("s", maxDjangoHashLength-len("pbkdf2_sha256$1$$")-len(capB32)+1) + "$" + capB32},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckDjangoHash(c.atCap); err != nil {
				t.Fatalf("at the cap %q: got %v, want it accepted", c.atCap, err)
			}
			verify, err := parseDjangoHash(c.overCap)
			if err == nil || !strings.Contains(err.Error(), "over the limit") || verify != nil {
				t.Fatalf("over the cap %q: got a verifier %v and %v, want none and an error saying it is over the limit", c.overCap, verify != nil, err)
			}
			if ok, recognised := verifyDjango(c.overCap, "password"); ok || recognised {
				t.Fatalf("over the cap: verifyDjango got ok=%v recognised=%v, want neither", ok, recognised)
			}
		})
	}
}
