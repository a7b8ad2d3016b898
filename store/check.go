package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Check verifies every stored invariant and index and returns one line per
// fault (none when the store is sound): emails are normalised (but for the
// accounts upgradeTo3 left behind) and the email index and users agree
// both ways; every session, token, address and outbox entry belongs to a
// live user; every index entry points at a live record and every record
// has its entries; each user has at most MaxAddresses addresses, a count
// that matches them, and exactly one primary among them when it has any.
// The checks are named in storeChecks.
func (tx *Tx) Check() []string {
	c := &checkState{tx: tx, users: map[uuid.UUID]*User{}}
	for _, name := range allBuckets() {
		if tx.bucket(name) == nil {
			c.fault("bucket %s is missing", name)
		}
	}
	if len(c.faults) > 0 {
		return c.faults // the checks read every bucket
	}
	for _, check := range storeChecks() {
		check.run(c)
	}
	return c.faults
}

// storeCheck is one of Check's checks, named by what it verifies.
type storeCheck struct {
	name string
	run  func(*checkState)
}

// storeChecks are Check's checks, in the order they run: the ones after
// "users and the email index" use the users it read.
func storeChecks() []storeCheck {
	return []storeCheck{
		{"schema version", checkSchemaVersion},
		{"users and the email index", checkUsers},
		{"user counters", checkCounters},
		{"sessions", checkSessions},
		{"session indexes", checkSessionIndexes},
		{"tokens", checkTokens},
		{"token indexes", checkTokenIndexes},
		{"outbox", checkOutbox},
		{"outbox indexes", checkOutboxIndexes},
		{"audit index", checkAuditIndex},
		{"addresses and primaries", checkAddresses},
		{"imports", checkImports},
		{"identities and their index", checkIdentities},
		{"api keys", func(c *checkState) { checkAPIKeys(c.tx, c.fault) }},
		{"webhooks and their deliveries", func(c *checkState) { checkWebhooks(c.tx, c.fault) }}, // #17
		{"second factors", checkMFA},
	}
}

// checkState is what the checks share: the transaction, the faults found
// so far and the users, decoded once.
type checkState struct {
	tx     *Tx
	faults []string
	users  map[uuid.UUID]*User
}

func (c *checkState) fault(format string, a ...any) {
	c.faults = append(c.faults, fmt.Sprintf(format, a...))
}

// has reports whether bucket name holds key.
func (c *checkState) has(name, key []byte) bool { return c.tx.bucket(name).Get(key) != nil }

// each calls fn for every entry of bucket name (ForEach, whose error no
// check returns).
func (c *checkState) each(name []byte, fn func(k, v []byte)) {
	c.tx.bucket(name).ForEach(func(k, v []byte) error { fn(k, v); return nil })
}

func checkSchemaVersion(c *checkState) {
	if v := c.tx.version(); v != SchemaVersion {
		c.fault("schema version %d, want %d", v, SchemaVersion)
	}
}

// checkUsers: every user decodes under its id, has a normal email (but for
// upgradeTo3's leftovers) and the email index entry for it; every index
// entry names a user with that email.
func checkUsers(c *checkState) {
	c.each(bucketUsers, func(k, v []byte) {
		var u User
		if err := decodeUser(v, &u); err != nil || len(k) != 16 || uuid.UUID(k) != u.ID {
			c.fault("users %x: undecodable or keyed wrongly", k)
			return
		}
		c.users[u.ID] = &u
		if NormalizeEmail(u.Email) != u.Email && !leftBehind(&u) {
			c.fault("user %s: email %q is not normalised", u.ID, u.Email)
		}
		if owner := c.tx.bucket(bucketUsersByEmail).Get([]byte(u.Email)); !bytes.Equal(owner, u.ID[:]) {
			c.fault("user %s: email index for %q points at %x", u.ID, u.Email, owner)
		}
	})
	c.each(bucketUsersByEmail, func(k, v []byte) {
		id, ok := idFromBytes(v)
		if u := c.users[id]; !ok || u == nil || u.Email != string(k) {
			c.fault("email index %q points at %x, which is not a user with that email", k, v)
		}
	})
}

// checkCounters: the user, verified and (where kept) active staff
// counters match the users.
func checkCounters(c *checkState) {
	verified, staff := 0, 0
	for _, u := range c.users {
		if u.EmailVerified {
			verified++
		}
		if u.Staff && u.Active {
			staff++
		}
	}
	if st := c.tx.Stats(); st.Users != len(c.users) || st.Verified != verified {
		c.fault("counters say %d users, %d verified; the store holds %d, %d", st.Users, st.Verified, len(c.users), verified)
	}
	if n := c.tx.ActiveStaff(); n != staff {
		c.fault("active staff counter says %d; the store holds %d", n, staff)
	}
}

// checkSessions: every session decodes under its hash, belongs to a user
// and has both index entries.
func checkSessions(c *checkState) {
	c.each(bucketSessions, func(k, v []byte) {
		var s Session
		if err := decodeSession(v, &s); err != nil || !bytes.Equal(k, s.Hash) {
			c.fault("session %x: undecodable or keyed wrongly", k)
			return
		}
		if c.users[s.UserID] == nil {
			c.fault("session %s belongs to missing user %s", s.ID, s.UserID)
		}
		if !bytes.Equal(c.tx.bucket(bucketSessionsByUser).Get(join(s.UserID[:], s.ID[:])), s.Hash) {
			c.fault("session %s has no by-user index entry", s.ID)
		}
		if !c.has(bucketSessionsByExpiry, join(timeKey(s.EndsAt()), s.Hash)) {
			c.fault("session %s has no by-expiry index entry", s.ID)
		}
	})
}

// checkSessionIndexes: every by-user and by-expiry entry points at a
// session that matches it.
func checkSessionIndexes(c *checkState) {
	c.each(bucketSessionsByUser, func(k, v []byte) {
		var s Session
		if len(k) != 32 || c.tx.getSession(v, &s) != nil || !bytes.Equal(s.UserID[:], k[:16]) || !bytes.Equal(s.ID[:], k[16:]) {
			c.fault("sessions_by_user %x points at no matching session", k)
		}
	})
	checkExpiryIndex(c, bucketSessionsByExpiry, "sessions_by_expiry", func(hash []byte) ([]byte, bool) {
		var s Session
		if c.tx.getSession(hash, &s) != nil {
			return nil, false
		}
		return timeKey(s.EndsAt()), true
	})
}

// checkTokens: every token decodes under its hash, belongs to a user and
// has both index entries, its by-user mark saying whether it is used.
func checkTokens(c *checkState) {
	state := func(dead bool, deadWord string) string {
		if dead {
			return deadWord
		}
		return "live"
	}
	c.each(bucketTokens, func(k, v []byte) {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil || !bytes.Equal(k, t.Hash) {
			c.fault("token %x: undecodable or keyed wrongly", k)
			return
		}
		if c.users[t.UserID] == nil {
			c.fault("token %s… belongs to missing user %s", t.Preview(), t.UserID)
		}
		if mark := c.tx.bucket(bucketTokensByUser).Get(join(t.UserID[:], []byte{byte(t.Kind)}, t.Hash)); mark == nil {
			c.fault("token %s… has no by-user index entry", t.Preview())
		} else if dead := bytes.Equal(mark, deadMark); dead != t.Used() {
			c.fault("token %s… is marked %s in the by-user index but is %s", t.Preview(), state(dead, "dead"), state(t.Used(), "used"))
		}
		if !c.has(bucketTokensByExpiry, join(timeKey(t.ExpiresAt), t.Hash)) {
			c.fault("token %s… has no by-expiry index entry", t.Preview())
		}
	})
}

// checkTokenIndexes: every by-user and by-expiry entry points at a token
// that matches it.
func checkTokenIndexes(c *checkState) {
	tokens := c.tx.bucket(bucketTokens)
	c.each(bucketTokensByUser, func(k, _ []byte) {
		var t Token
		if len(k) != 49 || getJSON(tokens, k[17:], &t) != nil || !bytes.Equal(t.UserID[:], k[:16]) || byte(t.Kind) != k[16] {
			c.fault("tokens_by_user %x points at no matching token", k)
		}
	})
	checkExpiryIndex(c, bucketTokensByExpiry, "tokens_by_expiry", func(hash []byte) ([]byte, bool) {
		var t Token
		if getJSON(tokens, hash, &t) != nil {
			return nil, false
		}
		return timeKey(t.ExpiresAt), true
	})
}

// checkOutbox: every mail decodes under its id, is in the due index if
// and only if queued, holds no body once sent and is in the sent index
// then, and mail about a user belongs to one and is in the by-user index.
func checkOutbox(c *checkState) {
	c.each(bucketOutbox, func(k, v []byte) {
		var m Mail
		if err := json.Unmarshal(v, &m); err != nil || !bytes.Equal(k, m.ID[:]) {
			c.fault("outbox %x: undecodable or keyed wrongly", k)
			return
		}
		queuedIndexed := c.has(bucketOutboxDue, join(timeKey(m.NextAttemptAt), m.ID[:]))
		switch m.Status {
		case MailQueued:
			if !queuedIndexed {
				c.fault("queued mail %s has no due index entry", m.ID)
			}
		case MailSent, MailFailed:
			if queuedIndexed {
				c.fault("%s mail %s is still in the due index", m.Status, m.ID)
			}
			if m.Status == MailSent && len(m.Sealed) > 0 {
				c.fault("sent mail %s still holds its body", m.ID)
			}
			if m.Status == MailSent && !c.has(bucketOutboxSent, join(timeKey(m.SentAt), m.ID[:])) {
				c.fault("sent mail %s has no sent index entry", m.ID)
			}
		default:
			c.fault("mail %s has unknown status %q", m.ID, m.Status)
		}
		if m.UserID != uuid.Nil {
			if c.users[m.UserID] == nil {
				c.fault("mail %s belongs to missing user %s", m.ID, m.UserID)
			}
			if !c.has(bucketOutboxByUser, join(m.UserID[:], m.ID[:])) {
				c.fault("mail %s has no by-user index entry", m.ID)
			}
		}
	})
}

// checkOutboxIndexes: every due, sent and by-user entry points at a mail
// that matches it.
func checkOutboxIndexes(c *checkState) {
	outbox := c.tx.bucket(bucketOutbox)
	c.each(bucketOutboxDue, func(k, _ []byte) {
		var m Mail
		if len(k) != 24 || getJSON(outbox, k[8:], &m) != nil || m.Status != MailQueued || !bytes.Equal(timeKey(m.NextAttemptAt), k[:8]) {
			c.fault("outbox_due %x points at no matching queued mail", k)
		}
	})
	c.each(bucketOutboxSent, func(k, _ []byte) {
		var m Mail
		if len(k) != 24 || getJSON(outbox, k[8:], &m) != nil || m.Status != MailSent || !bytes.Equal(timeKey(m.SentAt), k[:8]) {
			c.fault("outbox_sent %x points at no mail sent at that time", k)
		}
	})
	c.each(bucketOutboxByUser, func(k, _ []byte) {
		var m Mail
		if len(k) != 32 || getJSON(outbox, k[16:], &m) != nil || !bytes.Equal(m.UserID[:], k[:16]) {
			c.fault("outbox_by_user %x points at no matching mail", k)
		}
	})
}

// checkAuditIndex: every by-user entry points at an event of that user.
// (Events outlive their users, so an event needs no live user.)
func checkAuditIndex(c *checkState) {
	audit := c.tx.bucket(bucketAudit)
	c.each(bucketAuditByUser, func(k, _ []byte) {
		var e Event
		if len(k) != 32 || getJSON(audit, k[16:], &e) != nil || !bytes.Equal(e.UserID[:], k[:16]) {
			c.fault("audit_by_user %x points at no matching event", k)
		}
	})
}

// checkAddresses: every address decodes under its user and id and belongs
// to a user; each user has at most MaxAddresses, as many as it counts, and
// exactly one primary among them when it has any.
func checkAddresses(c *checkState) {
	ids := map[uuid.UUID]map[uuid.UUID]bool{} // user → its address ids
	c.each(bucketAddresses, func(k, v []byte) {
		var a Address
		if err := decodeAddress(v, &a); err != nil || len(k) != 32 || !bytes.Equal(k[:16], a.UserID[:]) || !bytes.Equal(k[16:], a.ID[:]) {
			c.fault("address %x: undecodable or keyed wrongly", k)
			return
		}
		if c.users[a.UserID] == nil {
			c.fault("address %s belongs to missing user %s", a.ID, a.UserID)
			return
		}
		if ids[a.UserID] == nil {
			ids[a.UserID] = map[uuid.UUID]bool{}
		}
		ids[a.UserID][a.ID] = true
	})
	for id, u := range c.users {
		n := len(ids[id])
		switch {
		case n > MaxAddresses:
			c.fault("user %s has %d addresses, more than %d", id, n, MaxAddresses)
		case n != u.AddressCount:
			c.fault("user %s has %d addresses but counts %d", id, n, u.AddressCount)
		}
		switch {
		case n > 0 && u.PrimaryAddressID == uuid.Nil:
			c.fault("user %s has %d addresses and no primary", id, n)
		case n > 0 && !ids[id][u.PrimaryAddressID]:
			c.fault("user %s: primary %s is not one of its addresses", id, u.PrimaryAddressID)
		case n == 0 && u.PrimaryAddressID != uuid.Nil:
			c.fault("user %s has no address but a primary %s", id, u.PrimaryAddressID)
		}
	}
}

// checkImports: every imports entry is source | 0x00 | external id → a
// user id. The user may be gone: an entry outlives it on purpose.
func checkImports(c *checkState) {
	c.each(bucketImports, func(k, v []byte) {
		if _, ok := idFromBytes(v); !ok || bytes.IndexByte(k, 0) < 0 {
			c.fault("imports %x: not source, 0x00, external id → user id", k)
		}
	})
}

// checkExpiryIndex checks that each entry (time | hash) of an expiry index
// points at a live record with that time.
func checkExpiryIndex(c *checkState, name []byte, label string, expiry func(hash []byte) ([]byte, bool)) {
	c.each(name, func(k, _ []byte) {
		want, ok := expiry(k[min(8, len(k)):])
		if len(k) != 40 || !ok || !bytes.Equal(want, k[:8]) {
			c.fault("%s %x points at no matching record", label, k)
		}
	})
}

// leftBehind reports whether u's email, which is not in normal form, is one
// upgradeTo3 left in place: a spelling the version 2 rules stored (trimmed
// and lower-cased), kept because another account took its normal form.
// That account may have changed its email or been deleted since, so the
// normal form need not be taken now.
func leftBehind(u *User) bool {
	return u.Email == strings.ToLower(strings.TrimSpace(u.Email))
}
