package app

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// exportDocument is the stable schema of GET /api/v1/auth/export
// (docs/api.md): everything stored about the customer.
type exportDocument struct {
	Schema     string          `json:"schema"` // "marbelle.export.v1"
	ExportedAt time.Time       `json:"exported_at"`
	Profile    *profile        `json:"profile"`
	Addresses  []addressView   `json:"addresses"`
	Sessions   []sessionView   `json:"sessions"`
	Events     []activityEvent `json:"audit_events"`
	// SignInMethods: second factors by name and date, never a secret.
	SignInMethods *mfaStatus `json:"sign_in_methods"`
	// SignInProviders are the linked OpenID identities: issuer and
	// subject only, which is all Marbelle keeps that names them.
	SignInProviders []exportedIdentity `json:"sign_in_providers"`
}

type exportedIdentity struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	doc, err := s.export(a)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.cfg.exportName(doc.ExportedAt)+`"`)
	writeJSON(w, http.StatusOK, "Everything stored about your account.", doc)
	return nil
}

func (c *Config) exportName(at time.Time) string {
	return "account-export-" + at.Format("20060102") + ".json"
}

// export gathers the customer's data in one read transaction.
func (s *Server) export(a *auth) (*exportDocument, error) {
	now := s.now()
	doc := &exportDocument{Schema: "marbelle.export.v1", ExportedAt: now.UTC()}
	err := s.db.View(func(tx *store.Tx) error {
		u, err := tx.User(a.User.ID)
		if err != nil {
			return err
		}
		doc.Profile = profileOf(u)
		if doc.SignInMethods, err = mfaStatusOf(tx, u.ID); err != nil {
			return err
		}
		list, primary, err := tx.Addresses(u.ID)
		if err != nil {
			return err
		}
		doc.Addresses = make([]addressView, len(list))
		for i := range list {
			doc.Addresses[i] = addressViewOf(&list[i], list[i].ID == primary)
		}
		sessions, err := tx.UserSessions(u.ID)
		if err != nil {
			return err
		}
		doc.Sessions = []sessionView{}
		for _, sess := range sessions {
			if sess.Valid(now) {
				doc.Sessions = append(doc.Sessions, sessionViewOf(&sess, sess.ID == a.Session.ID))
			}
		}
		events, err := tx.AuditEvents(u.ID, 1<<30)
		if err != nil {
			return err
		}
		doc.Events = activityEventsOf(events)
		ids, err := tx.UserIdentities(u.ID)
		doc.SignInProviders = make([]exportedIdentity, len(ids))
		for i, id := range ids {
			doc.SignInProviders[i] = exportedIdentity{Issuer: id.Issuer, Subject: id.Subject}
		}
		return err
	})
	return doc, err
}
