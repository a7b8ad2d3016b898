package store

import (
	"bytes"
	"time"

	"github.com/google/uuid"
)

// MailStatus is where a mail is in its delivery.
type MailStatus string

const (
	MailQueued MailStatus = "queued"
	MailSent   MailStatus = "sent"
	MailFailed MailStatus = "failed"
)

// Mail is one outgoing message in the durable outbox. Sealed is the whole
// message encrypted by the caller (it may carry a token); it is erased once
// the mail is sent.
type Mail struct {
	ID            uuid.UUID  `json:"id"`
	UserID        uuid.UUID  `json:"user_id,omitzero"`
	Kind          string     `json:"kind"`
	From          string     `json:"from"` // envelope sender
	To            string     `json:"to"`
	Subject       string     `json:"subject"`
	Sealed        []byte     `json:"sealed,omitempty"`
	Status        MailStatus `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt time.Time  `json:"next_attempt_at,omitzero"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        time.Time  `json:"sent_at,omitzero"`
}

// QueueMail adds m to the outbox, due at m.NextAttemptAt.
func (tx *Tx) QueueMail(m *Mail) error {
	m.Status = MailQueued
	if err := putJSON(tx.bucket(bucketOutbox), m.ID[:], m); err != nil {
		return err
	}
	if m.UserID != uuid.Nil {
		if err := tx.bucket(bucketOutboxByUser).Put(join(m.UserID[:], m.ID[:]), nil); err != nil {
			return err
		}
	}
	return tx.indexStatus(m)
}

// statusEntry is m's entry in the index of its status: outbox_due (by
// next attempt) for queued mail, outbox_sent (by sent time) for sent
// mail; failed mail is in neither (nil bucket).
func (m *Mail) statusEntry() (bucket, key []byte) {
	switch m.Status {
	case MailQueued:
		return bucketOutboxDue, join(timeKey(m.NextAttemptAt), m.ID[:])
	case MailSent:
		return bucketOutboxSent, join(timeKey(m.SentAt), m.ID[:])
	}
	return nil, nil
}

// deleteUserMail removes every outbox entry about a user: queued mail for
// a deleted account carries nothing anyone should still receive.
func (tx *Tx) deleteUserMail(userID uuid.UUID) error {
	keys, err := deletePrefix(tx, bucketOutboxByUser, userID[:])
	if err != nil {
		return err
	}
	outbox := tx.bucket(bucketOutbox)
	for _, k := range keys {
		id, _ := uuid.FromBytes(k[16:])
		m, err := tx.Mail(id)
		if err == ErrNotFound {
			continue
		}
		if err != nil {
			return err
		}
		if err := tx.unindexStatus(m); err != nil {
			return err
		}
		if err := outbox.Delete(m.ID[:]); err != nil {
			return err
		}
	}
	return nil
}

// Mail returns one outbox entry. Errors: ErrNotFound.
func (tx *Tx) Mail(id uuid.UUID) (*Mail, error) {
	var m Mail
	if err := getJSON(tx.bucket(bucketOutbox), id[:], &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// DueMail returns up to limit queued mails due at or before now, earliest first.
func (tx *Tx) DueMail(now time.Time, limit int) ([]Mail, error) {
	var out []Mail
	end := timeKey(now)
	outbox := tx.bucket(bucketOutbox)
	c := tx.bucket(bucketOutboxDue).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		if bytes.Compare(k[:8], end) > 0 {
			break
		}
		var m Mail
		if err := getJSON(outbox, k[8:], &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// updateMail loads a mail, removes it from the due (queued) or sent index,
// applies change and stores it, indexed again by its new status.
func (tx *Tx) updateMail(id uuid.UUID, change func(*Mail)) error {
	m, err := tx.Mail(id)
	if err != nil {
		return err
	}
	return tx.restatus(bucketOutbox, m.ID[:], m, func() { change(m) })
}

// MarkMailSent records delivery, erases the sealed body and indexes the
// mail by its sent time (outbox_sent, which Sweep prunes by). Errors: ErrNotFound.
func (tx *Tx) MarkMailSent(id uuid.UUID, at time.Time) error {
	return tx.updateMail(id, func(m *Mail) {
		m.Status = MailSent
		m.SentAt = at
		m.Attempts++
		m.LastError = ""
		m.Sealed = nil
		m.NextAttemptAt = time.Time{}
	})
}

// RetryMail records a failed attempt and the next one. Errors: ErrNotFound.
func (tx *Tx) RetryMail(id uuid.UUID, attempts int, lastErr string, next time.Time) error {
	return tx.updateMail(id, func(m *Mail) {
		m.Status = MailQueued
		m.Attempts = attempts
		m.LastError = lastErr
		m.NextAttemptAt = next
	})
}

// FailMail gives up on a mail until staff re-queue it. Errors: ErrNotFound.
func (tx *Tx) FailMail(id uuid.UUID, attempts int, lastErr string) error {
	return tx.updateMail(id, func(m *Mail) {
		m.Status = MailFailed
		m.Attempts = attempts
		m.LastError = lastErr
		m.NextAttemptAt = time.Time{}
	})
}

// OutboxList returns up to limit mails, newest first, optionally of one status.
func (tx *Tx) OutboxList(status MailStatus, limit int) ([]Mail, error) {
	var out []Mail
	c := tx.bucket(bucketOutbox).Cursor()
	for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
		var m Mail
		if err := getJSONBytes(v, &m); err != nil {
			return nil, err
		}
		if status == "" || m.Status == status {
			m.Sealed = nil // never leaves the store through a listing
			out = append(out, m)
		}
	}
	return out, nil
}

// RequeueMail puts a failed mail back in the queue, due at now, with its
// attempts reset. Errors: ErrNotFound; ErrNotRequeueable unless it failed.
func (tx *Tx) RequeueMail(id uuid.UUID, now time.Time) error {
	m, err := tx.Mail(id)
	if err != nil {
		return err
	}
	if m.Status != MailFailed || len(m.Sealed) == 0 {
		return ErrNotRequeueable
	}
	return tx.updateMail(id, func(m *Mail) {
		m.Status = MailQueued
		m.Attempts = 0
		m.NextAttemptAt = now
	})
}
