package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func loadEnv(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	return LoadConfig(nil, func(k string) string { return env[k] }, io.Discard)
}

// A named provider without its settings keeps the server from starting,
// with a message naming the missing setting.
func TestOIDCConfigRefusesMissingSettings(t *testing.T) {
	env := secProductionEnv(t)
	env["MARBELLE_OIDC_PROVIDERS"] = "google, apple, microsoft, shopid"
	env["MARBELLE_OIDC_GOOGLE_CLIENT_ID"] = "g"
	_, err := loadEnv(t, env)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a ConfigError", err)
	}
	msg := err.Error()
	for _, want := range []string{"MARBELLE_OIDC_GOOGLE_CLIENT_SECRET", "MARBELLE_OIDC_APPLE_TEAM_ID", "MARBELLE_OIDC_APPLE_PRIVATE_KEY_FILE", "MARBELLE_OIDC_MICROSOFT_CLIENT_ID", "MARBELLE_OIDC_SHOPID_ISSUER"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %s:\n%s", want, msg)
		}
	}
	env["MARBELLE_OIDC_PROVIDERS"] = "Bad Name!"
	if _, err := loadEnv(t, env); err == nil || !strings.Contains(err.Error(), "not a provider name") {
		t.Fatalf("bad name: %v", err)
	}
}

func TestOIDCConfigNamedProviders(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "AuthKey.p8")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := secProductionEnv(t)
	env["MARBELLE_OIDC_PROVIDERS"] = "google,apple,microsoft,shopid"
	for k, v := range map[string]string{
		"GOOGLE_CLIENT_ID": "g", "GOOGLE_CLIENT_SECRET": "gs",
		"APPLE_CLIENT_ID": "com.shop.web", "APPLE_TEAM_ID": "TEAM123", "APPLE_KEY_ID": "KEY123", "APPLE_PRIVATE_KEY_FILE": keyFile,
		"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET": "ms",
		"SHOPID_CLIENT_ID": "s", "SHOPID_CLIENT_SECRET": "ss", "SHOPID_ISSUER": "https://id.shop.example", "SHOPID_LABEL": "Shop ID",
	} {
		env["MARBELLE_OIDC_"+k] = v
	}
	cfg, err := loadEnv(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.OIDCProviders) != 4 {
		t.Fatalf("%d providers", len(cfg.OIDCProviders))
	}
	g, a, m, s := cfg.OIDCProviders[0], cfg.OIDCProviders[1], cfg.OIDCProviders[2], cfg.OIDCProviders[3]
	if g.Issuer != googleIssuer || a.Issuer != appleIssuer || !a.FormPost || s.Label != "Shop ID" || s.Issuer != "https://id.shop.example" {
		t.Fatalf("providers: %+v", cfg.OIDCProviders)
	}
	if m.Issuer != "https://login.microsoftonline.com/common/v2.0" || m.IssuerTemplate != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Fatalf("microsoft: %+v", m)
	}
	// Microsoft's issuer is the template with the token's own tenant.
	ok := &oidcClaims{TenantID: "9188040d-6c67-4c5b-b112-36a304b66dad", issuer: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"}
	if err := checkOIDCIssuer(m, ok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*oidcClaims{
		{TenantID: "other", issuer: ok.issuer},
		{TenantID: "", issuer: "https://login.microsoftonline.com//v2.0"},
		{TenantID: "x/../y", issuer: "https://login.microsoftonline.com/x/../y/v2.0"},
	} {
		if checkOIDCIssuer(m, bad) == nil {
			t.Errorf("issuer %q with tid %q passed", bad.issuer, bad.TenantID)
		}
	}

	// Apple's client secret: an ES256 JWT checked with go-jose against the
	// public key, with the claims Apple asks for.
	now := time.Now()
	raw, err := appleClientSecret(a, now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Headers[0].KeyID != "KEY123" {
		t.Fatalf("kid %q", tok.Headers[0].KeyID)
	}
	var claims jwt.Claims
	if err := tok.Claims(&key.PublicKey, &claims); err != nil {
		t.Fatal(err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: "TEAM123", Subject: "com.shop.web", AnyAudience: jwt.Audience{appleIssuer}, Time: now}); err != nil {
		t.Fatal(err)
	}
}
