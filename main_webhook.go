package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/marbelle/marbelle/app"
)

const webhookCommandHelp = `Usage:
  marbelle webhook add --url URL --event EVENT [--event EVENT…] [--description TEXT]
  marbelle webhook list
  marbelle webhook remove ID

Webhook endpoints receive signed events (Standard Webhooks) when customers
register, verify, change their profile, email or addresses, or are
deactivated, reactivated or deleted. --event '*' takes them all. add prints
the signing secret (whsec_…) once. These commands work on a stopped store;
while the server runs, use the admin pages or /api/v1/admin/webhooks. See
docs/webhooks.md.`

// webhookCommand runs `marbelle webhook add|list|remove`.
func webhookCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return storeCommand{
		name: "webhook", help: webhookCommandHelp, add: "add", list: "list", remove: "remove", removeWhat: "endpoint ID",
		addFlags: func(fs *flag.FlagSet) addFunc {
			url := fs.String("url", "", "where events are POSTed, http(s) (required)")
			var events listFlag
			fs.Var(&events, "event", "an event type, or * for all; repeat it, or separate with commas (at least one)")
			description := fs.String("description", "", "what the endpoint is, e.g. order system")
			return func(dataDir string, log *slog.Logger) (string, string, error) {
				secret, summary, err := app.WebhookAdd(app.WebhookAddInput{DataDir: dataDir, URL: *url, Events: events, Description: *description, Getenv: getenv, Log: log})
				if errors.Is(err, app.ErrNoSecretKey) {
					return "", "", &exitError{code: 2, err: fmt.Errorf("webhook add: %w", err)}
				}
				return secret, summary, err
			}
		},
		runList: app.WebhookList, runRemove: app.WebhookRemove,
	}.run(args, getenv, stdout, stderr)
}
