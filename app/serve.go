package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/ui"
	"github.com/marbelle/marbelle/webhook"
)

// ServeOptions adjust Serve for tests.
type ServeOptions struct {
	// Ready, when set, is called with the base URL once the server accepts requests.
	Ready func(baseURL string)
	// Delivery tunes the mail delivery loop.
	Delivery mail.DeliveryOptions
	// UI serves the web pages configured as Serve says (ui.Handler).
	UI func(ui.Config) http.Handler
	// HashSlots and HashWait: see Options.
	HashSlots int
	HashWait  time.Duration
	// MetricsReady, when set, is called with the metrics URL once the
	// private metrics listener accepts requests (MARBELLE_METRICS_ADDR set).
	MetricsReady func(url string)
	// Version is this binary's version (marbelle_build_info).
	Version string
}

// Serve runs the server (and, when cfg.MetricsAddr is set, the private
// metrics listener) until ctx is cancelled, then shuts down gracefully:
// stop accepting, finish requests in flight (bounded by
// cfg.ShutdownTimeout), stop the mailer and the sweeper, close the sink and
// the store.
func Serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer, opts ServeOptions) error {
	tuneRuntime(cfg, opts.HashSlots, log)
	// The shop's templates first: a broken one stops the start before the
	// store is touched (TemplateError: exit status 2).
	sh, err := loadShop(cfg)
	if err != nil {
		return err
	}
	if sh.siteName != "" {
		cfg.SiteName = sh.siteName
	}
	db, err := openStoreForServing(&cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	ln, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer ln.Close()

	var listeners sync.WaitGroup // the sink's and the metrics listener's goroutines
	sink, smtpURL, err := startSink(&cfg, log, &listeners)
	if err != nil {
		return err
	}
	if sink != nil {
		defer sink.Close()
	}
	s, err := newServingServer(ctx, cfg, db, log, opts, sh, ln.Addr().String(), sink)
	if err != nil {
		return err
	}
	sender, err := newSender(smtpURL, s.BaseURL(), log)
	if err != nil {
		return err
	}
	metricsSrv, err := startMetrics(cfg.MetricsAddr, s.MetricsHandler(), log, &listeners, opts.MetricsReady)
	if err != nil {
		return err
	}
	stopWorkers := s.startWorkers(ctx, sender, opts.Delivery)

	srv := newHTTPServer(s.Handler(), log)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	announce(stdout, log, cfg, s.BaseURL(), ln.Addr().String(), db.Path(), sink != nil)
	if opts.Ready != nil {
		opts.Ready(s.BaseURL())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	log.Info("shutting down")
	shutdownHTTP(cfg.ShutdownTimeout, log, srv, metricsSrv)
	stopWorkers() // before the store closes
	if sink != nil {
		sink.Close()
	}
	listeners.Wait()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	if err := db.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// tuneRuntime sets the memory limit and, when nobody can fetch a heap
// profile (no private metrics listener), stops paying for sampling one
// (its tables cost about 1.5 MiB).
func tuneRuntime(cfg Config, hashSlots int, log *slog.Logger) {
	setMemoryLimit(cfg, hashSlots, log)
	if cfg.MetricsAddr == "" {
		runtime.MemProfileRate = 0
	}
}

// newServingServer builds the Server that Serve runs on addr, with the
// shop's pages, catalogue and mail, and seals the webhook secrets a store
// of schema 5 still held in clear before anything can deliver with them.
func newServingServer(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger, opts ServeOptions, sh *shop, addr string, sink *mail.Sink) (*Server, error) {
	var pages http.Handler
	if opts.UI != nil {
		pages = opts.UI(sh.uiConfig(cfg, sink != nil))
	}
	s, err := New(cfg, db, log, Options{BaseURL: "http://" + addr, Sink: sink, UI: pages, HashSlots: opts.HashSlots, HashWait: opts.HashWait, Version: opts.Version,
		Catalogue: sh.catalogue, Composer: sh.composer})
	if err != nil {
		return nil, err
	}
	if err := s.SealWebhookSecrets(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// openStoreForServing opens the data dir's store and removes the backup
// snapshot files an earlier run left (no backup of this process can be
// running yet).
func openStoreForServing(cfg *Config, log *slog.Logger) (*store.DB, error) {
	db, err := openDataDir(cfg, log)
	if err != nil {
		return nil, err
	}
	if n, err := db.RemoveSnapshots(); err != nil {
		log.Warn("cannot remove a backup snapshot file left by an earlier run; delete it by hand", "err", err)
	} else if n > 0 {
		log.Info("removed backup snapshot files left by an earlier run", "count", n)
	}
	return db, nil
}

// listen opens the public listener on cfg.Addr.
func listen(cfg Config, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if !cfg.Production() && !loopbackAddr(cfg.Addr) { // only with MARBELLE_DEV_ALLOW_PUBLIC=true
		log.Warn("development mode on a non-loopback address: anyone who reaches it can read the captured mail", "addr", ln.Addr().String())
	}
	return ln, nil
}

// startSink starts the development SMTP sink when cfg.DevSMTPAddr is set
// (nil otherwise), setting cfg.DevSMTPAddr to the address it got. smtpURL
// is where mail goes: cfg.SMTPURL, else the sink.
func startSink(cfg *Config, log *slog.Logger, running *sync.WaitGroup) (sink *mail.Sink, smtpURL string, err error) {
	smtpURL = cfg.SMTPURL
	if cfg.DevSMTPAddr == "" {
		return nil, smtpURL, nil
	}
	sl, err := net.Listen("tcp", cfg.DevSMTPAddr)
	if err != nil {
		return nil, "", fmt.Errorf("dev SMTP sink: listen on %s: %w", cfg.DevSMTPAddr, err)
	}
	sink = mail.NewSink(500, log)
	running.Go(func() {
		if err := sink.Serve(sl); err != nil {
			log.Error("dev SMTP sink stopped", "err", err)
		}
	})
	if smtpURL == "" {
		smtpURL = "smtp://" + sl.Addr().String()
	}
	cfg.DevSMTPAddr = sl.Addr().String()
	return sink, smtpURL, nil
}

// newSender is the SMTP client for smtpURL, greeting with the base URL's
// host; without a URL mail stays queued.
func newSender(smtpURL, baseURL string, log *slog.Logger) (mail.Sender, error) {
	if smtpURL == "" {
		log.Warn("no SMTP target: mail stays queued until MARBELLE_SMTP_URL is set")
		return noSender{}, nil
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(baseURL, "https://"), "http://"), "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	sender, err := mail.NewSMTPSender(smtpURL, host, nil)
	if err != nil {
		return nil, fmt.Errorf("MARBELLE_SMTP_URL: %w", err)
	}
	return sender, nil
}

// startMetrics serves handler on the private metrics address, when one is
// set (nil otherwise), and tells ready its URL.
func startMetrics(addr string, handler http.Handler, log *slog.Logger, running *sync.WaitGroup, ready func(url string)) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ml, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	srv := newHTTPServer(handler, log)
	running.Go(func() {
		if err := srv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	})
	url := "http://" + ml.Addr().String() + "/metrics"
	log.Info("metrics listening", "url", url)
	if ready != nil {
		ready(url)
	}
	return srv, nil
}

// startWorkers starts mail delivery, the sweeper, the writer of API key
// uses and, when configured, the store-page release; stop ends them and
// waits for them (the key uses are written once more as it stops).
func (s *Server) startWorkers(ctx context.Context, sender mail.Sender, delivery mail.DeliveryOptions) (stop func()) {
	deliverer := mail.NewDeliverer(s.MailQueue(), sender, s.log, delivery)
	s.SetMailWaker(deliverer.Notify)
	s.SetMailSender(sender)
	// The workers outlive ctx: shutdown stops them after the last request.
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	var mailDone sync.WaitGroup
	mailDone.Go(func() { deliverer.Run(mailCtx) })
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	var sweepDone sync.WaitGroup
	sweepDone.Go(func() { s.runSweeper(sweepCtx) })
	sweepDone.Go(func() { s.runKeyUseFlush(sweepCtx) })
	// Webhooks (#17): pending deliveries resume from the store at start.
	hooks := webhook.NewDeliverer(s.WebhookQueue(), s.log, webhook.Options{Now: s.now})
	s.SetWebhookWaker(hooks.Notify)
	mailDone.Go(func() { hooks.Run(mailCtx) })
	if s.cfg.StoreRelease > 0 {
		sweepDone.Go(func() { s.runStoreRelease(sweepCtx) })
	}
	return func() {
		stopMail()
		stopSweep()
		mailDone.Wait()
		sweepDone.Wait()
	}
}

// newHTTPServer bounds every phase of a connection, so that slow clients
// cannot hold connections open.
func newHTTPServer(handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// announce tells the operator (stdout) and the log where the server is.
func announce(stdout io.Writer, log *slog.Logger, cfg Config, baseURL, addr, storePath string, sink bool) {
	fmt.Fprintf(stdout, "Marbelle (%s) serving on %s\n", cfg.Env, baseURL)
	if sink {
		fmt.Fprintf(stdout, "Development SMTP sink listening on %s; captured mail at %s/api/v1/dev/mail and %s/dev/mail\n", cfg.DevSMTPAddr, baseURL, baseURL)
	}
	log.Info("serving", "env", cfg.Env, "addr", addr, "base_url", baseURL, "store", storePath)
}

// shutdownHTTP lets requests in flight finish until timeout, then cuts the rest.
func shutdownHTTP(timeout time.Duration, log *slog.Logger, srv, metricsSrv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("requests still in flight at the shutdown deadline were cut", "err", err)
		srv.Close()
	}
	if metricsSrv != nil && metricsSrv.Shutdown(ctx) != nil {
		metricsSrv.Close()
	}
}

// noSender keeps mail queued when no SMTP target is configured.
type noSender struct{}

func (noSender) Send(context.Context, string, []string, []byte) error {
	return errors.New("no SMTP target configured (MARBELLE_SMTP_URL)")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setMemoryLimit gives the garbage collector a soft limit of what the
// heap needs plus room for the rest, so that a login flood does not let
// dead 64 MiB blocks pile up to twice the live heap. Where hash memory is
// kept outside the heap (argon2.KeepsMemory) the heap needs no room for
// it. An operator's GOMEMLIMIT wins.
func setMemoryLimit(cfg Config, slots int, log *slog.Logger) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return // GOMEMLIMIT is set
	}
	if slots == 0 {
		slots = runtime.NumCPU()
	}
	var hashHeap int64
	if !password.KeepsMemory() {
		hashHeap = int64(slots) * int64(cfg.PasswordHash.Memory) * 1024
	}
	limit := max(hashHeap+32<<20, 96<<20)
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
}
