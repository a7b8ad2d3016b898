package app

import (
	"net/http"
	"path/filepath"
	"strings"

	"github.com/marbelle/marbelle/i18n"
)

// Languages: API messages are written by the code in English and answered
// in the request's language, chosen once per request and only when a
// message is written: the account's language, else Accept-Language, else
// MARBELLE_DEFAULT_LANGUAGE. English answers are the code's own text, so
// an English request translates nothing.
//
// The code keeps its English messages (rather than catalogue keys) so that
// the branches built beside this one, which add English messages of their
// own, merge and keep working: a message no catalogue knows is answered in
// English, and TestEveryAPIMessageIsInTheCatalogue names it.

// loadCatalogue reads the built-in catalogues and a shop's language files
// from DATA_DIR/templates/i18n (docs/languages.md).
func loadCatalogue(cfg Config) (*i18n.Catalogue, error) {
	dir := ""
	if cfg.DataDir != "" {
		dir = filepath.Join(cfg.DataDir, "templates", "i18n")
	}
	return i18n.Load(dir)
}

// requestLanguage chooses one request's language lazily: requests that
// answer no message (most of a page load) never parse Accept-Language.
type requestLanguage struct {
	cat      *i18n.Catalogue
	accept   string // the Accept-Language header
	def      string // MARBELLE_DEFAULT_LANGUAGE
	account  string // the signed-in account's language, once known
	resolved string
}

func (l *requestLanguage) get() string {
	switch {
	case l == nil || l.cat == nil:
		return i18n.English
	case l.account != "" && l.cat.Has(l.account):
		return l.account
	case l.resolved != "":
		return l.resolved
	}
	l.resolved = l.def
	if lang, ok := l.cat.Match(l.accept); ok {
		l.resolved = lang
	}
	return l.resolved
}

// languageOf is the request's language holder, found on the writer that
// withBasics wrapped the request in; nil outside it (some unit tests).
func languageOf(w http.ResponseWriter) *requestLanguage {
	for {
		switch x := w.(type) {
		case *statusWriter:
			return &x.lang
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// setAccountLanguage records the signed-in account's language for the
// rest of the request (after authentication, or a change of it).
func setAccountLanguage(w http.ResponseWriter, lang string) {
	if l := languageOf(w); l != nil && lang != "" {
		l.account = lang
	}
}

// pageLanguage is the language chosen for a request without an account:
// Accept-Language, else the default (a new account starts in it).
func (s *Server) pageLanguage(r *http.Request) string {
	if lang, ok := s.catalogue.Match(r.Header.Get("Accept-Language")); ok {
		return lang
	}
	return s.cfg.DefaultLanguage
}

// localize answers msg in the request's language.
func localize(w http.ResponseWriter, msg string) string {
	l := languageOf(w)
	if l == nil || l.cat == nil {
		return msg
	}
	lang := l.get()
	if lang == i18n.English {
		return msg
	}
	w.Header().Set("Content-Language", lang)
	return l.cat.Translate(lang, msg)
}

// localizeFields answers every field message in the request's language;
// English gets fields back as they are.
func localizeFields(w http.ResponseWriter, fields map[string][]string) map[string][]string {
	l := languageOf(w)
	if len(fields) == 0 || l == nil || l.cat == nil || l.get() == i18n.English {
		return fields
	}
	out := make(map[string][]string, len(fields))
	for f, msgs := range fields {
		tr := make([]string, len(msgs))
		for i, m := range msgs {
			tr[i] = l.cat.Translate(l.get(), m)
		}
		out[f] = tr
	}
	return out
}

// checkLanguage validates a language sent by a client: one the catalogue
// has, by its base (de-AT is de).
func (s *Server) checkLanguage(errs fieldErrors, field, v string) string {
	lang := strings.ToLower(strings.TrimSpace(v))
	lang, _, _ = strings.Cut(lang, "-")
	if !s.catalogue.Has(lang) {
		errs.add(field, "Use one of these languages: "+strings.Join(s.catalogue.Languages(), ", ")+".")
		return ""
	}
	return lang
}
