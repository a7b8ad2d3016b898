package app

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/mail"
)

// The development mail API reads the built-in SMTP sink. It is only routed
// when a sink exists, which production never has.

func (s *Server) handleDevMailList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	w.Header().Set("Cache-Control", "no-store")
	list := s.sink.List()
	if list == nil {
		list = []mail.Captured{} // a list is an array, never null
	}
	writeJSON(w, http.StatusOK, "Captured mail, newest first.", list)
	return nil
}

func (s *Server) handleDevMailView(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	w.Header().Set("Cache-Control", "no-store")
	m, ok := s.sink.Message(p.ByName("id"))
	if !ok {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, "Captured mail.", m)
	return nil
}

func (s *Server) handleDevMailClear(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	s.sink.Clear()
	writeJSON(w, http.StatusOK, "Captured mail deleted.", nil)
	return nil
}

// handleDevMailHTML serves a captured mail's HTML part as a page of its
// own, under a CSP that sandboxes it (no script, no same origin, nothing
// loaded from anywhere), so the viewer can frame it with its inline styles
// while the rest of the site keeps its strict policy.
func (s *Server) handleDevMailHTML(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	m, ok := s.sink.Message(p.ByName("id"))
	if !ok || m.HTML == "" {
		return errNotFound
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write([]byte(m.HTML))
	return nil
}
