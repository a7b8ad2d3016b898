package store

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// SweepOptions tune Sweep; zero fields take the defaults.
type SweepOptions struct {
	// TokenGrace is how long a token is kept after it expires (the audit
	// may need it). Default 7 days.
	TokenGrace time.Duration
	// MailRetention is how long sent mail is kept after it was sent.
	// Default 30 days.
	MailRetention time.Duration
	// AuditRetention is how long audit events are kept. Default 400 days.
	AuditRetention time.Duration
	// BatchSize bounds the records one write transaction removes, so that
	// no transaction holds the write lock long. Default 1000.
	BatchSize int
	// Done, once closed, stops Sweep after the batch in progress.
	Done <-chan struct{}
}

// Sweep defaults.
const (
	DefaultTokenGrace     = 7 * 24 * time.Hour
	DefaultMailRetention  = 30 * 24 * time.Hour
	DefaultAuditRetention = 400 * 24 * time.Hour
	DefaultSweepBatchSize = 100
)

// SweepResult says what one Sweep removed and how.
type SweepResult struct {
	Tokens, Sessions, Mails, Audit int // records pruned, with their index entries
	Ceremonies                     int // WebAuthn ceremonies that expired unfinished
	Transactions                   int // write transactions committed
	LargestBatch                   int // most records removed by one transaction
	LongestTx                      time.Duration
}

// Pruned is the number of records removed.
func (r SweepResult) Pruned() int { return r.Tokens + r.Sessions + r.Mails + r.Audit + r.Ceremonies }

// sweepCutoffs are the exclusive upper bounds (time keys) of what is pruned.
type sweepCutoffs struct {
	tokens, sessions, mail, audit []byte
}

// Sweep prunes, through the by-time indexes, tokens that expired more than
// TokenGrace before now, sessions that ended before now and mail sent more
// than MailRetention before now, each with all its index entries. Its cost
// grows with what it removes, not with what is stored: each index is read
// from its start up to the cutoff only. It removes at most BatchSize
// records per write transaction and loops until nothing is left below the
// cutoffs (or opts.Done is closed). When nothing is due it takes no write
// transaction at all. Errors: an I/O error of the store; what was
// committed before it stays pruned and is counted.
func (db *DB) Sweep(now time.Time, opts SweepOptions) (SweepResult, error) {
	if opts.TokenGrace <= 0 {
		opts.TokenGrace = DefaultTokenGrace
	}
	if opts.MailRetention <= 0 {
		opts.MailRetention = DefaultMailRetention
	}
	if opts.AuditRetention <= 0 {
		opts.AuditRetention = DefaultAuditRetention
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultSweepBatchSize
	}
	cut := sweepCutoffs{
		tokens:   timeKey(now.Add(-opts.TokenGrace)),
		sessions: timeKey(now),
		mail:     timeKey(now.Add(-opts.MailRetention)),
		audit:    timeKey(now.Add(-opts.AuditRetention)),
	}
	var res SweepResult
	var more bool
	if err := db.View(func(tx *Tx) error { more = tx.sweepDue(cut); return nil }); err != nil {
		return res, err
	}
	for more {
		select {
		case <-opts.Done:
			return res, nil
		default:
		}
		var batch SweepResult
		start := time.Now()
		err := db.Update(func(tx *Tx) error {
			batch = SweepResult{}
			var err error
			more, err = tx.sweepBatch(cut, opts.BatchSize, &batch)
			return err
		})
		if err != nil {
			return res, err
		}
		res.Tokens += batch.Tokens
		res.Sessions += batch.Sessions
		res.Mails += batch.Mails
		res.Audit += batch.Audit
		res.Ceremonies += batch.Ceremonies
		res.Transactions++
		res.LargestBatch = max(res.LargestBatch, batch.Pruned())
		res.LongestTx = max(res.LongestTx, time.Since(start))
	}
	return res, nil
}

// sweepDue reports whether any index holds an entry below its cutoff.
func (tx *Tx) sweepDue(cut sweepCutoffs) bool {
	for _, ix := range []struct {
		bucket, cutoff []byte
	}{{bucketTokensByExpiry, cut.tokens}, {bucketSessionsByExpiry, cut.sessions}, {bucketOIDCStatesByExpiry, cut.sessions}, {bucketOutboxSent, cut.mail}, {bucketCeremoniesByExpiry, cut.sessions}} {
		if k, _ := tx.bucket(ix.bucket).Cursor().First(); k != nil && bytes.Compare(k, ix.cutoff) < 0 {
			return true
		}
	}
	return len(auditKeysBefore(tx, cut.audit, 1)) > 0
}

// sweepBatch removes up to limit index entries below the cutoffs (tokens,
// then sessions, then mail), each with its record and the record's other
// index entries, adds the records removed to r, and reports whether
// entries below the cutoffs remain.
func (tx *Tx) sweepBatch(cut sweepCutoffs, limit int, r *SweepResult) (more bool, err error) {
	below := func(name []byte) func(cutoff []byte, limit int) [][]byte {
		return func(cutoff []byte, limit int) [][]byte { return keysBelow(tx, name, cutoff, limit) }
	}
	kinds := []struct {
		keys   func(cutoff []byte, limit int) [][]byte
		cutoff []byte
		prune  func(key []byte) (bool, error)
		count  *int
	}{
		{below(bucketTokensByExpiry), cut.tokens, tx.pruneToken, &r.Tokens},
		{below(bucketSessionsByExpiry), cut.sessions, tx.pruneSession, &r.Sessions},
		{below(bucketOIDCStatesByExpiry), cut.sessions, oidcStates().pruner(tx), &r.Tokens}, // sign-ins at a provider left unfinished
		{below(bucketOutboxSent), cut.mail, tx.pruneMail, &r.Mails},
		{func(cutoff []byte, limit int) [][]byte { return auditKeysBefore(tx, cutoff, limit) }, cut.audit, tx.pruneAudit, &r.Audit},
		{below(bucketCeremoniesByExpiry), cut.sessions, ceremonies().pruner(tx), &r.Ceremonies},
	}
	budget := limit
	for _, k := range kinds {
		// One key beyond the budget tells whether another batch is needed.
		keys := k.keys(k.cutoff, budget+1)
		if len(keys) > budget {
			more, keys = true, keys[:budget]
		}
		for _, key := range keys {
			pruned, err := k.prune(key)
			if err != nil {
				return false, err
			}
			if pruned {
				*k.count++
			}
		}
		budget -= len(keys)
	}
	return more, nil
}

// keysBelow returns (copies of) up to limit keys of a time-keyed index that
// sort before cutoff, earliest first.
func keysBelow(tx *Tx, name, cutoff []byte, limit int) [][]byte {
	var keys [][]byte
	c := tx.bucket(name).Cursor()
	for k, _ := c.First(); k != nil && len(keys) < limit && bytes.Compare(k, cutoff) < 0; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// pruneToken removes the token of a tokens_by_expiry entry with its two
// index entries; an entry whose token is gone or expires at another time is
// removed alone (false).
func (tx *Tx) pruneToken(key []byte) (bool, error) {
	index := tx.bucket(bucketTokensByExpiry)
	hash := key[min(8, len(key)):]
	var t Token
	if err := getJSON(tx.bucket(bucketTokens), hash, &t); err != nil || !bytes.Equal(timeKey(t.ExpiresAt), key[:min(8, len(key))]) {
		return false, index.Delete(key)
	}
	if err := tx.bucket(bucketTokensByUser).Delete(join(t.UserID[:], []byte{byte(t.Kind)}, hash)); err != nil {
		return false, err
	}
	if err := tx.bucket(bucketTokens).Delete(hash); err != nil {
		return false, err
	}
	return true, index.Delete(key)
}

// pruneSession removes the session of a sessions_by_expiry entry with its
// two index entries; an entry whose session is gone or ends at another
// time is removed alone (false).
func (tx *Tx) pruneSession(key []byte) (bool, error) {
	hash := key[min(8, len(key)):]
	var s Session
	if err := tx.getSession(hash, &s); err != nil || !bytes.Equal(timeKey(s.EndsAt()), key[:min(8, len(key))]) {
		return false, tx.bucket(bucketSessionsByExpiry).Delete(key)
	}
	return true, tx.deleteSession(&s)
}

// pruneMail removes the sent mail of an outbox_sent entry with its by-user
// entry; an entry whose mail is gone, not sent, or sent at another time is
// removed alone (false).
func (tx *Tx) pruneMail(key []byte) (bool, error) {
	index := tx.bucket(bucketOutboxSent)
	id := key[min(8, len(key)):]
	var m Mail
	if err := getJSON(tx.bucket(bucketOutbox), id, &m); err != nil || m.Status != MailSent || !bytes.Equal(timeKey(m.SentAt), key[:min(8, len(key))]) {
		return false, index.Delete(key)
	}
	if m.UserID != uuid.Nil {
		if err := tx.bucket(bucketOutboxByUser).Delete(join(m.UserID[:], m.ID[:])); err != nil {
			return false, err
		}
	}
	if err := tx.bucket(bucketOutbox).Delete(m.ID[:]); err != nil {
		return false, err
	}
	return true, index.Delete(key)
}

// auditKeysBefore returns up to limit ids of the oldest audit events, as
// long as their time is before cutoff (a timeKey). Event ids are UUIDv7,
// so key order is the order events were written in, which is time order:
// the audit bucket is its own by-time index and the scan stops at the
// first event that is kept.
func auditKeysBefore(tx *Tx, cutoff []byte, limit int) [][]byte {
	var keys [][]byte
	c := tx.bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
		var e struct {
			At time.Time `json:"at"`
		}
		if json.Unmarshal(v, &e) == nil && bytes.Compare(timeKey(e.At), cutoff) >= 0 {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// pruneAudit removes an audit event older than the retention with its
// by-user entry.
func (tx *Tx) pruneAudit(key []byte) (bool, error) {
	audit := tx.bucket(bucketAudit)
	var e Event
	if err := json.Unmarshal(audit.Get(key), &e); err == nil && e.UserID != uuid.Nil {
		if err := tx.bucket(bucketAuditByUser).Delete(join(e.UserID[:], key)); err != nil {
			return false, err
		}
	}
	return true, audit.Delete(key)
}

// indexSentMail (migration 1 → 2) gives every mail sent before outbox_sent
// existed its entry there, so that Sweep finds it. Undecodable records are
// left for Check to report.
func indexSentMail(tx *Tx) error {
	return tx.bucket(bucketOutbox).ForEach(func(_, v []byte) error {
		var m Mail
		if json.Unmarshal(v, &m) != nil || m.Status != MailSent {
			return nil
		}
		return tx.indexStatus(&m)
	})
}
