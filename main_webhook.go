package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

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
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintln(stdout, webhookCommandHelp)
		return nil
	}
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "remove") {
		fmt.Fprintln(stderr, webhookCommandHelp)
		return &exitError{code: 2, err: errors.New("webhook: the subcommands are add, list and remove")}
	}
	cmd := args[0]
	fs := flag.NewFlagSet("marbelle webhook "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := app.SettingFlag(fs, "MARBELLE_DATA_DIR", getenv)
	var url, description *string
	var events listFlag
	if cmd == "add" {
		url = fs.String("url", "", "where events are POSTed, http(s) (required)")
		fs.Var(&events, "event", "an event type, or * for all; repeat it, or separate with commas (at least one)")
		description = fs.String("description", "", "what the endpoint is, e.g. order system")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\n", webhookCommandHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := cliLogger(stderr)
	switch cmd {
	case "add":
		if fs.NArg() != 0 {
			fs.Usage()
			return &exitError{code: 2, err: errors.New("webhook add takes no arguments, only flags")}
		}
		secret, summary, err := app.WebhookAdd(app.WebhookAddInput{DataDir: *dataDir, URL: *url, Events: events, Description: *description, Getenv: getenv, Log: log})
		if err != nil {
			return err
		}
		// The secret alone on stdout, so that SECRET=$(marbelle webhook add …) works.
		fmt.Fprintln(stdout, secret)
		fmt.Fprint(stderr, summary)
		return nil
	case "list":
		out, err := app.WebhookList(*dataDir, log)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, out)
		return nil
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("webhook remove: name one endpoint ID")}
	}
	out, err := app.WebhookRemove(*dataDir, fs.Arg(0), log)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, out)
	return nil
}
