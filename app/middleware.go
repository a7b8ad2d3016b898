package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxClient
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

// client is who sent the request, as far as the server can tell.
type client struct {
	IP        string
	UserAgent string
}

func clientOf(ctx context.Context) client {
	c, _ := ctx.Value(ctxClient).(client)
	return c
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	lang   requestLanguage // the request's language, chosen when a message is written (language.go)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withBasics gives every request an id and its client, recovers panics
// into a 500 envelope, and logs one line per request (never a body, cookie
// or query string, which may hold a token).
func (s *Server) withBasics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		ctx := context.WithValue(r.Context(), ctxRequestID, id)
		ctx = context.WithValue(ctx, ctxClient, client{IP: s.clientIP(r), UserAgent: truncate(r.UserAgent(), 256)})
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w, lang: requestLanguage{cat: s.catalogue, accept: r.Header.Get("Accept-Language"), def: s.cfg.DefaultLanguage}}
		w.Header().Set("X-Request-Id", id)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic", "request_id", id, "panic", p)
				if sw.status == 0 {
					writeError(sw, r, s.log, &Error{Code: CodeInternal, Message: "Something went wrong on our side. Please try again later."})
				}
			}
			s.log.DebugContext(ctx, "request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration_ms", time.Since(start).Milliseconds(), "ip", clientOf(ctx).IP)
		}()
		next.ServeHTTP(sw, r)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// clientIP is the socket peer, or the first untrusted address of
// X-Forwarded-For (read from the right) when the peer is a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !s.trustedProxy(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trustedProxy(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Content-Security-Policy values. Pages get what the UI needs; JSON
// answers are never documents that load anything, so theirs allows
// nothing (and still names object-src, base-uri and frame-ancestors, as
// SEC-48 asks of every response).
const (
	pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	jsonCSP = "default-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

// servesJSON reports whether path is a JSON route (the API and the probes).
func servesJSON(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// withSecurityHeaders sets the headers every response carries. JSON routes
// leave off the two that only documents read (Permissions-Policy,
// Cross-Origin-Opener-Policy) and carry the short jsonCSP: besides saying
// only what applies, that keeps a list of 10 addresses (about 3.6 KB)
// and its headers within net/http's 4 KiB write buffer, one write(2)
// instead of two.
func (s *Server) withSecurityHeaders(next http.Handler) http.Handler {
	hsts := strings.HasPrefix(s.baseURL, "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if servesJSON(r.URL.Path) {
			h.Set("Content-Security-Policy", jsonCSP)
		} else {
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		}
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// withAllowedHosts answers 400 to a Host header not in the allow-list, so
// that no page or link is ever built for a foreign host.
func (s *Server) withAllowedHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeError(w, r, s.log, errorf(CodeValidation, "This host is not served here."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(hostport string) bool {
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	for _, allowed := range s.cfg.AllowedHosts {
		if allowed == "*" || strings.Trim(allowed, "[]") == host {
			return true
		}
	}
	return false
}

// withCORS gives CORS headers, with credentials, to the listed origins only,
// and answers their preflights.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if !slices.Contains(s.cfg.CORSAllowedOrigins, strings.ToLower(origin)) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "Retry-After, X-Total-Count, X-Request-Id, Content-Disposition")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCrossOriginProtection refuses cross-origin state changes with Go's
// CrossOriginProtection (Sec-Fetch-Site, else Origin against Host), in the
// envelope. A request with a Bearer Authorization header skips it: it
// carries no ambient credential (credential ignores the cookie beside such
// a header), and a browser sends one only when the page's script set it,
// which cross-origin takes a CORS preflight this server allows only for
// MARBELLE_CORS_ALLOWED_ORIGINS. Other schemes (Basic, Negotiate) do not
// skip it: browsers attach those on their own.
func (s *Server) withCrossOriginProtection(next http.Handler) (http.Handler, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.cfg.CSRFTrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, &Error{Code: CodeForbidden, Message: "Cross-origin request refused."})
	}))
	checked := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := bearerToken(r.Header["Authorization"]); ok || oidcCallbackPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	}), nil
}

// withFormContentTypes refuses (415) an unsafe request under /api/ that
// carries a Content-Type a plain HTML form can send, or a malformed one,
// body or not. A legacy browser posts a cross-site form without Origin or
// Sec-Fetch-Site, so CrossOriginProtection lets it pass, and a route that
// reads no body (logout, revoke sessions, outbox retry) would act on it.
// Such a form always sends a Content-Type; curl and other services that
// send no body and no Content-Type still pass.
func (s *Server) withFormContentTypes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			next.ServeHTTP(w, r)
			return
		}
		ct, sent := r.Header["Content-Type"]
		if !sent || !strings.HasPrefix(r.URL.Path, "/api/") || takesFormBody(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		// Two Content-Type headers are malformed: which one a reader
		// believes is up to the reader.
		if len(ct) != 1 || formMediaType(ct[0]) {
			writeError(w, r, s.log, &Error{Code: CodeUnsupportedMedia, Message: "Send a JSON body (Content-Type: application/json), or no body and no Content-Type."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// formMediaType reports whether the Content-Type value v is one a plain
// HTML form (or a fetch without preflight) can send, or is not a media
// type at all.
func formMediaType(v string) bool {
	mt, _, err := mime.ParseMediaType(v) // lower-cased, parameters and blanks dropped
	if err != nil {
		return true
	}
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return true
	case "text/ping": // <a ping> posts it cross-site, and old browsers send no Origin with it
		return true
	}
	return false
}

// takesFormBody is the allow-list of API routes that may take a form body
// on an unsafe method. A route belongs here only when it authenticates by
// a header that a cross-site form cannot send (an API key), never by the
// session cookie.
func takesFormBody(path string) bool {
	switch strings.TrimSuffix(path, "/") {
	case "/api/v1/introspect": // RFC 7662 token introspection posts application/x-www-form-urlencoded
		return true
	}
	return oidcCallbackPath(path)
}
