package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// Scopes an API key may hold. A key may call exactly the admin routes its
// scopes cover (routes.go says which); no scope covers the account routes
// or the staff-only ones (backup, API keys, audit, outbox, dashboard).
const (
	scopeUsersRead      = "users:read"
	scopeUsersWrite     = "users:write"
	scopeAddressesRead  = "addresses:read"
	scopeIntrospect     = "sessions:introspect"
	scopeWebhooksManage = "webhooks:manage"
	// staffOnly is the scope of routes no key may call (requireStaff).
	staffOnly = ""
)

// scopeNames lists every scope, in the order they are shown.
func scopeNames() []string {
	return []string{scopeUsersRead, scopeUsersWrite, scopeAddressesRead, scopeIntrospect, scopeWebhooksManage}
}

// holdsScope reports whether a key with scopes may act under want.
// users:read covers addresses:read: a user's detail shows the addresses.
func holdsScope(scopes []string, want string) bool {
	if want == staffOnly {
		return false
	}
	return slices.Contains(scopes, want) || want == scopeAddressesRead && slices.Contains(scopes, scopeUsersRead)
}

// apiKeyPrefix starts every key, so that a key is told from a session
// token on sight and secret scanners can recognise a leaked one.
const apiKeyPrefix = "mbk_"

// newAPIKey returns a new random key: the prefix and a secret.
func newAPIKey() string { return apiKeyPrefix + newSecret() }

// wellFormedAPIKey reports whether k has the form newAPIKey makes, so
// that anything else is refused without hashing or reading the store.
func wellFormedAPIKey(k string) bool {
	return strings.HasPrefix(k, apiKeyPrefix) && secretForm(k[len(apiKeyPrefix):])
}

// secretForm reports whether s has the form newSecret makes: 43
// characters of base64url.
func secretForm(s string) bool { return len(s) == 43 && base64URL(s) }

// presentedAPIKey returns the key of an "Authorization: Bearer mbk_…"
// header; ok is false when the request presents no key (it may still
// carry a session). Two Authorization headers are no credential at all
// (headerCredential): which one counts would be a guess.
func presentedAPIKey(r *http.Request) (key string, ok bool) {
	kind, value, _ := headerCredential(r.Header)
	return value, kind == credAPIKey
}

// authenticateKey returns the usable key raw stands for, or errBadAPIKey.
// A malformed key costs nothing, any other one hash and one index read.
// The store is read on every request, with no cache: a revocation (a
// committed write) holds from the next request on.
func (s *Server) authenticateKey(raw string) (*store.APIKey, error) {
	if !wellFormedAPIKey(raw) {
		return nil, errBadAPIKey
	}
	hash := store.HashSecret(raw) // as CreateAPIKey keyed it
	now := s.now()
	var k *store.APIKey
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		k, err = tx.APIKeyByHash(hash)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadAPIKey
	}
	if err != nil {
		return nil, err
	}
	if !k.Usable(now) {
		return nil, errBadAPIKey
	}
	s.keyUses.note(k, now)
	return k, nil
}

// keyHandler is a handler for a service calling with an API key.
type keyHandler func(w http.ResponseWriter, r *http.Request, p httprouter.Params, k *store.APIKey) error

// requireKey adapts a handler for API keys holding scope, and nobody else:
// a session cookie never reaches it. No key, or an unknown, revoked,
// expired or malformed one, is 401; a key without the scope 403. The
// WWW-Authenticate header says which (RFC 6750 §3). State-changing
// requests count against the key's write limit, as a user's do.
func (s *Server) requireKey(scope string, h keyHandler) httprouter.Handle {
	return s.public(func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
		w.Header().Set("Cache-Control", "no-store")
		raw, ok := presentedAPIKey(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="marbelle"`)
			return errNoAPIKey
		}
		k, err := s.authenticateKey(raw)
		if errors.Is(err, errBadAPIKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="marbelle", error="invalid_token"`)
		}
		if err != nil {
			return err
		}
		if !holdsScope(k.Scopes, scope) {
			if scope == staffOnly {
				w.Header().Set("WWW-Authenticate", `Bearer realm="marbelle", error="insufficient_scope"`)
				return errKeyStaffOnly
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="marbelle", error="insufficient_scope", scope="`+scope+`"`)
			return errMissingScope(scope)
		}
		if unsafeMethod(r.Method) {
			if ok, retry := s.limits.userWrites.Allow("key|"+k.ID.String(), s.now()); !ok {
				return rateLimited(retry)
			}
		}
		return h(w, r, p, k)
	})
}

// requireScope adapts an admin handler for a staff session (as
// requireStaff) or for an API key holding scope. A request that presents a
// key is the key's alone, whatever cookie it also carries: one principal
// per request, so a key never borrows a session's rights nor a session a
// key's.
func (s *Server) requireScope(scope string, h adminHandler) httprouter.Handle {
	bySession := s.staffSession(h)
	byKey := s.requireKey(scope, func(w http.ResponseWriter, r *http.Request, p httprouter.Params, k *store.APIKey) error {
		return h(w, r, p, actor{key: k})
	})
	return func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		if _, ok := presentedAPIKey(r); ok {
			byKey(w, r, p)
			return
		}
		bySession(w, r, p)
	}
}

// keyUses remembers when each API key was last used, to the minute, until
// flushKeyUses writes them all in one commit: using a key costs no write
// of its own, and the store is written at most once a minute for all keys.
type keyUses struct {
	mu   sync.Mutex
	last map[uuid.UUID]time.Time
}

// note records a use of k at now. A key whose stored last use is already
// this minute needs nothing (and takes no lock).
func (u *keyUses) note(k *store.APIKey, now time.Time) {
	minute := now.UTC().Truncate(time.Minute)
	if !minute.After(k.LastUsedAt) {
		return
	}
	u.mu.Lock()
	if u.last == nil {
		u.last = map[uuid.UUID]time.Time{}
	}
	if minute.After(u.last[k.ID]) {
		u.last[k.ID] = minute
	}
	u.mu.Unlock()
}

// take returns the noted uses and forgets them.
func (u *keyUses) take() map[uuid.UUID]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.last
	u.last = nil
	return m
}

// putBack notes again uses that could not be written.
func (u *keyUses) putBack(m map[uuid.UUID]time.Time) {
	for id, at := range m {
		u.note(&store.APIKey{ID: id}, at)
	}
}

// pending is the noted, not yet written, last use of id (zero if none).
func (u *keyUses) pending(id uuid.UUID) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last[id]
}

// keyUseFlushInterval is how often noted key uses are written.
const keyUseFlushInterval = time.Minute

// runKeyUseFlush writes the noted key uses every keyUseFlushInterval until
// ctx ends, and once more then, so that a clean shutdown loses none.
func (s *Server) runKeyUseFlush(ctx context.Context) {
	t := time.NewTicker(keyUseFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushKeyUses(context.WithoutCancel(ctx))
			return
		case <-t.C:
			s.flushKeyUses(ctx)
		}
	}
}

// flushKeyUses writes every noted key use in one batched commit, or none
// when nothing was noted. Uses it could not write are noted again for the
// next flush.
func (s *Server) flushKeyUses(ctx context.Context) error {
	uses := s.keyUses.take()
	if len(uses) == 0 {
		return nil
	}
	err := s.db.Batch(func(tx *store.Tx) error { return tx.TouchAPIKeys(uses) })
	if err != nil {
		s.keyUses.putBack(uses)
		s.log.WarnContext(ctx, "recording API key uses failed; the next flush tries again", "keys", len(uses), "err", err)
	}
	return err
}

// apiKeyView is a key as the admin API and pages show it: never the key.
type apiKeyView struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func apiKeyViewOf(k *store.APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: optionalTime(k.ExpiresAt), RevokedAt: optionalTime(k.RevokedAt), LastUsedAt: optionalTime(k.LastUsedAt)}
}

// newAPIKeyView is the answer that creates a key: the only one that
// carries the key itself.
type newAPIKeyView struct {
	apiKeyView
	Key string `json:"key"`
}

// apiKeyInput is the body of POST /admin/api-keys, and what `marbelle
// api-key create` reads from its flags.
type apiKeyInput struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresAt string   `json:"expires_at"` // RFC 3339; "" or null: never
}

const maxAPIKeyNameLength = 100

// record checks in and returns the key to store (scopes deduplicated, in
// scopeNames order), or the faults by field. Unknown scopes are named.
func (in *apiKeyInput) record(now time.Time) (*store.APIKey, error) {
	errs := fieldErrors{}
	k := &store.APIKey{ID: store.NewID(), CreatedAt: now}
	k.Name = cleanText(errs, "name", in.Name, true, maxAPIKeyNameLength)
	var unknown []string
	for _, sc := range in.Scopes {
		if !slices.Contains(scopeNames(), sc) {
			unknown = append(unknown, strconv.Quote(truncateRunes(sc, 40)))
		}
	}
	for _, sc := range scopeNames() {
		if slices.Contains(in.Scopes, sc) {
			k.Scopes = append(k.Scopes, sc)
		}
	}
	switch {
	case len(unknown) > 0:
		errs.add("scopes", "Unknown scopes: "+strings.Join(unknown, ", ")+". Use "+strings.Join(scopeNames(), ", ")+".")
	case len(k.Scopes) == 0:
		errs.add("scopes", "Give the key at least one scope: "+strings.Join(scopeNames(), ", ")+".")
	}
	if v := strings.TrimSpace(in.ExpiresAt); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		switch {
		case err != nil:
			errs.add("expires_at", "Use an RFC 3339 time, such as 2027-01-31T00:00:00Z.")
		case !t.After(now):
			errs.add("expires_at", "Use a time in the future.")
		}
		k.ExpiresAt = t.UTC()
	}
	return k, errs.err()
}

// truncateRunes cuts s to at most n characters (not bytes).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// apiKeyDetail is what an audit event says about a key: its id, name and
// scopes, never the key.
func apiKeyDetail(k *store.APIKey, more map[string]string) map[string]string {
	d := map[string]string{"key_id": k.ID.String(), "key_name": k.Name, "scopes": strings.Join(k.Scopes, " ")}
	for name, v := range more {
		d[name] = v
	}
	return d
}

func (s *Server) handleAPIKeyList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	list, err := s.listAPIKeys()
	return answer(w, http.StatusOK, "API keys, newest first.", list, err)
}

// listAPIKeys returns every key, newest first, with the uses noted since
// the last flush, so that last_used_at is right to the minute.
func (s *Server) listAPIKeys() ([]apiKeyView, error) {
	var keys []store.APIKey
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		keys, err = tx.APIKeys()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]apiKeyView, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		k := &keys[i]
		if at := s.keyUses.pending(k.ID); at.After(k.LastUsedAt) {
			k.LastUsedAt = at
		}
		out = append(out, apiKeyViewOf(k))
	}
	return out, nil
}

func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	var in apiKeyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.createAPIKey(r.Context(), act, &in)
	return answer(w, http.StatusCreated, "The API key is made. Copy it now: it is shown only this once.", v, err)
}

// createAPIKey makes a key and records who made it. The key is in the
// answer only: the store keeps its hash, the audit its id and name.
func (s *Server) createAPIKey(ctx context.Context, act actor, in *apiKeyInput) (*newAPIKeyView, error) {
	k, err := in.record(s.now())
	if err != nil {
		return nil, err
	}
	key := newAPIKey()
	c := clientOf(ctx)
	err = s.update(ctx, func(t *txn) error {
		k.CreatedAt = t.now
		if err := t.CreateAPIKey(key, k); err != nil {
			return err
		}
		return t.audit("api_key_created", nil, "", c, actorDetail(act, apiKeyDetail(k, nil)))
	})
	if err != nil {
		return nil, err
	}
	return &newAPIKeyView{apiKeyView: apiKeyViewOf(k), Key: key}, nil
}

func (s *Server) handleAPIKeyRevoke(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	v, err := s.revokeAPIKey(r.Context(), act, id)
	return answer(w, http.StatusOK, "The API key is revoked: it is refused from now on.", v, err)
}

// revokeAPIKey revokes a key; revoking a revoked key changes nothing.
// The lookup reads the store on every request, so the key's next request
// is refused. Errors: store.ErrNotFound.
func (s *Server) revokeAPIKey(ctx context.Context, act actor, id uuid.UUID) (*apiKeyView, error) {
	c := clientOf(ctx)
	var v apiKeyView
	err := s.update(ctx, func(t *txn) error {
		k, err := t.APIKey(id)
		if err != nil {
			return err
		}
		if k.RevokedAt.IsZero() {
			if k, err = t.RevokeAPIKey(id, t.now); err != nil {
				return err
			}
			if err := t.audit("api_key_revoked", nil, "", c, actorDetail(act, apiKeyDetail(k, nil))); err != nil {
				return err
			}
		}
		v = apiKeyViewOf(k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// The command line: `marbelle api-key create|list|revoke` work on a
// stopped store, as `admin create` does; while a server runs, the admin
// API and pages do the same.

// openKeyStore opens a data dir's store for an api-key command.
func openKeyStore(dataDir, cmd string, log *slog.Logger) (*store.DB, error) {
	return openStopped(dataDir, log, errStoreHeldUse("api-key "+cmd, "API keys", "/api/v1/admin/api-keys"))
}

// APIKeyCreateInput is what `marbelle api-key create` needs.
type APIKeyCreateInput struct {
	DataDir   string
	Name      string
	Scopes    []string
	ExpiresAt string       // RFC 3339, or "" for never
	Log       *slog.Logger // takes the store's migration warnings; nil drops them
}

// APIKeyCreate makes a key on a stopped store. It returns the key, to be
// shown this once, and a line saying what was made.
func APIKeyCreate(in APIKeyCreateInput) (key, summary string, err error) {
	now := time.Now()
	k, err := (&apiKeyInput{Name: in.Name, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt}).record(now)
	if err != nil {
		return "", "", cliFieldError(err)
	}
	db, err := openKeyStore(in.DataDir, "create", in.Log)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	key = newAPIKey()
	err = db.Update(func(tx *store.Tx) error {
		if err := tx.CreateAPIKey(key, k); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: now.UTC(), Event: "api_key_created", Detail: apiKeyDetail(k, map[string]string{"actor": "cli"})})
	})
	if err != nil {
		return "", "", err
	}
	expires := ""
	if !k.ExpiresAt.IsZero() {
		expires = ", expiring " + k.ExpiresAt.Format(time.RFC3339)
	}
	return key, fmt.Sprintf("Made API key %q (%s) with scopes %s%s.\nThe key is shown only this once, and Marbelle keeps only its hash: store it now.\n", k.Name, k.ID, strings.Join(k.Scopes, ", "), expires), nil
}

// cliFieldError words apiKeyInput.record's faults for the command line.
func cliFieldError(err error) error {
	return cliFlagError(err, fieldFlag{"expires_at", "--expires-at"}, fieldFlag{"name", "--name"}, fieldFlag{"scopes", "--scope"})
}

// APIKeyList lists a stopped store's keys, newest first, as a table.
func APIKeyList(dataDir string, log *slog.Logger) (string, error) {
	db, err := openKeyStore(dataDir, "list", log)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var keys []store.APIKey
	if err := db.View(func(tx *store.Tx) error { keys, err = tx.APIKeys(); return err }); err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "No API keys. Make one with: marbelle api-key create --name NAME --scope SCOPE\n", nil
	}
	minute := func(t time.Time, zero string) string {
		if t.IsZero() {
			return zero
		}
		return t.UTC().Format("2006-01-02 15:04Z")
	}
	now := time.Now()
	rows := make([][]string, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		k := &keys[i]
		state := "active"
		switch {
		case !k.RevokedAt.IsZero():
			state = "revoked " + minute(k.RevokedAt, "")
		case !k.Usable(now):
			state = "expired"
		}
		rows = append(rows, []string{k.ID.String(), strconv.Quote(k.Name), strings.Join(k.Scopes, ","),
			minute(k.CreatedAt, "—"), minute(k.ExpiresAt, "never"), minute(k.LastUsedAt, "never"), state})
	}
	return cliTable("ID\tNAME\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATE", rows), nil
}

// APIKeyRevoke revokes a key of a stopped store by its id.
func APIKeyRevoke(dataDir, rawID string, log *slog.Logger) (string, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return "", fmt.Errorf("%q is not a key id (a UUID, as `marbelle api-key list` shows)", rawID)
	}
	db, err := openKeyStore(dataDir, "revoke", log)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var k *store.APIKey
	already := false
	err = db.Update(func(tx *store.Tx) error {
		if k, err = tx.APIKey(id); err != nil {
			return err
		}
		if already = !k.RevokedAt.IsZero(); already {
			return nil
		}
		now := time.Now()
		if k, err = tx.RevokeAPIKey(id, now); err != nil {
			return err
		}
		return tx.AppendAudit(&store.Event{At: now.UTC(), Event: "api_key_revoked", Detail: apiKeyDetail(k, map[string]string{"actor": "cli"})})
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("there is no API key %s", id)
	}
	if err != nil {
		return "", err
	}
	if already {
		return fmt.Sprintf("API key %q (%s) was already revoked on %s.\n", k.Name, k.ID, k.RevokedAt.UTC().Format(time.RFC3339)), nil
	}
	return fmt.Sprintf("Revoked API key %q (%s).\n", k.Name, k.ID), nil
}
