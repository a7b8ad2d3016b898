// Command marbelle is a self-hosted customer-accounts service in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/marbelle/marbelle/app"
	"github.com/marbelle/marbelle/ui"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "marbelle:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

const usage = `Usage: marbelle <command> [flags]

Commands:
  serve          serve the API, the web UI and (in development) the mail sink (the default)
  admin create   create a staff account (or --promote an existing one)
  api-key create|list|revoke
                 make, list and revoke API keys for the shop's other services
  webhook add|list|remove
                 manage the endpoints that receive signed events (webhooks)
  backup FILE    write a consistent copy of a stopped store to FILE
  check          verify every stored invariant and index
  import django FILE
                 import users and addresses from Django's "manage.py dumpdata users" (try --dry-run first)
  version        print the version

Run "marbelle <command> --help" for a command's flags.
`

// subcommand runs one command on its arguments.
type subcommand func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		cmd = "help"
	case len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-'):
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "version":
		fs := flag.NewFlagSet("marbelle version", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { fmt.Fprintln(stderr, "Usage: marbelle version\n\nPrints the version of this binary.") }
		if err := fs.Parse(args); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "marbelle", buildVersion())
		return nil
	case "admin":
		if len(args) == 0 || args[0] != "create" {
			fmt.Fprintln(stderr, "Usage: marbelle admin create --email E [--password-stdin] [--promote]")
			return &exitError{code: 2, err: errors.New("admin: the only subcommand is create")}
		}
		return adminCreate(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "api-key":
		return apiKey(args, getenv, stdout, stderr)
	case "webhook": // #17
		return webhookCommand(args, getenv, stdout, stderr)
	case "check":
		return check(args, getenv, stdout, stderr)
	case "backup":
		return backup(args, getenv, stdout, stderr)
	case "import":
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(stdout, importUsage)
			return nil
		}
		if len(args) == 0 || args[0] != "django" {
			fmt.Fprintln(stderr, importUsage)
			return &exitError{code: 2, err: errors.New("import: the only source is django")}
		}
		return importDjango(ctx, args[1:], getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if hidden, ok := hiddenCommand(cmd); ok {
		return hidden(ctx, args, getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", cmd)}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := app.LoadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log := newLogger(cfg, stderr)
	err = app.Serve(ctx, cfg, log, stdout, app.ServeOptions{Version: buildVersion(), UI: ui.Handler})
	if te := (*app.TemplateError)(nil); errors.As(err, &te) {
		return &exitError{code: 2, err: err} // a shop's broken template, named
	}
	return err
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// dataDirFlags is the flag set of `marbelle <name>`, a command on a data
// dir: it takes --data-dir, and its errors and usage (help, then the
// flags) go to stderr.
func dataDirFlags(name, help string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("marbelle "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\n", help)
		fs.PrintDefaults()
	}
	return fs, app.SettingFlag(fs, "MARBELLE_DATA_DIR", getenv)
}

// cliLogger is where a command that writes the store logs what its opening
// migration warns about (the server logs it in its own format).
func cliLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// buildVersion is the stamped version, else the module version Go recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

func adminCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, dataDir := dataDirFlags("admin create", "Usage: marbelle admin create --email E [--password-stdin] [--promote]\n\nCreates a verified staff account on a stopped store. The password obeys the password policy.", getenv, stderr)
	email := fs.String("email", "", "the staff member's email address (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of a prompt")
	promote := fs.Bool("promote", false, "make an existing account staff")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("admin create: --email is required")}
	}
	cfg, err := app.LoadSettings(getenv, "MARBELLE_PASSWORD_HASH", "MARBELLE_PASSWORD_MIN_LENGTH")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var password string
	if !*promote {
		if password, err = readPassword(*fromStdin, stdin, stderr); err != nil {
			return err
		}
	}
	msg, err := app.AdminCreate(ctx, app.AdminCreateInput{DataDir: *dataDir, Email: *email, Password: password, Promote: *promote, Hash: cfg.PasswordHash, MinLength: cfg.PasswordMinLength, Log: cliLogger(stderr)})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, msg)
	return nil
}

const keyCommandHelp = `Usage:
  marbelle api-key create --name NAME --scope SCOPE [--scope SCOPE…] [--expires-at TIME]
  marbelle api-key list
  marbelle api-key revoke ID

API keys let the shop's other services (checkout, order system) call the admin
routes their scopes cover, with "Authorization: Bearer mbk_…". Scopes:
users:read, users:write, addresses:read, sessions:introspect, webhooks:manage.
These commands work on a stopped store; while the server runs, use the admin
pages or /api/v1/admin/api-keys. See docs/api.md.`

// apiKey runs `marbelle api-key create|list|revoke`.
func apiKey(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return storeCommand{
		name: "api-key", help: keyCommandHelp, add: "create", list: "list", remove: "revoke", removeWhat: "key ID",
		addFlags: func(fs *flag.FlagSet) addFunc {
			name := fs.String("name", "", "what the key is for, e.g. checkout (required)")
			var scopes listFlag
			fs.Var(&scopes, "scope", "a scope the key holds; repeat it, or separate scopes with commas (at least one)")
			expiresAt := fs.String("expires-at", "", "when the key stops working, RFC 3339 (default: never)")
			return func(dataDir string, log *slog.Logger) (string, string, error) {
				return app.APIKeyCreate(app.APIKeyCreateInput{DataDir: dataDir, Name: *name, Scopes: scopes, ExpiresAt: *expiresAt, Log: log})
			}
		},
		runList: app.APIKeyList, runRemove: app.APIKeyRevoke,
	}.run(args, getenv, stdout, stderr)
}

// listFlag is a flag that may be given more than once, each time with one
// value or several separated by commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// readPassword reads from stdin (--password-stdin) or prompts on the
// terminal without echo, twice.
func readPassword(fromStdin bool, stdin io.Reader, stderr io.Writer) (string, error) {
	if fromStdin {
		return app.ReadPasswordLine(stdin)
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to prompt on: use --password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	first, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Password again: ")
	second, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords do not match")
	}
	return string(first), nil
}

func check(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dataDir := dataDirFlags("check", "Usage: marbelle check [--data-dir DIR]\n\nOpens the store read-only and verifies every invariant and index; exits 1 naming each fault.", getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	faults, err := app.Check(filepath.Join(*dataDir, app.StoreFile))
	if err != nil {
		return err
	}
	for _, f := range faults {
		fmt.Fprintln(stdout, "fault:", f)
	}
	if len(faults) > 0 {
		return fmt.Errorf("check: %d faults", len(faults))
	}
	fmt.Fprintln(stdout, "ok: every invariant and index holds")
	return nil
}

func backup(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dataDir := dataDirFlags("backup", "Usage: marbelle backup [--data-dir DIR] FILE\n\nWrites a consistent copy of a stopped store to FILE. While a server runs, use GET /api/v1/admin/backup.", getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("backup: name one FILE")}
	}
	n, err := app.BackupFile(*dataDir, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, fs.Arg(0))
	return nil
}

const importUsage = "Usage: marbelle import django FILE [--dry-run] [--data-dir DIR]"

// importDjango runs `marbelle import django FILE`. Flags may come before or
// after FILE. The report goes to stdout; skipped records do not make it
// fail (exit 0 once the file was read).
func importDjango(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dataDir := dataDirFlags("import django", fmt.Sprintf("%s\n\nImports the users and addresses of FILE, the output of Django's \"manage.py dumpdata users\",\ninto a stopped store, and prints one line per record skipped or repaired, then the counts.\nRunning it again imports only what is new. National phone numbers of users are read in\nMARBELLE_DEFAULT_REGION (default %s). See docs/migrating-from-django.md.", importUsage, app.SettingDefault("MARBELLE_DEFAULT_REGION")), getenv, stderr)
	dryRun := fs.Bool("dry-run", false, "do all the work and print the report, writing nothing")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &exitError{code: 2, err: err}
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("import django: name one FILE")}
	}
	cfg, err := app.LoadSettings(getenv, "MARBELLE_DEFAULT_REGION")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	report, err := app.ImportDjango(ctx, app.ImportDjangoInput{DataDir: *dataDir, File: files[0], DryRun: *dryRun, DefaultRegion: cfg.DefaultRegion, Log: cliLogger(stderr)})
	if report != nil {
		fmt.Fprint(stdout, report)
	}
	return err
}
