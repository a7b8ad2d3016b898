package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
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
	var tok *store.Token
	err := db.Update(func(tx *store.Tx) error {
		var err error
		tok, err = tx.SpendToken(kind, raw, now)
		return err
	})
	return tok, err
}

func valid(db *store.DB, kind store.TokenKind, raw string, now time.Time) (*store.Token, error) {
	var tok *store.Token
	err := db.View(func(tx *store.Tx) error {
		var err error
		tok, err = tx.ValidToken(kind, raw, now)
		return err
	})
	return tok, err
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
	tok, err := spend(db, store.TokenEmailChange, raw, now)
	if err != nil {
		t.Fatalf("first SpendToken: got %v, want nil", err)
	}
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
	db := mustOpen(t)
	u := mustCreateUser(t, db, "kind@example.com")
	raw := issue(t, db, u.ID, store.TokenPasswordReset, t0)
	now := t0.Add(time.Minute)
	for _, kind := range []store.TokenKind{store.TokenVerifyEmail, store.TokenEmailChange, 0, 99} {
		if _, err := spend(db, kind, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
			t.Fatalf("SpendToken(kind %v): got %v, want ErrTokenInvalid", kind, err)
		}
		if _, err := valid(db, kind, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
			t.Fatalf("ValidToken(kind %v): got %v, want ErrTokenInvalid", kind, err)
		}
	}
	if _, err := spend(db, store.TokenPasswordReset, raw, now); err != nil {
		t.Fatalf("SpendToken(right kind) after wrong-kind attempts: got %v, want nil", err)
	}
}

func TestTokenExpiredWhenNowAtOrAfterExpiresAt(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "exp@example.com")
	raw := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	expires := t0.Add(time.Hour)

	if _, err := valid(db, store.TokenVerifyEmail, raw, expires.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("ValidToken 1ns before ExpiresAt: got %v, want nil", err)
	}
	for _, now := range []time.Time{expires, expires.Add(time.Nanosecond), expires.Add(24 * time.Hour)} {
		if _, err := valid(db, store.TokenVerifyEmail, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
			t.Fatalf("ValidToken at %v (ExpiresAt %v): got %v, want ErrTokenInvalid", now, expires, err)
		}
		if _, err := spend(db, store.TokenVerifyEmail, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
			t.Fatalf("SpendToken at %v (ExpiresAt %v): got %v, want ErrTokenInvalid", now, expires, err)
		}
	}
}

func TestValidTokenDoesNotSpend(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "valid@example.com")
	raw := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	now := t0.Add(time.Minute)
	// Inside a write transaction too: ValidToken must not write.
	for i := 0; i < 3; i++ {
		var tok *store.Token
		mustUpdate(t, db, func(tx *store.Tx) error {
			var err error
			tok, err = tx.ValidToken(store.TokenVerifyEmail, raw, now)
			return err
		})
		if tok.Used() || !tok.UsedAt.IsZero() {
			t.Fatalf("ValidToken #%d: got a used token %+v, want unused", i, tok)
		}
	}
	if _, err := spend(db, store.TokenVerifyEmail, raw, now); err != nil {
		t.Fatalf("SpendToken after ValidToken: got %v, want nil", err)
	}
}

func TestIssueTokenVoidsOlderSameKindSameUserOnly(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "void@example.com")
	other := mustCreateUser(t, db, "other@example.com")

	older := issue(t, db, u.ID, store.TokenPasswordReset, t0)
	otherKind := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	otherUser := issue(t, db, other.ID, store.TokenPasswordReset, t0)
	newer := issue(t, db, u.ID, store.TokenPasswordReset, t0.Add(time.Minute))
	now := t0.Add(2 * time.Minute)

	if _, err := valid(db, store.TokenPasswordReset, older, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("ValidToken(older, voided): got %v, want ErrTokenInvalid", err)
	}
	if _, err := spend(db, store.TokenPasswordReset, older, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("SpendToken(older, voided): got %v, want ErrTokenInvalid", err)
	}
	if _, err := valid(db, store.TokenVerifyEmail, otherKind, now); err != nil {
		t.Fatalf("ValidToken(same user, other kind): got %v, want nil", err)
	}
	if _, err := valid(db, store.TokenPasswordReset, otherUser, now); err != nil {
		t.Fatalf("ValidToken(other user, same kind): got %v, want nil", err)
	}
	if _, err := spend(db, store.TokenPasswordReset, newer, now); err != nil {
		t.Fatalf("SpendToken(newer): got %v, want nil", err)
	}

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
	if _, err := spend(db, store.TokenVerifyEmail, first, t0.Add(time.Second)); err != nil {
		t.Fatalf("SpendToken(first): %v", err)
	}
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
	db := mustOpen(t)
	u := mustCreateUser(t, db, "vt@example.com")
	other := mustCreateUser(t, db, "vt-other@example.com")
	reset1 := issue(t, db, u.ID, store.TokenPasswordReset, t0)
	verify := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	otherReset := issue(t, db, other.ID, store.TokenPasswordReset, t0)
	now := t0.Add(time.Minute)

	mustUpdate(t, db, func(tx *store.Tx) error { return tx.VoidTokens(u.ID, store.TokenPasswordReset, now) })

	if _, err := valid(db, store.TokenPasswordReset, reset1, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("ValidToken(voided reset): got %v, want ErrTokenInvalid", err)
	}
	if _, err := valid(db, store.TokenVerifyEmail, verify, now); err != nil {
		t.Fatalf("ValidToken(verify, other kind): got %v, want nil", err)
	}
	if _, err := valid(db, store.TokenPasswordReset, otherReset, now); err != nil {
		t.Fatalf("ValidToken(other user's reset): got %v, want nil", err)
	}
}

func TestTokenOfDeletedUserIsErrTokenInvalid(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "del@example.com")
	raw := issue(t, db, u.ID, store.TokenVerifyEmail, t0)
	now := t0.Add(time.Minute)
	if _, err := valid(db, store.TokenVerifyEmail, raw, now); err != nil {
		t.Fatalf("ValidToken before delete: got %v, want nil", err)
	}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(u.ID) })
	if _, err := valid(db, store.TokenVerifyEmail, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("ValidToken after delete: got %v, want ErrTokenInvalid", err)
	}
	if _, err := spend(db, store.TokenVerifyEmail, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("SpendToken after delete: got %v, want ErrTokenInvalid", err)
	}
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
	if _, err := spend(db, store.TokenVerifyEmail, spent, t0.Add(time.Minute)); err != nil {
		t.Fatalf("SpendToken: %v", err)
	}
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
