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
func (tx *Tx) Check() []string {
	var faults []string
	fault := func(format string, a ...any) { faults = append(faults, fmt.Sprintf(format, a...)) }
	for _, name := range allBuckets() {
		if tx.bucket(name) == nil {
			fault("bucket %s is missing", name)
		}
	}
	if len(faults) > 0 {
		return faults
	}
	if v := tx.version(); v != SchemaVersion {
		fault("schema version %d, want %d", v, SchemaVersion)
	}
	has := func(name, key []byte) bool { return tx.bucket(name).Get(key) != nil }
	users := map[uuid.UUID]*User{}

	tx.bucket(bucketUsers).ForEach(func(k, v []byte) error {
		var u User
		if err := decodeUser(v, &u); err != nil || len(k) != 16 || uuid.UUID(k) != u.ID {
			fault("users %x: undecodable or keyed wrongly", k)
			return nil
		}
		users[u.ID] = &u
		if NormalizeEmail(u.Email) != u.Email && !leftBehind(&u) {
			fault("user %s: email %q is not normalised", u.ID, u.Email)
		}
		if owner := tx.bucket(bucketUsersByEmail).Get([]byte(u.Email)); !bytes.Equal(owner, u.ID[:]) {
			fault("user %s: email index for %q points at %x", u.ID, u.Email, owner)
		}
		return nil
	})
	tx.bucket(bucketUsersByEmail).ForEach(func(k, v []byte) error {
		id, ok := idFromBytes(v)
		if u := users[id]; !ok || u == nil || u.Email != string(k) {
			fault("email index %q points at %x, which is not a user with that email", k, v)
		}
		return nil
	})

	verified := 0
	for _, u := range users {
		if u.EmailVerified {
			verified++
		}
	}
	if st := tx.Stats(); st.Users != len(users) || st.Verified != verified {
		fault("counters say %d users, %d verified; the store holds %d, %d", st.Users, st.Verified, len(users), verified)
	}
	if tx.bucket(bucketMeta).Get(keyActiveStaffCount) != nil {
		staff := 0
		for _, u := range users {
			if u.Staff && u.Active {
				staff++
			}
		}
		if n := tx.counter(keyActiveStaffCount); n != staff {
			fault("active staff counter says %d; the store holds %d", n, staff)
		}
	}

	// Sessions and their two indexes.
	tx.bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var s Session
		if err := decodeSession(v, &s); err != nil || !bytes.Equal(k, s.Hash) {
			fault("session %x: undecodable or keyed wrongly", k)
			return nil
		}
		if users[s.UserID] == nil {
			fault("session %s belongs to missing user %s", s.ID, s.UserID)
		}
		if !bytes.Equal(tx.bucket(bucketSessionsByUser).Get(join(s.UserID[:], s.ID[:])), s.Hash) {
			fault("session %s has no by-user index entry", s.ID)
		}
		if !has(bucketSessionsByExpiry, join(timeKey(s.EndsAt()), s.Hash)) {
			fault("session %s has no by-expiry index entry", s.ID)
		}
		return nil
	})
	tx.bucket(bucketSessionsByUser).ForEach(func(k, v []byte) error {
		var s Session
		if len(k) != 32 || tx.getSession(v, &s) != nil || !bytes.Equal(s.UserID[:], k[:16]) || !bytes.Equal(s.ID[:], k[16:]) {
			fault("sessions_by_user %x points at no matching session", k)
		}
		return nil
	})
	checkExpiryIndex(tx, bucketSessionsByExpiry, "sessions_by_expiry", func(hash []byte) ([]byte, bool) {
		var s Session
		if tx.getSession(hash, &s) != nil {
			return nil, false
		}
		return timeKey(s.EndsAt()), true
	}, fault)

	// Tokens and their two indexes.
	tx.bucket(bucketTokens).ForEach(func(k, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil || !bytes.Equal(k, t.Hash) {
			fault("token %x: undecodable or keyed wrongly", k)
			return nil
		}
		if users[t.UserID] == nil {
			fault("token %s… belongs to missing user %s", t.Preview(), t.UserID)
		}
		if !has(bucketTokensByUser, join(t.UserID[:], []byte{byte(t.Kind)}, t.Hash)) {
			fault("token %s… has no by-user index entry", t.Preview())
		} else if mark := tx.bucket(bucketTokensByUser).Get(join(t.UserID[:], []byte{byte(t.Kind)}, t.Hash)); bytes.Equal(mark, deadMark) != t.Used() {
			fault("token %s… is marked %s in the by-user index but is %s", t.Preview(), map[bool]string{true: "dead", false: "live"}[bytes.Equal(mark, deadMark)], map[bool]string{true: "used", false: "live"}[t.Used()])
		}
		if !has(bucketTokensByExpiry, join(timeKey(t.ExpiresAt), t.Hash)) {
			fault("token %s… has no by-expiry index entry", t.Preview())
		}
		return nil
	})
	tx.bucket(bucketTokensByUser).ForEach(func(k, _ []byte) error {
		var t Token
		if len(k) != 49 || getJSON(tx.bucket(bucketTokens), k[17:], &t) != nil || !bytes.Equal(t.UserID[:], k[:16]) || byte(t.Kind) != k[16] {
			fault("tokens_by_user %x points at no matching token", k)
		}
		return nil
	})
	checkExpiryIndex(tx, bucketTokensByExpiry, "tokens_by_expiry", func(hash []byte) ([]byte, bool) {
		var t Token
		if getJSON(tx.bucket(bucketTokens), hash, &t) != nil {
			return nil, false
		}
		return timeKey(t.ExpiresAt), true
	}, fault)

	// Outbox.
	tx.bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		var m Mail
		if err := json.Unmarshal(v, &m); err != nil || !bytes.Equal(k, m.ID[:]) {
			fault("outbox %x: undecodable or keyed wrongly", k)
			return nil
		}
		queuedIndexed := has(bucketOutboxDue, join(timeKey(m.NextAttemptAt), m.ID[:]))
		switch m.Status {
		case MailQueued:
			if !queuedIndexed {
				fault("queued mail %s has no due index entry", m.ID)
			}
		case MailSent, MailFailed:
			if queuedIndexed {
				fault("%s mail %s is still in the due index", m.Status, m.ID)
			}
			if m.Status == MailSent && len(m.Sealed) > 0 {
				fault("sent mail %s still holds its body", m.ID)
			}
			if m.Status == MailSent && !has(bucketOutboxSent, join(timeKey(m.SentAt), m.ID[:])) {
				fault("sent mail %s has no sent index entry", m.ID)
			}
		default:
			fault("mail %s has unknown status %q", m.ID, m.Status)
		}
		if m.UserID != uuid.Nil {
			if users[m.UserID] == nil {
				fault("mail %s belongs to missing user %s", m.ID, m.UserID)
			}
			if !has(bucketOutboxByUser, join(m.UserID[:], m.ID[:])) {
				fault("mail %s has no by-user index entry", m.ID)
			}
		}
		return nil
	})
	tx.bucket(bucketOutboxDue).ForEach(func(k, _ []byte) error {
		var m Mail
		if len(k) != 24 || getJSON(tx.bucket(bucketOutbox), k[8:], &m) != nil || m.Status != MailQueued || !bytes.Equal(timeKey(m.NextAttemptAt), k[:8]) {
			fault("outbox_due %x points at no matching queued mail", k)
		}
		return nil
	})
	tx.bucket(bucketOutboxSent).ForEach(func(k, _ []byte) error {
		var m Mail
		if len(k) != 24 || getJSON(tx.bucket(bucketOutbox), k[8:], &m) != nil || m.Status != MailSent || !bytes.Equal(timeKey(m.SentAt), k[:8]) {
			fault("outbox_sent %x points at no mail sent at that time", k)
		}
		return nil
	})
	tx.bucket(bucketOutboxByUser).ForEach(func(k, _ []byte) error {
		var m Mail
		if len(k) != 32 || getJSON(tx.bucket(bucketOutbox), k[16:], &m) != nil || !bytes.Equal(m.UserID[:], k[:16]) {
			fault("outbox_by_user %x points at no matching mail", k)
		}
		return nil
	})

	// Audit index.
	tx.bucket(bucketAuditByUser).ForEach(func(k, _ []byte) error {
		var e Event
		if len(k) != 32 || getJSON(tx.bucket(bucketAudit), k[16:], &e) != nil || !bytes.Equal(e.UserID[:], k[:16]) {
			fault("audit_by_user %x points at no matching event", k)
		}
		return nil
	})

	// Addresses: ownership, count, limit, exactly one primary.
	count := map[uuid.UUID]int{}
	ids := map[uuid.UUID]map[uuid.UUID]bool{}
	tx.bucket(bucketAddresses).ForEach(func(k, v []byte) error {
		var a Address
		if err := decodeAddress(v, &a); err != nil || len(k) != 32 || !bytes.Equal(k[:16], a.UserID[:]) || !bytes.Equal(k[16:], a.ID[:]) {
			fault("address %x: undecodable or keyed wrongly", k)
			return nil
		}
		if users[a.UserID] == nil {
			fault("address %s belongs to missing user %s", a.ID, a.UserID)
			return nil
		}
		count[a.UserID]++
		if ids[a.UserID] == nil {
			ids[a.UserID] = map[uuid.UUID]bool{}
		}
		ids[a.UserID][a.ID] = true
		return nil
	})
	for id, u := range users {
		n := count[id]
		switch {
		case n > MaxAddresses:
			fault("user %s has %d addresses, more than %d", id, n, MaxAddresses)
		case n != u.AddressCount:
			fault("user %s has %d addresses but counts %d", id, n, u.AddressCount)
		}
		switch {
		case n > 0 && u.PrimaryAddressID == uuid.Nil:
			fault("user %s has %d addresses and no primary", id, n)
		case n > 0 && !ids[id][u.PrimaryAddressID]:
			fault("user %s: primary %s is not one of its addresses", id, u.PrimaryAddressID)
		case n == 0 && u.PrimaryAddressID != uuid.Nil:
			fault("user %s has no address but a primary %s", id, u.PrimaryAddressID)
		}
	}
	return faults
}

// checkExpiryIndex checks that each entry (time | hash) of an expiry index
// points at a live record with that time.
func checkExpiryIndex(tx *Tx, name []byte, label string, expiry func(hash []byte) ([]byte, bool), fault func(string, ...any)) {
	tx.bucket(name).ForEach(func(k, _ []byte) error {
		want, ok := expiry(k[min(8, len(k)):])
		if len(k) != 40 || !ok || !bytes.Equal(want, k[:8]) {
			fault("%s %x points at no matching record", label, k)
		}
		return nil
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
