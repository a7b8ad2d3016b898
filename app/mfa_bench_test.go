package app

import (
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// BenchmarkLoginWithoutSecondFactor: a password login of a user with no
// second factor (cheap test hash, so the rest of the login shows), and
// the one lookup the two-step login adds to it.
func BenchmarkLoginWithoutSecondFactor(b *testing.B) {
	ts, h, host, _ := benchSetup(b, 0)
	body := `{"email":"bench@example.test","password":"` + testPassword + `"}`
	b.Run("login", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchRequest(b, h, host, "POST", "/api/v1/auth/login", body, nil, 200)
		}
	})
	id := ts.srv.mustUserID(b, "bench@example.test")
	b.Run("second_factor_lookup", func(b *testing.B) {
		b.ReportAllocs()
		_ = ts.srv.db.View(func(tx *store.Tx) error {
			for b.Loop() {
				if secondFactors(tx, id) != nil {
					b.Fatal("no second factor was set up")
				}
			}
			return nil
		})
	})
}

// BenchmarkTOTPCheck: checking a typed code against the three steps.
func BenchmarkTOTPCheck(b *testing.B) {
	key := []byte("12345678901234567890")
	now := time.Unix(1_800_000_000, 0)
	code := hotp(key, totpStep(now))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := matchTOTP(key, code, now, 0); !ok {
			b.Fatal("the current code was refused")
		}
	}
}
