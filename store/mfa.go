package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Second factors live in buckets of their own, keyed by user id, so that
// the User record (and its codec) does not change and an older binary
// simply ignores them.
var (
	bucketMFATOTP     = []byte("mfa_totp")
	bucketMFARecovery = []byte("mfa_recovery")
)

// TOTP is a user's authenticator-app enrolment (RFC 6238). The secret is
// sealed by the app (AES-GCM bound to the user id) before it is stored:
// a copied store file holds no usable secret.
type TOTP struct {
	UserID       uuid.UUID
	SealedSecret []byte
	// Confirmed: a code typed from the app proved the enrolment; until
	// then it is a pending setup that counts for nothing.
	Confirmed   bool
	CreatedAt   time.Time
	ConfirmedAt time.Time
	// LastStep is the time step (Unix seconds / 30) of the last code
	// accepted: a code of that step or an earlier one is refused, so a
	// code is never accepted twice.
	LastStep uint64
}

// totpCodecV1 is the version byte of the binary TOTP record: then
// confirmed (1 byte), created, confirmed (8-byte Unix ns each), last
// step (8 bytes), and the sealed secret (the rest).
const totpCodecV1 = 0xD1

const totpFixedLen = 1 + 1 + 8 + 8 + 8

var errBadTOTPRecord = errors.New("store: malformed TOTP record")

func encodeTOTP(t *TOTP) []byte {
	b := make([]byte, 0, totpFixedLen+len(t.SealedSecret))
	b = append(b, totpCodecV1)
	if t.Confirmed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, timeKey(t.CreatedAt)...)
	b = append(b, timeKey(t.ConfirmedAt)...)
	b = binary.BigEndian.AppendUint64(b, t.LastStep)
	return append(b, t.SealedSecret...)
}

func decodeTOTP(userID uuid.UUID, b []byte) (*TOTP, error) {
	if len(b) < totpFixedLen || b[0] != totpCodecV1 || b[1] > 1 {
		return nil, errBadTOTPRecord
	}
	t := &TOTP{UserID: userID, Confirmed: b[1] == 1}
	t.CreatedAt = keyTime(b[2:10])
	if ns := binary.BigEndian.Uint64(b[10:18]); ns != 0 {
		t.ConfirmedAt = keyTime(b[10:18])
	}
	t.LastStep = binary.BigEndian.Uint64(b[18:26])
	t.SealedSecret = bytes.Clone(b[26:])
	return t, nil
}

// keyTime reads an 8-byte timeKey back.
func keyTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC() // #nosec G115 -- written by timeKey from a non-negative int64
}

// TOTP returns the user's TOTP record. Errors: ErrNotFound.
func (tx *Tx) TOTP(userID uuid.UUID) (*TOTP, error) {
	v := tx.bucket(bucketMFATOTP).Get(userID[:])
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeTOTP(userID, v)
}

// PutTOTP stores the user's TOTP record (a pending setup or a confirmed
// enrolment), replacing any other.
func (tx *Tx) PutTOTP(t *TOTP) error {
	if _, err := tx.User(t.UserID); err != nil {
		return err
	}
	return tx.bucket(bucketMFATOTP).Put(t.UserID[:], encodeTOTP(t))
}

// DeleteTOTP removes the user's TOTP record and recovery codes (they are
// the fallback of the app and go with it).
func (tx *Tx) DeleteTOTP(userID uuid.UUID) error {
	if err := tx.bucket(bucketMFATOTP).Delete(userID[:]); err != nil {
		return err
	}
	_, err := deletePrefix(tx, bucketMFARecovery, userID[:])
	return err
}

// HasTOTP reports whether the user has a confirmed authenticator app:
// one read of one small record.
func (tx *Tx) HasTOTP(userID uuid.UUID) bool {
	v := tx.bucket(bucketMFATOTP).Get(userID[:])
	return len(v) > 1 && v[0] == totpCodecV1 && v[1] == 1
}

// HasSecondFactor reports whether the user has a confirmed authenticator
// app or a passkey: two small lookups, cheap enough for every login.
func (tx *Tx) HasSecondFactor(userID uuid.UUID) bool {
	return tx.HasTOTP(userID) || tx.HasPasskey(userID)
}

// DeleteSecondFactors removes the authenticator app, the recovery codes
// and every passkey of a user (a staff reset, an undo, a deletion).
func (tx *Tx) DeleteSecondFactors(userID uuid.UUID) error {
	if err := tx.DeleteTOTP(userID); err != nil {
		return err
	}
	return tx.deleteUserPasskeys(userID)
}

// SetRecoveryCodes replaces the user's recovery codes with hashes (the
// SHA-256 of each code: they are random, so no slow hash is needed).
func (tx *Tx) SetRecoveryCodes(userID uuid.UUID, hashes [][]byte, at time.Time) error {
	if _, err := deletePrefix(tx, bucketMFARecovery, userID[:]); err != nil {
		return err
	}
	b := tx.bucket(bucketMFARecovery)
	for _, h := range hashes {
		if err := b.Put(join(userID[:], h), timeKey(at)); err != nil {
			return err
		}
	}
	return nil
}

// SpendRecoveryCode removes the code whose hash is hash and returns how
// many are left. Inside one write transaction, so of two uses of one code
// exactly one finds it. Errors: ErrNotFound.
func (tx *Tx) SpendRecoveryCode(userID uuid.UUID, hash []byte) (int, error) {
	b := tx.bucket(bucketMFARecovery)
	k := join(userID[:], hash)
	if b.Get(k) == nil {
		return 0, ErrNotFound
	}
	if err := b.Delete(k); err != nil {
		return 0, err
	}
	return tx.RecoveryCodesLeft(userID), nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (tx *Tx) RecoveryCodesLeft(userID uuid.UUID) int {
	return countPrefix(tx, bucketMFARecovery, userID[:])
}

// deleteUserMFA removes every second factor of a user (account deletion).
func (tx *Tx) deleteUserMFA(userID uuid.UUID) error {
	return tx.DeleteSecondFactors(userID)
}

// checkMFA finds second-factor records of users who do not exist.
func checkMFA(c *checkState) {
	_ = c.tx.bucket(bucketMFATOTP).ForEach(func(k, v []byte) error {
		id, err := uuid.FromBytes(k)
		if err != nil || c.users[id] == nil {
			c.fault("mfa_totp %x: no such user", k)
		} else if _, err := decodeTOTP(id, v); err != nil {
			c.fault("mfa_totp %s: %v", id, err)
		}
		return nil
	})
	_ = c.tx.bucket(bucketPasskeys).ForEach(func(k, v []byte) error {
		var p Passkey
		if err := getJSONBytes(v, &p); err != nil || len(k) != 32 || c.users[p.UserID] == nil {
			c.fault("passkeys %x: malformed or no such user", k)
		} else if !bytes.Equal(c.tx.bucket(bucketPasskeysByCredential).Get(p.CredentialID), k) {
			c.fault("passkeys %x: not in passkeys_by_credential", k)
		}
		return nil
	})
	_ = c.tx.bucket(bucketMFARecovery).ForEach(func(k, _ []byte) error {
		id, err := uuid.FromBytes(k[:min(len(k), 16)])
		if err != nil || len(k) != 16+32 || c.users[id] == nil {
			c.fault("mfa_recovery %x: no such user or malformed key", k)
		}
		return nil
	})
}
