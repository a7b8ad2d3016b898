package app

import (
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// routes lists every route of the server in one place.
func (s *Server) routes() *httprouter.Router {
	r := httprouter.New()
	r.RedirectTrailingSlash = true // 301 for GET, 307 (method kept) otherwise
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, s.log, &Error{Code: CodeMethodNotAllowed, Message: "This method is not allowed here."})
	})
	r.NotFound = http.HandlerFunc(s.handleNotFound)
	r.PanicHandler = nil // withBasics recovers

	r.GET("/healthz", s.handleHealthz)
	r.GET("/readyz", s.handleReadyz)

	const auth = "/api/v1/auth"
	r.POST(auth+"/register", s.limitByIP(s.limits.register, "register", s.handleRegister))
	r.POST(auth+"/verify-email", s.limitByIP(s.limits.token, "verify", s.handleVerifyEmail))
	r.POST(auth+"/resend-verification", s.limitByIP(s.limits.token, "resend", s.handleResendVerification))
	r.POST(auth+"/login", s.limitByIP(s.limits.login, "login", s.handleLogin))
	r.POST(auth+"/logout", s.handleLogout)
	r.GET(auth+"/profile", s.requireUser(s.handleProfileView))
	r.PATCH(auth+"/profile", s.requireUser(s.handleProfileUpdate))
	r.POST(auth+"/password/change", s.requireUser(s.handlePasswordChange))
	r.POST(auth+"/password-reset/request", s.limitByIP(s.limits.token, "reset_request", s.handlePasswordResetRequest))
	r.POST(auth+"/password-reset/confirm", s.limitByIP(s.limits.token, "reset_confirm", s.handlePasswordResetConfirm))
	r.POST(auth+"/email-change/request", s.requireUser(s.handleEmailChangeRequest))
	r.POST(auth+"/email-change/confirm", s.limitByIP(s.limits.token, "email_change_confirm", s.handleEmailChangeConfirm))
	r.GET(auth+"/sessions", s.requireUser(s.handleSessionsList))
	r.DELETE(auth+"/sessions/:id", s.requireUser(s.handleSessionRevoke))
	r.DELETE(auth+"/account", s.requireUser(s.handleAccountDelete))
	r.GET(auth+"/export", s.requireUser(s.handleExport))
	r.GET(auth+"/security/activity", s.requireUser(s.handleSecurityActivity))
	r.POST(auth+"/security/undo", s.limitByIP(s.limits.token, "undo", s.handleSecurityUndo))

	r.GET(auth+"/addresses", s.requireUser(s.handleAddressList))
	r.POST(auth+"/addresses", s.requireUser(s.handleAddressCreate))
	r.GET(auth+"/addresses/:id", s.requireUser(s.handleAddressView))
	r.PUT(auth+"/addresses/:id", s.requireUser(s.handleAddressChange(false)))
	r.PATCH(auth+"/addresses/:id", s.requireUser(s.handleAddressChange(true)))
	r.DELETE(auth+"/addresses/:id", s.requireUser(s.handleAddressDelete))
	r.PATCH(auth+"/addresses/:id/set-primary", s.requireUser(s.handleAddressSetPrimary))

	const admin = "/api/v1/admin"
	r.GET(admin+"/users", s.requireStaff(s.handleAdminUsers))
	r.GET(admin+"/users/:id", s.requireStaff(s.handleAdminUser))
	r.PATCH(admin+"/users/:id", s.requireStaff(s.handleAdminUserUpdate))
	r.DELETE(admin+"/users/:id", s.requireStaff(s.handleAdminUserDelete))
	r.POST(admin+"/users/:id/revoke-sessions", s.requireStaff(s.handleAdminRevokeSessions))
	r.POST(admin+"/users/:id/restore", s.requireStaff(s.handleAdminUserRestore))
	r.GET(admin+"/audit", s.requireStaff(s.handleAdminAudit))
	r.GET(admin+"/outbox", s.requireStaff(s.handleAdminOutbox))
	r.POST(admin+"/outbox/:id/retry", s.requireStaff(s.handleAdminOutboxRetry))
	r.GET(admin+"/backup", s.requireStaff(s.handleAdminBackup))
	r.GET(admin+"/stats", s.requireStaff(s.handleAdminStats))

	if s.sink != nil { // development only: in production these are 404
		r.GET("/api/v1/dev/mail", s.handleDevMailList)
		r.GET("/api/v1/dev/mail/:id", s.handleDevMailView)
		r.GET("/api/v1/dev/mail/:id/html", s.handleDevMailHTML)
		r.DELETE("/api/v1/dev/mail", s.handleDevMailClear)
	}
	return r
}

// limitByIP applies a per-client-IP limit to a route (an IPv6 client's
// /64: see limiterKey).
func (s *Server) limitByIP(l *Limiter, name string, h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		if ok, retry := l.Allow(name+"|"+limiterKey(clientOf(r.Context()).IP), s.now()); !ok {
			writeError(w, r, s.log, rateLimited(retry))
			return
		}
		h(w, r, p)
	}
}

// handleNotFound answers unknown API paths in the envelope and hands every
// other path to the web UI.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if s.ui != nil && !strings.HasPrefix(r.URL.Path, "/api/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.ui.ServeHTTP(w, r)
		return
	}
	writeError(w, r, s.log, &Error{Code: CodeNotFound, Message: "There is nothing at this address."})
}
