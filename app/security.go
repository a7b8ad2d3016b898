package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// undoTTL is how long a "This wasn't me" link works.
const undoTTL = 7 * 24 * time.Hour

// uaFamily reduces a user agent to a browser and OS family, so that a
// browser update is not a new device.
func uaFamily(ua string) string {
	l := strings.ToLower(ua)
	pick := func(options ...string) string {
		for i := 0; i+1 < len(options); i += 2 {
			if strings.Contains(l, options[i]) {
				return options[i+1]
			}
		}
		return "other"
	}
	browser := pick("edg/", "edge", "opr/", "opera", "firefox/", "firefox", "chrome/", "chrome", "safari/", "safari", "curl/", "curl", "go-http-client", "go")
	os := pick("android", "android", "iphone", "ios", "ipad", "ios", "windows", "windows", "mac os", "macos", "linux", "linux")
	return browser + "/" + os
}

// browserLabel is what mail says of the device a request came from: the
// browser and system family only, never the raw header, which the sender
// chooses freely and could fill with a phishing text.
func browserLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return ""
	}
	names := map[string]string{
		"edge": "Edge", "opera": "Opera", "firefox": "Firefox", "chrome": "Chrome", "safari": "Safari",
		"curl": "curl", "go": "a Go program", "android": "Android", "ios": "iOS", "windows": "Windows",
		"macos": "macOS", "linux": "Linux",
	}
	browser, os, _ := strings.Cut(uaFamily(ua), "/")
	b, known := names[browser]
	if !known {
		b = "An unknown browser"
	}
	if o, ok := names[os]; ok {
		return b + " on " + o
	}
	return b
}

// nameFor is the first name to greet u with in mail: none while the
// address is unproven, since anyone may register anyone's address with a
// "name" that reads like a message from the shop.
func nameFor(u *store.User) string {
	if u == nil || !u.EmailVerified {
		return ""
	}
	return u.FirstName
}

// deviceFingerprint names a device by its ip and browser family without
// storing either in the clear.
func deviceFingerprint(c client) string {
	h := sha256.Sum256([]byte(c.IP + "|" + uaFamily(c.UserAgent)))
	return hex.EncodeToString(h[:8])
}

// queueNotice mails a security notice to the account owner, with a "This
// wasn't me" link for every action that can be undone, unless the shop
// turned this notice off. oldEmail is set for an email change.
func (t *txn) queueNotice(notice string, kind mailpkg.Kind, u *store.User, to, oldEmail string, c client, d mailpkg.Data) error {
	if !t.s.cfg.SecurityNotices[notice] {
		return nil
	}
	d.FirstName, d.Email, d.IP, d.UserAgent = nameFor(u), to, c.IP, c.UserAgent
	if d.Changes != "" { // the code's English sentence (api.notice.* in the catalogue)
		d.Language = t.mailLanguage(u.ID) // read once: queueMail takes it as it is
		d.Changes = t.s.catalogue.Translate(d.Language, d.Changes)
	}
	if notice != "account_deleted" {
		raw := newSecret()
		if err := t.IssueToken(raw, &store.Token{Kind: store.TokenUndo, UserID: u.ID, Action: notice, OldEmail: oldEmail, CreatedAt: t.now, ExpiresAt: t.now.Add(undoTTL)}); err != nil {
			return err
		}
		d.UndoLink, d.UndoTTL = t.s.link("/undo", raw), humanDuration(undoTTL)
		return t.queueMail(kind, to, u.ID, d)
	}
	// The account is gone: the notice belongs to nobody, so it is not
	// removed with the user's records. Its language is the one the
	// account had (the transaction no longer finds the account).
	if t.s.catalogue.Has(u.Language) {
		d.Language = u.Language
	}
	return t.queueMail(kind, to, uuid.Nil, d)
}

func (s *Server) handleSecurityUndo(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var in tokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	res, err := s.undo(r.Context(), in.Token)
	if err != nil {
		return err
	}
	s.clearSessionCookie(w)
	writeJSON(w, http.StatusOK, res.message, res)
	return nil
}

// undo answers a "This wasn't me" link: every session of the account ends
// and every verify, reset and email-change link dies (the security stamp
// moves). After a password change or reset the password must be reset
// before the next login (whoever acted knew it). After an email change the
// server cannot tell the owner from an intruder: the old mailbox may be
// the one that was lost, so the undo does not hand the account back to it.
// The account is frozen instead, both addresses are told, and staff
// restore it (docs/security.md). The link works once; other undo links
// stay, so an intruder's own undo cannot void the owner's.
// undone is the answer of an undo: frozen says the account now waits for
// staff (so the page offers no reset).
type undone struct {
	Frozen  bool `json:"frozen"`
	message string
}

func (s *Server) undo(ctx context.Context, token string) (*undone, error) {
	c := clientOf(ctx)
	var res *undone
	err := s.update(ctx, func(t *txn) error {
		// Made afresh by each run: Batch may run this more than once.
		res = &undone{message: "Every device has been signed out. Please reset your password before you log in again."}
		tok, err := t.SpendToken(store.TokenUndo, strings.TrimSpace(token), t.now)
		if err != nil {
			return err
		}
		u, err := t.User(tok.UserID)
		if err != nil {
			return store.ErrTokenInvalid
		}
		detail := map[string]string{"action": tok.Action}
		frozen := tok.Action == "email_changed"
		res.Frozen = frozen
		if frozen {
			u.Frozen = true
			res.message = "The account is locked and every device has been signed out. We have written to both addresses; please contact the shop to restore it."
		} else {
			u.MustResetPassword = true
		}
		if tok.Action == "sign_in_methods_changed" {
			// Whoever changed them may have set up their own second
			// factor or linked their own provider: the owner resets the
			// password and enrols afresh.
			if err := t.DeleteSecondFactors(u.ID); err != nil {
				return err
			}
			if err := t.UnlinkAllIdentities(u.ID); err != nil {
				return err
			}
			detail["second_factors"] = "removed"
			detail["sign_in_providers"] = "unlinked"
		}
		u.RevokeTokens()
		u.UpdatedAt = t.now
		if err := t.PutUser(u); err != nil {
			return err
		}
		n, err := t.DeleteUserSessions(u.ID, nil)
		if err != nil {
			return err
		}
		detail["sessions_ended"] = strconv.Itoa(n)
		if frozen {
			if err := t.tellFrozen(u, tok.OldEmail); err != nil {
				return err
			}
			detail["frozen"] = "yes"
		}
		return t.audit("security_undo", u, "", c, detail)
	})
	return res, err
}

// tellFrozen mails the account's address and, when it differs, the address
// it was changed from, that the account is frozen until staff restore it.
func (t *txn) tellFrozen(u *store.User, oldEmail string) error {
	d := mailpkg.Data{FirstName: nameFor(u), Email: u.Email}
	if err := t.queueMail(mailpkg.KindAccountFrozen, u.Email, u.ID, d); err != nil {
		return err
	}
	if oldEmail == "" || oldEmail == u.Email {
		return nil
	}
	d.Email = oldEmail
	return t.queueMail(mailpkg.KindAccountFrozen, oldEmail, u.ID, d)
}

// activityEvent is one row of the security activity page.
type activityEvent struct {
	At        time.Time `json:"at"`
	Event     string    `json:"event"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
}

// activityEventsOf shows audit events as the customer sees them.
func activityEventsOf(events []store.Event) []activityEvent {
	out := make([]activityEvent, len(events))
	for i, e := range events {
		out[i] = activityEvent{At: e.At.UTC(), Event: e.Event, IP: e.IP, UserAgent: e.UserAgent}
	}
	return out
}

type securityActivity struct {
	Events   []activityEvent `json:"events"`
	Sessions []sessionView   `json:"sessions"`
}

func (s *Server) handleSecurityActivity(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var out securityActivity
	err := s.db.View(func(tx *store.Tx) error {
		events, err := tx.AuditEvents(a.User.ID, 50)
		if err != nil {
			return err
		}
		out.Events = activityEventsOf(events)
		return nil
	})
	if err == nil {
		out.Sessions, err = s.listSessions(a)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "Your recent security activity.", out)
	return nil
}
