package app

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// handleHealthz answers while the process runs (outside the envelope).
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
	return nil
}

// handleReadyz answers 200 once the store answers a read, 503 otherwise.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.db.Ping(); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"unavailable"}` + "\n"))
		return nil
	}
	w.Write([]byte(`{"status":"ok"}` + "\n"))
	return nil
}
