package app

import (
	"context"
	"net/http"

	"github.com/julienschmidt/httprouter"

	mailpkg "github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

type passwordInput struct {
	Password string `json:"password"`
}

func (s *Server) handleAccountDelete(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in passwordInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.deleteAccount(r.Context(), a, in.Password); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	w.Header().Set("Clear-Site-Data", `"cookies", "storage"`)
	writeJSON(w, http.StatusOK, "Your account and everything stored with it are deleted.", nil)
	return nil
}

// deleteAccount removes the user with addresses, sessions and tokens.
func (s *Server) deleteAccount(ctx context.Context, a *auth, password string) error {
	if err := s.checkCurrentPassword(ctx, a, "password", password); err != nil {
		return err
	}
	return s.updateUser(ctx, a.User.ID, errUnauthenticated, func(t *txn, u *store.User, c client) error {
		return t.deleteUser(u, c, "account_deleted", nil)
	})
}

// deleteUser removes u and everything stored with them, in this
// transaction: the user.deleted event, the notice to the address, and the
// audit event (with detail) that says who did it.
func (t *txn) deleteUser(u *store.User, c client, event string, detail map[string]string) error {
	if err := t.DeleteUser(u.ID); err != nil {
		return err
	}
	if err := t.emit(evUserDeleted, func() any { return deletedUserData{ID: u.ID, Email: u.Email} }); err != nil {
		return err
	}
	if err := t.queueNotice("account_deleted", mailpkg.KindAccountDeleted, u, u.Email, "", c, mailpkg.Data{}); err != nil {
		return err
	}
	return t.audit(event, u, "", c, detail)
}
