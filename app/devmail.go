package app

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// The development mail API reads the built-in SMTP sink. It is only routed
// when a sink exists, which production never has.

func (s *Server) handleDevMailList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "Captured mail, newest first.", s.sink.List())
}

func (s *Server) handleDevMailView(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	m, ok := s.sink.Message(p.ByName("id"))
	if !ok {
		writeError(w, r, s.log, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, "Captured mail.", m)
}

func (s *Server) handleDevMailClear(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.sink.Clear()
	writeJSON(w, http.StatusOK, "Captured mail deleted.", nil)
}
