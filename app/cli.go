package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/store"
)

// errStoreHeld explains what to do when a server holds the store.
func errStoreHeld(what string) error {
	return fmt.Errorf("the store is in use by a running server, so %s cannot open it; stop the server first (or, for a backup, use GET /api/v1/admin/backup as staff while it runs)", what)
}

// errStoreHeldUse is errStoreHeld for a command (such as "api-key list")
// whose work the admin pages (Admin → page) and API (route) do too.
func errStoreHeldUse(command, page, route string) error {
	return fmt.Errorf("the store is in use by a running server, so %s cannot open it; stop the server first, or use the admin pages (Admin → %s) or %s while it runs", command, page, route)
}

// openStopped opens a data dir's store for a command that writes it;
// while a server holds the store, the error is held.
func openStopped(dataDir string, log *slog.Logger, held error) (*store.DB, error) {
	db, err := openStore(dataDir, false, log)
	if errors.Is(err, store.ErrInUse) {
		return nil, held
	}
	return db, err
}

// fieldFlag names the command-line flag that gives a JSON field.
type fieldFlag struct{ field, flag string }

// cliFlagError words validation faults for the command line, naming the
// flags rather than the JSON fields, in the order of flags (which name
// every field the check can fault).
func cliFlagError(err error, flags ...fieldFlag) error {
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	var lines []string
	for _, f := range flags {
		for _, msg := range e.Fields[f.field] {
			lines = append(lines, f.flag+": "+msg)
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// cliTable lays out a list command's rows under header (cells separated
// by tabs) in aligned columns.
func cliTable(header string, rows [][]string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return b.String()
}

// AdminCreateInput is what `marbelle admin create` needs.
type AdminCreateInput struct {
	DataDir   string
	Email     string
	Password  string
	Promote   bool // make an existing account staff instead of failing
	Hash      password.Params
	MinLength int
	Log       *slog.Logger // takes the store's migration warnings; nil drops them
}

// AdminCreate makes a verified, active staff account, or with Promote
// makes an existing one staff (ending its sessions, whose lifetimes follow
// the role). It works on a stopped store only: when a server holds the
// store it says so within the open timeout and changes nothing.
func AdminCreate(ctx context.Context, in AdminCreateInput) (string, error) {
	email, msg := normalizeEmail(in.Email)
	if msg != "" {
		return "", fmt.Errorf("--email: %s", msg)
	}
	db, err := openStopped(in.DataDir, in.Log, errStoreHeld("admin create"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var existing *store.User
	err = db.View(func(tx *store.Tx) error {
		u, err := tx.UserByEmail(email)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		existing = u
		return err
	})
	if err != nil {
		return "", err
	}
	if existing != nil && !in.Promote {
		return "", fmt.Errorf("%s already has an account; add --promote to make it staff", email)
	}
	if existing != nil {
		if existing.Staff {
			return fmt.Sprintf("%s is already staff.\n", email), nil
		}
		err := db.Update(func(tx *store.Tx) error {
			u, err := tx.User(existing.ID)
			if err != nil {
				return err
			}
			u.Staff, u.UpdatedAt = true, time.Now()
			if err := tx.PutUser(u); err != nil {
				return err
			}
			if _, err := tx.DeleteUserSessions(u.ID, nil); err != nil {
				return err
			}
			return tx.AppendAudit(&store.Event{At: time.Now().UTC(), Event: "staff_granted", UserID: u.ID, Email: u.Email, Detail: map[string]string{"actor": "cli"}})
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is now staff.\n", email) + staffMFANote, nil
	}
	if msgs := password.Check(in.Password, in.MinLength, email, "", ""); len(msgs) > 0 {
		return "", fmt.Errorf("password: %s", msgs[0])
	}
	h, err := password.NewHasher(in.Hash, 1, time.Minute)
	if err != nil {
		return "", err
	}
	hash, err := h.Hash(ctx, in.Password)
	if err != nil {
		return "", err
	}
	now := time.Now()
	u := &store.User{ID: store.NewID(), Email: email, PasswordHash: hash, EmailVerified: true, Active: true, Staff: true, DateJoined: now, UpdatedAt: now}
	err = db.Update(func(tx *store.Tx) error {
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: now.UTC(), Event: "staff_created", UserID: u.ID, Email: u.Email, Detail: map[string]string{"actor": "cli"}})
	})
	if errors.Is(err, store.ErrEmailTaken) {
		return "", fmt.Errorf("%s already has an account; add --promote to make it staff", email)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Created staff account %s (%s).\n", email, u.ID) + staffMFANote, nil
}

// staffMFANote tells a new staff member what MARBELLE_STAFF_MFA asks of
// them before the admin pages open.
const staffMFANote = `Staff need a second factor for the admin pages and API when MARBELLE_STAFF_MFA is
"required" (the default in production): log in, open Account > Security > Sign-in methods,
set up an authenticator app, then log out and log in again with its code. Until then every
admin route answers 403 mfa_required.
`

// PasswordMatches reports whether pw is the password a stored hash
// (store.User.PasswordHash) was made from, checked as a login checks it,
// for tools and tests that read a stopped store. Its one hashing slot
// holds a hash at production's floor, so checking such a hash allocates
// nothing.
func PasswordMatches(ctx context.Context, encoded, pw string) (bool, error) {
	h, err := password.NewHasher(password.Floor(), 1, time.Minute)
	if err != nil {
		return false, err
	}
	ok, _, err := h.Verify(ctx, encoded, pw)
	return ok, err
}

// Check opens the store read-only and returns every fault it finds.
func Check(path string) ([]string, error) {
	db, err := store.Open(path, store.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, store.ErrInUse) {
		return nil, errStoreHeld("check")
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var faults []string
	err = db.View(func(tx *store.Tx) error { faults = tx.Check(); return nil })
	return faults, err
}

// BackupFile writes a consistent copy of a stopped store to dst (through a
// temporary file, synced, then renamed, so dst is never half-written).
// While a server holds the store it changes nothing and points to the
// admin backup route.
func BackupFile(dataDir, dst string) (int64, error) {
	db, err := store.Open(filepath.Join(dataDir, StoreFile), store.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, store.ErrInUse) {
		return 0, errStoreHeld("backup")
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".marbelle-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := db.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	return n, nil
}

// readPasswordLine reads one line (without its newline) from r.
func readPasswordLine(r io.Reader) (string, error) {
	var b []byte
	buf := make([]byte, 1)
	for len(b) <= 4*password.MaxLength {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b = append(b, buf[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return string(b), nil
}

// ReadPasswordLine is readPasswordLine for the command line.
func ReadPasswordLine(r io.Reader) (string, error) { return readPasswordLine(r) }
