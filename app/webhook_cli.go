package app

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/webhook"
)

// The command line: `marbelle webhook add|list|remove` work on a stopped
// store, as `api-key` does; while a server runs, the admin API and pages
// do the same.

// openWebhookStore opens a data dir's store for a webhook command.
func openWebhookStore(dataDir, cmd string, log *slog.Logger) (*store.DB, error) {
	return openStopped(dataDir, log, errStoreHeldUse("webhook "+cmd, "Webhooks", "/api/v1/admin/webhooks"))
}

// WebhookAddInput is what `marbelle webhook add` needs.
type WebhookAddInput struct {
	DataDir     string
	URL         string
	Events      []string
	Description string
	Getenv      func(string) string // for MARBELLE_ENV and MARBELLE_WEBHOOK_ALLOW_HTTP
	Log         *slog.Logger
}

// WebhookAdd adds an endpoint to a stopped store and returns its secret,
// to be shown this once, and a line saying what was made.
func WebhookAdd(in WebhookAddInput) (secret, summary string, err error) {
	cfg, err := LoadSettings(in.Getenv, "MARBELLE_ENV", "MARBELLE_WEBHOOK_ALLOW_HTTP", "MARBELLE_SECRET_KEY")
	if err != nil {
		return "", "", err
	}
	cfg.DataDir = in.DataDir
	w := &store.Webhook{ID: store.NewID(), Enabled: true}
	events := in.Events
	if err := (&webhookInput{URL: &in.URL, Events: &events, Description: &in.Description}).apply(w, true, &cfg); err != nil {
		return "", "", cliWebhookError(err)
	}
	aead, err := cliSealer(&cfg)
	if err != nil {
		return "", "", err
	}
	db, err := openWebhookStore(in.DataDir, "add", in.Log)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	if err := sealClearWebhooks(context.Background(), db, aead, in.Log); err != nil {
		return "", "", err
	}
	now := time.Now()
	secret = webhook.NewSecret()
	if w.Secret, err = sealWebhookSecret(aead, w.ID, secret); err != nil {
		return "", "", err
	}
	w.CreatedAt, w.UpdatedAt = now, now
	err = db.Update(func(tx *store.Tx) error {
		if err := tx.PutWebhook(w); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: now.UTC(), Event: "webhook_created", Detail: actorDetailCLI(webhookDetail(w))})
	})
	if err != nil {
		return "", "", err
	}
	return secret, fmt.Sprintf("Added webhook endpoint %s (%s) for %s.\nThe secret is shown only this once: give it to the receiver now.\n", w.URL, w.ID, strings.Join(w.Events, ", ")), nil
}

// cliSealer is the server's sealer, from the same key the server takes
// (MARBELLE_SECRET_KEY, or the development secret of the data dir).
func cliSealer(cfg *Config) (cipher.AEAD, error) {
	if cfg.SecretKey == "" && !cfg.Production() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil { // for the development secret
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	if err := fillSecretKey(cfg); err != nil {
		return nil, err
	}
	return newSealer(sealerKey(cfg.SecretKey))
}

func actorDetailCLI(d map[string]string) map[string]string {
	d["actor"] = "cli"
	return d
}

// cliWebhookError words webhookInput.apply's faults for the command line.
func cliWebhookError(err error) error {
	return cliFlagError(err, fieldFlag{"url", "--url"}, fieldFlag{"events", "--event"}, fieldFlag{"description", "--description"})
}

// WebhookList lists a stopped store's endpoints as a table.
func WebhookList(dataDir string, log *slog.Logger) (string, error) {
	db, err := openWebhookStore(dataDir, "list", log)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var hooks []store.Webhook
	if err := db.View(func(tx *store.Tx) error { hooks, err = tx.Webhooks(); return err }); err != nil {
		return "", err
	}
	if len(hooks) == 0 {
		return "No webhook endpoints. Add one with: marbelle webhook add --url URL --event '*'\n", nil
	}
	rows := make([][]string, 0, len(hooks))
	for _, w := range hooks {
		rows = append(rows, []string{w.ID.String(), w.URL, strings.Join(w.Events, ","), strconv.FormatBool(w.Enabled), w.CreatedAt.UTC().Format("2006-01-02 15:04Z"), strconv.Quote(w.Description)})
	}
	return cliTable("ID\tURL\tEVENTS\tENABLED\tCREATED\tDESCRIPTION", rows), nil
}

// WebhookRemove deletes an endpoint of a stopped store, with its deliveries.
func WebhookRemove(dataDir, rawID string, log *slog.Logger) (string, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return "", fmt.Errorf("%q is not an endpoint id (a UUID, as `marbelle webhook list` shows)", rawID)
	}
	db, err := openWebhookStore(dataDir, "remove", log)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var w *store.Webhook
	err = db.Update(func(tx *store.Tx) error {
		if w, err = tx.Webhook(id); err != nil {
			return err
		}
		if err := tx.DeleteWebhook(id); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: time.Now().UTC(), Event: "webhook_deleted", Detail: actorDetailCLI(webhookDetail(w))})
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("there is no webhook endpoint %s", id)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Removed webhook endpoint %s (%s) and its deliveries.\n", w.URL, w.ID), nil
}
