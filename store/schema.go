// Package store keeps Marbelle's state in one bbolt file. Every public
// method on Tx runs inside the caller's transaction, and every invariant
// (unique email, single-use tokens, a newer token voiding the older, at most
// one primary address) is checked and written inside one write transaction,
// so no interleaving of requests can break it.
//
// The bucket tree (all top-level, created in Open). Keys are raw bytes:
// ids are the 16 bytes of a UUIDv7 (time-ordered), times are 8-byte
// big-endian Unix nanoseconds, so that cursor ranges scan in order.
// Users, sessions and addresses are in the binary forms of codec.go (a
// version byte, then the fields in a fixed order); tokens, outbox mail
// and audit events are JSON.
//
//	meta
//	  "schema_version"            → uint64 big-endian (SchemaVersion; see docs/upgrading.md)
//	  "users", "verified"         → uint64 counts of live users and of verified ones
//	  "active_staff"              → uint64 count of active staff (set by the migration to version 4, countStaff)
//	users
//	  user id                     → binary User, 0xB3 (userCodecV3: V2 plus the language, schema 5)
//	users_by_email
//	  normalised email            → user id   (NormalizeEmail; see upgradeTo3 for older spellings)
//	signups_by_day
//	  day (uint32 yyyymmdd, UTC)  → uint64 count of accounts created that day (history: not lowered on delete)
//	sessions
//	  SHA-256(session secret)     → binary Session, 0xC2 (sessionCodecV2: V1 and sign-in methods, AAL, token flag)
//	sessions_by_user
//	  user id | session id        → SHA-256(session secret)
//	sessions_by_expiry
//	  expiry time | SHA-256       → empty   (expiry = earlier of absolute and idle end)
//	tokens
//	  SHA-256(token)              → JSON Token
//	tokens_by_user
//	  user id | kind (1 byte) | SHA-256 → empty = live, 0x01 = spent or voided
//	                                (the mark since version 2, so issuing skips dead ones undecoded)
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
//	  user id | address id        → binary Address, 0xA1 (addressCodecV1; one user's addresses are one ordered range)
//	imports
//	  source | 0x00 | external id → user id (what an import brought in, so a re-run changes nothing)
//	api_keys
//	  key id                      → binary APIKey (apikey.go; revoked keys stay, so the list and the audit can name them)
//	api_keys_by_hash
//	  SHA-256(key)                → key id
//	webhooks
//	  endpoint id                 → binary Webhook, 0xE1 (webhook_codec.go: url, events, the signing secrets sealed by the app
//	                                bound to the endpoint id, schema 6; JSON with clear secrets before, until the app seals them)
//	webhook_deliveries
//	  delivery id                 → JSON Delivery (one event to one endpoint; written in the change's transaction)
//	webhook_due
//	  endpoint id | next attempt time | delivery id → empty (pending deliveries only)
//	webhook_done
//	  done time | delivery id     → empty   (delivered or failed; the sweeper prunes by it)
//	webhook_deliveries_by_endpoint
//	  endpoint id | delivery id   → empty
//	mfa_totp
//	  user id                     → binary TOTP, 0xD1 (mfa.go; the secret sealed by the app, the last step used)
//	mfa_recovery
//	  user id | SHA-256(code)     → created time (one key per unused recovery code; using one deletes it)
//	passkeys
//	  user id | passkey id        → JSON Passkey (passkey.go; the WebAuthn credential record, sign counter and flags inside)
//	passkeys_by_credential
//	  credential id               → user id | passkey id
//	webauthn_ceremonies
//	  SHA-256(challenge)          → JSON Ceremony (a begun registration or login, 5 minutes, single use)
//	webauthn_ceremonies_by_expiry
//	identities
//	  issuer | 0x00 | subject     → JSON Identity (identity.go: an OpenID provider identity linked to a user; never keyed by email)
//	identities_by_user
//	  user id | identity id       → issuer | 0x00 | subject
//	oidc_states
//	  SHA-256(state)              → JSON OIDCState (a sign-in at a provider in progress; taken by its callback: single use)
//	oidc_states_by_expiry
//	  expiry time | SHA-256       → empty   (the sweeper prunes by it)
//
// Stores before version 4 may also hold users, sessions and addresses as
// JSON, and users as 0xB1 (V1: no security stamp); upgradeTo4 rewrites
// them; stores of version 4 hold users as 0xB2 (V2: no language), which
// upgradeTo5 rewrites. Only the migrations read those forms.
//
// Values are decoded inside the transaction: bbolt's byte slices are only
// valid until it ends.
package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"
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

	// OpenID Connect sign-in (identity.go).
	bucketIdentities         = []byte("identities")
	bucketIdentitiesByUser   = []byte("identities_by_user")
	bucketOIDCStates         = []byte("oidc_states")
	bucketOIDCStatesByExpiry = []byte("oidc_states_by_expiry")
)

func allBuckets() [][]byte {
	return [][]byte{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketSignupsByDay,
		bucketSessions, bucketSessionsByUser, bucketSessionsByExpiry,
		bucketTokens, bucketTokensByUser, bucketTokensByExpiry,
		bucketOutbox, bucketOutboxDue, bucketOutboxByUser, bucketOutboxSent, bucketAudit, bucketAuditByUser,
		bucketAddresses, bucketImports, bucketAPIKeys, bucketAPIKeysByHash,
		// webhooks (#17)
		bucketWebhooks, bucketWebhookDeliveries, bucketWebhookDue, bucketWebhookDone, bucketWebhookByEndpoint,
		// second factors (mfa.go, passkey.go)
		bucketMFATOTP, bucketMFARecovery,
		bucketPasskeys, bucketPasskeysByCredential, bucketCeremonies, bucketCeremoniesByExpiry,
		bucketIdentities, bucketIdentitiesByUser, bucketOIDCStates, bucketOIDCStatesByExpiry,
	}
}

var keySchemaVersion = []byte("schema_version")

// SchemaVersion is the layout this code reads and writes. Open migrates an
// older file forward and refuses a newer one.
const SchemaVersion = 6

// A migration upgrades a store from one version to the next.
type migration struct {
	// tx runs inside the write transaction that then records the new
	// version (shared with the migrations before and after it).
	tx func(*Tx) error
	// records, when set, runs before tx, in write transactions of its own,
	// so that no transaction grows with the store. It must be idempotent:
	// a crash between its transactions leaves the old version, and the
	// next Open runs it again. It is skipped when every bucket of reads is
	// empty (a new file).
	records func(*DB, *slog.Logger) error
	reads   [][]byte
}

// migrationFrom returns the migration from version v to v+1. Version 0 is
// a file that has never been initialised: Open creates the buckets.
func migrationFrom(v uint64) migration {
	switch v {
	case 1:
		return migration{tx: upgradeTo2}
	case 2:
		return migration{tx: upgradeTo3}
	case 3:
		return migration{records: upgradeTo4, reads: [][]byte{bucketUsers, bucketSessions, bucketAddresses}, tx: countStaff}
	case 4:
		return migration{records: upgradeTo5, reads: [][]byte{bucketUsers}}
	case 5:
		// Version 6 stores webhook signing secrets sealed (0xE1). Only the
		// app has the key, so it rewrites the clear records itself when it
		// starts (SealWebhookSecrets); the version is bumped so that an
		// older binary refuses the file instead of failing on, or signing
		// without, a record it cannot read.
		return migration{}
	}
	return migration{}
}

// upgradeTo2 builds the indexes version 2 added over existing records:
// outbox_sent for mail sent before it existed, and the dead mark in
// tokens_by_user for tokens already spent or voided. It also sets the user
// counters where they are missing: the first code of version 1 kept none,
// and the code that added them did not change the version.
func upgradeTo2(tx *Tx) error {
	if err := indexSentMail(tx); err != nil {
		return err
	}
	if err := countUsers(tx); err != nil {
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

// countUsers sets the "users" and "verified" counters from the records,
// unless the store has them.
func countUsers(tx *Tx) error {
	if tx.bucket(bucketMeta).Get(keyUserCount) != nil {
		return nil
	}
	users, verified := 0, 0
	err := tx.bucket(bucketUsers).ForEach(func(_, v []byte) error {
		var u User
		if decodeOldUser(v, &u) != nil {
			return nil // Check reports it
		}
		users++
		if u.EmailVerified {
			verified++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.setCounter(keyUserCount, users); err != nil {
		return err
	}
	return tx.setCounter(keyVerifiedCount, verified)
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
// Users are read in any form a version 2 store holds (JSON, V1, V2); the
// ones it moves are written as V2.
func upgradeTo3(tx *Tx) error {
	moving := map[string][]*User{}
	err := tx.bucket(bucketUsers).ForEach(func(_, v []byte) error {
		var u User
		if decodeOldUser(v, &u) != nil {
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
			var u User
			if decodeOldUser(tx.bucket(bucketUsers).Get(id[:]), &u) == nil && u.Email == key {
				holder = &u
				group = append(group, &u)
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

// migrateBatch bounds the records one transaction of upgradeTo4 reads:
// about 1,000 users rewritten is a few hundred KiB of pages per commit.
const migrateBatch = 1000

// migrateLogEvery spaces the progress lines of upgradeTo4 in a large store.
const migrateLogEvery = 5 * time.Second

// upgradeTo4 rewrites every user, session and address still in an older
// form (JSON, from before the binary codec; a V1 user, from before the
// security stamp) in the current binary form, so that version 4 names
// exactly one form for each and the decoders have one path. Only records
// in an older form are written, so running it again after a crash
// rewrites what was left and reads past the rest.
func upgradeTo4(db *DB, log *slog.Logger) error {
	return rewriteRecords(db, log, migrateBatch, migrateLogEvery)
}

// upgradeTo5 rewrites every user in the V3 form, which carries the
// account's language ("" until chosen: the request's language decides),
// so that a binary before version 5 refuses the file instead of misreading
// a user. Same pace and idempotence as upgradeTo4.
func upgradeTo5(db *DB, log *slog.Logger) error {
	return rewriteKinds(db, log, 5, []recordKind{{bucketUsers, rewriteUser}}, migrateBatch, migrateLogEvery)
}

// recordKind is one bucket of records that upgradeTo4 rewrites.
type recordKind struct {
	bucket []byte
	// rewrite returns v in the current form; nil when it already is, an
	// error when it is in no form this code knows.
	rewrite func(v []byte) ([]byte, error)
}

func rewriteUser(v []byte) ([]byte, error) {
	return rewriteRecord(v, userCodecV3, decodeOldUser, func(u *User) []byte {
		// As RememberDevice keeps them: a longer list would not decode.
		u.KnownDevices = u.KnownDevices[:min(len(u.KnownDevices), MaxKnownDevices)]
		return encodeUser(u)
	})
}

func rewriteSession(v []byte) ([]byte, error) {
	return rewriteRecord(v, sessionCodecV2, decodeOldSession, encodeSession)
}

func rewriteAddress(v []byte) ([]byte, error) {
	return rewriteRecord(v, addressCodecV1, decodeOldAddress, encodeAddress)
}

// rewriteRecord is a recordKind's rewrite for records whose current form
// begins with the version byte current, read in any older form by
// decodeOld.
func rewriteRecord[T any](v []byte, current byte, decodeOld func([]byte, *T) error, encode func(*T) []byte) ([]byte, error) {
	if len(v) > 0 && v[0] == current {
		return nil, nil
	}
	var rec T
	if err := decodeOld(v, &rec); err != nil {
		return nil, err
	}
	return encode(&rec), nil
}

// rewriteRecords is upgradeTo4 with its pace: at most batch records read
// per transaction, a progress line at most every logEvery.
func rewriteRecords(db *DB, log *slog.Logger, batch int, logEvery time.Duration) error {
	kinds := []recordKind{{bucketUsers, rewriteUser}, {bucketSessions, rewriteSession}, {bucketAddresses, rewriteAddress}}
	return rewriteKinds(db, log, 4, kinds, batch, logEvery)
}

// rewriteKinds rewrites the records of kinds in their current form for the
// migration to version to.
func rewriteKinds(db *DB, log *slog.Logger, to int, kinds []recordKind, batch int, logEvery time.Duration) error {
	p := migrateProgress{log: log, every: logEvery, start: time.Now(), to: to}
	p.last = p.start
	db.View(func(tx *Tx) error {
		for _, k := range kinds {
			p.total += tx.bucket(k.bucket).Stats().KeyN
		}
		return nil
	})
	p.info("store migration: rewriting records in the current form", "records", p.total)
	for _, k := range kinds {
		var from []byte
		for {
			next, err := rewriteBatch(db, k, from, batch, &p)
			if err != nil {
				return fmt.Errorf("rewrite %s: %w", k.bucket, err)
			}
			if next == nil {
				break
			}
			from = next
		}
	}
	p.info("store migration: done", "read", p.read, "rewritten", p.rewritten, "took", time.Since(p.start).Round(time.Millisecond))
	return nil
}

// rewriteBatch rewrites the records of kind from key from on (nil: the
// first), reading at most n, in one write transaction, and returns the key
// to go on from (nil: none left). A batch that rewrites nothing is rolled
// back: no commit, no fsync.
func rewriteBatch(db *DB, kind recordKind, from []byte, n int, p *migrateProgress) ([]byte, error) {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return nil, err
	}
	defer btx.Rollback() // a no-op once committed
	b := btx.Bucket(kind.bucket)
	c := b.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	var keys, values [][]byte // written once the cursor is done with the bucket
	read := 0
	for ; k != nil && read < n; k, v = c.Next() {
		read++
		nv, err := kind.rewrite(v)
		switch {
		case err != nil:
			p.warn("store migration: a record in no known form is left as it is (marbelle check names it)", "bucket", string(kind.bucket), "key", fmt.Sprintf("%x", k))
		case nv != nil:
			keys, values = append(keys, bytes.Clone(k)), append(values, nv)
		}
	}
	next := bytes.Clone(k)
	for i := range keys {
		if err := b.Put(keys[i], values[i]); err != nil {
			return nil, err
		}
	}
	if len(keys) > 0 {
		if err := btx.Commit(); err != nil {
			return nil, err
		}
	}
	p.add(read, len(keys))
	return next, nil
}

// migrateProgress counts what upgradeTo4 did and logs it now and then.
type migrateProgress struct {
	log                    *slog.Logger
	every                  time.Duration
	start, last            time.Time
	total, read, rewritten int
	to                     int // the version migrated to, in every line
}

func (p *migrateProgress) add(read, rewritten int) {
	p.read += read
	p.rewritten += rewritten
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		p.info("store migration: progress", "read", p.read, "of", p.total, "rewritten", p.rewritten)
	}
}

func (p *migrateProgress) info(msg string, args ...any) {
	if p.log != nil {
		p.log.Info(msg, append(args, "to_version", p.to)...)
	}
}

func (p *migrateProgress) warn(msg string, args ...any) {
	if p.log != nil {
		p.log.Warn(msg, append(args, "to_version", p.to)...)
	}
}
