//go:build ignore

// genfixture writes one store fixture through the store API of the commit
// it is built in, so that the file is exactly what that version's code
// wrote. It is not built with the package: copy it into a throwaway
// worktree of the old commit and run it there (see README.md):
//
//	git worktree add /tmp/fx <commit>
//	cp store/testdata/genfixture.go /tmp/fx/
//	(cd /tmp/fx && go run genfixture.go /tmp/out.db)
//	cp /tmp/out.db store/testdata/<name>.db
//	git worktree remove /tmp/fx
//
// Every id, time and token is fixed, so fixture_test.go knows each value.
// The store API changed little between versions; where it did (the result
// of CreateAddress; fields that came later: User.KnownDevices,
// MustResetPassword, SecurityStamp and Frozen, Token.Action, OldEmail and
// PasswordHash) it is reached by reflection, and what the version lacks
// (those fields, undo tokens) is left out.
package main

import (
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func id(n int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("0193a000-0000-7000-8000-%012x", n)) }

// set sets a field that this version's type may not have.
func set(ptr any, field string, value any) {
	if f := reflect.ValueOf(ptr).Elem().FieldByName(field); f.IsValid() {
		f.Set(reflect.ValueOf(value).Convert(f.Type()))
	}
}

// call calls a method whose results changed between versions and returns
// its last result, the error.
func call(recv any, method string, args ...any) error {
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = reflect.ValueOf(a)
	}
	out := reflect.ValueOf(recv).MethodByName(method).Call(in)
	err, _ := out[len(out)-1].Interface().(error)
	return err
}

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path string) error {
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	const hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"
	ann := &store.User{ID: id(1), Email: "Ann@Example.test", FirstName: "Ann", LastName: "Lée", Phone: "+4930123456",
		CompanyName: "Lee & Co", PasswordHash: hash, EmailVerified: true, Active: true, DateJoined: t0,
		LastLoginAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
	set(ann, "KnownDevices", []string{"dev-a", "dev-b"})
	set(ann, "SecurityStamp", uint64(5))
	bob := &store.User{ID: id(2), Email: "bob@example.test", FirstName: "Bob", PasswordHash: hash, Active: true,
		DateJoined: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}
	staff := &store.User{ID: id(3), Email: "staff@example.test", FirstName: "Sam", LastName: "Staff", PasswordHash: hash,
		EmailVerified: true, Active: true, Staff: true, DateJoined: t0.Add(2 * time.Minute), UpdatedAt: t0.Add(2 * time.Minute)}
	// Decomposed ü and a Unicode domain: schema 3 keys it as NFC and punycode.
	idn := &store.User{ID: id(4), Email: "Ju\u0308rgen@Bücher.example", FirstName: "Jürgen", PasswordHash: hash,
		EmailVerified: true, Active: true, DateJoined: t0.Add(3 * time.Minute), UpdatedAt: t0.Add(3 * time.Minute)}
	set(idn, "MustResetPassword", true)
	set(idn, "Frozen", true)
	return db.Update(func(tx *store.Tx) error {
		for _, u := range []*store.User{ann, bob, staff, idn} {
			if err := tx.CreateUser(u); err != nil {
				return fmt.Errorf("user %s: %w", u.Email, err)
			}
		}
		home := &store.Address{ID: id(11), UserID: ann.ID, Label: "Home", FirstName: "Ann", LastName: "Lée",
			StreetAddress: "Hauptstr. 1", City: "Berlin", Region: "BE", PostalCode: "10115", Country: "DE", CreatedAt: t0, UpdatedAt: t0}
		work := &store.Address{ID: id(12), UserID: ann.ID, Label: "Work", Company: "Lee & Co", StreetAddress: "Allee 2",
			StreetAddress2: "4. OG", City: "Berlin", PostalCode: "10117", Country: "DE", Phone: "+4930999999",
			CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}
		// The second is made primary when it is added.
		if err := call(tx, "CreateAddress", home, false); err != nil {
			return err
		}
		if err := call(tx, "CreateAddress", work, true); err != nil {
			return err
		}
		annSession := &store.Session{ID: id(21), UserID: ann.ID, CreatedAt: t0, LastSeenAt: t0.Add(time.Hour),
			ExpiresAt: t0.Add(30 * 24 * time.Hour), IdleUntil: t0.Add(49 * time.Hour), IP: "192.0.2.1", UserAgent: "Mozilla/5.0"}
		staffSession := &store.Session{ID: id(22), UserID: staff.ID, Staff: true, CreatedAt: t0,
			LastSeenAt: t0, ExpiresAt: t0.Add(12 * time.Hour), IdleUntil: t0.Add(time.Hour), IP: "2001:db8::1", UserAgent: "curl/8"}
		// Sign-in methods came with schema 4; older ones migrate to these.
		for _, s := range []*store.Session{annSession, staffSession} {
			set(s, "Methods", []string{"password"})
			set(s, "AAL", 1)
		}
		if err := tx.CreateSession("session-ann", annSession); err != nil {
			return err
		}
		if err := tx.CreateSession("session-staff", staffSession); err != nil {
			return err
		}
		at := t0.Add(2 * time.Hour)
		type token struct {
			raw              string
			t                store.Token
			action, oldEmail string
		}
		tokens := []token{
			{raw: "verify-bob-1", t: store.Token{Kind: store.TokenVerifyEmail, UserID: bob.ID}}, // voided by the next
			{raw: "verify-bob-2", t: store.Token{Kind: store.TokenVerifyEmail, UserID: bob.ID}},
			{raw: "reset-ann-1", t: store.Token{Kind: store.TokenPasswordReset, UserID: ann.ID}}, // spent below
			{raw: "change-ann-1", t: store.Token{Kind: store.TokenEmailChange, UserID: ann.ID, NewEmail: "ann.new@example.test"}},
			{raw: "reset-staff-1", t: store.Token{Kind: store.TokenPasswordReset, UserID: staff.ID}},
		}
		if undo := store.TokenKind(4); undo.String() == "undo" { // undo links came after schema 1's first code
			tokens = append(tokens,
				token{raw: "undo-ann-1", t: store.Token{Kind: undo, UserID: ann.ID}, action: "password_change"},
				token{raw: "undo-ann-2", t: store.Token{Kind: undo, UserID: ann.ID}, action: "email_change", oldEmail: "ann.old@example.test"}, // spent below
			)
		}
		for i, tk := range tokens {
			if tk.action != "" {
				set(&tk.t, "Action", tk.action)
				set(&tk.t, "OldEmail", tk.oldEmail)
			}
			tk.t.CreatedAt = at.Add(time.Duration(i) * time.Second)
			tk.t.ExpiresAt = tk.t.CreatedAt.Add(24 * time.Hour)
			if tk.t.Kind == store.TokenVerifyEmail {
				set(&tk.t, "PasswordHash", hash)
			}
			if err := tx.IssueToken(tk.raw, &tk.t); err != nil {
				return fmt.Errorf("token %s: %w", tk.raw, err)
			}
		}
		spent := at.Add(time.Minute)
		if _, err := tx.SpendToken(store.TokenPasswordReset, "reset-ann-1", spent); err != nil {
			return err
		}
		if store.TokenKind(4).String() == "undo" {
			if _, err := tx.SpendToken(4, "undo-ann-2", spent); err != nil {
				return err
			}
		}
		mails := []*store.Mail{
			{ID: id(31), UserID: bob.ID, Kind: "verify_email", From: "noreply@example.test", To: bob.Email, Subject: "Confirm your email",
				Sealed: []byte("sealed-queued"), NextAttemptAt: at, CreatedAt: at},
			{ID: id(32), UserID: ann.ID, Kind: "password_reset", From: "noreply@example.test", To: ann.Email, Subject: "Reset your password",
				Sealed: []byte("sealed-sent"), NextAttemptAt: at, CreatedAt: at},
			{ID: id(33), Kind: "notice", From: "noreply@example.test", To: "nobody@example.test", Subject: "Failed",
				Sealed: []byte("sealed-failed"), NextAttemptAt: at, CreatedAt: at},
		}
		for _, m := range mails {
			if err := tx.QueueMail(m); err != nil {
				return err
			}
		}
		if err := tx.MarkMailSent(id(32), at.Add(time.Second)); err != nil {
			return err
		}
		if err := tx.FailMail(id(33), 5, "550 no such user"); err != nil {
			return err
		}
		events := []*store.Event{
			{ID: id(41), At: t0, Event: "register", UserID: ann.ID, Email: ann.Email, IP: "192.0.2.1", UserAgent: "Mozilla/5.0"},
			{ID: id(42), At: t0.Add(time.Hour), Event: "login", UserID: ann.ID, Email: ann.Email, IP: "192.0.2.1", Detail: map[string]string{"aal": "1"}},
			{ID: id(43), At: t0.Add(time.Hour), Event: "login_failed", Email: "ghost@example.test", IP: "198.51.100.7"},
			{ID: id(44), At: t0.Add(2 * time.Minute), Event: "register", UserID: staff.ID, Email: staff.Email},
		}
		for _, e := range events {
			if err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
}
