// Package ui serves the web pages embedded in the binary. Pages are plain
// HTML, CSS and JavaScript modules: no build step, no external resource,
// no inline script (the Content-Security-Policy forbids it).
//
// Every page path answers the same document, index.html, in which the
// shop's name is templated; its script (assets/app.js) renders the view of
// the path. Assets are served under /assets/<version>/, where the version
// is a hash of every embedded file, so that they can be cached for a year
// and a new release never mixes with an old cached module.
package ui

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

//go:embed all:embed
var files embed.FS

// pages are the paths answered with the application page; its script
// renders the right view for each (the routes of assets/app.js: keep both
// lists in step, TestPagesMatchScriptRoutes checks it).
var pages = map[string]bool{
	"/":                     true,
	"/login":                true,
	"/register":             true,
	"/verify-email":         true,
	"/forgot-password":      true,
	"/reset-password":       true,
	"/confirm-email-change": true,
	"/account":              true,
	"/account/addresses":    true,
	"/account/security":     true,
	"/undo":                 true, // the "This wasn't me" link of security notices
	"/dev/mail":             true, // only when Config.DevMail
	"/admin":                true, // staff only (the script says "not allowed" to others)
	"/admin/users":          true,
	"/admin/user":           true, // ?id=
	"/admin/audit":          true,
	"/admin/outbox":         true,
	"/admin/api-keys":       true,
	"/admin/webhooks":       true, // #17
}

// Config says what the pages need from the server's configuration.
type Config struct {
	SiteName string // the shop's name, in every page's title and header
	DevMail  bool   // serve the captured-mail viewer at /dev/mail (development only)
	// NextOrigins are the origins besides its own that the login page may
	// return to after a login (the forward-auth hosts: assets/next.js).
	NextOrigins []string

	// Languages (docs/languages.md): the catalogues the server has, the
	// default, each one's UI strings as a JSON object, and Accept-Language
	// matching. /i18n/page.json answers the page's language and strings.
	Languages       []string
	DefaultLanguage string
	Strings         func(lang string) []byte
	Match           func(acceptLanguage string) (string, bool)
	// PhoneCC and PhoneTrunk show numbers of the default region nationally:
	// its calling code ("49") and trunk prefix ("0").
	PhoneCC, PhoneTrunk string
	// Theme is a shop's override (DATA_DIR/templates/site.json): CSS
	// custom properties served at /theme.css, and a logo at /theme/logo.
	Theme *Theme
}

// Theme is what a shop changes of the pages' look without a rebuild.
type Theme struct {
	CSS         []byte // ":root{--accent:#…}", already checked
	Logo        []byte
	LogoType    string // its Content-Type
	LogoVersion string // changes with the logo, for the URL
}

// asset is one embedded file under assets/, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the pages and their assets, with the shop's name in the page.
func Handler(cfg Config) http.Handler {
	static, err := fs.Sub(files, "embed")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	assets, version := loadAssets(static)
	prefix := "/assets/" + version

	tmpl := template.Must(template.ParseFS(static, "index.html"))
	var page bytes.Buffer
	data := struct {
		SiteName    string
		DevMail     bool
		NextOrigins string
		Assets      string
		// Languages and formats (Config).
		DefaultLanguage, PhoneCC, PhoneTrunk string
		Theme                                bool
		LogoURL                              string
	}{cfg.SiteName, cfg.DevMail, strings.Join(cfg.NextOrigins, " "), prefix,
		cmp.Or(cfg.DefaultLanguage, "en"), cfg.PhoneCC, cfg.PhoneTrunk, cfg.Theme != nil, ""}
	if cfg.Theme != nil && cfg.Theme.Logo != nil {
		data.LogoURL = "/theme/logo?v=" + cfg.Theme.LogoVersion
	}
	if err := tmpl.Execute(&page, data); err != nil {
		panic(err)
	}
	body := page.Bytes()

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if p != "/" {
			p = strings.TrimSuffix(p, "/")
		}
		if name, ok := strings.CutPrefix(p, "/assets/"); ok {
			serveAsset(w, r, assets, version, name)
			return
		}
		if p == "/i18n/page.json" || p == "/i18n/choose" {
			serveLanguage(w, r, cfg, p)
			return
		}
		if serveShopFile(w, r, cfg, p) {
			return
		}
		// The page itself renders "not found" for a path it has no view
		// for (and for /dev/mail without the sink), so a 404 looks like
		// the rest of the site.
		status := http.StatusOK
		if !pages[p] || (p == "/dev/mail" && !cfg.DevMail) {
			status = http.StatusNotFound
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
}

// serveAsset answers /assets/<version>/<file> from the embedded files: a
// year of caching for the current version, revalidation (by ETag) for a
// path without it or with an old one, 404 for anything else.
func serveAsset(w http.ResponseWriter, r *http.Request, assets map[string]*asset, version, name string) {
	cache := "no-cache"
	if first, rest, ok := strings.Cut(name, "/"); ok && isVersion(first) {
		name = rest
		if first == version {
			cache = "public, max-age=31536000, immutable"
		}
	}
	a := assets[name]
	if a == nil {
		w.Header().Set("Cache-Control", "no-cache")
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", cache)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// isVersion reports whether s looks like an asset version (see loadAssets).
func isVersion(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// loadAssets reads every file under assets/ and returns them by path
// (relative to assets/), with the version: the first 12 hex digits of a
// SHA-256 over all embedded files, names and contents.
func loadAssets(static fs.FS) (map[string]*asset, string) {
	out := map[string]*asset{}
	all := sha256.New()
	var names []string
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		panic(err)
	}
	sort.Strings(names)
	for _, p := range names {
		b, err := fs.ReadFile(static, p)
		if err != nil {
			panic(err)
		}
		all.Write([]byte(p + "\x00"))
		all.Write(b)
		all.Write([]byte{0})
		name, ok := strings.CutPrefix(p, "assets/")
		if !ok {
			continue
		}
		sum := sha256.Sum256(b)
		out[name] = &asset{body: b, contentType: assetType(path.Ext(p)), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out, hex.EncodeToString(all.Sum(nil))[:12]
}

// assetType is an embedded asset's Content-Type by its extension. The
// table is fixed here rather than taken from mime.TypeByExtension, which
// reads the host's mime.types: the answer would differ by host (a wrong
// type with nosniff breaks the page), and the parsed table stays in the
// heap, about 0.4 MiB, for the life of the process.
func assetType(ext string) string {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	case ".png":
		return "image/png"
	case ".woff2":
		return "font/woff2"
	}
	return "application/octet-stream"
}

// serveShopFile answers what the server's configuration supplies rather
// than the embedded files: a language's UI strings, the shop's theme and
// logo. They may change with a restart, so they are revalidated (ETag).
func serveShopFile(w http.ResponseWriter, r *http.Request, cfg Config, p string) bool {
	var body []byte
	ctype := ""
	switch {
	case p == "/theme.css" && cfg.Theme != nil:
		body, ctype = cfg.Theme.CSS, "text/css; charset=utf-8"
	case p == "/theme/logo" && cfg.Theme != nil && cfg.Theme.Logo != nil:
		body, ctype = cfg.Theme.Logo, cfg.Theme.LogoType
	default:
		return false
	}
	h := w.Header()
	if body == nil {
		h.Set("Cache-Control", "no-cache")
		http.Error(w, "Not found.", http.StatusNotFound)
		return true
	}
	sum := sha256.Sum256(body)
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	return true
}

// languageCookie keeps the switcher's choice for this browser. It holds
// only a language name, and logout's Clear-Site-Data removes it.
const languageCookie = "marbelle_language"

// serveLanguage answers /i18n/page.json (the page's language: the
// browser's choice, else Accept-Language, else the default; and its
// strings) and /i18n/choose?language=&next= (the switcher: keeps the
// choice and returns to next, a path on this site).
func serveLanguage(w http.ResponseWriter, r *http.Request, cfg Config, p string) {
	known := func(l string) bool { return l != "" && slices.Contains(cfg.Languages, l) }
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if p == "/i18n/choose" {
		l, next := r.URL.Query().Get("language"), r.URL.Query().Get("next")
		if known(l) {
			http.SetCookie(w, &http.Cookie{Name: languageCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}) // #nosec G124 -- holds a language name only, no credential
		}
		if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther) // #nosec G710 -- next is a path on this site, checked above
		return
	}
	lang := cmp.Or(cfg.DefaultLanguage, "en")
	if c, err := r.Cookie(languageCookie); err == nil && known(c.Value) {
		lang = c.Value
	} else if cfg.Match != nil {
		if l, ok := cfg.Match(r.Header.Get("Accept-Language")); ok {
			lang = l
		}
	}
	var strs json.RawMessage = []byte("{}")
	if cfg.Strings != nil && cfg.Strings(lang) != nil {
		strs = cfg.Strings(lang)
	}
	body, err := json.Marshal(struct {
		Language  string          `json:"language"`
		Languages []string        `json:"languages"`
		Strings   json.RawMessage `json:"strings"`
	}{lang, languagesOr(cfg.Languages, lang), strs})
	if err != nil {
		http.Error(w, "Not found.", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Vary", "Cookie, Accept-Language")
	w.Write(body)
}

func languagesOr(langs []string, lang string) []string {
	if len(langs) == 0 {
		return []string{lang}
	}
	return langs
}
