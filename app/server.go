package app

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/gorilla/securecookie"
	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"github.com/marbelle/marbelle/i18n"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// Server is the HTTP side of Marbelle: routes, sessions and the flows.
type Server struct {
	cfg           Config
	db            *store.DB
	log           *slog.Logger
	now           func() time.Time
	baseURL       string
	cookieName    string
	secureCookies bool
	cookies       *securecookie.SecureCookie
	sealer        cipher.AEAD
	hasher        *password.Hasher
	composer      *mail.Composer
	sink          *mail.Sink // development only; nil otherwise
	wakeMailer    func()
	mailSender    mail.Sender // the configured SMTP client, for the admin test mail (#21)
	limits        limiters
	handler       http.Handler
	ui            http.Handler
	touchSlots    chan struct{} // bounds the background session touches
	lists         sync.Pool     // *listScratch, reused by address-list answers
	backupSlot    chan struct{} // full while a backup runs: one at a time
	// forwardOrigins are cfg.ForwardAuthOrigins(), where forward auth's
	// login redirect may send the visitor back to.
	forwardOrigins map[string]bool
	routeList      []string // "METHOD /pattern" of every route, in routes.go's order
	keyUses        keyUses  // API key uses not yet written (apikey.go)
	// wakeWebhooks wakes the webhook deliverer after a commit that queued
	// deliveries (webhook.go); nil until the workers start.
	wakeWebhooks func()
	oidc         *oidcClients // OpenID providers customers may sign in with (oidc.go)

	metrics *metrics

	catalogue *i18n.Catalogue // every language's messages (language.go)
}

type limiters struct {
	login, register, token, loginFailures, emailChange *ratelimit.Limiter
	userWrites, mailRecipient                          *ratelimit.Limiter
}

// limiterKeys bounds each limiter's memory (about 100 bytes a key).
const limiterKeys = 200_000

// Options are what the environment supplies beyond Config.
type Options struct {
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	// BaseURL is used when Config.BaseURL is empty (from the listener).
	BaseURL string
	// Sink is the development mail sink served at /api/v1/dev/mail.
	Sink *mail.Sink
	// HashSlots bounds concurrent password hashes; default runtime.NumCPU().
	HashSlots int
	// HashWait bounds the wait for a hashing slot before 503; default 5 s.
	HashWait time.Duration
	// UI serves the web pages (router.NotFound); nil serves a plain 404.
	UI http.Handler
	// Version is this binary's version, for marbelle_build_info.
	Version string
	// Catalogue is every language's messages; nil loads the built-in ones
	// and the shop's from the data dir (loadCatalogue).
	Catalogue *i18n.Catalogue
	// Composer renders mail with the shop's templates (loadShop); nil uses
	// the built-in ones.
	Composer *mail.Composer
}

// New builds a Server on an open store. cfg.SecretKey must be set.
func New(cfg Config, db *store.DB, log *slog.Logger, opts Options) (*Server, error) {
	if len(cfg.SecretKey) < 32 {
		return nil, errors.New("app: secret key must be at least 32 bytes")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HashSlots == 0 {
		opts.HashSlots = runtime.NumCPU()
	}
	if opts.HashWait == 0 {
		opts.HashWait = 5 * time.Second
	}
	s := &Server{cfg: cfg, db: db, log: log, now: opts.Now, sink: opts.Sink, ui: opts.UI, touchSlots: make(chan struct{}, 64), backupSlot: make(chan struct{}, 1), metrics: newMetrics(opts.Version)}
	s.baseURL = strings.TrimRight(cfg.BaseURL, "/")
	if s.baseURL == "" {
		s.baseURL = strings.TrimRight(opts.BaseURL, "/")
	}
	if s.baseURL == "" {
		return nil, errors.New("app: no base URL")
	}
	s.forwardOrigins = map[string]bool{}
	for _, o := range cfg.ForwardAuthOrigins() {
		s.forwardOrigins[o] = true
	}
	s.secureCookies = strings.HasPrefix(s.baseURL, "https://")
	s.cookieName = "marbelle_session"
	switch {
	case s.secureCookies && cfg.CookieDomain != "":
		s.cookieName = "__Secure-marbelle_session" // __Host- forbids a Domain
	case s.secureCookies:
		s.cookieName = "__Host-marbelle_session"
	}
	hashKey, blockKey, mailKey := deriveKey(cfg.SecretKey, "marbelle cookie hmac-sha256 v1", 32), deriveKey(cfg.SecretKey, "marbelle cookie aes-256 v1", 32), sealerKey(cfg.SecretKey)
	maxAge := max(cfg.SessionTTL.Absolute, cfg.SessionTTL.StaffAbsolute)
	s.cookies = newCookieCodec(hashKey, blockKey, maxAge)
	var err error
	if s.sealer, err = newSealer(mailKey); err != nil {
		return nil, err
	}
	if s.hasher, err = password.NewHasher(cfg.PasswordHash, opts.HashSlots, opts.HashWait); err != nil {
		return nil, err
	}
	if s.catalogue = opts.Catalogue; s.catalogue == nil {
		if s.catalogue, err = loadCatalogue(cfg); err != nil {
			return nil, err
		}
	}
	if s.composer = opts.Composer; s.composer == nil {
		if s.composer, err = mail.NewComposerWith(nil, s.catalogue); err != nil {
			return nil, err
		}
	}
	if !s.catalogue.Has(cfg.DefaultLanguage) {
		return nil, fmt.Errorf("app: MARBELLE_DEFAULT_LANGUAGE: no catalogue for %q (have %s)", cfg.DefaultLanguage, strings.Join(s.catalogue.Languages(), ", "))
	}
	rl := cfg.RateLimits
	s.limits = limiters{
		login:         ratelimit.New(rl.Login, limiterKeys, rl.Off),
		register:      ratelimit.New(rl.Register, limiterKeys, rl.Off),
		token:         ratelimit.New(rl.Token, limiterKeys, rl.Off),
		loginFailures: ratelimit.New(rl.LoginFailures, limiterKeys, rl.Off),
		emailChange:   ratelimit.New(rl.EmailChange, limiterKeys, rl.Off),
		userWrites:    ratelimit.New(rl.UserWrites, limiterKeys, rl.Off),
		mailRecipient: ratelimit.New(rl.MailRecipient, limiterKeys, rl.Off),
	}
	s.oidc = newOIDCClients(cfg.OIDCProviders, cfg.SecretKey)
	router := s.routes()
	cop, err := s.withCrossOriginProtection(s.withFormContentTypes(router))
	if err != nil {
		return nil, fmt.Errorf("app: trusted origins: %w", err)
	}
	s.handler = s.withMetrics(router, s.withBasics(s.withSecurityHeaders(s.withAllowedHosts(s.withCORS(cop)))))
	return s, nil
}

// Handler is the whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// BaseURL is the public URL links are built from.
func (s *Server) BaseURL() string { return s.baseURL }

// deriveKey expands the secret into an independent key per purpose (HKDF-SHA256).
func deriveKey(secret, purpose string, n int) []byte {
	key := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, []byte(secret), nil, []byte(purpose)), key); err != nil {
		panic("hkdf: " + err.Error()) // cannot happen for n ≤ 255×32
	}
	return key
}

// sealerKey is the key of s.sealer (queued mail, TOTP and webhook signing
// secrets), derived from the server's secret key.
func sealerKey(secretKey string) []byte {
	return deriveKey(secretKey, "marbelle outbox aes-256-gcm v1", 32)
}

// newSealer is the AES-GCM of seal and unseal with key.
func newSealer(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
