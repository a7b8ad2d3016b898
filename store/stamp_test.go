package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

// TestIssue14Item3SecurityStampVoidsTokens: every change PutUser and
// ChangeEmail treat as security-relevant voids the user's verify, reset and
// email-change tokens in the same transaction; undo links survive; other
// changes void nothing.
func TestIssue14Item3SecurityStampVoidsTokens(t *testing.T) {
	changes := []struct {
		name   string
		change func(tx *store.Tx, u *store.User) error
		voids  bool
	}{
		{"password", func(tx *store.Tx, u *store.User) error { u.PasswordHash = "$argon2id$other"; return tx.PutUser(u) }, true},
		{"deactivate", func(tx *store.Tx, u *store.User) error { u.Active = false; return tx.PutUser(u) }, true},
		{"staff", func(tx *store.Tx, u *store.User) error { u.Staff = true; return tx.PutUser(u) }, true},
		{"freeze", func(tx *store.Tx, u *store.User) error { u.Frozen = true; return tx.PutUser(u) }, true},
		{"must_reset", func(tx *store.Tx, u *store.User) error { u.MustResetPassword = true; return tx.PutUser(u) }, true},
		{"revoke", func(tx *store.Tx, u *store.User) error { u.RevokeTokens(); return tx.PutUser(u) }, true},
		{"email", func(tx *store.Tx, u *store.User) error {
			_, err := tx.ChangeEmail(u.ID, "moved@example.com", t0)
			return err
		}, true},
		{"name", func(tx *store.Tx, u *store.User) error { u.FirstName = "Other"; return tx.PutUser(u) }, false},
		{"stamp_lowered", func(tx *store.Tx, u *store.User) error { u.SecurityStamp = 0; u.FirstName = "X"; return tx.PutUser(u) }, false},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			db := mustOpen(t)
			u := mustCreateUser(t, db, "stamp@example.com")
			mustUpdate(t, db, func(tx *store.Tx) error { u.RevokeTokens(); return tx.PutUser(u) }) // stamp 1, so lowering it shows
			raws := map[store.TokenKind]string{}
			for _, kind := range []store.TokenKind{store.TokenVerifyEmail, store.TokenPasswordReset, store.TokenEmailChange, store.TokenUndo} {
				raws[kind] = issue(t, db, u.ID, kind, t0)
			}
			mustUpdate(t, db, func(tx *store.Tx) error {
				cur, err := tx.User(u.ID)
				if err != nil {
					return err
				}
				return c.change(tx, cur)
			})
			for kind, raw := range raws {
				_, err := valid(db, kind, raw, t0.Add(time.Minute))
				wantDead := c.voids && kind != store.TokenUndo
				if dead := errors.Is(err, store.ErrTokenInvalid); dead != wantDead {
					t.Fatalf("%s token after %s: got %v, want dead=%v", kind, c.name, err, wantDead)
				}
			}
			// A token issued after the change carries the new stamp.
			raw := issue(t, db, u.ID, store.TokenPasswordReset, t0.Add(time.Second))
			if _, err := valid(db, store.TokenPasswordReset, raw, t0.Add(time.Minute)); err != nil {
				t.Fatalf("token issued after %s: %v", c.name, err)
			}
		})
	}
}

// TestIssue14Item1PendingRegistration: the newest verification token says
// which password a verification may set; none after a second registration.
func TestIssue14Item1PendingRegistration(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "pending@example.com")
	pending := func() string {
		return mustTxResult(t, db.View, func(tx *store.Tx) (string, error) { return tx.PendingRegistration(u.ID) })
	}
	if h := pending(); h != "" {
		t.Fatalf("no token: got %q, want none", h)
	}
	put := func(at time.Time, hash string) {
		mustUpdate(t, db, func(tx *store.Tx) error {
			return tx.IssueToken(randomSecret(t), &store.Token{Kind: store.TokenVerifyEmail, UserID: u.ID, PasswordHash: hash, CreatedAt: at, ExpiresAt: at.Add(time.Hour)})
		})
	}
	put(t0, "first")
	put(t0.Add(time.Second), "first") // a resend: the older one is voided, the registration the same
	if h := pending(); h != "first" {
		t.Fatalf("after a resend: got %q, want first", h)
	}
	put(t0.Add(2*time.Second), "")
	if h := pending(); h != "" {
		t.Fatalf("after a second registration: got %q, want none", h)
	}
	put(t0.Add(2*time.Second), "same time") // a tie never trusts more
	if h := pending(); h != "" {
		t.Fatalf("on a tie: got %q, want none", h)
	}
}

// TestIssue14Item14ActiveStaffNeverDropsToZero covers every way a user
// stops being active staff, and the count kept for stores without it.
func TestIssue14Item14ActiveStaffNeverDropsToZero(t *testing.T) {
	db := mustOpen(t)
	a := mustCreateUser(t, db, "a@example.com")
	b := mustCreateUser(t, db, "b@example.com")
	mustUpdate(t, db, func(tx *store.Tx) error { a.Staff = true; return tx.PutUser(a) })
	mustUpdate(t, db, func(tx *store.Tx) error { b.Staff = true; return tx.PutUser(b) })
	mustUpdate(t, db, func(tx *store.Tx) error { b.Active = false; return tx.PutUser(b) })
	for name, fn := range map[string]func(tx *store.Tx) error{
		"demote":     func(tx *store.Tx) error { u, _ := tx.User(a.ID); u.Staff = false; return tx.PutUser(u) },
		"deactivate": func(tx *store.Tx) error { u, _ := tx.User(a.ID); u.Active = false; return tx.PutUser(u) },
		"delete":     func(tx *store.Tx) error { return tx.DeleteUser(a.ID) },
	} {
		if err := db.Update(fn); !errors.Is(err, store.ErrLastStaff) {
			t.Fatalf("%s the last active staff: got %v, want ErrLastStaff", name, err)
		}
	}
	mustUpdate(t, db, func(tx *store.Tx) error { u, _ := tx.User(b.ID); u.Active = true; return tx.PutUser(u) })
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(a.ID) })
	mustView(t, db, func(tx *store.Tx) error {
		if n := tx.ActiveStaff(); n != 1 {
			t.Fatalf("active staff: %d, want 1", n)
		}
		if f := tx.Check(); len(f) > 0 {
			t.Fatalf("check: %v", f)
		}
		return nil
	})
}
