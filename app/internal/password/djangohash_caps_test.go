package password

import (
	"strings"
	"testing"

	"github.com/marbelle/marbelle/internal/testutil"
)

// Hash strings of a chosen cost (internal/testutil's Django helpers).
var (
	capPBKDF2 = testutil.DjangoPBKDF2
	capArgon2 = testutil.DjangoArgon2
	capBcrypt = testutil.DjangoBcrypt
)

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
		{"length", "pbkdf2_sha256$1$" + strings.Repeat("s", maxDjangoHashLength-len("pbkdf2_sha256$1$$")-len(testutil.DjangoHash32)) + "$" + testutil.DjangoHash32,
			"pbkdf2_sha256$1$" + strings.Repeat("s", maxDjangoHashLength-len("pbkdf2_sha256$1$$")-len(testutil.DjangoHash32)+1) + "$" + testutil.DjangoHash32},
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
