package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/marbelle/marbelle/i18n"
	"github.com/marbelle/marbelle/mail"
	"github.com/marbelle/marbelle/ui"
)

// A shop changes Marbelle's words and look from DATA_DIR/templates without
// a rebuild (docs/languages.md, docs/configuration.md):
//
//	templates/i18n/<lang>.json   a new language, or some keys reworded
//	templates/mail/<file>        any file of mail/templates
//	templates/site.json          site name, logo, colours
//
// Everything is read and tried once at start-up: a broken file stops the
// server (exit status 2), naming the file and the fault.

// TemplateError is a broken override; the command exits 2 on it.
type TemplateError struct {
	File string
	Err  error
}

func (e *TemplateError) Error() string { return "templates: " + e.File + ": " + e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// shop is what the overrides give Serve: the catalogue, the mail composer
// and the pages' theme.
type shop struct {
	catalogue *i18n.Catalogue
	composer  *mail.Composer
	theme     *ui.Theme
	siteName  string // "" keeps MARBELLE_SITE_NAME
}

func templatesDir(cfg Config) string {
	if cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "templates")
}

// loadShop reads and checks every override.
func loadShop(cfg Config) (*shop, error) {
	dir := templatesDir(cfg)
	var sh shop
	var err error
	if sh.catalogue, err = loadCatalogue(cfg); err != nil {
		return nil, &TemplateError{File: filepath.Join(dir, "i18n"), Err: err}
	}
	if !sh.catalogue.Has(cfg.DefaultLanguage) {
		return nil, &TemplateError{File: filepath.Join(dir, "i18n", cfg.DefaultLanguage+".json"), Err: fmt.Errorf("MARBELLE_DEFAULT_LANGUAGE is %q, and no catalogue has it", cfg.DefaultLanguage)}
	}
	var mailDir fs.FS
	if dir != "" {
		if st, err := os.Stat(filepath.Join(dir, "mail")); err == nil && st.IsDir() {
			mailDir = os.DirFS(filepath.Join(dir, "mail"))
		}
	}
	if sh.composer, err = mail.NewComposerWith(mailDir, sh.catalogue); err != nil {
		return nil, &TemplateError{File: filepath.Join(dir, "mail"), Err: err}
	}
	if dir != "" {
		if err := sh.loadSite(filepath.Join(dir, "site.json")); err != nil {
			return nil, &TemplateError{File: filepath.Join(dir, "site.json"), Err: err}
		}
	}
	return &sh, nil
}

// siteFile is templates/site.json.
type siteFile struct {
	SiteName string            `json:"site_name"`
	Logo     string            `json:"logo"`   // a file beside site.json
	Colors   map[string]string `json:"colors"` // app.css custom properties, without "--"
}

// themeColors are the custom properties of ui/embed/assets/app.css a shop
// may set.
var themeColors = []string{"bg", "card", "ink", "muted", "line", "field", "accent", "accent-dark", "accent-soft", "err", "err-bg", "ok", "ok-bg", "info-bg", "focus"}

var cssColor = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla)\([0-9., %]+\))$`)

var logoTypes = map[string]string{".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}

func (sh *shop) loadSite(path string) error {
	b, err := os.ReadFile(path) // #nosec G304 -- site.json in the operator's own data dir
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f siteFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if f.SiteName != "" && (len(f.SiteName) > 100 || strings.ContainsAny(f.SiteName, "\r\n")) {
		return errors.New("site_name must be 1 to 100 characters on one line")
	}
	sh.siteName = f.SiteName
	theme := &ui.Theme{}
	var css strings.Builder
	css.WriteString(":root{")
	names := make([]string, 0, len(f.Colors))
	for name := range f.Colors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := strings.TrimSpace(f.Colors[name])
		if !slices.Contains(themeColors, name) {
			return fmt.Errorf("colors: unknown colour %q (known: %s)", name, strings.Join(themeColors, ", "))
		}
		if !cssColor.MatchString(v) {
			return fmt.Errorf("colors.%s: %q is not a CSS colour such as #1d5c57 or rgb(29, 92, 87)", name, v)
		}
		fmt.Fprintf(&css, "--%s:%s;", name, v)
	}
	css.WriteString("}\n")
	theme.CSS = []byte(css.String())
	if f.Logo != "" {
		ctype, ok := logoTypes[strings.ToLower(filepath.Ext(f.Logo))]
		if !ok || filepath.Base(f.Logo) != f.Logo {
			return fmt.Errorf("logo: %q must be a .svg, .png, .jpg or .webp file beside site.json", f.Logo)
		}
		if theme.Logo, err = os.ReadFile(filepath.Join(filepath.Dir(path), f.Logo)); err != nil {
			return fmt.Errorf("logo: %w", err)
		}
		sum := sha256.Sum256(theme.Logo)
		theme.LogoType, theme.LogoVersion = ctype, hex.EncodeToString(sum[:6])
	}
	sh.theme = theme
	return nil
}

// uiConfig is what the pages need of the configuration and the shop.
func (sh *shop) uiConfig(cfg Config, devMail bool) ui.Config {
	c := ui.Config{SiteName: cfg.SiteName, DevMail: devMail, NextOrigins: cfg.ForwardAuthOrigins(),
		Languages: sh.catalogue.Languages(), DefaultLanguage: cfg.DefaultLanguage, Strings: sh.catalogue.UI, Match: sh.catalogue.Match, Theme: sh.theme}
	if sh.siteName != "" {
		c.SiteName = sh.siteName
	}
	if cc := phonenumbers.GetCountryCodeForRegion(cfg.DefaultRegion); cc != 0 {
		c.PhoneCC = fmt.Sprint(cc)
		c.PhoneTrunk = phonenumbers.GetNddPrefixForRegion(cfg.DefaultRegion, true)
	}
	return c
}
