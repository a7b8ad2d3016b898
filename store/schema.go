// Package store keeps Marbelle's state in one bbolt file. Every public
// method on Tx runs inside the caller's transaction, and every invariant
// (unique email, single-use tokens, a newer token voiding the older, at most
// one primary address) is checked and written inside one write transaction,
// so no interleaving of requests can break it.
//
// The bucket tree (all top-level, created in Open). Keys are raw bytes:
// ids are the 16 bytes of a UUIDv7 (time-ordered), times are 8-byte
// big-endian Unix nanoseconds, so that cursor ranges scan in order.
//
//	meta
//	  "schema_version"            → uint64 big-endian
//	  "users", "verified"         → uint64 counts of live users and of verified ones
//	users
//	  user id                     → JSON User
//	users_by_email
//	  normalised email            → user id   (NormalizeEmail; see upgradeTo3 for older spellings)
//	signups_by_day
//	  day (uint32 yyyymmdd, UTC)  → uint64 count of accounts created that day (history: not lowered on delete)
//	sessions
//	  SHA-256(session secret)     → JSON Session
//	sessions_by_user
//	  user id | session id        → SHA-256(session secret)
//	sessions_by_expiry
//	  expiry time | SHA-256       → empty   (expiry = earlier of absolute and idle end)
//	tokens
//	  SHA-256(token)              → JSON Token
//	tokens_by_user
//	  user id | kind (1 byte) | SHA-256 → empty (live) or 0x01 (spent or voided)
//	tokens_by_expiry
//	  expiry time | SHA-256       → empty
//	outbox
//	  mail id                     → JSON Mail (body sealed by the caller, erased once sent)
//	outbox_due
//	  next attempt time | mail id → empty   (queued mail only)
//	outbox_by_user
//	  user id | mail id           → empty   (mail about an account goes with it)
//	outbox_sent
//	  sent time | mail id         → empty   (sent mail only; the sweeper prunes by it)
//	audit
//	  event id (UUIDv7, so time order) → JSON Event
//	audit_by_user
//	  user id | event id          → empty
//	addresses
//	  user id | address id        → JSON Address (one user's addresses are one ordered range)
//	imports
//	  source | 0x00 | external id → user id (what an import brought in, so a re-run changes nothing)
//	api_keys
//	  key id                      → binary APIKey (apikey.go; revoked keys stay, so the list and the audit can name them)
//	api_keys_by_hash
//	  SHA-256(key)                → key id
//
// Values are decoded inside the transaction: bbolt's byte slices are only
// valid until it ends.
package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Bucket names, as named values so that a typo cannot create a new bucket.
var (
	bucketMeta             = []byte("meta")
	bucketUsers            = []byte("users")
	bucketUsersByEmail     = []byte("users_by_email")
	bucketSignupsByDay     = []byte("signups_by_day")
	bucketSessions         = []byte("sessions")
	bucketSessionsByUser   = []byte("sessions_by_user")
	bucketSessionsByExpiry = []byte("sessions_by_expiry")
	bucketTokens           = []byte("tokens")
	bucketTokensByUser     = []byte("tokens_by_user")
	bucketTokensByExpiry   = []byte("tokens_by_expiry")
	bucketOutbox           = []byte("outbox")
	bucketOutboxDue        = []byte("outbox_due")
	bucketOutboxByUser     = []byte("outbox_by_user")
	bucketOutboxSent       = []byte("outbox_sent")
	bucketAudit            = []byte("audit")
	bucketAuditByUser      = []byte("audit_by_user")
	bucketAddresses        = []byte("addresses")
	bucketImports          = []byte("imports")
	bucketAPIKeys          = []byte("api_keys")
	bucketAPIKeysByHash    = []byte("api_keys_by_hash")
)

func allBuckets() [][]byte {
	return [][]byte{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketSignupsByDay,
		bucketSessions, bucketSessionsByUser, bucketSessionsByExpiry,
		bucketTokens, bucketTokensByUser, bucketTokensByExpiry,
		bucketOutbox, bucketOutboxDue, bucketOutboxByUser, bucketOutboxSent, bucketAudit, bucketAuditByUser,
		bucketAddresses, bucketImports, bucketAPIKeys, bucketAPIKeysByHash,
	}
}

var keySchemaVersion = []byte("schema_version")

// SchemaVersion is the layout this code reads and writes. Open migrates an
// older file forward and refuses a newer one.
const SchemaVersion = 3

// migrations[v] upgrades a store from version v to v+1, inside the open
// transaction. Version 0 is a file that has never been initialised.
var migrations = map[uint64]func(*Tx) error{
	0: func(*Tx) error { return nil }, // buckets are created by Open itself
	1: upgradeTo2,
	2: upgradeTo3,
}

// upgradeTo2 builds the indexes version 2 added over existing records:
// outbox_sent for mail sent before it existed, and the dead mark in
// tokens_by_user for tokens already spent or voided.
func upgradeTo2(tx *Tx) error {
	if err := indexSentMail(tx); err != nil {
		return err
	}
	byUser := tx.bucket(bucketTokensByUser)
	return tx.bucket(bucketTokens).ForEach(func(k, v []byte) error {
		var t Token
		if json.Unmarshal(v, &t) != nil || !t.Used() {
			return nil
		}
		return byUser.Put(join(t.UserID[:], []byte{byte(t.Kind)}, k), deadMark)
	})
}

// upgradeTo3 moves every user whose email version 3's NormalizeEmail
// spells differently (it added NFC for the local part and the IDNA ASCII
// form of the domain to lower-casing) to the new spelling: its
// users_by_email key and User.Email.
//
// Accounts that become one spelling collide. The one kept on the key is
// the verified one, else the oldest (DateJoined, then id): a verified
// account proves the mailbox, and the oldest holds the history. The others
// keep a key that no lookup produces any more (their own old spelling; an
// account that already had the new spelling takes the one the kept account
// leaves), so nothing is deleted, they can no longer sign in, and a warning
// names both ids for staff to sort out. Check accepts these leftovers.
func upgradeTo3(tx *Tx) error {
	moving := map[string][]*User{}
	err := tx.bucket(bucketUsers).ForEach(func(_, v []byte) error {
		var u User
		if decodeUser(v, &u) != nil {
			return nil // Check reports it; no migration can repair it
		}
		if key := NormalizeEmail(u.Email); key != u.Email {
			moving[key] = append(moving[key], &u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	idx := tx.bucket(bucketUsersByEmail)
	put := func(u *User) error {
		if err := idx.Put([]byte(u.Email), u.ID[:]); err != nil {
			return err
		}
		return tx.putUser(u)
	}
	for _, key := range slices.Sorted(maps.Keys(moving)) {
		group := moving[key]
		var holder *User // already stored under the new spelling
		if id, ok := idFromBytes(idx.Get([]byte(key))); ok {
			if u, err := tx.User(id); err == nil && u.Email == key {
				holder = u
				group = append(group, u)
			}
		}
		slices.SortFunc(group, func(a, b *User) int {
			if a.EmailVerified != b.EmailVerified {
				if a.EmailVerified {
					return -1
				}
				return 1
			}
			return cmp.Or(a.DateJoined.Compare(b.DateJoined), bytes.Compare(a.ID[:], b.ID[:]))
		})
		keep := group[0]
		if keep != holder {
			left := keep.Email
			if bytes.Equal(idx.Get([]byte(left)), keep.ID[:]) {
				if err := idx.Delete([]byte(left)); err != nil {
					return err
				}
			}
			if holder != nil {
				holder.Email = left
				if err := put(holder); err != nil {
					return fmt.Errorf("user %s: %w", holder.ID, err)
				}
			}
			keep.Email = key
			if err := put(keep); err != nil {
				return fmt.Errorf("user %s: %w", keep.ID, err)
			}
		}
		for _, u := range group[1:] {
			tx.warn("store migration to version 3: two accounts now have one email address; the kept one signs in with it, the left one no longer can (staff: delete it, or merge by hand)",
				"kept_user_id", keep.ID, "left_user_id", u.ID)
		}
	}
	return nil
}
