package app

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
)

// routes lists every route of the server in one place, and who may call
// each: public (with a per-IP limit where the contract sets one), a
// signed-in user, staff, or an API key with a scope.
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
	rt := router{r, s}

	rt.handle("GET", "/healthz", s.public(s.handleHealthz))
	rt.handle("GET", "/readyz", s.public(s.handleReadyz))
	rt.handle("GET", "/api/v1/openapi.json", s.public(s.handleOpenAPI))

	s.accountRoutes(rt)
	s.signInRoutes(rt)
	s.adminRoutes(rt)

	// Token introspection (RFC 7662): API keys only, never a session.
	rt.handle("POST", "/api/v1/introspect", s.requireKey(scopeIntrospect, s.handleIntrospect))

	if s.sink != nil { // development only: in production these are 404
		rt.handle("GET", "/api/v1/dev/mail", s.public(s.handleDevMailList))
		rt.handle("GET", "/api/v1/dev/mail/:id", s.public(s.handleDevMailView))
		rt.handle("GET", "/api/v1/dev/mail/:id/html", s.public(s.handleDevMailHTML))
		rt.handle("DELETE", "/api/v1/dev/mail", s.public(s.handleDevMailClear))
	}
	return r
}

// authPrefix is where the account routes live.
const authPrefix = "/api/v1/auth"

// accountRoutes: registration, login, profile, sessions, addresses.
func (s *Server) accountRoutes(rt router) {
	const auth = authPrefix
	rt.handle("POST", auth+"/register", s.limitByIP(s.limits.register, "register", s.handleRegister))
	rt.handle("POST", auth+"/verify-email", s.limitByIP(s.limits.token, "verify", s.handleVerifyEmail))
	rt.handle("POST", auth+"/resend-verification", s.limitByIP(s.limits.token, "resend", s.handleResendVerification))
	rt.handle("POST", auth+"/login", s.limitByIP(s.limits.login, "login", s.handleLogin))
	rt.handle("POST", auth+"/logout", s.public(s.handleLogout))
	rt.handle("GET", auth+"/profile", s.requireUser(s.handleProfileView))
	rt.handle("PATCH", auth+"/profile", s.requireUser(s.handleProfileUpdate))
	rt.handle("POST", auth+"/password/change", s.requireUser(s.handlePasswordChange))
	rt.handle("POST", auth+"/password-reset/request", s.limitByIP(s.limits.token, "reset_request", s.handlePasswordResetRequest))
	rt.handle("POST", auth+"/password-reset/confirm", s.limitByIP(s.limits.token, "reset_confirm", s.handlePasswordResetConfirm))
	rt.handle("POST", auth+"/email-change/request", s.requireUser(s.handleEmailChangeRequest))
	rt.handle("POST", auth+"/email-change/confirm", s.limitByIP(s.limits.token, "email_change_confirm", s.handleEmailChangeConfirm))
	rt.handle("GET", auth+"/session", s.requireUser(s.handleSessionCheck))
	// Forward auth reads the session itself: without one it answers a login
	// redirect or 401, as the proxy in front of a shop's pages needs.
	rt.handle("GET", auth+"/forward", s.public(s.handleForwardAuth))
	rt.handle("GET", auth+"/sessions", s.requireUser(s.handleSessionsList))
	rt.handle("DELETE", auth+"/sessions/:id", s.requireUser(s.handleSessionRevoke))
	rt.handle("DELETE", auth+"/account", s.requireUser(s.handleAccountDelete))
	rt.handle("GET", auth+"/export", s.requireUser(s.handleExport))
	rt.handle("GET", auth+"/security/activity", s.requireUser(s.handleSecurityActivity))
	rt.handle("POST", auth+"/security/undo", s.limitByIP(s.limits.token, "undo", s.handleSecurityUndo))

	rt.handle("GET", auth+"/addresses", s.requireUser(s.handleAddressList))
	rt.handle("POST", auth+"/addresses", s.requireUser(s.handleAddressCreate))
	rt.handle("GET", auth+"/addresses/:id", s.requireUser(s.handleAddressView))
	rt.handle("PUT", auth+"/addresses/:id", s.requireUser(s.handleAddressChange(false)))
	rt.handle("PATCH", auth+"/addresses/:id", s.requireUser(s.handleAddressChange(true)))
	rt.handle("DELETE", auth+"/addresses/:id", s.requireUser(s.handleAddressDelete))
	rt.handle("PATCH", auth+"/addresses/:id/set-primary", s.requireUser(s.handleAddressSetPrimary))
}

// signInRoutes: second factors, passkeys and OpenID providers.
func (s *Server) signInRoutes(rt router) {
	const auth = authPrefix
	// Second factors (mfa.go, mfalogin.go): enrolment needs a session
	// (staff without one may still enrol); the second login step is
	// public, limited like login.
	rt.handle("POST", auth+"/login/mfa", s.limitByIP(s.limits.login, "login", s.handleLoginMFA))
	rt.handle("GET", auth+"/mfa", s.requireUser(s.handleMFAStatus))
	rt.handle("POST", auth+"/mfa/totp/setup", s.requireUser(s.handleTOTPSetup))
	rt.handle("POST", auth+"/mfa/totp/confirm", s.requireUser(s.handleTOTPConfirm))
	rt.handle("DELETE", auth+"/mfa/totp", s.requireUser(s.handleTOTPDelete))
	rt.handle("POST", auth+"/mfa/recovery-codes", s.requireUser(s.handleRecoveryCodesRegenerate))
	// Passkeys (passkey.go): login is public, limited like login but in
	// budgets of its own (the login page begins one on every visit, for
	// the autofill).
	rt.handle("POST", auth+"/passkeys/register/begin", s.requireUser(s.handlePasskeyRegisterBegin))
	rt.handle("POST", auth+"/passkeys/register/finish", s.requireUser(s.handlePasskeyRegisterFinish))
	rt.handle("POST", auth+"/passkeys/login/begin", s.limitByIP(s.limits.login, "passkey_begin", s.handlePasskeyLoginBegin))
	rt.handle("POST", auth+"/passkeys/login/finish", s.limitByIP(s.limits.login, "passkey_finish", s.handlePasskeyLoginFinish))
	rt.handle("GET", auth+"/passkeys", s.requireUser(s.handlePasskeyList))
	rt.handle("PATCH", auth+"/passkeys/:id", s.requireUser(s.handlePasskeyRename))
	rt.handle("DELETE", auth+"/passkeys/:id", s.requireUser(s.handlePasskeyDelete))
	// Sign-in with an OpenID provider (oidc.go). The callback takes GET
	// and Apple's form POST; its state cookie, not the session, guards it.
	// (httprouter takes no fixed name beside :provider, hence the lists'
	// own paths.)
	rt.handle("GET", auth+"/sign-in-providers", s.public(s.handleOIDCProviders))
	rt.handle("GET", auth+"/identities", s.requireUser(s.handleOIDCIdentities))
	rt.handle("DELETE", auth+"/identities/:id", s.requireUser(s.handleOIDCUnlink))
	rt.handle("GET", auth+"/oidc/:provider/start", s.limitByIP(s.limits.login, "oidc_start", s.handleOIDCStart))
	rt.handle("POST", auth+"/oidc/:provider/link/start", s.requireUser(s.handleOIDCLinkStart))
	rt.handle("GET", auth+"/oidc/:provider/callback", s.limitByIP(s.limits.login, "oidc_callback", s.handleOIDCCallback))
	rt.handle("POST", auth+"/oidc/:provider/callback", s.limitByIP(s.limits.login, "oidc_callback", s.handleOIDCCallback))
}

// adminRoutes: staff sessions, and API keys where a scope covers the
// route.
func (s *Server) adminRoutes(rt router) {
	// Admin routes: staff sessions, and API keys where a scope covers the
	// route (requireScope; users:read also covers addresses:read).
	const admin = "/api/v1/admin"
	rt.handle("GET", admin+"/users", s.requireScope(scopeUsersRead, s.handleAdminUsers))
	rt.handle("GET", admin+"/users/:id", s.requireScope(scopeUsersRead, s.handleAdminUser))
	rt.handle("GET", admin+"/users/:id/addresses", s.requireScope(scopeAddressesRead, s.handleAdminUserAddresses))
	rt.handle("PATCH", admin+"/users/:id", s.requireScope(scopeUsersWrite, s.handleAdminUserUpdate))
	rt.handle("DELETE", admin+"/users/:id", s.requireScope(scopeUsersWrite, s.handleAdminUserDelete))
	rt.handle("POST", admin+"/users/:id/revoke-sessions", s.requireStaff(s.handleAdminRevokeSessions))
	rt.handle("POST", admin+"/users/:id/restore", s.requireStaff(s.handleAdminUserRestore))
	rt.handle("GET", admin+"/audit", s.requireStaff(s.handleAdminAudit))
	rt.handle("GET", admin+"/outbox", s.requireStaff(s.handleAdminOutbox))
	rt.handle("POST", admin+"/outbox/:id/retry", s.requireStaff(s.handleAdminOutboxRetry))
	rt.handle("POST", admin+"/mail/test", s.requireStaff(s.handleAdminMailTest)) // #21
	rt.handle("GET", admin+"/backup", s.requireStaff(s.handleAdminBackup))
	rt.handle("GET", admin+"/stats", s.requireStaff(s.handleAdminStats))
	rt.handle("GET", admin+"/api-keys", s.requireStaff(s.handleAPIKeyList))
	rt.handle("POST", admin+"/api-keys", s.requireStaff(s.handleAPIKeyCreate))
	rt.handle("DELETE", admin+"/api-keys/:id", s.requireStaff(s.handleAPIKeyRevoke))
	// Second factors (mfa.go): staff reset a customer's lost one.
	rt.handle("POST", admin+"/users/:id/mfa/reset", s.requireStaff(s.handleAdminMFAReset))

	// Webhooks (#17): staff, or an API key holding webhooks:manage.
	rt.handle("GET", admin+"/webhooks", s.requireScope(scopeWebhooksManage, s.handleWebhookList))
	rt.handle("POST", admin+"/webhooks", s.requireScope(scopeWebhooksManage, s.handleWebhookCreate))
	rt.handle("GET", admin+"/webhooks/:id", s.requireScope(scopeWebhooksManage, s.handleWebhookView))
	rt.handle("PATCH", admin+"/webhooks/:id", s.requireScope(scopeWebhooksManage, s.handleWebhookUpdate))
	rt.handle("DELETE", admin+"/webhooks/:id", s.requireScope(scopeWebhooksManage, s.handleWebhookDelete))
	rt.handle("POST", admin+"/webhooks/:id/rotate-secret", s.requireScope(scopeWebhooksManage, s.handleWebhookRotate))
	rt.handle("GET", admin+"/webhooks/:id/deliveries", s.requireScope(scopeWebhooksManage, s.handleWebhookDeliveries))
	rt.handle("POST", admin+"/webhooks/:id/test", s.requireScope(scopeWebhooksManage, s.handleWebhookTest))
	rt.handle("POST", admin+"/webhook-deliveries/:id/retry", s.requireScope(scopeWebhooksManage, s.handleDeliveryRetry))
}

// handler is a route's own work: it writes the success answer, or returns
// the error that its adapter writes in the failure envelope (the one place
// errors become answers is writeError).
type handler func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error

// userHandler is a handler for a signed-in user.
type userHandler func(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error

// public adapts a handler anyone may call.
func (s *Server) public(h handler) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		if err := h(w, r, p); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

// limitByIP adapts a public handler with a per-client-IP limit (an IPv6
// client counts as its /64).
func (s *Server) limitByIP(l *ratelimit.Limiter, name string, h handler) httprouter.Handle {
	return s.public(func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
		if ok, retry := l.Allow(name+"|"+limiterKey(clientOf(r.Context()).IP), s.now()); !ok {
			return rateLimited(retry)
		}
		return h(w, r, p)
	})
}

// router registers routes and records each one's metrics label (its
// pattern) with it, so that no request rebuilds it. It lists every route
// in the server's routeList, which the tests hold docs/openapi.yaml to.
type router struct {
	*httprouter.Router
	s *Server
}

func (rt router) handle(method, pattern string, h httprouter.Handle) {
	rt.s.routeList = append(rt.s.routeList, method+" "+pattern)
	rt.Handle(method, pattern, func(w http.ResponseWriter, r *http.Request, p httprouter.Params) {
		setRouteLabel(w, pattern)
		h(w, r, p)
	})
}

// pathID is the route's :id as a UUID; anything else names nothing here.
func pathID(p httprouter.Params) (uuid.UUID, error) {
	id, err := uuid.Parse(p.ByName("id"))
	if err != nil {
		return uuid.Nil, errNotFound
	}
	return id, nil
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
