package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// TokenKind says what a mailed token is for.
type TokenKind uint8

const (
	TokenVerifyEmail   TokenKind = 1
	TokenPasswordReset TokenKind = 2
	TokenEmailChange   TokenKind = 3
	// TokenUndo is the "This wasn't me" link of a security notice. Several
	// may be live at once: a newer notice does not void an older one.
	TokenUndo TokenKind = 4
	// TokenMFA is the mfa_token of a two-step login: the password was
	// right, a second factor is still due. Never mailed; several may be
	// live (one per device logging in), each with its own attempts.
	TokenMFA TokenKind = 5
)

// exclusive reports whether a newer token of this kind voids the older.
func (k TokenKind) exclusive() bool { return k != TokenUndo && k != TokenMFA }

// stamped reports whether a token of this kind dies with a change of its
// user's security stamp. Undo links do not: they answer such a change.
func (k TokenKind) stamped() bool { return k != TokenUndo }

func (k TokenKind) String() string {
	switch k {
	case TokenVerifyEmail:
		return "verify_email"
	case TokenPasswordReset:
		return "password_reset"
	case TokenEmailChange:
		return "email_change"
	case TokenUndo:
		return "undo"
	case TokenMFA:
		return "mfa"
	}
	return "unknown"
}

// Token is a mailed single-use token, stored under the SHA-256 of its
// value only.
type Token struct {
	Kind     TokenKind `json:"kind"`
	UserID   uuid.UUID `json:"user_id"`
	NewEmail string    `json:"new_email,omitempty"` // email change only
	Action   string    `json:"action,omitempty"`    // undo only: the event it undoes
	OldEmail string    `json:"old_email,omitempty"` // undo of an email change: the address to return to
	// PasswordHash binds a verification to the one registration that asked
	// for it: verifying sets this password. It is empty once an address was
	// registered more than once before verification: then nobody's choice
	// is trusted and verification asks for a new password.
	PasswordHash string `json:"password_hash,omitempty"`
	// Stamp is the user's SecurityStamp when the token was issued; a token
	// whose stamp is no longer the user's is void (see User.SecurityStamp).
	Stamp uint64 `json:"stamp,omitempty"`
	// Attempts counts the wrong codes sent with an mfa token.
	Attempts  int       `json:"attempts,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`   // spent
	VoidedAt  time.Time `json:"voided_at,omitzero"` // replaced by a newer token
	Hash      []byte    `json:"hash"`
}

// Used reports whether the token can no longer be spent for a reason other
// than expiry.
func (t *Token) Used() bool { return !t.UsedAt.IsZero() || !t.VoidedAt.IsZero() }

// Preview is a short fingerprint of the stored hash (not of the token), so
// staff can tell tokens apart without ever seeing one.
func (t *Token) Preview() string {
	h := sha256.Sum256(t.Hash)
	return hex.EncodeToString(h[:4])
}

// byUserKey is t's tokens_by_user key: its user, its kind, its hash.
func (t *Token) byUserKey() []byte { return join(t.UserID[:], []byte{byte(t.Kind)}, t.Hash) }

// IssueToken stores a new token for raw and, for every kind but undo,
// voids every unspent token of the same kind for the same user: a newer
// token voids the older, in the same transaction.
func (tx *Tx) IssueToken(raw string, t *Token) error {
	u, err := tx.User(t.UserID)
	if err != nil {
		return err
	}
	t.Stamp = u.SecurityStamp
	t.Hash = HashSecret(raw)
	if t.Kind.exclusive() {
		if err := tx.VoidTokens(t.UserID, t.Kind, t.CreatedAt); err != nil {
			return err
		}
	}
	if err := putJSON(tx.bucket(bucketTokens), t.Hash, t); err != nil {
		return err
	}
	if err := tx.bucket(bucketTokensByUser).Put(t.byUserKey(), nil); err != nil {
		return err
	}
	return tx.bucket(bucketTokensByExpiry).Put(join(timeKey(t.ExpiresAt), t.Hash), nil)
}

// deadMark is the tokens_by_user value of a spent or voided token, so
// that voiding a user's live tokens skips the dead ones without decoding
// them: repeated requests cannot make the next one slower.
var deadMark = []byte{1}

// VoidTokens voids every unspent token of kind for a user.
func (tx *Tx) VoidTokens(userID uuid.UUID, kind TokenKind, at time.Time) error {
	prefix := join(userID[:], []byte{byte(kind)})
	tokens, byUser := tx.bucket(bucketTokens), tx.bucket(bucketTokensByUser)
	var live [][]byte
	c := byUser.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !bytes.Equal(v, deadMark) {
			live = append(live, bytes.Clone(k))
		}
	}
	for _, k := range live {
		var old Token
		hash := k[len(prefix):]
		if err := getJSON(tokens, hash, &old); err != nil {
			return err
		}
		if !old.Used() {
			old.VoidedAt = at
			if err := putJSON(tokens, hash, &old); err != nil {
				return err
			}
		}
		if err := byUser.Put(k, deadMark); err != nil {
			return err
		}
	}
	return nil
}

// ValidToken returns the token for raw if it could be spent now, without
// spending it: of kind, unspent, unexpired, its user alive and, but for
// undo links, issued under the user's current security stamp.
// Errors: ErrTokenInvalid.
func (tx *Tx) ValidToken(kind TokenKind, raw string, now time.Time) (*Token, error) {
	var t Token
	if err := getJSON(tx.bucket(bucketTokens), HashSecret(raw), &t); err != nil {
		return nil, ErrTokenInvalid
	}
	if t.Kind != kind || t.Used() || !now.Before(t.ExpiresAt) {
		return nil, ErrTokenInvalid
	}
	u, err := tx.User(t.UserID)
	if err != nil || (kind.stamped() && t.Stamp != u.SecurityStamp) {
		return nil, ErrTokenInvalid
	}
	return &t, nil
}

// PendingRegistration returns what the newest verification token of a
// user carries: the password hash of the one registration it stands for,
// or "" when the address was registered more than once (or no token is
// left). Spent and voided tokens count: a resend voids the older link but
// stands for the same registration.
func (tx *Tx) PendingRegistration(userID uuid.UUID) (string, error) {
	prefix := join(userID[:], []byte{byte(TokenVerifyEmail)})
	tokens := tx.bucket(bucketTokens)
	var newest *Token
	c := tx.bucket(bucketTokensByUser).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var t Token
		if err := getJSON(tokens, k[len(prefix):], &t); err != nil {
			return "", err
		}
		// On a tie the token without a password wins: never trust more
		// than the newest registration allows.
		if newest == nil || t.CreatedAt.After(newest.CreatedAt) || (t.CreatedAt.Equal(newest.CreatedAt) && t.PasswordHash == "") {
			newest = &t
		}
	}
	if newest == nil {
		return "", nil
	}
	return newest.PasswordHash, nil
}

// SpendToken checks and spends the token for raw in one step: it must be of
// kind, unspent, unexpired and its user alive. Errors: ErrTokenInvalid.
func (tx *Tx) SpendToken(kind TokenKind, raw string, now time.Time) (*Token, error) {
	t, err := tx.ValidToken(kind, raw, now)
	if err != nil {
		return nil, err
	}
	t.UsedAt = now
	if err := putJSON(tx.bucket(bucketTokens), t.Hash, t); err != nil {
		return nil, err
	}
	if err := tx.bucket(bucketTokensByUser).Put(t.byUserKey(), deadMark); err != nil {
		return nil, err
	}
	return t, nil
}

// FailTokenAttempt counts one wrong attempt on the live token t and voids
// it once limit attempts are used, in the caller's transaction. It returns
// the attempts left.
func (tx *Tx) FailTokenAttempt(t *Token, limit int, now time.Time) (int, error) {
	t.Attempts++
	if t.Attempts >= limit {
		t.VoidedAt = now
		if err := tx.bucket(bucketTokensByUser).Put(t.byUserKey(), deadMark); err != nil {
			return 0, err
		}
	}
	return max(0, limit-t.Attempts), putJSON(tx.bucket(bucketTokens), t.Hash, t)
}

// UserTokens lists a user's tokens (any state), grouped by kind.
func (tx *Tx) UserTokens(userID uuid.UUID) ([]Token, error) {
	var out []Token
	tokens := tx.bucket(bucketTokens)
	c := tx.bucket(bucketTokensByUser).Cursor()
	for k, _ := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, _ = c.Next() {
		var t Token
		if err := getJSON(tokens, k[len(userID)+1:], &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (tx *Tx) deleteUserTokens(userID uuid.UUID) error {
	keys, err := deletePrefix(tx, bucketTokensByUser, userID[:])
	if err != nil {
		return err
	}
	tokens := tx.bucket(bucketTokens)
	for _, k := range keys {
		hash := k[len(userID)+1:]
		var t Token
		if err := getJSON(tokens, hash, &t); err != nil {
			return err
		}
		if err := tx.bucket(bucketTokensByExpiry).Delete(join(timeKey(t.ExpiresAt), hash)); err != nil {
			return err
		}
		if err := tokens.Delete(hash); err != nil {
			return err
		}
	}
	return nil
}
