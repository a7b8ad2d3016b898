package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// adminHandler is a handler of an admin route, told who acts.
type adminHandler func(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error

// actor is who performs an admin action: a signed-in staff member or a
// service's API key. Exactly one of the two is set.
type actor struct {
	staff *auth
	key   *store.APIKey
}

// is reports whether the actor is the staff member with user id id. The
// rules that keep staff from locking themselves out apply to people: a
// key is nobody's account.
func (a actor) is(id uuid.UUID) bool { return a.staff != nil && a.staff.User.ID == id }

// requireStaff adapts a handler for staff sessions only: 401 without a
// session, 403 for customers. A request presenting an API key is the
// key's (requireScope): 401 for a bad key, 403 for a good one, since no
// scope covers these routes.
func (s *Server) requireStaff(h adminHandler) httprouter.Handle {
	return s.requireScope(staffOnly, h)
}

// staffSession adapts a handler for a staff member's session: 401 without
// a session, 403 for customers, and 403 mfa_required for a session
// without a second factor when MARBELLE_STAFF_MFA is required.
func (s *Server) staffSession(h adminHandler) httprouter.Handle {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
		if !a.User.Staff {
			return errForbidden
		}
		if s.cfg.StaffMFARequired && a.Session.AAL < 2 {
			return errStaffMFA
		}
		return h(w, r, p, actor{staff: a})
	})
}

// adminUser is a profile as staff see it.
type adminUser struct {
	profile
	IsActive    bool       `json:"is_active"`
	LastLoginAt *time.Time `json:"last_login_at"`
	// IsFrozen: the owner undid an email change; staff restore the account
	// with POST /admin/users/{id}/restore.
	IsFrozen bool `json:"is_frozen"`
}

func adminUserOf(u *store.User) adminUser {
	au := adminUser{profile: *profileOf(u), IsActive: u.Active, IsFrozen: u.Frozen}
	if !u.LastLoginAt.IsZero() {
		t := u.LastLoginAt.UTC()
		au.LastLoginAt = &t
	}
	return au
}

// adminUserDetail adds what staff need to look after one account. Token
// previews are fingerprints of the stored hash: never a token, never
// enough to use one.
type adminUserDetail struct {
	adminUser
	Addresses []addressView   `json:"addresses"`
	Sessions  int             `json:"sessions"`
	Tokens    []adminTokenRow `json:"tokens"`
	// SignInMethods: which second factors the account has (mfa.go), never
	// a secret.
	SignInMethods *mfaStatus `json:"sign_in_methods"`
	// SignInProviders are the OpenID identities linked to the account.
	SignInProviders []identityView `json:"sign_in_providers"`
}

type adminTokenRow struct {
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used"`
	Preview   string    `json:"preview"`
}

// pageParams reads page (from 1) and page_size (default 50, at most 200).
func pageParams(r *http.Request) (page, size int, err error) {
	q := r.URL.Query()
	page, size = 1, 50
	errs := fieldErrors{}
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			errs.add("page", "Use a whole number from 1.")
		}
	}
	if v := q.Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > 200 {
			errs.add("page_size", "Use a whole number from 1 to 200.")
		}
	}
	return page, size, errs.err()
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	page, size, err := pageParams(r)
	if err != nil {
		return err
	}
	var out []adminUser
	var total int
	err = s.db.View(func(tx *store.Tx) error {
		res, err := tx.Users(r.URL.Query().Get("q"), (page-1)*size, size)
		if err != nil {
			return err
		}
		total = res.Total
		out = make([]adminUser, len(res.Users))
		for i := range res.Users {
			out[i] = adminUserOf(&res.Users[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, "Users.", out)
	return nil
}

// handleAdminUserAddresses answers a user's addresses as the account route
// answers its owner: primary first, then oldest first.
func (s *Server) handleAdminUserAddresses(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	scratch := s.listScratch()
	defer s.lists.Put(scratch)
	list, err := s.listAddresses(id, scratch.items[:0])
	scratch.items = list.items
	if err != nil {
		return err
	}
	scratch.answer = writeJSONWith(w, scratch.answer[:0], http.StatusOK, "The user's addresses.", list)
	return nil
}

func (s *Server) handleAdminUser(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var d adminUserDetail
	err = s.db.View(func(tx *store.Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		d.adminUser = adminUserOf(u)
		list, primary, err := tx.Addresses(id)
		if err != nil {
			return err
		}
		d.Addresses = make([]addressView, len(list))
		for i := range list {
			d.Addresses[i] = addressViewOf(&list[i], list[i].ID == primary)
		}
		d.Sessions = tx.CountUserSessions(id)
		if d.SignInMethods, err = mfaStatusOf(tx, id); err != nil {
			return err
		}
		tokens, err := tx.UserTokens(id)
		if err != nil {
			return err
		}
		d.Tokens = make([]adminTokenRow, len(tokens))
		for i, t := range tokens {
			d.Tokens[i] = adminTokenRow{Kind: t.Kind.String(), CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC(), Used: t.Used(), Preview: t.Preview()}
		}
		ids, err := tx.UserIdentities(id)
		d.SignInProviders = make([]identityView, len(ids))
		for i, ident := range ids {
			d.SignInProviders[i] = s.identityViewOf(ident)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "User.", d)
	return nil
}

// adminUserUpdate is what staff may change on an account.
type adminUserUpdate struct {
	IsActive *bool `json:"is_active"`
	IsStaff  *bool `json:"is_staff"`
	profileChange
}

func (s *Server) handleAdminUserUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var in adminUserUpdate
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := s.adminUpdateUser(r.Context(), act, id, in)
	return answer(w, http.StatusOK, "The user is saved.", u, err)
}

// actorDetail names who acted in an audit event: a staff member by id
// and email, a key by id and name (never the key).
func actorDetail(act actor, more map[string]string) map[string]string {
	var d map[string]string
	if act.key != nil {
		d = map[string]string{"actor_key_id": act.key.ID.String(), "actor_key_name": act.key.Name}
	} else {
		d = map[string]string{"actor_id": act.staff.User.ID.String(), "actor_email": act.staff.User.Email}
	}
	for k, v := range more {
		d[k] = v
	}
	return d
}

// adminUpdateUser applies staff changes. Deactivating ends the user's
// sessions at once; so does granting or removing staff (their sessions'
// lifetimes follow the role). Staff cannot demote or deactivate themselves,
// and nobody can remove the last active staff account (store.ErrLastStaff,
// checked in the same transaction). A staff member changed by another is
// told by mail. A request that changes nothing writes nothing. An API key
// changes customers only, and never makes one staff (errKeyStaffAccount):
// a leaked service key must not be a way to staff rights or to lock staff
// out.
func (s *Server) adminUpdateUser(ctx context.Context, act actor, id uuid.UUID, in adminUserUpdate) (*adminUser, error) {
	errs := fieldErrors{}
	if act.is(id) && in.IsStaff != nil && !*in.IsStaff {
		errs.add("is_staff", "You cannot remove your own staff access.")
	}
	if act.is(id) && in.IsActive != nil && !*in.IsActive {
		errs.add("is_active", "You cannot deactivate your own account.")
	}
	if in.Language != nil {
		*in.Language = s.checkLanguage(errs, "language", *in.Language)
	}
	apply := in.check(errs, s.cfg.DefaultRegion)
	if err := errs.err(); err != nil {
		return nil, err
	}
	var out adminUser
	err := s.updateUser(ctx, id, nil, func(t *txn, u *store.User, c client) error {
		if act.key != nil && (u.Staff || in.IsStaff != nil && *in.IsStaff) {
			return errKeyStaffAccount
		}
		wasStaff, wasActive := u.Staff, u.Active
		changes, endSessions, err := t.applyAdminFlags(u, in, act, c)
		if err != nil {
			return err
		}
		edited := apply(u)
		if len(edited) > 0 {
			changes = append(changes, "details edited: "+strings.Join(edited, ", "))
			if err := t.audit("user_updated", u, "", c, actorDetail(act, map[string]string{"fields": strings.Join(edited, ",")})); err != nil {
				return err
			}
		}
		out = adminUserOf(u)
		if len(changes) == 0 {
			return nil
		}
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		if err := t.emitAdminUserEvents(u, wasActive, wasStaff != u.Staff || len(edited) > 0); err != nil {
			return err
		}
		out = adminUserOf(u)
		if endSessions {
			if _, err := t.DeleteUserSessions(u.ID, nil); err != nil {
				return err
			}
		}
		if wasStaff || u.Staff {
			return t.tellStaffChanged(act, u, c, changes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// applyAdminFlags sets u's activation and staff role as in asks, auditing
// each change; changes says what changed in words (for the staff
// notice), endSessions whether the account's sessions must end.
func (t *txn) applyAdminFlags(u *store.User, in adminUserUpdate, act actor, c client) (changes []string, endSessions bool, err error) {
	if in.IsActive != nil && *in.IsActive != u.Active {
		u.Active = *in.IsActive
		endSessions = !u.Active
		event, change := "user_activated", "account reactivated"
		if !u.Active {
			event, change = "user_deactivated", "account deactivated"
		}
		changes = append(changes, change)
		if err := t.audit(event, u, "", c, actorDetail(act, nil)); err != nil {
			return nil, false, err
		}
	}
	if in.IsStaff != nil && *in.IsStaff != u.Staff {
		u.Staff = *in.IsStaff
		endSessions = true
		event, change := "staff_granted", "staff access granted"
		if !u.Staff {
			event, change = "staff_revoked", "staff access removed"
		}
		changes = append(changes, change)
		if err := t.audit(event, u, "", c, actorDetail(act, nil)); err != nil {
			return nil, false, err
		}
	}
	return changes, endSessions, nil
}

// tellStaffChanged mails a staff member (or one who just stopped being
// one) what another staff member changed on their account, so that a
// misused staff account cannot quietly strip the others.
// Only staff change staff accounts (errKeyStaffAccount), so act is a
// staff member here.
func (t *txn) tellStaffChanged(act actor, u *store.User, c client, changes []string) error {
	if act.staff == nil || act.is(u.ID) {
		return nil
	}
	lang := t.mailLanguage(u.ID) // read once: queueMail takes it as it is
	return t.queueMail(mailpkg.KindStaffChanged, u.Email, u.ID, mailpkg.Data{Language: lang,
		FirstName: nameFor(u), Email: u.Email, Changes: strings.Join(t.translateAll(lang, changes), "; "), Actor: act.staff.User.Email, IP: c.IP, UserAgent: c.UserAgent,
	})
}

// adminRestoreInput names, optionally, the address a frozen account is
// restored to; without it the account keeps its current address.
type adminRestoreInput struct {
	Email string `json:"email"`
}

func (s *Server) handleAdminUserRestore(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var in adminRestoreInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := s.adminRestoreUser(r.Context(), act, id, in)
	return answer(w, http.StatusOK, "The account is restored. Its owner has been mailed a link to choose a new password.", u, err)
}

// adminRestoreUser unfreezes an account after staff have found out who its
// owner is, optionally moving it to the address the owner proved to them.
// The password is not trusted (whoever changed the email knew it): the
// owner gets a reset link at the account's address, and login waits for it.
func (s *Server) adminRestoreUser(ctx context.Context, act actor, id uuid.UUID, in adminRestoreInput) (*adminUser, error) {
	email := ""
	if strings.TrimSpace(in.Email) != "" {
		var msg string
		if email, msg = normalizeEmail(in.Email); msg != "" {
			return nil, fieldError("email", msg)
		}
	}
	token := newSecret()
	var out adminUser
	err := s.updateUser(ctx, id, nil, func(t *txn, u *store.User, c client) error {
		if !u.Frozen {
			return errorf(CodeValidation, "This account is not locked.")
		}
		detail := map[string]string{}
		if email != "" && email != u.Email {
			moved, err := t.ChangeEmail(id, email, t.now)
			switch {
			case errors.Is(err, store.ErrEmailTaken):
				return fieldError("email", "This address belongs to another account.")
			case err != nil:
				return err
			}
			detail["email"] = u.Email + " -> " + moved.Email
			u = moved
		}
		u.Frozen, u.MustResetPassword = false, true
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		if err := t.mailResetLink(mailpkg.KindAccountRestored, u, token, c); err != nil {
			return err
		}
		out = adminUserOf(u)
		return t.audit("account_restored", u, "", c, actorDetail(act, detail))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Server) handleAdminUserDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The user and everything stored with them are deleted.", nil, s.adminDeleteUser(r.Context(), act, id))
}

// adminDeleteUser deletes a user. Staff cannot delete themselves here; an
// API key deletes customers only (errKeyStaffAccount).
func (s *Server) adminDeleteUser(ctx context.Context, act actor, id uuid.UUID) error {
	if act.is(id) {
		return errorf(CodeValidation, "You cannot delete your own account here; use the account page.")
	}
	return s.updateUser(ctx, id, nil, func(t *txn, u *store.User, c client) error {
		if act.key != nil && u.Staff {
			return errKeyStaffAccount
		}
		return t.deleteUser(u, c, "user_deleted", actorDetail(act, nil))
	})
}

func (s *Server) handleAdminRevokeSessions(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	n, err := s.adminRevokeSessions(r.Context(), act, id)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%d sessions ended.", n)
	if n == 1 {
		msg = "1 session ended."
	}
	writeJSON(w, http.StatusOK, msg, map[string]int{"revoked": n})
	return nil
}

func (s *Server) adminRevokeSessions(ctx context.Context, act actor, id uuid.UUID) (int, error) {
	var n int
	err := s.updateUser(ctx, id, nil, func(t *txn, u *store.User, c client) error {
		var keep []byte
		if act.is(id) {
			keep = act.staff.Session.Hash // staff revoking their own keep the one in use
		}
		var err error
		if n, err = t.DeleteUserSessions(id, keep); err != nil {
			return err
		}
		if u.Staff && n > 0 {
			if err := t.tellStaffChanged(act, u, c, []string{"signed out of " + strconv.Itoa(n) + " sessions"}); err != nil {
				return err
			}
		}
		return t.audit("sessions_revoked", u, "", c, actorDetail(act, map[string]string{"count": strconv.Itoa(n)}))
	})
	return n, err
}

// auditView is one audit event as the contract shows it.
type auditView struct {
	ID        uuid.UUID         `json:"id"`
	At        time.Time         `json:"at"`
	Event     string            `json:"event"`
	UserID    *uuid.UUID        `json:"user_id"`
	Email     string            `json:"email"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Detail    map[string]string `json:"detail"`
}

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	var out []auditView
	err = s.db.View(func(tx *store.Tx) error {
		events, err := tx.AuditQuery(f)
		if err != nil {
			return err
		}
		out = make([]auditView, len(events))
		for i, e := range events {
			v := auditView{ID: e.ID, At: e.At.UTC(), Event: e.Event, Email: e.Email, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
			if e.UserID != uuid.Nil {
				v.UserID = &events[i].UserID
			}
			if v.Detail == nil {
				v.Detail = map[string]string{}
			}
			out[i] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "Audit events, newest first.", out)
	return nil
}

// auditFilter reads user_id, event, before (an event id, or an RFC 3339
// time) and limit (default 50, at most 500).
func auditFilter(r *http.Request) (store.AuditFilter, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Event: q.Get("event"), Limit: 50}
	errs := fieldErrors{}
	if v := q.Get("user_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			errs.add("user_id", "Use a user id.")
		}
		f.UserID = id
	}
	if v := q.Get("before"); v != "" {
		if id, err := uuid.Parse(v); err == nil {
			f.Before = id
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			// The smallest UUIDv7 of that millisecond: events before it are older.
			var id uuid.UUID
			ms := uint64(t.UnixMilli())
			for i := range 6 {
				id[i] = byte(ms >> (40 - 8*i)) // #nosec G115 -- keeps one byte of the 48-bit millisecond time on purpose
			}
			f.Before = id
		} else {
			errs.add("before", "Use an event id or an RFC 3339 time.")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			errs.add("limit", "Use a whole number from 1 to 500.")
		}
		f.Limit = n
	}
	return f, errs.err()
}

// outboxView is one outbox entry; its body never leaves the store.
type outboxView struct {
	ID            uuid.UUID  `json:"id"`
	To            string     `json:"to"`
	Subject       string     `json:"subject"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Server) handleAdminOutbox(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	status := store.MailStatus(r.URL.Query().Get("status"))
	if status != "" && status != store.MailQueued && status != store.MailSent && status != store.MailFailed {
		return fieldError("status", "Use queued, sent or failed.")
	}
	var out []outboxView
	err := s.db.View(func(tx *store.Tx) error {
		list, err := tx.OutboxList(status, 200)
		if err != nil {
			return err
		}
		out = make([]outboxView, len(list))
		for i, m := range list {
			out[i] = outboxView{ID: m.ID, To: m.To, Subject: m.Subject, Kind: m.Kind, Status: string(m.Status), Attempts: m.Attempts, LastError: m.LastError,
				NextAttemptAt: optionalTime(m.NextAttemptAt), CreatedAt: m.CreatedAt.UTC(), SentAt: optionalTime(m.SentAt)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "Outgoing mail, newest first.", out)
	return nil
}

func (s *Server) handleAdminOutboxRetry(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The mail is queued again.", nil, s.adminRetryMail(r.Context(), act, id))
}

func (s *Server) adminRetryMail(ctx context.Context, act actor, id uuid.UUID) error {
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		err := t.RequeueMail(id, t.now)
		if errors.Is(err, store.ErrNotRequeueable) {
			return errorf(CodeValidation, "Only mail that failed can be retried.")
		}
		if err != nil {
			return err
		}
		t.mails++
		return t.audit("mail_retried", nil, "", c, actorDetail(act, map[string]string{"mail_id": id.String()}))
	})
}

// handleAdminBackup sends a consistent snapshot of the live store. It is
// copied to a file first, in one short read transaction, and sent from
// there: streamed from the transaction, a slow client would hold it open,
// and a commit that must grow the store's memory map waits for every open
// read transaction, with every later request waiting behind that commit.
func (s *Server) handleAdminBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	b, err := s.adminBackup(r.Context(), act)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			s.log.WarnContext(r.Context(), "backup: cannot remove the snapshot file", "request_id", requestID(r.Context()), "err", err)
		}
	}()
	// A large store takes longer than the server's write timeout.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(30 * time.Minute)); err != nil {
		s.log.WarnContext(r.Context(), "backup: cannot extend the write deadline; a large store may be cut", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+b.name+`"`)
	h.Set("Content-Length", strconv.FormatInt(b.Size(), 10))
	if _, err := b.WriteTo(w); err != nil {
		// Headers are gone; all we can do is cut the stream and log.
		s.log.ErrorContext(r.Context(), "backup failed", "request_id", requestID(r.Context()), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// backup is a snapshot being downloaded; Close removes its file and frees
// the server's backup slot.
type backup struct {
	*store.Snapshot
	name    string // the file name the client is offered
	release func()
}

func (b *backup) Close() error {
	defer b.release()
	return b.Snapshot.Close()
}

// adminBackup takes the server's one backup slot (errBackupRunning when
// another backup holds it), records the download in the audit log and
// snapshots the store, the event included.
func (s *Server) adminBackup(ctx context.Context, act actor) (*backup, error) {
	select {
	case s.backupSlot <- struct{}{}:
	default:
		return nil, errBackupRunning
	}
	release := func() { <-s.backupSlot }
	name := "marbelle-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	c := clientOf(ctx)
	err := s.update(ctx, func(t *txn) error {
		return t.audit("backup_downloaded", nil, "", c, actorDetail(act, map[string]string{"file": name}))
	})
	if err != nil {
		release()
		return nil, err
	}
	snap, err := s.db.Snapshot()
	if err != nil {
		release()
		return nil, err
	}
	return &backup{Snapshot: snap, name: name, release: release}, nil
}

// dashboard is the admin overview: sign-ups per day and verified counts.
type dashboard struct {
	Users         int        `json:"users"`
	Verified      int        `json:"verified"`
	Unverified    int        `json:"unverified"`
	SignupsPerDay []dayCount `json:"signups_per_day"`
}

type dayCount struct {
	Date  string `json:"date"`
	Count int    `json:"count"`
}

func (s *Server) handleAdminStats(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	now := s.now().UTC()
	var d dashboard
	err := s.db.View(func(tx *store.Tx) error {
		st := tx.Stats()
		d.Users, d.Verified, d.Unverified = st.Users, st.Verified, st.Users-st.Verified
		for _, dc := range tx.SignupsByDay(now.AddDate(0, 0, -29), now) {
			d.SignupsPerDay = append(d.SignupsPerDay, dayCount{Date: dc.Day.Format("2006-01-02"), Count: dc.Count})
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "Overview.", d)
	return nil
}
