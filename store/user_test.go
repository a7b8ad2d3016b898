package store_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

func TestCreateUserNormalisesEmailTrimAndLower(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "  Alice.Smith@Example.COM \t")
	const want = "alice.smith@example.com"
	if u.Email != want {
		t.Fatalf("CreateUser set u.Email = %q, want %q", u.Email, want)
	}
	got, err := getUser(t, db, u.ID)
	if err != nil {
		t.Fatalf("User: got %v, want nil", err)
	}
	if got.Email != want {
		t.Fatalf("stored Email: got %q, want %q", got.Email, want)
	}
	if got.FirstName != "First" || !got.Active || !got.DateJoined.Equal(t0) {
		t.Fatalf("stored user: got %+v, want the fields given to CreateUser", got)
	}
	if n := store.NormalizeEmail(" X@Y.Z "); n != "x@y.z" {
		t.Fatalf("NormalizeEmail: got %q, want %q", n, "x@y.z")
	}
}

func TestCreateUserSameEmailOtherCaseOrSpacingReturnsErrEmailTaken(t *testing.T) {
	db := mustOpen(t)
	first := mustCreateUser(t, db, "bob@example.com")
	for _, email := range []string{"bob@example.com", "BOB@example.com", "  Bob@Example.Com", "bob@EXAMPLE.com\n"} {
		dup := &store.User{ID: store.NewID(), Email: email}
		err := db.Update(func(tx *store.Tx) error { return tx.CreateUser(dup) })
		if !errors.Is(err, store.ErrEmailTaken) {
			t.Fatalf("CreateUser(%q): got %v, want ErrEmailTaken", email, err)
		}
		if _, err := getUser(t, db, dup.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("User(rejected duplicate %q): got %v, want ErrNotFound", email, err)
		}
	}
	// Committing the transaction despite the error must not store the
	// rejected user either: CreateUser checks before it writes.
	dup := &store.User{ID: store.NewID(), Email: "BOB@example.com"}
	var createErr error
	mustUpdate(t, db, func(tx *store.Tx) error {
		createErr = tx.CreateUser(dup)
		return nil
	})
	if !errors.Is(createErr, store.ErrEmailTaken) {
		t.Fatalf("CreateUser(duplicate, committed tx): got %v, want ErrEmailTaken", createErr)
	}
	if _, err := getUser(t, db, dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User(duplicate from committed tx): got %v, want ErrNotFound", err)
	}
	mustView(t, db, func(tx *store.Tx) error {
		got, err := tx.UserByEmail("bob@example.com")
		if err != nil || got.ID != first.ID {
			t.Fatalf("UserByEmail after duplicates: got %v, %v, want id %v", got, err, first.ID)
		}
		return nil
	})
}

func TestUserByEmailFindsByAnyCaseAndSpacing(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "Carol@Example.com")
	mustView(t, db, func(tx *store.Tx) error {
		for _, email := range []string{"carol@example.com", "CAROL@EXAMPLE.COM", "  cArOl@eXaMpLe.CoM  "} {
			got, err := tx.UserByEmail(email)
			if err != nil {
				t.Fatalf("UserByEmail(%q): got %v, want nil", email, err)
			}
			if got.ID != u.ID {
				t.Fatalf("UserByEmail(%q): got id %v, want %v", email, got.ID, u.ID)
			}
		}
		if _, err := tx.UserByEmail("dave@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByEmail(unknown): got %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestPutUserNeverChangesEmailButWritesOtherFields(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "erin@example.com")
	other := mustCreateUser(t, db, "frank@example.com")

	for _, email := range []string{"hijack@example.com", other.Email, "", "ERIN2@example.com"} {
		changed := *u
		changed.Email = email
		changed.FirstName = "Renamed " + email
		mustUpdate(t, db, func(tx *store.Tx) error { return tx.PutUser(&changed) })
		if changed.Email != u.Email {
			t.Fatalf("PutUser left u.Email = %q, want it reset to %q", changed.Email, u.Email)
		}
		got, err := getUser(t, db, u.ID)
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		if got.Email != u.Email {
			t.Fatalf("after PutUser with Email %q: stored Email %q, want %q", email, got.Email, u.Email)
		}
		if got.FirstName != changed.FirstName {
			t.Fatalf("after PutUser: FirstName %q, want %q", got.FirstName, changed.FirstName)
		}
	}
	mustView(t, db, func(tx *store.Tx) error {
		if _, err := tx.UserByEmail("hijack@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByEmail(email given to PutUser): got %v, want ErrNotFound", err)
		}
		if got, err := tx.UserByEmail(other.Email); err != nil || got.ID != other.ID {
			t.Fatalf("UserByEmail(other's email): got %v, %v, want id %v", got, err, other.ID)
		}
		if got, err := tx.UserByEmail(u.Email); err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail(own email): got %v, %v, want id %v", got, err, u.ID)
		}
		return nil
	})

	missing := &store.User{ID: store.NewID(), Email: "ghost@example.com"}
	err := db.Update(func(tx *store.Tx) error { return tx.PutUser(missing) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutUser(unknown id): got %v, want ErrNotFound", err)
	}
}

func TestChangeEmailMovesIndexOldEmailNoLongerFinds(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "old@example.com")
	at := t0.Add(time.Hour)
	mustUpdate(t, db, func(tx *store.Tx) error {
		got, err := tx.ChangeEmail(u.ID, "  New@Example.com ", at)
		if err != nil {
			return err
		}
		if got.Email != "new@example.com" {
			t.Fatalf("ChangeEmail returned Email %q, want %q", got.Email, "new@example.com")
		}
		return nil
	})
	mustView(t, db, func(tx *store.Tx) error {
		if _, err := tx.UserByEmail("old@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByEmail(old): got %v, want ErrNotFound", err)
		}
		got, err := tx.UserByEmail("NEW@example.com")
		if err != nil {
			t.Fatalf("UserByEmail(new): got %v, want nil", err)
		}
		if got.ID != u.ID || got.Email != "new@example.com" {
			t.Fatalf("UserByEmail(new): got id %v email %q, want id %v email %q", got.ID, got.Email, u.ID, "new@example.com")
		}
		if !got.UpdatedAt.Equal(at) {
			t.Fatalf("UpdatedAt: got %v, want %v", got.UpdatedAt, at)
		}
		return nil
	})
	// The old email is free again.
	mustCreateUser(t, db, "old@example.com")

	err := db.Update(func(tx *store.Tx) error {
		_, err := tx.ChangeEmail(store.NewID(), "nobody@example.com", at)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ChangeEmail(unknown id): got %v, want ErrNotFound", err)
	}
}

func TestChangeEmailToOwnEmailInOtherCaseIsANoop(t *testing.T) {
	db := mustOpen(t)
	u := mustCreateUser(t, db, "same@example.com")
	mustUpdate(t, db, func(tx *store.Tx) error {
		got, err := tx.ChangeEmail(u.ID, "SAME@example.com", t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("ChangeEmail(own email): got %v, want nil", err)
		}
		if got.Email != "same@example.com" {
			t.Fatalf("ChangeEmail(own email): Email %q, want %q", got.Email, "same@example.com")
		}
		return nil
	})
	mustView(t, db, func(tx *store.Tx) error {
		if got, err := tx.UserByEmail("same@example.com"); err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail after no-op change: got %v, %v, want id %v", got, err, u.ID)
		}
		return nil
	})
}

func TestChangeEmailToAnotherUsersEmailReturnsErrEmailTakenAndChangesNothing(t *testing.T) {
	db := mustOpen(t)
	a := mustCreateUser(t, db, "a@example.com")
	b := mustCreateUser(t, db, "b@example.com")
	beforeA, _ := getUser(t, db, a.ID)
	beforeB, _ := getUser(t, db, b.ID)

	// Commit the transaction even though ChangeEmail failed: a partial
	// write by ChangeEmail itself would then show.
	var changeErr error
	mustUpdate(t, db, func(tx *store.Tx) error {
		_, changeErr = tx.ChangeEmail(a.ID, " B@EXAMPLE.COM ", t0.Add(time.Hour))
		return nil
	})
	if !errors.Is(changeErr, store.ErrEmailTaken) {
		t.Fatalf("ChangeEmail to b's email: got %v, want ErrEmailTaken", changeErr)
	}

	afterA, err := getUser(t, db, a.ID)
	if err != nil {
		t.Fatalf("User(a): %v", err)
	}
	afterB, err := getUser(t, db, b.ID)
	if err != nil {
		t.Fatalf("User(b): %v", err)
	}
	if !reflect.DeepEqual(afterA, beforeA) {
		t.Fatalf("user a: got %+v, want unchanged %+v", afterA, beforeA)
	}
	if !reflect.DeepEqual(afterB, beforeB) {
		t.Fatalf("user b: got %+v, want unchanged %+v", afterB, beforeB)
	}
	mustView(t, db, func(tx *store.Tx) error {
		if got, err := tx.UserByEmail("a@example.com"); err != nil || got.ID != a.ID {
			t.Fatalf("UserByEmail(a): got %v, %v, want id %v", got, err, a.ID)
		}
		if got, err := tx.UserByEmail("b@example.com"); err != nil || got.ID != b.ID {
			t.Fatalf("UserByEmail(b): got %v, %v, want id %v", got, err, b.ID)
		}
		return nil
	})
}

// userFixture is a user with two sessions and two tokens of different kinds.
type userFixture struct {
	user     *store.User
	sessions []string // secrets
	tokens   map[store.TokenKind]string
}

func newUserFixture(tb testing.TB, db *store.DB, email string) userFixture {
	tb.Helper()
	f := userFixture{user: mustCreateUser(tb, db, email), tokens: map[store.TokenKind]string{}}
	for i := 0; i < 2; i++ {
		secret := randomSecret(tb)
		s := &store.Session{
			ID: store.NewID(), UserID: f.user.ID, CreatedAt: t0, LastSeenAt: t0,
			ExpiresAt: t0.Add(24 * time.Hour), IdleUntil: t0.Add(time.Duration(i+1) * time.Hour),
		}
		mustUpdate(tb, db, func(tx *store.Tx) error { return tx.CreateSession(secret, s) })
		f.sessions = append(f.sessions, secret)
	}
	for _, kind := range []store.TokenKind{store.TokenVerifyEmail, store.TokenPasswordReset} {
		raw := randomSecret(tb)
		tok := &store.Token{Kind: kind, UserID: f.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		mustUpdate(tb, db, func(tx *store.Tx) error { return tx.IssueToken(raw, tok) })
		f.tokens[kind] = raw
	}
	return f
}

func TestDeleteUserRemovesUserEmailSessionsTokensAndIndexesButNotOtherUsers(t *testing.T) {
	db := mustOpen(t)
	path := db.Path()
	gone := newUserFixture(t, db, "gone@example.com")
	kept := newUserFixture(t, db, "kept@example.com")
	now := t0.Add(time.Minute)

	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(gone.user.ID) })

	mustView(t, db, func(tx *store.Tx) error {
		if _, err := tx.User(gone.user.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("User(deleted): got %v, want ErrNotFound", err)
		}
		if _, err := tx.UserByEmail("gone@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByEmail(deleted): got %v, want ErrNotFound", err)
		}
		if ss, err := tx.UserSessions(gone.user.ID); err != nil || len(ss) != 0 {
			t.Fatalf("UserSessions(deleted): got %d sessions, %v, want 0, nil", len(ss), err)
		}
		if n := tx.CountUserSessions(gone.user.ID); n != 0 {
			t.Fatalf("CountUserSessions(deleted): got %d, want 0", n)
		}
		for _, secret := range gone.sessions {
			if _, err := tx.SessionBySecret(secret); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("SessionBySecret(deleted user's): got %v, want ErrNotFound", err)
			}
		}
		for kind, raw := range gone.tokens {
			if _, err := tx.ValidToken(kind, raw, now); !errors.Is(err, store.ErrTokenInvalid) {
				t.Fatalf("ValidToken(deleted user's %v): got %v, want ErrTokenInvalid", kind, err)
			}
		}
		if toks, err := tx.UserTokens(gone.user.ID); err != nil || len(toks) != 0 {
			t.Fatalf("UserTokens(deleted): got %d tokens, %v, want 0, nil", len(toks), err)
		}

		// The other user is untouched.
		if got, err := tx.UserByEmail("kept@example.com"); err != nil || got.ID != kept.user.ID {
			t.Fatalf("UserByEmail(kept): got %v, %v, want id %v", got, err, kept.user.ID)
		}
		if ss, err := tx.UserSessions(kept.user.ID); err != nil || len(ss) != 2 {
			t.Fatalf("UserSessions(kept): got %d, %v, want 2, nil", len(ss), err)
		}
		if n := tx.CountUserSessions(kept.user.ID); n != 2 {
			t.Fatalf("CountUserSessions(kept): got %d, want 2", n)
		}
		for _, secret := range kept.sessions {
			if s, err := tx.SessionBySecret(secret); err != nil || s.UserID != kept.user.ID {
				t.Fatalf("SessionBySecret(kept): got %v, %v, want kept user's session", s, err)
			}
		}
		for kind, raw := range kept.tokens {
			if _, err := tx.ValidToken(kind, raw, now); err != nil {
				t.Fatalf("ValidToken(kept %v): got %v, want nil", kind, err)
			}
		}
		if toks, err := tx.UserTokens(kept.user.ID); err != nil || len(toks) != 2 {
			t.Fatalf("UserTokens(kept): got %d, %v, want 2, nil", len(toks), err)
		}
		return nil
	})

	err := db.Update(func(tx *store.Tx) error { return tx.DeleteUser(gone.user.ID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteUser twice: got %v, want ErrNotFound", err)
	}
	// The email index entry is gone: the email can be registered again.
	mustCreateUser(t, db, "GONE@example.com")
	mustClose(t, db)

	// The index buckets documented in schema.go hold nothing of the deleted
	// user and everything of the kept one.
	checkUserIndexes(t, path, gone, false)
	checkUserIndexes(t, path, kept, true)
	if keys := rawKeys(t, path, "users_by_email"); countKeys(keys, []byte("kept@example.com"), bytes.Contains) != 1 {
		t.Fatalf("users_by_email: got %q, want an entry for kept@example.com", keys)
	}
}

// checkUserIndexes checks that the index buckets hold every entry of f's
// two sessions and two tokens (present) or none.
func checkUserIndexes(t *testing.T, path string, f userFixture, present bool) {
	t.Helper()
	want := 0
	if present {
		want = 1
	}
	if got := countKeys(rawKeys(t, path, "sessions_by_user"), f.user.ID[:], bytes.HasPrefix); got != 2*want {
		t.Fatalf("sessions_by_user entries of %s: got %d, want %d", f.user.Email, got, 2*want)
	}
	if got := countKeys(rawKeys(t, path, "tokens_by_user"), f.user.ID[:], bytes.HasPrefix); got != 2*want {
		t.Fatalf("tokens_by_user entries of %s: got %d, want %d", f.user.Email, got, 2*want)
	}
	for _, bucket := range []string{"sessions", "sessions_by_expiry"} {
		keys := rawKeys(t, path, bucket)
		for _, secret := range f.sessions {
			if got := countKeys(keys, store.HashSecret(secret), bytes.Contains); got != want {
				t.Fatalf("%s entries for a session of %s: got %d, want %d", bucket, f.user.Email, got, want)
			}
		}
	}
	for _, bucket := range []string{"tokens", "tokens_by_expiry"} {
		keys := rawKeys(t, path, bucket)
		for _, raw := range f.tokens {
			if got := countKeys(keys, store.HashSecret(raw), bytes.Contains); got != want {
				t.Fatalf("%s entries for a token of %s: got %d, want %d", bucket, f.user.Email, got, want)
			}
		}
	}
}

func TestDeleteUserUnknownIDReturnsErrNotFound(t *testing.T) {
	db := mustOpen(t)
	err := db.Update(func(tx *store.Tx) error { return tx.DeleteUser(uuid.New()) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteUser(unknown): got %v, want ErrNotFound", err)
	}
}
