package app

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// OIDCProvider is one OpenID provider customers may sign in with
// (MARBELLE_OIDC_PROVIDERS and the MARBELLE_OIDC_<NAME>_* settings).
type OIDCProvider struct {
	Name         string // lower-case, as in the routes: google, apple, microsoft, or a shop's own
	Label        string // shown on the buttons: "Google", …
	ClientID     string
	ClientSecret string // empty for Apple, which signs one per request with AppleKey
	Issuer       string
	// IssuerTemplate, when set, is the issuer an ID token must name with
	// {tenantid} replaced by its tid claim (Microsoft's common and
	// organizations endpoints: the discovery document names the template).
	IssuerTemplate string
	// FormPost asks the provider to post the answer (Apple's
	// response_mode=form_post, needed for the name and email scopes).
	FormPost bool
	// Apple's client secret is a JWT signed with the shop's key.
	AppleTeamID, AppleKeyID string
	AppleKey                *ecdsa.PrivateKey
}

// Issuers of the named providers; MARBELLE_OIDC_<NAME>_ISSUER overrides
// them (tests point a named provider at a local one).
const (
	googleIssuer           = "https://accounts.google.com"
	appleIssuer            = "https://appleid.apple.com"
	microsoftIssuerPattern = "https://login.microsoftonline.com/%s/v2.0"
)

var oidcNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)

// oidcEnv is the environment name of one provider's setting.
func oidcEnv(name, suffix string) string {
	return "MARBELLE_OIDC_" + strings.ToUpper(name) + "_" + suffix
}

// oidcSuffixes are the per-provider settings LoadConfig reads.
var oidcSuffixes = []string{"CLIENT_ID", "CLIENT_SECRET", "ISSUER", "LABEL", "TENANT", "TEAM_ID", "KEY_ID", "PRIVATE_KEY_FILE"}

// parseOIDC reads the providers MARBELLE_OIDC_PROVIDERS names from raw.
// A named provider without its settings is a problem in every mode: a
// button that cannot work is worse than none.
func parseOIDC(c *Config, raw map[string]string, problems configProblems) {
	const list = "MARBELLE_OIDC_PROVIDERS"
	seen := map[string]bool{}
	for _, name := range splitList(strings.ToLower(raw[list])) {
		if !oidcNameRE.MatchString(name) || seen[name] {
			problems.add(list, fmt.Errorf("%q is not a provider name (lower-case letters and digits, each once)", name))
			continue
		}
		seen[name] = true
		p, errs := oidcProviderOf(name, func(s string) string { return strings.TrimSpace(raw[oidcEnv(name, s)]) })
		for _, err := range errs {
			problems.add(list, err)
		}
		if len(errs) == 0 {
			c.OIDCProviders = append(c.OIDCProviders, p)
		}
	}
}

// oidcProviderOf builds one provider from its settings, with what is
// wrong with them.
func oidcProviderOf(name string, get func(string) string) (OIDCProvider, []error) {
	p := OIDCProvider{Name: name, Label: get("LABEL"), ClientID: get("CLIENT_ID"), ClientSecret: get("CLIENT_SECRET"), Issuer: get("ISSUER")}
	var errs []error
	need := func(suffix, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("provider %s needs %s", name, oidcEnv(name, suffix)))
		}
	}
	need("CLIENT_ID", p.ClientID)
	switch name {
	case "google":
		p.Label, p.Issuer = orDefault(p.Label, "Google"), orDefault(p.Issuer, googleIssuer)
		need("CLIENT_SECRET", p.ClientSecret)
	case "microsoft":
		p.Label = orDefault(p.Label, "Microsoft")
		tenant := orDefault(get("TENANT"), "common")
		if p.Issuer == "" {
			p.Issuer = fmt.Sprintf(microsoftIssuerPattern, tenant)
			if tenant == "common" || tenant == "organizations" || tenant == "consumers" {
				p.IssuerTemplate = fmt.Sprintf(microsoftIssuerPattern, "{tenantid}")
			}
		}
		need("CLIENT_SECRET", p.ClientSecret)
	case "apple":
		p.Label, p.Issuer, p.FormPost = orDefault(p.Label, "Apple"), orDefault(p.Issuer, appleIssuer), true
		p.AppleTeamID, p.AppleKeyID = get("TEAM_ID"), get("KEY_ID")
		need("TEAM_ID", p.AppleTeamID)
		need("KEY_ID", p.AppleKeyID)
		if p.ClientSecret == "" { // a fixed secret (tests) replaces the signed one
			file := get("PRIVATE_KEY_FILE")
			need("PRIVATE_KEY_FILE", file)
			if file != "" {
				var err error
				if p.AppleKey, err = readAppleKey(file); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", oidcEnv(name, "PRIVATE_KEY_FILE"), err))
				}
			}
		}
	default:
		p.Label = orDefault(p.Label, strings.ToUpper(name[:1])+name[1:])
		need("CLIENT_SECRET", p.ClientSecret)
		need("ISSUER", p.Issuer)
	}
	if p.Issuer != "" {
		if err := checkIssuer(p.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", oidcEnv(name, "ISSUER"), err))
		}
	}
	return p, errs
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkIssuer accepts an https URL, or http on loopback (development and tests).
func checkIssuer(v string) error {
	if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://127.0.0.1") || strings.HasPrefix(v, "http://localhost") || strings.HasPrefix(v, "http://[::1]") {
		return nil
	}
	return errors.New("must be an https URL")
}

// readAppleKey reads the PKCS #8 P-256 key Apple issues (the .p8 file).
func readAppleKey(file string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(file) // #nosec G304 -- the operator names the file
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an EC private key (Apple issues P-256 keys)")
	}
	return ec, nil
}
