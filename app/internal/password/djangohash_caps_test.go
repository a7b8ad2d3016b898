package password

import (
	"strings"
	"testing"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestIssue14DjangoHashCapsAreTheBoundary: each cap is exactly where
// acceptance ends: at the cap a hash is recognised (parsed only here,
// nothing computed), one over it is not, and refusing it hands back
// nothing that could compute it.
func TestIssue14DjangoHashCapsAreTheBoundary(t *testing.T) {
	for _, c := range []struct{ name, atCap, overCap string }{
		{"pbkdf2 iterations", testutil.DjangoPBKDF2(MaxDjangoPBKDF2Iterations), testutil.DjangoPBKDF2(MaxDjangoPBKDF2Iterations + 1)},
		{"argon2id memory", testutil.DjangoArgon2("argon2id", maxDjangoArgon2Memory, 2, 8), testutil.DjangoArgon2("argon2id", maxDjangoArgon2Memory+1, 2, 8)},
		{"argon2id time", testutil.DjangoArgon2("argon2id", 102400, maxDjangoArgon2Time, 8), testutil.DjangoArgon2("argon2id", 102400, maxDjangoArgon2Time+1, 8)},
		{"argon2id lanes", testutil.DjangoArgon2("argon2id", 102400, 2, maxDjangoArgon2Threads), testutil.DjangoArgon2("argon2id", 102400, 2, maxDjangoArgon2Threads+1)},
		{"argon2i all at once", testutil.DjangoArgon2("argon2i", maxDjangoArgon2Memory, maxDjangoArgon2Time, maxDjangoArgon2Threads), testutil.DjangoArgon2("argon2i", maxDjangoArgon2Memory, maxDjangoArgon2Time+1, maxDjangoArgon2Threads)},
		{"bcrypt_sha256 cost", testutil.DjangoBcrypt(MaxDjangoBcryptCost), testutil.DjangoBcrypt(MaxDjangoBcryptCost + 1)},
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
