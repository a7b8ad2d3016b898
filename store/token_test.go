package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// issue stores a token of kind for userID created at `at`, valid for an hour,
// and returns its raw value.
func issue(tb testing.TB, db *store.DB, userID uuid.UUID, kind store.TokenKind, at time.Time) string {
	tb.Helper()
	raw := randomSecret(tb)
	tok := &store.Token{Kind: kind, UserID: userID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	mustUpdate(tb, db, func(tx *store.Tx) error { return tx.IssueToken(raw, tok) })
	return raw
}

func spend(db *store.DB, kind store.TokenKind, raw string, now time.Time) (*store.Token, error) {
	return txResult(db.Update, func(tx *store.Tx) (*store.Token, error) { return tx.SpendToken(kind, raw, now) })
}

func valid(db *store.DB, kind store.TokenKind, raw string, now time.Time) (*store.Token, error) {
	return txResult(db.View, func(tx *store.Tx) (*store.Token, error) { return tx.ValidToken(kind, raw, now) })
}

// issuedToken opens a store holding one user (email) with one token of
// kind issued at t0, valid for an hour, and returns them and the raw token.
func issuedToken(tb testing.TB, email string, kind store.TokenKind) (*store.DB, *store.User, string) {
	tb.Helper()
	db := mustOpen(tb)
	u := mustCreateUser(tb, db, email)
	return db, u, issue(tb, db, u.ID, kind, t0)
}

// mustSpend spends raw as a token of kind at now and fails tb unless
// SpendToken accepts it.
func mustSpend(tb testing.TB, db *store.DB, kind store.TokenKind, raw string, now time.Time, what string) *store.Token {
	tb.Helper()
	tok, err := spend(db, kind, raw, now)
	if err != nil {
		tb.Fatalf("SpendToken(%s): got %v, want nil", what, err)
	}
	return tok
}

// wantTokenValid fails tb unless ValidToken accepts raw as a token of kind at now.
func wantTokenValid(tb testing.TB, db *store.DB, kind store.TokenKind, raw string, now time.Time, what string) {
	tb.Helper()
	if _, err := valid(db, kind, raw, now); err != nil {
		tb.Fatalf("ValidToken(%s): got %v, want nil", what, err)
	}
}

// wantTokenInvalid fails tb unless ValidToken and then SpendToken both
// refuse raw as a token of kind at now with ErrTokenInvalid.
func wantTokenInvalid(tb testing.TB, db *store.DB, kind store.TokenKind, raw string, now time.Time, what string) {
	tb.Helper()
	if _, err := valid(db, kind, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
		tb.Fatalf("ValidToken(%s): got %v, want ErrTokenInvalid", what, err)
	}
	if _, err := spend(db, kind, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
		tb.Fatalf("SpendToken(%s): got %v, want ErrTokenInvalid", what, err)
	}
}

func TestSpendTokenWorksOnceSecondSpendIsErrTokenInvalid(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "tok@example.com")
	raw := randomSecret(t)
	mustUpdate(t, db, func(tx *store.Tx) error {
		return tx.IssueToken(raw, &store.Token{
			Kind: store.TokenEmailChange, UserID: u.ID, NewEmail: "next@example.com",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		})
	})
	now := t0.Add(time.Minute)
	tok := mustSpend(t, db, store.TokenEmailChange, raw, now, "first")
	if tok.UserID != u.ID || tok.NewEmail != "next@example.com" || tok.Kind != store.TokenEmailChange {
		t.Fatalf("first SpendToken: got %+v, want the issued token", tok)
	}
	if !tok.UsedAt.Equal(now) || !tok.Used() {
		t.Fatalf("first SpendToken: UsedAt %v Used() %v, want %v true", tok.UsedAt, tok.Used(), now)
	}
	if _, err := spend(db, store.TokenEmailChange, raw, now.Add(time.Second)); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("second SpendToken: got %v, want ErrTokenInvalid", err)
	}
	if _, err := valid(db, store.TokenEmailChange, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("ValidToken after spend: got %v, want ErrTokenInvalid", err)
	}
	if _, err := spend(db, store.TokenEmailChange, randomSecret(t), now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("SpendToken(unknown): got %v, want ErrTokenInvalid", err)
	}
}

func TestSpendTokenWrongKindIsErrTokenInvalidAndDoesNotSpend(t *testing.T) {
	db, _, raw := issuedToken(t, "kind@example.com", store.TokenPasswordReset)
	now := t0.Add(time.Minute)
	for _, kind := range []store.TokenKind{store.TokenVerifyEmail, store.TokenEmailChange, 0, 99} {
		wantTokenInvalid(t, db, kind, raw, now, fmt.Sprintf("kind %v", kind))
	}
	mustSpend(t, db, store.TokenPasswordReset, raw, now, "right kind, after wrong-kind attempts")
}

func TestTokenExpiredWhenNowAtOrAfterExpiresAt(t *testing.T) {
	db, _, raw := issuedToken(t, "exp@example.com", store.TokenVerifyEmail)
	expires := t0.Add(time.Hour)

	wantTokenValid(t, db, store.TokenVerifyEmail, raw, expires.Add(-time.Nanosecond), "1ns before ExpiresAt")
	for _, now := range []time.Time{expires, expires.Add(time.Nanosecond), expires.Add(24 * time.Hour)} {
		wantTokenInvalid(t, db, store.TokenVerifyEmail, raw, now, fmt.Sprintf("at %v, ExpiresAt %v", now, expires))
	}
}

func TestValidTokenDoesNotSpend(t *testing.T) {
	db, _, raw := issuedToken(t, "valid@example.com", store.TokenVerifyEmail)
	now := t0.Add(time.Minute)
	// Inside a write transaction too: ValidToken must not write.
	for i := 0; i < 3; i++ {
		tok := mustTxResult(t, db.Update, func(tx *store.Tx) (*store.Token, error) {
			return tx.ValidToken(store.TokenVerifyEmail, raw, now)
		})
		if tok.Used() || !tok.UsedAt.IsZero() {
			t.Fatalf("ValidToken #%d: got a used token %+v, want unused", i, tok)
		}
	}
	mustSpend(t, db, store.TokenVerifyEmail, raw, now, "after ValidToken")
}

// voidingTokens is what the voiding tests start from: a store where u
// holds a password reset and an email verification token, and another
// user a password reset token, all issued at t0.
type voidingTokens struct {
	db                        *store.DB
	u                         *store.User
	reset, verify, otherReset string
}

func newVoidingTokens(tb testing.TB, email, otherEmail string) voidingTokens {
	tb.Helper()
	db := mustOpen(tb)
	u := mustCreateUser(tb, db, email)
	other := mustCreateUser(tb, db, otherEmail)
	return voidingTokens{
		db: db, u: u,
		reset:      issue(tb, db, u.ID, store.TokenPasswordReset, t0),
		verify:     issue(tb, db, u.ID, store.TokenVerifyEmail, t0),
		otherReset: issue(tb, db, other.ID, store.TokenPasswordReset, t0),
	}
}

// wantOnlyResetVoided fails tb unless, at now, u's reset token is void
// while u's token of the other kind and the other user's reset token
// are still valid.
func (v voidingTokens) wantOnlyResetVoided(tb testing.TB, now time.Time) {
	tb.Helper()
	wantTokenInvalid(tb, v.db, store.TokenPasswordReset, v.reset, now, "reset, voided")
	wantTokenValid(tb, v.db, store.TokenVerifyEmail, v.verify, now, "same user, other kind")
	wantTokenValid(tb, v.db, store.TokenPasswordReset, v.otherReset, now, "other user, same kind")
}

func TestIssueTokenVoidsOlderSameKindSameUserOnly(t *testing.T) {
	v := newVoidingTokens(t, "void@example.com", "other@example.com")
	db, u, older := v.db, v.u, v.reset
	newer := issue(t, db, u.ID, store.TokenPasswordReset, t0.Add(time.Minute))
	now := t0.Add(2 * time.Minute)

	v.wantOnlyResetVoided(t, now)
	mustSpend(t, db, store.TokenPasswordReset, newer, now, "newer")

	// The voided token keeps its record, marked voided at the newer one's creation.
	mustView(t, db, func(tx *store.Tx) error {
		toks, err := tx.UserTokens(u.ID)
		if err != nil {
			return err
		}
		if len(toks) != 3 {
			t.Fatalf("UserTokens: got %d, want 3", len(toks))
		}
		var voided int
		for _, tok := range toks {
			if bytes.Equal(tok.Hash, store.HashSecret(older)) {
				voided++
				if !tok.VoidedAt.Equal(t0.Add(time.Minute)) {
					t.Fatalf("older token VoidedAt: got %v, want %v", tok.VoidedAt, t0.Add(time.Minute))
				}
			} else if !tok.VoidedAt.IsZero() {
				t.Fatalf("token of kind %v: VoidedAt %v, want zero", tok.Kind, tok.VoidedAt)
			}
		}
		if voided != 1 {
			t.Fatalf("UserTokens: found the older token %d times, want 1", voided)
		}
		return nil
	})
}

func TestIssueTokenDoesNotUnspendOrRevoidASpentToken(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "spent@example.com")
	first := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	mustSpend(t, db, store.TokenVerifyEmail, first, t0.Add(time.Second), "first")
	issue(t, db, u.ID, store.TokenVerifyEmail, t0.Add(time.Minute))
	mustView(t, db, func(tx *store.Tx) error {
		toks, err := tx.UserTokens(u.ID)
		if err != nil {
			return err
		}
		for _, tok := range toks {
			if bytes.Equal(tok.Hash, store.HashSecret(first)) {
				if !tok.UsedAt.Equal(t0.Add(time.Second)) || !tok.VoidedAt.IsZero() {
					t.Fatalf("spent token after reissue: UsedAt %v VoidedAt %v, want %v and zero", tok.UsedAt, tok.VoidedAt, t0.Add(time.Second))
				}
			}
		}
		return nil
	})
}

func TestVoidTokensVoidsOnlyThatUsersKind(t *testing.T) {
	v := newVoidingTokens(t, "vt@example.com", "vt-other@example.com")
	now := t0.Add(time.Minute)
	mustUpdate(t, v.db, func(tx *store.Tx) error { return tx.VoidTokens(v.u.ID, store.TokenPasswordReset, now) })
	v.wantOnlyResetVoided(t, now)
}

func TestTokenOfDeletedUserIsErrTokenInvalid(t *testing.T) {
	db, u, raw := issuedToken(t, "del@example.com", store.TokenVerifyEmail)
	now := t0.Add(time.Minute)
	wantTokenValid(t, db, store.TokenVerifyEmail, raw, now, "before delete")
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(u.ID) })
	wantTokenInvalid(t, db, store.TokenVerifyEmail, raw, now, "after delete")
}

func TestTokenForMissingUserIsRefused(t *testing.T) {
	// A token carries its user's security stamp, so it cannot be issued
	// for a user that is not stored.
	db := mustOpen(t)
	err := db.Update(func(tx *store.Tx) error {
		return tx.IssueToken("raw", &store.Token{Kind: store.TokenVerifyEmail, UserID: store.NewID(), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("IssueToken(user missing): got %v, want ErrNotFound", err)
	}
}

func TestRawTokenNeverAppearsInFileBytes(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	u := mustCreateUser(t, db, "raw@example.com")
	var raws []string
	for _, kind := range []store.TokenKind{store.TokenVerifyEmail, store.TokenPasswordReset, store.TokenEmailChange} {
		raws = append(raws, issue(t, db, u.ID, kind, t0))
	}
	spent := issue(t, db, u.ID, store.TokenVerifyEmail, t0.Add(time.Second))
	mustSpend(t, db, store.TokenVerifyEmail, spent, t0.Add(time.Minute), "spent")
	raws = append(raws, spent)
	mustClose(t, db)

	data := fileBytes(t, path)
	for _, raw := range raws {
		if bytes.Contains(data, []byte(raw)) {
			t.Fatalf("file contains raw token %q, want only its hash", raw)
		}
		if bytes.Contains(data, []byte(strings.ToUpper(raw))) {
			t.Fatalf("file contains raw token %q in upper case", raw)
		}
		// Positive control: the file read is the store, holding the hash as a key.
		if !bytes.Contains(data, store.HashSecret(raw)) {
			t.Fatalf("file lacks HashSecret(raw token): the check above proves nothing")
		}
	}
}

var hex8 = regexp.MustCompile(`^[0-9a-f]{8}$`)

func TestTokenPreviewIs8HexCharsNotPartOfTokenNorOfItsHash(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "preview@example.com")
	other := mustCreateUser(t, db, "preview2@example.com")
	raw := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	raw2 := issue(t, db, other.ID, store.TokenVerifyEmail, t0)

	tok, err := valid(db, store.TokenVerifyEmail, raw, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("ValidToken: %v", err)
	}
	tok2, err := valid(db, store.TokenVerifyEmail, raw2, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("ValidToken: %v", err)
	}
	p := tok.Preview()
	if !hex8.MatchString(p) {
		t.Fatalf("Preview: got %q, want 8 lower-case hex chars", p)
	}
	hashHex := hex.EncodeToString(store.HashSecret(raw))
	if strings.Contains(raw, p) {
		t.Fatalf("Preview %q is a substring of the token %q", p, raw)
	}
	if strings.Contains(hashHex, p) {
		t.Fatalf("Preview %q is a substring of hex(HashSecret(token)) %q", p, hashHex)
	}
	if !bytes.Equal(tok.Hash, store.HashSecret(raw)) {
		t.Fatalf("Token.Hash: got %x, want HashSecret(raw) %x", tok.Hash, store.HashSecret(raw))
	}
	// Stable for one token, different for another.
	mustView(t, db, func(tx *store.Tx) error {
		toks, err := tx.UserTokens(u.ID)
		if err != nil || len(toks) != 1 {
			t.Fatalf("UserTokens: got %d, %v, want 1, nil", len(toks), err)
		}
		if got := toks[0].Preview(); got != p {
			t.Fatalf("Preview of the same token via UserTokens: got %q, want %q", got, p)
		}
		return nil
	})
	if tok2.Preview() == p {
		t.Fatalf("Preview of two different tokens: both %q, want different", p)
	}
}
