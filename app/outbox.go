package app

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// outboxQueue lets the mail delivery loop read and update the store's
// outbox, opening each sealed mail only in memory, just before it is sent.
type outboxQueue struct {
	s *Server
}

// MailQueue is the outbox as the delivery loop sees it.
func (s *Server) MailQueue() mail.Queue { return outboxQueue{s} }

// SetMailWaker sets what wakes the delivery loop after a commit that queued mail.
func (s *Server) SetMailWaker(wake func()) { s.wakeMailer = wake }

func (q outboxQueue) Due(now time.Time, limit int) ([]mail.Pending, error) {
	var due []store.Mail
	if err := q.s.db.View(func(tx *store.Tx) error {
		var err error
		due, err = tx.DueMail(now, limit)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]mail.Pending, 0, len(due))
	for _, m := range due {
		raw, err := unseal(q.s.sealer, m.ID, m.Sealed)
		if err != nil {
			// Sealed under another secret key (it was changed): it can
			// never be sent, so it fails rather than blocking the queue.
			q.s.log.Error("outbox: cannot open mail", "mail_id", m.ID, "err", err)
			if ferr := q.s.db.Update(func(tx *store.Tx) error {
				return tx.FailMail(m.ID, m.Attempts, "cannot decrypt (was the secret key changed?)")
			}); ferr != nil {
				return nil, ferr
			}
			q.s.metrics.mailFailed.Add(1)
			continue
		}
		out = append(out, mail.Pending{ID: m.ID.String(), From: m.From, To: []string{m.To}, Raw: raw, Attempts: m.Attempts})
	}
	return out, nil
}

// change runs fn in a write transaction and, once it commits, counts it.
func (q outboxQueue) change(id string, counter *atomic.Uint64, fn func(*store.Tx, uuid.UUID) error) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return errors.New("outbox: bad id")
	}
	if err := q.s.db.Update(func(tx *store.Tx) error { return fn(tx, uid) }); err != nil {
		return err
	}
	counter.Add(1)
	return nil
}

func (q outboxQueue) Sent(id string, at time.Time) error {
	return q.change(id, &q.s.metrics.mailSent, func(tx *store.Tx, uid uuid.UUID) error { return tx.MarkMailSent(uid, at) })
}

func (q outboxQueue) Retry(id string, attempts int, lastErr string, next time.Time) error {
	return q.change(id, &q.s.metrics.mailRetried, func(tx *store.Tx, uid uuid.UUID) error { return tx.RetryMail(uid, attempts, lastErr, next) })
}

func (q outboxQueue) Failed(id string, attempts int, lastErr string) error {
	return q.change(id, &q.s.metrics.mailFailed, func(tx *store.Tx, uid uuid.UUID) error { return tx.FailMail(uid, attempts, lastErr) })
}
