package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Webhook buckets (schema.go's tree lists them). An older binary ignores them.
var (
	bucketWebhooks          = []byte("webhooks")
	bucketWebhookDeliveries = []byte("webhook_deliveries")
	bucketWebhookDue        = []byte("webhook_due")
	bucketWebhookDone       = []byte("webhook_done")
	bucketWebhookByEndpoint = []byte("webhook_deliveries_by_endpoint")
)

// Webhook is an endpoint the shop's other systems receive events at.
// Secret is the signing secret (whsec_…) sealed by the app, bound to the
// endpoint id (the store never holds it in clear); during a rotation the
// previous one signs too, until PreviousUntil. Stored in the binary form
// webhookCodecV1 (webhook_codec.go).
type Webhook struct {
	ID             uuid.UUID
	URL            string
	Events         []string // event types, or "*"
	Description    string
	Enabled        bool
	Secret         []byte // sealed
	PreviousSecret []byte // sealed; empty when none
	PreviousUntil  time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Clear is set only on a record still in the clear form of stores
	// before version 6; SealWebhookSecrets rewrites those, and nothing
	// ever writes it.
	Clear *ClearWebhookSecrets
}

// ClearWebhookSecrets are an unsealed record's secrets, as read.
type ClearWebhookSecrets struct {
	Secret, PreviousSecret string
}

// Wants reports whether the endpoint takes events of type typ.
func (w *Webhook) Wants(typ string) bool {
	return w.Enabled && (slices.Contains(w.Events, "*") || slices.Contains(w.Events, typ))
}

// Rotating reports whether the previous secret still signs at now.
func (w *Webhook) Rotating(now time.Time) bool {
	return (len(w.PreviousSecret) > 0 || (w.Clear != nil && w.Clear.PreviousSecret != "")) && now.Before(w.PreviousUntil)
}

// Secrets returns the sealed secrets a delivery is signed with at now.
func (w *Webhook) Secrets(now time.Time) [][]byte {
	if w.Rotating(now) {
		return [][]byte{w.Secret, w.PreviousSecret}
	}
	return [][]byte{w.Secret}
}

// DeliveryStatus is where a webhook delivery is.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event on its way to one endpoint. EventID is the
// webhook-id: the same for every endpoint and every attempt.
type Delivery struct {
	ID             uuid.UUID       `json:"id"`
	EndpointID     uuid.UUID       `json:"endpoint_id"`
	EventID        uuid.UUID       `json:"event_id"`
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"` // the body, as sent
	Status         DeliveryStatus  `json:"status"`
	Attempts       int             `json:"attempts"`
	LastStatusCode int             `json:"last_status_code,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	NextAttemptAt  time.Time       `json:"next_attempt_at,omitzero"`
	CreatedAt      time.Time       `json:"created_at"`
	RetrySince     time.Time       `json:"retry_since,omitzero"` // start of the retry window (an admin retry restarts it)
	DoneAt         time.Time       `json:"done_at,omitzero"`     // delivered or failed
}

// PutWebhook creates or replaces an endpoint.
// Its secrets must be sealed: a clear one is never written.
func (tx *Tx) PutWebhook(w *Webhook) error {
	if len(w.Secret) == 0 || w.Clear != nil {
		return errWebhookNotSealed
	}
	return tx.bucket(bucketWebhooks).Put(w.ID[:], encodeWebhook(w))
}

// Webhook returns one endpoint. Errors: ErrNotFound.
func (tx *Tx) Webhook(id uuid.UUID) (*Webhook, error) {
	v := tx.bucket(bucketWebhooks).Get(id[:])
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeWebhook(id, v)
}

// Webhooks returns every endpoint, oldest first.
func (tx *Tx) Webhooks() ([]Webhook, error) {
	var out []Webhook
	c := tx.bucket(bucketWebhooks).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, _ := uuid.FromBytes(k)
		w, err := decodeWebhook(id, v)
		if err != nil {
			return nil, err
		}
		out = append(out, *w)
	}
	return out, nil
}

// DeleteWebhook removes an endpoint and every delivery to it. Errors: ErrNotFound.
func (tx *Tx) DeleteWebhook(id uuid.UUID) error {
	if _, err := tx.Webhook(id); err != nil {
		return err
	}
	keys, err := deletePrefix(tx, bucketWebhookByEndpoint, id[:])
	if err != nil {
		return err
	}
	for _, k := range keys {
		did, _ := uuid.FromBytes(k[16:])
		if err := tx.deleteDelivery(did); err != nil {
			return err
		}
	}
	return tx.bucket(bucketWebhooks).Delete(id[:])
}

// EmitWebhookEvent writes one pending delivery of the event for every
// enabled endpoint that wants its type, due at now, and returns how many.
// Called inside the Update that makes the change, so the event commits
// with it or not at all. The event's id and payload are made once, and
// only when some endpoint wants it: an event nobody takes costs one look
// at the endpoints.
func (tx *Tx) EmitWebhookEvent(typ string, payload func() ([]byte, error), now time.Time) (int, error) {
	hooks, err := tx.Webhooks()
	if err != nil {
		return 0, err
	}
	var eventID uuid.UUID
	var body []byte
	n := 0
	for i := range hooks {
		if !hooks[i].Wants(typ) {
			continue
		}
		if n == 0 {
			if body, err = payload(); err != nil {
				return 0, err
			}
			eventID = NewID()
		}
		d := &Delivery{ID: NewID(), EndpointID: hooks[i].ID, EventID: eventID, Type: typ, Payload: body, NextAttemptAt: now, CreatedAt: now}
		if err := tx.QueueDelivery(d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// QueueDelivery stores d as pending, due at d.NextAttemptAt.
func (tx *Tx) QueueDelivery(d *Delivery) error {
	d.Status = DeliveryPending
	if err := tx.bucket(bucketWebhookByEndpoint).Put(join(d.EndpointID[:], d.ID[:]), nil); err != nil {
		return err
	}
	if err := tx.indexStatus(d); err != nil {
		return err
	}
	return putJSON(tx.bucket(bucketWebhookDeliveries), d.ID[:], d)
}

// statusEntry is d's entry in the index of its status: webhook_due while
// pending, webhook_done (by done time) once delivered or failed.
func (d *Delivery) statusEntry() (bucket, key []byte) {
	if d.Status == DeliveryPending {
		return bucketWebhookDue, d.dueKey()
	}
	return bucketWebhookDone, join(timeKey(d.DoneAt), d.ID[:])
}

func (tx *Tx) deleteDelivery(id uuid.UUID) error {
	d, err := tx.Delivery(id)
	if err == ErrNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.unindexStatus(d); err != nil {
		return err
	}
	if err := tx.bucket(bucketWebhookByEndpoint).Delete(join(d.EndpointID[:], d.ID[:])); err != nil {
		return err
	}
	return tx.bucket(bucketWebhookDeliveries).Delete(id[:])
}

// Delivery returns one delivery. Errors: ErrNotFound.
func (tx *Tx) Delivery(id uuid.UUID) (*Delivery, error) {
	var d Delivery
	if err := getJSON(tx.bucket(bucketWebhookDeliveries), id[:], &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// dueKey is a pending delivery's webhook_due key: its endpoint, then its
// next attempt time, so each endpoint's due deliveries are one ordered
// range, and a busy endpoint's backlog is never read to reach another's.
func (d *Delivery) dueKey() []byte { return join(d.EndpointID[:], timeKey(d.NextAttemptAt), d.ID[:]) }

// DueDeliveries returns up to limit pending deliveries due at or before
// now: for each endpoint, up to room(endpoint) of its own, earliest first,
// passing over those skip names (attempts not yet recorded). What it reads
// grows with what it returns and skips, never with an endpoint's backlog.
func (tx *Tx) DueDeliveries(now time.Time, limit int, room func(endpoint uuid.UUID) int, skip func(id uuid.UUID) bool) ([]Delivery, error) {
	var out []Delivery
	end := timeKey(now)
	all := tx.bucket(bucketWebhookDeliveries)
	c := tx.bucket(bucketWebhookDue).Cursor()
	hooks := tx.bucket(bucketWebhooks).Cursor()
	for ep, _ := hooks.First(); ep != nil && len(out) < limit; ep, _ = hooks.Next() {
		epID, _ := uuid.FromBytes(ep)
		n := room(epID)
		for k, _ := c.Seek(ep); n > 0 && len(out) < limit && k != nil && bytes.HasPrefix(k, ep) && bytes.Compare(k[16:24], end) <= 0; k, _ = c.Next() {
			id, _ := uuid.FromBytes(k[24:])
			if skip(id) {
				continue
			}
			var d Delivery
			if err := getJSON(all, id[:], &d); err != nil {
				return nil, err
			}
			out = append(out, d)
			n--
		}
	}
	return out, nil
}

// PendingDeliveries counts pending deliveries and returns when the oldest
// was made (zero when none), for the metrics. It reads keys only: a
// delivery id is a UUIDv7, whose time is its making.
func (tx *Tx) PendingDeliveries() (n int, oldest time.Time) {
	c := tx.bucket(bucketWebhookDue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
		if id, err := uuid.FromBytes(k[24:]); err == nil {
			sec, nsec := id.Time().UnixTime()
			if at := time.Unix(sec, nsec); oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
		}
	}
	return n, oldest
}

// UpdateDelivery loads a delivery, applies change and stores it, indexed
// by its new status. Errors: ErrNotFound.
func (tx *Tx) UpdateDelivery(id uuid.UUID, change func(*Delivery)) error {
	d, err := tx.Delivery(id)
	if err != nil {
		return err
	}
	return tx.restatus(bucketWebhookDeliveries, d.ID[:], d, func() { change(d) })
}

// RequeueDelivery makes a delivery pending again, due at now, with its
// attempts and retry window reset (an admin retry). Errors: ErrNotFound;
// ErrNotRequeueable for one not yet tried.
func (tx *Tx) RequeueDelivery(id uuid.UUID, now time.Time) (*Delivery, error) {
	d, err := tx.Delivery(id)
	if err != nil {
		return nil, err
	}
	if d.Status == DeliveryPending && d.Attempts == 0 {
		return nil, ErrNotRequeueable // never tried yet: it is on its way
	}
	err = tx.restatus(bucketWebhookDeliveries, d.ID[:], d, func() {
		d.Status, d.Attempts, d.NextAttemptAt, d.DoneAt, d.RetrySince = DeliveryPending, 0, now, time.Time{}, now
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// WebhookDeliveries returns up to limit deliveries to an endpoint, newest first.
func (tx *Tx) WebhookDeliveries(endpointID uuid.UUID, limit int) ([]Delivery, error) {
	var out []Delivery
	c := tx.bucket(bucketWebhookByEndpoint).Cursor()
	prefix := endpointID[:]
	k, _ := c.Seek(join(prefix, bytes.Repeat([]byte{0xff}, 16)))
	if k == nil {
		k, _ = c.Last()
	}
	for ; k != nil && len(out) < limit; k, _ = c.Prev() {
		if !bytes.HasPrefix(k, prefix) {
			if bytes.Compare(k, prefix) < 0 {
				break
			}
			continue
		}
		id, _ := uuid.FromBytes(k[16:])
		d, err := tx.Delivery(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, nil
}

// SweepWebhookDeliveries removes up to limit deliveries that were
// delivered or failed before cutoff, through the webhook_done index, and
// reports how many it removed and whether more remain.
func (tx *Tx) SweepWebhookDeliveries(cutoff time.Time, limit int) (int, bool, error) {
	keys := keysBelow(tx, bucketWebhookDone, timeKey(cutoff), limit+1)
	more := len(keys) > limit
	if more {
		keys = keys[:limit]
	}
	for _, k := range keys {
		id, _ := uuid.FromBytes(k[8:])
		if err := tx.deleteDelivery(id); err != nil {
			return 0, false, err
		}
		// An entry whose delivery was gone is removed alone.
		if err := tx.bucket(bucketWebhookDone).Delete(k); err != nil {
			return 0, false, err
		}
	}
	return len(keys), more, nil
}
