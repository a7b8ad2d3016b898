package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// webhookCodecV1 is the version byte of the binary Webhook record (schema
// 6): then the URL, the events, the description, the enabled flag, the
// sealed secret, the sealed previous secret, the previous one's end, and
// the created and updated times. Stores before version 6 hold the JSON
// form with the secrets in clear; decodeWebhook reads it (Clear set) until
// the app seals it (SealWebhookSecrets).
const webhookCodecV1 = 0xE1

// maxWebhookEvents bounds the events list a record may name.
const maxWebhookEvents = 64

var (
	errBadWebhookRecord = errors.New("store: malformed webhook record")
	errWebhookNotSealed = errors.New("store: a webhook's signing secret must be sealed before it is stored")
)

func encodeWebhook(w *Webhook) []byte {
	b := make(recordWriter, 0, 64+len(w.URL)+strsSize(w.Events)+len(w.Description)+len(w.Secret)+len(w.PreviousSecret))
	b = append(b, webhookCodecV1)
	b.str(w.URL)
	b.strs(w.Events)
	b.str(w.Description)
	enabled := uint64(0)
	if w.Enabled {
		enabled = 1
	}
	b.uint(enabled)
	b.bytes(w.Secret)
	b.bytes(w.PreviousSecret)
	b.time(w.PreviousUntil)
	b.time(w.CreatedAt)
	b.time(w.UpdatedAt)
	return b
}

// decodeWebhook reads either form of the endpoint id's record.
func decodeWebhook(id uuid.UUID, v []byte) (*Webhook, error) {
	if isJSON(v) {
		return decodeClearWebhook(id, v)
	}
	var r recordReader
	r.start(v, webhookCodecV1)
	w := &Webhook{ID: id, URL: r.str(), Events: r.strs(maxWebhookEvents), Description: r.str()}
	switch r.uint() {
	case 0:
	case 1:
		w.Enabled = true
	default:
		r.bad = true
	}
	w.Secret, w.PreviousSecret = r.bytes(), r.bytes()
	w.PreviousUntil, w.CreatedAt, w.UpdatedAt = r.time(), r.time(), r.time()
	if err := r.finish(errBadWebhookRecord); err != nil {
		return nil, err
	}
	if len(w.Secret) == 0 {
		return nil, errBadWebhookRecord
	}
	return w, nil
}

// clearWebhookV0 is the JSON record of stores before version 6.
type clearWebhookV0 struct {
	ID             uuid.UUID `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Description    string    `json:"description"`
	Enabled        bool      `json:"enabled"`
	Secret         string    `json:"secret"`
	PreviousSecret string    `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func decodeClearWebhook(id uuid.UUID, v []byte) (*Webhook, error) {
	var old clearWebhookV0
	if err := json.Unmarshal(v, &old); err != nil || old.ID != id || old.Secret == "" {
		return nil, errBadWebhookRecord
	}
	return &Webhook{ID: id, URL: old.URL, Events: old.Events, Description: old.Description, Enabled: old.Enabled,
		PreviousUntil: old.PreviousUntil, CreatedAt: old.CreatedAt, UpdatedAt: old.UpdatedAt,
		Clear: &ClearWebhookSecrets{Secret: old.Secret, PreviousSecret: old.PreviousSecret}}, nil
}

// SealWebhookSecrets rewrites up to limit endpoints still in the clear
// form with their secrets sealed by seal (the app's key, bound to the
// endpoint id), and returns how many it rewrote and whether more remain.
// Each run seals afresh, so the closure it runs in may run twice.
func (tx *Tx) SealWebhookSecrets(limit int, seal func(id uuid.UUID, secret string) ([]byte, error)) (int, bool, error) {
	var clear []*Webhook
	c := tx.bucket(bucketWebhooks).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !isJSON(v) {
			continue
		}
		if len(clear) == limit {
			return len(clear), true, tx.sealClear(clear, seal)
		}
		id, _ := uuid.FromBytes(k)
		w, err := decodeClearWebhook(id, v)
		if err != nil {
			return 0, false, fmt.Errorf("webhook %x: %w", k, err)
		}
		clear = append(clear, w)
	}
	return len(clear), false, tx.sealClear(clear, seal)
}

func (tx *Tx) sealClear(hooks []*Webhook, seal func(uuid.UUID, string) ([]byte, error)) error {
	for _, w := range hooks {
		if err := w.SealClear(seal); err != nil {
			return err
		}
		if err := tx.PutWebhook(w); err != nil {
			return err
		}
	}
	return nil
}

// SealClear seals the secrets of a record read in the clear form (a no-op
// for a sealed one), so that it can be stored.
func (w *Webhook) SealClear(seal func(id uuid.UUID, secret string) ([]byte, error)) error {
	if w.Clear == nil {
		return nil
	}
	var err error
	if w.Secret, err = seal(w.ID, w.Clear.Secret); err != nil {
		return err
	}
	if w.Clear.PreviousSecret != "" {
		if w.PreviousSecret, err = seal(w.ID, w.Clear.PreviousSecret); err != nil {
			return err
		}
	}
	w.Clear = nil
	return nil
}
