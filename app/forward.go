package app

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// handleForwardAuth answers a reverse proxy (Caddy forward_auth, nginx
// auth_request, Traefik ForwardAuth) that asks whether the request it was
// given may see a page: 200 with the user in X-Marbelle-* headers; 403
// when ?staff=1 or ?aal=2 asks for more than the session has; without a
// session, a redirect to the login page for a browser navigation and 401
// for anything else. It reads the session itself, because here no session
// is an answer, not a failure. 401 and 403 carry the usual envelope:
// nginx drops it, Caddy and Traefik hand it to the client, where an API
// client can read it.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	w.Header().Set("Cache-Control", "no-store")
	staffOnly, aal, err := forwardPolicy(r.URL.Query())
	if err != nil {
		return err
	}
	a, err := s.authenticate(r)
	if errors.Is(err, errUnauthenticated) && wantsPage(r) {
		w.Header().Set("Location", s.loginURL(r))
		w.WriteHeader(http.StatusFound)
		return nil
	}
	if err != nil {
		return err
	}
	if staffOnly && !a.User.Staff {
		return errStaffOnly
	}
	if staffOnly && s.cfg.StaffMFARequired && sessionAAL(a) < 2 {
		return errStaffMFA // staff pages follow MARBELLE_STAFF_MFA as the admin routes do
	}
	if sessionAAL(a) < aal {
		return errSecondFactorNeeded
	}
	h := w.Header()
	h.Set("X-Marbelle-User-Id", a.User.ID.String())
	h.Set("X-Marbelle-Email", a.User.Email)
	h.Set("X-Marbelle-Staff", strconv.FormatBool(a.User.Staff))
	h.Set("X-Marbelle-AAL", strconv.Itoa(sessionAAL(a)))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// forwardPolicy reads what a protected location asks for. A value it does
// not know is refused rather than ignored: a typo such as ?staff=true
// must not open a staff page to everyone.
func forwardPolicy(q url.Values) (staffOnly bool, aal int, err error) {
	switch q.Get("staff") {
	case "", "0":
	case "1":
		staffOnly = true
	default:
		return false, 0, fieldError("staff", "Must be 1 (staff only) or left out.")
	}
	switch q.Get("aal") {
	case "", "1":
		aal = 1
	case "2":
		aal = 2
	default:
		return false, 0, fieldError("aal", "Must be 1 or 2, or left out.")
	}
	return staffOnly, aal, nil
}

// sessionAAL is the session's authenticator assurance level, as recorded
// when it was opened (1 for a session from before sessions recorded it).
func sessionAAL(a *auth) int { return max(a.Session.AAL, 1) }

// wantsPage reports whether the request is a browser navigation, which can
// follow a redirect to the login page (an API client wants the 401).
func wantsPage(r *http.Request) bool {
	return strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Accept"), ",")), "text/html")
}

// loginURL is the login page, with next= the URL the proxy was asked for
// when that is known and on a forward-auth origin.
func (s *Server) loginURL(r *http.Request) string {
	if next := s.originalURL(r); next != "" {
		return s.baseURL + "/login?next=" + url.QueryEscape(next)
	}
	return s.baseURL + "/login"
}

// originalURL is the URL the proxy was asked for, from X-Forwarded-Proto,
// -Host and -Uri (Caddy, Traefik) or X-Original-URL (nginx), or "" unless
// its origin is a forward-auth origin. The headers need no trusted proxy:
// whoever sends them can only choose which allowed page a login returns to.
func (s *Server) originalURL(r *http.Request) string {
	raw := r.Header.Get("X-Original-URL")
	if host, uri := r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Uri"); host != "" && strings.HasPrefix(uri, "/") {
		raw = r.Header.Get("X-Forwarded-Proto") + "://" + host + uri
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" || !s.forwardOrigins[origin(u.Scheme, u.Host)] {
		return ""
	}
	u.Host, u.Fragment = strings.ToLower(u.Host), ""
	return u.String()
}
