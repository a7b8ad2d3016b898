package app

import (
	"context"
	"testing"

	mailpkg "github.com/marbelle/marbelle/mail"
)

// BenchmarkNoticeWithChanges queues the sign-in methods notice (whose
// changes sentence is translated) inside one write transaction.
func BenchmarkNoticeWithChanges(b *testing.B) {
	ts := newTestServer(b, nil)
	ts.addressUser("bench@example.test")
	err := ts.srv.update(context.Background(), func(t *txn) error {
		u, err := t.UserByEmail("bench@example.test")
		if err != nil {
			return err
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := t.queueNotice("sign_in_methods_changed", mailpkg.KindSignInChanged, u, u.Email, "", client{}, mailpkg.Data{Changes: "An authenticator app was added."}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
