package app

import (
	"context"
	"crypto/cipher"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// Webhook signing secrets are stored sealed (docs/security.md, webhooks,
// "Secrets"): AES-GCM under the server's sealer key, bound to the
// endpoint id, like TOTP secrets and queued mail. They are clear only in
// memory: on create and rotate (shown once) and when a delivery is signed.

// errWebhookSecretUnreadable is a delivery's error when its endpoint's
// secret does not open with this server's key (a backup restored under
// another MARBELLE_SECRET_KEY): rotating the secret mends it.
var errWebhookSecretUnreadable = errors.New("the signing secret cannot be read with this server's secret key: rotate the endpoint's secret")

// sealWebhookBatch bounds the endpoints one migration transaction rewrites.
const sealWebhookBatch = 500

// sealWebhookSecret seals one signing secret, bound to its endpoint.
func sealWebhookSecret(aead cipher.AEAD, id uuid.UUID, secret string) ([]byte, error) {
	return seal(aead, id, []byte(secret))
}

// sealerFunc is sealWebhookSecret with aead, as the store takes it.
func sealerFunc(aead cipher.AEAD) func(uuid.UUID, string) ([]byte, error) {
	return func(id uuid.UUID, secret string) ([]byte, error) { return sealWebhookSecret(aead, id, secret) }
}

// signingSecrets unseals the secrets a delivery to w is signed with at
// signAt. A record not yet sealed (the start-up migration seals them)
// gives its clear ones.
func (s *Server) signingSecrets(w *store.Webhook, signAt time.Time) ([]string, error) {
	if w.Clear != nil {
		if w.Rotating(signAt) {
			return []string{w.Clear.Secret, w.Clear.PreviousSecret}, nil
		}
		return []string{w.Clear.Secret}, nil
	}
	var out []string
	for _, sealed := range w.Secrets(signAt) {
		plain, err := unseal(s.sealer, w.ID, sealed)
		if err != nil {
			return nil, errWebhookSecretUnreadable
		}
		out = append(out, string(plain))
	}
	return out, nil
}

// sealClear seals a record still in the clear form before it is changed
// and stored again (a pure computation: safe in an Update closure).
func (s *Server) sealClear(w *store.Webhook) error {
	return w.SealClear(sealerFunc(s.sealer))
}

// SealWebhookSecrets rewrites the endpoints a store before schema 6 holds
// with clear secrets, sealed (serve runs it at start-up, the webhook
// command before it writes). Idempotent: sealed records are left alone.
func (s *Server) SealWebhookSecrets(ctx context.Context) error {
	return sealClearWebhooks(ctx, s.db, s.sealer, s.log)
}

// sealClearWebhooks seals every clear endpoint record, a bounded batch
// per transaction, and logs how many it sealed (never a secret).
func sealClearWebhooks(ctx context.Context, db *store.DB, aead cipher.AEAD, log *slog.Logger) error {
	total := 0
	for more := true; more; {
		var n int
		err := db.Update(func(tx *store.Tx) error {
			var err error
			n, more, err = tx.SealWebhookSecrets(sealWebhookBatch, sealerFunc(aead))
			return err
		})
		if err != nil {
			return err
		}
		total += n
	}
	if total > 0 && log != nil {
		log.InfoContext(ctx, "webhook signing secrets sealed", "endpoints", total)
	}
	return nil
}
