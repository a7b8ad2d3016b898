// Package i18n holds Marbelle's message catalogues: one JSON file per
// language (catalogue/<lang>.json, go-i18n's format) with every API
// message ("api.*"), every mail string ("mail.*") and every web UI string
// ("ui.*"). A shop adds a language, or rewords one, with one file in a
// directory given to Load; nothing is rebuilt.
//
// go-i18n parses the files, knows each language's CLDR plural rules and
// fills placeholders ({{.Count}}). On top of it the catalogue keeps, per
// language, the plain strings (no placeholder, no plural) in a map, so that
// the common case is one map lookup and no template is run.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// English is the source language: every other catalogue translates it,
// and a key a catalogue lacks falls back to it.
const English = "en"

//go:embed catalogue/*.json
var builtin embed.FS

// Catalogue is every loaded language. It is read-only once loaded, so safe
// for concurrent use.
type Catalogue struct {
	langs      []string // English first, then sorted
	bundle     *goi18n.Bundle
	localizers map[string]*goi18n.Localizer
	plain      map[string]map[string]string // lang → key → text without placeholders
	messages   map[string]map[string]*goi18n.Message
	byEnglish  map[string]string // English text → key
	patterns   []pattern         // English texts with placeholders
	ui         map[string][]byte // lang → JSON object of its "ui." strings
	// matches remembers Match's answers by header (browsers send the
	// same few), up to maxMatches short ones, so most requests parse none.
	matches  sync.Map // string → string ("" for no match)
	nMatches atomic.Int32
}

const maxMatches = 4096

// pattern matches an English text with placeholders, so that a message
// the code formatted can be found again and retranslated.
type pattern struct {
	re    *regexp.Regexp
	key   string
	names []string // placeholder names, in the order of re's groups
}

// Load reads the built-in catalogues, then every <lang>.json in dir (when
// dir is not "" and exists): a file for a new language adds it, a file for
// a known one replaces the keys it has.
func Load(dir string) (*Catalogue, error) {
	c := &Catalogue{bundle: goi18n.NewBundle(language.English), localizers: map[string]*goi18n.Localizer{},
		plain: map[string]map[string]string{}, messages: map[string]map[string]*goi18n.Message{},
		byEnglish: map[string]string{}, ui: map[string][]byte{}}
	c.bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	if err := c.loadFS(builtin, "catalogue"); err != nil {
		return nil, err
	}
	if dir != "" {
		if _, err := os.Stat(dir); err == nil {
			if err := c.loadFS(os.DirFS(dir), "."); err != nil {
				return nil, err
			}
		}
	}
	if c.messages[English] == nil {
		return nil, fmt.Errorf("i18n: no English catalogue")
	}
	return c, c.index()
}

func (c *Catalogue) loadFS(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(dir, "*.json")))
	if err != nil {
		return err
	}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("i18n: %w", err)
		}
		mf, err := goi18n.ParseMessageFileBytes(b, name, map[string]goi18n.UnmarshalFunc{"json": json.Unmarshal})
		if err != nil {
			return fmt.Errorf("i18n: %s: %w", name, err)
		}
		base, _ := mf.Tag.Base()
		lang := base.String()
		if mf.Tag == language.Und || lang != strings.TrimSuffix(filepath.Base(name), ".json") {
			return fmt.Errorf("i18n: %s: name the file after a language, such as fr.json", name)
		}
		// Only messages with placeholders or plural forms go to go-i18n,
		// which keeps a parsed template set for each: the plain ones (most)
		// are answered from c.plain, and the bundle's copy of them would
		// cost about 0.4 MiB of heap for the life of the process.
		if err := c.bundle.AddMessages(mf.Tag, slices.DeleteFunc(slices.Clone(mf.Messages), isPlain)...); err != nil {
			return fmt.Errorf("i18n: %s: %w", name, err)
		}
		if c.messages[lang] == nil {
			c.messages[lang] = map[string]*goi18n.Message{}
		}
		for _, m := range mf.Messages {
			c.messages[lang][m.ID] = m
		}
	}
	return nil
}

// index builds the lookups every request uses.
func (c *Catalogue) index() error {
	for lang, msgs := range c.messages {
		c.langs = append(c.langs, lang)
		c.localizers[lang] = goi18n.NewLocalizer(c.bundle, lang, English)
		c.plain[lang] = map[string]string{}
		ui := map[string]any{}
		// English fills the keys lang lacks: UI strings, and plain texts
		// (the bundle, which falls back for the rest, holds no plain ones).
		// Lang's own keys then replace them.
		if lang != English {
			for id, m := range c.messages[English] {
				c.indexMessage(lang, id, m, ui)
			}
		}
		for id, m := range msgs {
			c.indexMessage(lang, id, m, ui)
		}
		b, err := json.Marshal(ui)
		if err != nil {
			return err
		}
		c.ui[lang] = b
	}
	slices.Sort(c.langs)
	c.langs = slices.DeleteFunc(c.langs, func(l string) bool { return l == English })
	c.langs = append([]string{English}, c.langs...)
	for id, m := range c.messages[English] {
		if !strings.HasPrefix(id, "api.") {
			continue // only API messages come back as English text
		}
		for _, text := range []string{m.Other, m.One} {
			switch {
			case text == "":
			case strings.Contains(text, "{{"):
				c.patterns = append(c.patterns, compilePattern(id, text))
			default:
				c.byEnglish[text] = id
			}
		}
	}
	// Longer texts first, so that a pattern never swallows a longer one.
	slices.SortFunc(c.patterns, func(a, b pattern) int { return len(b.re.String()) - len(a.re.String()) })
	return nil
}

// indexMessage files m under id for lang: in the UI strings when it is
// one, and in the plain texts when it is plain (else out of them, so that
// lang's own message with placeholders replaces English's plain one).
func (c *Catalogue) indexMessage(lang, id string, m *goi18n.Message, ui map[string]any) {
	if k, ok := strings.CutPrefix(id, "ui."); ok {
		ui[k] = uiValue(m)
	}
	if isPlain(m) {
		c.plain[lang][id] = m.Other
	} else {
		delete(c.plain[lang], id)
	}
}

// isPlain says m is one text without placeholders or plural forms.
func isPlain(m *goi18n.Message) bool {
	return m.Zero == "" && m.One == "" && m.Two == "" && m.Few == "" && m.Many == "" && !strings.Contains(m.Other, "{{")
}

// uiValue is a UI string as the browser gets it: a string, or the plural
// forms by CLDR category for Intl.PluralRules.
func uiValue(m *goi18n.Message) any {
	if m.One == "" && m.Few == "" && m.Many == "" && m.Two == "" && m.Zero == "" {
		return m.Other
	}
	forms := map[string]string{"other": m.Other}
	for cat, s := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many} {
		if s != "" {
			forms[cat] = s
		}
	}
	return forms
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func compilePattern(key, text string) pattern {
	p := pattern{key: key}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, loc := range placeholder.FindAllStringSubmatchIndex(text, -1) {
		re.WriteString(regexp.QuoteMeta(text[last:loc[0]]))
		re.WriteString("(.+?)")
		p.names = append(p.names, text[loc[2]:loc[3]])
		last = loc[1]
	}
	re.WriteString(regexp.QuoteMeta(text[last:]) + "$")
	p.re = regexp.MustCompile(re.String())
	return p
}

// Languages lists the loaded languages, English first.
func (c *Catalogue) Languages() []string { return c.langs }

// Has says whether lang is loaded.
func (c *Catalogue) Has(lang string) bool { return c.plain[lang] != nil }

// Keys lists the keys of lang's own file (without English fallbacks).
func (c *Catalogue) Keys(lang string) []string {
	keys := make([]string, 0, len(c.messages[lang]))
	for k := range c.messages[lang] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// T is the text of key in lang, its placeholders filled from data (a map
// or struct). A key no catalogue has comes back as itself, so that a gap
// shows and never breaks a page or mail.
func (c *Catalogue) T(lang, key string, data any) string {
	if c.plain[lang] == nil {
		lang = English
	}
	if s, ok := c.plain[lang][key]; ok {
		return s
	}
	return c.localize(lang, key, data, nil)
}

// N is T for a message with plural forms, chosen by count in lang's rules;
// data's .Count is count when data is nil.
func (c *Catalogue) N(lang, key string, count int, data any) string {
	if c.plain[lang] == nil {
		lang = English
	}
	if s, ok := c.plain[lang][key]; ok { // one text for every count in lang
		return s
	}
	if data == nil {
		data = map[string]any{"Count": count}
	}
	return c.localize(lang, key, data, count)
}

func (c *Catalogue) localize(lang, key string, data, count any) string {
	l := c.localizers[lang]
	if l == nil {
		l = c.localizers[English]
	}
	s, err := l.Localize(&goi18n.LocalizeConfig{MessageID: key, TemplateData: data, PluralCount: count})
	if err != nil && s == "" {
		return key
	}
	return s
}

// Translate finds the message whose English text is english (as the code
// wrote it, placeholders filled) and answers it in lang. Text no catalogue
// knows comes back as it is.
func (c *Catalogue) Translate(lang, english string) string {
	if lang == English || c.plain[lang] == nil {
		return english
	}
	if key, ok := c.byEnglish[english]; ok {
		if s, ok := c.plain[lang][key]; ok {
			return s
		}
		return c.localize(lang, key, nil, nil)
	}
	for _, p := range c.patterns {
		m := p.re.FindStringSubmatch(english)
		if m == nil {
			continue
		}
		data := make(map[string]any, len(p.names))
		for i, name := range p.names {
			data[name] = m[i+1]
		}
		if n, ok := data["Count"]; ok {
			return c.localize(lang, p.key, data, n)
		}
		return c.localize(lang, p.key, data, nil)
	}
	return english
}

// UI is the JSON object of lang's web UI strings (keys without "ui.").
func (c *Catalogue) UI(lang string) []byte { return c.ui[lang] }

// Match is the first language of an Accept-Language header that the
// catalogue has (by its base language, q-values honoured); ok is false for
// a header that is empty, malformed or names none of them.
func (c *Catalogue) Match(acceptLanguage string) (lang string, ok bool) {
	if acceptLanguage == "" {
		return "", false
	}
	if v, ok := c.matches.Load(acceptLanguage); ok {
		lang := v.(string)
		return lang, lang != ""
	}
	lang = c.match(acceptLanguage)
	if len(acceptLanguage) <= 200 && c.nMatches.Add(1) <= maxMatches { // bounded: at most 4096 × 200 bytes
		c.matches.Store(acceptLanguage, lang)
	}
	return lang, lang != ""
}

func (c *Catalogue) match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil {
		return ""
	}
	for _, t := range tags {
		base, conf := t.Base()
		if conf == language.No {
			continue
		}
		if c.Has(base.String()) {
			return base.String()
		}
	}
	return ""
}

// Sources are the texts of key in lang as its file has them (placeholders
// unfilled): every plural form, or the one text.
func (c *Catalogue) Sources(lang, key string) []string {
	m := c.messages[lang][key]
	if m == nil {
		return nil
	}
	var out []string
	for _, s := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Fragments splits a text at its placeholders.
func Fragments(text string) []string { return placeholder.Split(text, -1) }
