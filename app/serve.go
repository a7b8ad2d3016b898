package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/marbelle/marbelle/app/internal/argon2"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/store"
)

// StoreFile is the store's file name inside the data dir.
const StoreFile = "marbelle.db"

// devSecretFile holds the development secret key, generated once.
const devSecretFile = "secret.key"

// OpenStore opens the store of a data dir, creating the dir (mode 0700).
// The warnings of a migration are dropped: the commands that may migrate
// use openStore with their logger.
func OpenStore(dataDir string, readOnly bool) (*store.DB, error) {
	return openStore(dataDir, readOnly, nil)
}

// openStore is OpenStore that logs a migration's warnings to log (nil
// drops them).
func openStore(dataDir string, readOnly bool, log *slog.Logger) (*store.DB, error) {
	if !readOnly {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	return store.Open(filepath.Join(dataDir, StoreFile), store.Options{Timeout: time.Second, ReadOnly: readOnly, Logger: log})
}

// devSecret reads the development secret from the data dir, generating it
// (mode 0600) on first use. Production never gets here: it refuses to start
// without MARBELLE_SECRET_KEY.
func devSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, devSecretFile)
	b, err := os.ReadFile(path) // #nosec G304 -- the secret file inside the operator's data dir
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var key [48]byte
	if _, err := rand.Read(key[:]); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(key[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// ServeOptions adjust Serve for tests.
type ServeOptions struct {
	// Ready, when set, is called with the base URL once the server accepts requests.
	Ready func(baseURL string)
	// Delivery tunes the mail delivery loop.
	Delivery mail.DeliveryOptions
	// UI serves the web pages; devMail says whether the mail viewer exists.
	UI func(siteName string, devMail bool) http.Handler
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
	setMemoryLimit(cfg, opts.HashSlots, log)
	if cfg.MetricsAddr == "" {
		// Nobody can fetch a heap profile without the private listener, so
		// do not pay for sampling one (its tables cost about 1.5 MiB).
		runtime.MemProfileRate = 0
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if cfg.SecretKey == "" {
		secret, err := devSecret(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.SecretKey = secret
	}
	db, err := openStore(cfg.DataDir, false, log)
	if err != nil {
		return err
	}
	defer db.Close()
	// Before serving: no backup of this process can be running yet.
	if n, err := db.RemoveSnapshots(); err != nil {
		log.Warn("cannot remove a backup snapshot file left by an earlier run; delete it by hand", "err", err)
	} else if n > 0 {
		log.Info("removed backup snapshot files left by an earlier run", "count", n)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()
	if !cfg.Production() && !loopbackAddr(cfg.Addr) { // only with MARBELLE_DEV_ALLOW_PUBLIC=true
		log.Warn("development mode on a non-loopback address: anyone who reaches it can read the captured mail", "addr", ln.Addr().String())
	}

	var wg sync.WaitGroup
	var sink *mail.Sink
	smtpURL := cfg.SMTPURL
	if cfg.DevSMTPAddr != "" {
		sl, err := net.Listen("tcp", cfg.DevSMTPAddr)
		if err != nil {
			return fmt.Errorf("dev SMTP sink: listen on %s: %w", cfg.DevSMTPAddr, err)
		}
		sink = mail.NewSink(500, log)
		wg.Go(func() {
			if err := sink.Serve(sl); err != nil {
				log.Error("dev SMTP sink stopped", "err", err)
			}
		})
		defer sink.Close()
		if smtpURL == "" {
			smtpURL = "smtp://" + sl.Addr().String()
		}
		cfg.DevSMTPAddr = sl.Addr().String()
	}

	var ui http.Handler
	if opts.UI != nil {
		ui = opts.UI(cfg.SiteName, sink != nil)
	}
	s, err := New(cfg, db, log, Options{BaseURL: baseURL, Sink: sink, UI: ui, HashSlots: opts.HashSlots, HashWait: opts.HashWait, Version: opts.Version})
	if err != nil {
		return err
	}

	var sender mail.Sender = noSender{}
	if smtpURL != "" {
		host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(s.BaseURL(), "https://"), "http://"), "/")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if sender, err = mail.NewSMTPSender(smtpURL, host, nil); err != nil {
			return fmt.Errorf("MARBELLE_SMTP_URL: %w", err)
		}
	} else {
		log.Warn("no SMTP target: mail stays queued until MARBELLE_SMTP_URL is set")
	}
	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		ml, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsAddr, err)
		}
		metricsSrv = &http.Server{
			Handler: s.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		wg.Go(func() {
			if err := metricsSrv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		})
		log.Info("metrics listening", "url", "http://"+ml.Addr().String()+"/metrics")
		if opts.MetricsReady != nil {
			opts.MetricsReady("http://" + ml.Addr().String() + "/metrics")
		}
	}

	deliverer := mail.NewDeliverer(s.MailQueue(), sender, log, opts.Delivery)
	s.SetMailWaker(deliverer.Notify)
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	var mailDone sync.WaitGroup
	mailDone.Go(func() { deliverer.Run(mailCtx) })
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	var sweepDone sync.WaitGroup
	sweepDone.Go(func() { s.runSweeper(sweepCtx) })
	if cfg.StoreRelease > 0 {
		sweepDone.Go(func() { s.runStoreRelease(sweepCtx) })
	}

	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	fmt.Fprintf(stdout, "Marbelle (%s) serving on %s\n", cfg.Env, s.BaseURL())
	if sink != nil {
		fmt.Fprintf(stdout, "Development SMTP sink listening on %s; captured mail at %s/api/v1/dev/mail and %s/dev/mail\n", cfg.DevSMTPAddr, s.BaseURL(), s.BaseURL())
	}
	log.Info("serving", "env", cfg.Env, "addr", ln.Addr().String(), "base_url", s.BaseURL(), "store", db.Path())
	if opts.Ready != nil {
		opts.Ready(s.BaseURL())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still in flight at the shutdown deadline were cut", "err", err)
		srv.Close()
	}
	if metricsSrv != nil && metricsSrv.Shutdown(shutdownCtx) != nil {
		metricsSrv.Close()
	}
	stopMail()
	stopSweep()
	mailDone.Wait()
	sweepDone.Wait() // before the store closes
	if sink != nil {
		sink.Close()
	}
	wg.Wait()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	if err := db.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
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
	if !argon2.KeepsMemory() {
		hashHeap = int64(slots) * int64(cfg.PasswordHash.Memory) * 1024
	}
	limit := max(hashHeap+32<<20, 96<<20)
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
}
