package app

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// txn is one write transaction of a flow. It collects what must happen
// only once the commit is on disk: audit log lines and waking the mailer.
type txn struct {
	*store.Tx
	s      *Server
	now    time.Time
	events []store.Event
	mails  int
	hooks  int // webhook deliveries queued (webhook.go)
}

// update runs fn in one write transaction, shared with concurrent writers
// (store.DB.Batch: fn may run again, so it keeps its effects inside t) and,
// after it commits, logs its audit events and wakes the mail delivery.
// Nothing is acknowledged before the commit: the caller answers only after
// update returns nil, and Batch returns only once the commit is fsynced.
func (s *Server) update(ctx context.Context, fn func(t *txn) error) error {
	var t *txn
	err := s.db.Batch(func(tx *store.Tx) error {
		t = &txn{Tx: tx, s: s, now: s.now()}
		return fn(t)
	})
	if err != nil {
		return err
	}
	for _, e := range t.events {
		attrs := []any{"event", e.Event, "ip", e.IP, "user_agent", e.UserAgent, "request_id", requestID(ctx)}
		if e.UserID != uuid.Nil {
			attrs = append(attrs, "user_id", e.UserID)
		}
		s.log.InfoContext(ctx, "audit", attrs...)
	}
	s.metrics.countEvents(t.events)
	s.metrics.mailQueued.Add(uint64(t.mails)) // #nosec G115 -- a count, never negative
	if t.mails > 0 && s.wakeMailer != nil {
		s.wakeMailer()
	}
	s.committedWebhooks(t.hooks)
	return faultAfterCommit() // nil except in a -tags faults build (faults_on.go)
}

// updateUser runs fn on the user id, read afresh, in one write
// transaction (update): the shape of every change to one account. gone,
// when set, is the error for an account that cannot be read (a signed-in
// user's own, deleted meanwhile); without it the store's error stands.
func (s *Server) updateUser(ctx context.Context, id uuid.UUID, gone error, fn func(t *txn, u *store.User, c client) error) error {
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		u, err := t.User(id)
		if err != nil && gone != nil {
			return gone
		}
		if err != nil {
			return err
		}
		return fn(t, u, c)
	})
}

// audit records a security event. email is the account's (or the address
// given, for events without an account).
func (t *txn) audit(event string, u *store.User, email string, c client, detail map[string]string) error {
	e := store.Event{ID: store.NewID(), At: t.now.UTC(), Event: event, Email: email, IP: c.IP, UserAgent: c.UserAgent, Detail: detail}
	if u != nil {
		e.UserID = u.ID
		if email == "" {
			e.Email = u.Email
		}
	}
	if err := t.AppendAudit(&e); err != nil {
		return err
	}
	t.events = append(t.events, e)
	return nil
}

// queueMail renders a mail and puts it, sealed, in the outbox of this
// transaction: a mail carrying a token commits with the token or not at all.
func (t *txn) queueMail(kind mailpkg.Kind, to string, userID uuid.UUID, d mailpkg.Data) error {
	s := t.s
	if d.Language == "" { // a caller may know it when the account is gone
		d.Language = t.mailLanguage(userID)
	}
	d.TTL, d.UndoTTL = s.catalogue.Translate(d.Language, d.TTL), s.catalogue.Translate(d.Language, d.UndoTTL) // "24 hours"
	msg, raw, from, err := s.renderMail(kind, to, d, t.now)
	if err != nil {
		return err
	}
	id := store.NewID()
	sealed, err := seal(s.sealer, id, raw)
	if err != nil {
		return err
	}
	t.mails++
	return t.QueueMail(&store.Mail{
		ID: id, UserID: userID, Kind: string(kind), From: from, To: to, Subject: msg.Subject,
		Sealed: sealed, NextAttemptAt: t.now, CreatedAt: t.now,
	})
}

// renderMail composes a mail of kind to to with the shop's name, address
// and Reply-To, and renders its bytes as sent at now; from is the envelope
// sender. The outbox and the admin test mail both send what it renders.
func (s *Server) renderMail(kind mailpkg.Kind, to string, d mailpkg.Data, now time.Time) (msg mailpkg.Message, raw []byte, from string, err error) {
	d.SiteName = s.cfg.SiteName
	d.BaseURL = s.baseURL
	d.UserAgent = browserLabel(d.UserAgent)
	if msg, err = s.composer.Compose(kind, s.cfg.MailFrom, to, d); err != nil {
		return msg, nil, "", fmt.Errorf("compose %s: %w", kind, err)
	}
	msg.ReplyTo = s.cfg.MailReplyTo
	if raw, err = msg.Bytes(now); err != nil {
		return msg, nil, "", fmt.Errorf("render %s: %w", kind, err)
	}
	from, err = msg.EnvelopeFrom()
	return msg, raw, from, err
}

// seal encrypts a queued mail's bytes with AES-GCM, bound to its id, so a
// copied store file holds no usable link.
func seal(aead cipher.AEAD, id uuid.UUID, plain []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, id[:]), nil
}

func unseal(aead cipher.AEAD, id uuid.UUID, sealed []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed mail too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], id[:])
}

// link builds a web UI link carrying a token.
func (s *Server) link(path, token string) string {
	return s.baseURL + path + "?token=" + token
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0 && d > time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d == time.Hour:
		return "1 hour"
	case d%time.Minute == 0 && d >= time.Minute:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// mailLanguage is the recipient account's language as this transaction
// sees it, else the default. The mail is rendered now, so mail already
// queued keeps the language it was written in.
func (t *txn) mailLanguage(userID uuid.UUID) string {
	if userID != uuid.Nil {
		if u, err := t.User(userID); err == nil && u.Language != "" && t.s.catalogue.Has(u.Language) {
			return u.Language
		}
	}
	return t.s.cfg.DefaultLanguage
}

// translateAll puts the code's English phrases (api.* in the catalogue)
// in lang, the language of the account's mail (mailLanguage).
func (t *txn) translateAll(lang string, phrases []string) []string {
	out := make([]string, len(phrases))
	for i, p := range phrases {
		out[i] = t.s.catalogue.Translate(lang, p)
	}
	return out
}
