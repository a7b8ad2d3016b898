package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// openDataDir prepares cfg.DataDir for a server: it creates the dir,
// fills in the development secret when cfg has no key, and opens the store.
func openDataDir(cfg *Config, log *slog.Logger) (*store.DB, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := fillSecretKey(cfg); err != nil {
		return nil, err
	}
	return openStore(cfg.DataDir, false, log)
}

// ErrNoSecretKey: a command that seals (webhook add) ran in production
// without MARBELLE_SECRET_KEY.
var ErrNoSecretKey = errors.New("MARBELLE_SECRET_KEY is required in production: set the key the server runs with, so that what this command seals opens there")

// fillSecretKey gives cfg the development secret its data dir keeps (made
// on first use) when it has no MARBELLE_SECRET_KEY: the server and the
// commands that seal reach the same key this way. Production must set one.
func fillSecretKey(cfg *Config) error {
	if cfg.SecretKey != "" {
		return nil
	}
	if cfg.Production() {
		return ErrNoSecretKey
	}
	secret, err := devSecret(cfg.DataDir)
	if err != nil {
		return err
	}
	cfg.SecretKey = secret
	return nil
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
