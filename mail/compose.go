package mail

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/marbelle/marbelle/i18n"
)

// Kind names one of the account mails.
type Kind string

const (
	KindVerifyEmail        Kind = "verify_email"          // link to verify a new account (Link)
	KindAlreadyRegistered  Kind = "already_registered"    // someone tried to register with your address; suggests a password reset
	KindPasswordReset      Kind = "password_reset"        // reset link (Link), valid for TTL
	KindPasswordChanged    Kind = "password_changed"      // notice: your password was changed
	KindPasswordResetDone  Kind = "password_reset_done"   // notice: your password was reset
	KindEmailChangeConfirm Kind = "email_change_confirm"  // to the NEW address, with a confirm link (Link)
	KindEmailChanged       Kind = "email_changed"         // notice to the OLD address: the account email is now NewEmail
	KindEmailTaken         Kind = "email_taken"           // to the owner of an address someone tried to move their account to
	KindNewDevice          Kind = "new_device"            // notice: a sign-in from a device not seen before
	KindAccountDeleted     Kind = "account_deleted"       // notice: the account and its data were deleted
	KindAccountFrozen      Kind = "account_frozen"        // notice to both addresses: an email change was undone, staff must restore the account
	KindAccountRestored    Kind = "account_restored"      // staff restored a frozen account: choose a new password (Link)
	KindStaffChanged       Kind = "staff_account_changed" // notice to a staff member: another staff member changed their account (Changes, Actor)
	KindSMTPTest           Kind = "smtp_test"             // staff's "send test email" (Actor); sent at once, never queued
	// KindSignInChanged: notice that a sign-in method (authenticator app,
	// recovery codes, passkey) was added, removed or used (Changes).
	KindSignInChanged Kind = "sign_in_methods_changed"
)

// kindSpec says which Data fields a kind cannot do without; checking them in
// Compose turns a caller bug into an error instead of a mail with a hole.
type kindSpec struct {
	kind                   Kind
	needLink, needNewEmail bool
	needBaseURL            bool // the mail points at BaseURL+"/forgot-password"
	needChanges            bool
}

func kindSpecs() []kindSpec {
	return []kindSpec{
		{kind: KindVerifyEmail, needLink: true},
		{kind: KindAlreadyRegistered, needBaseURL: true},
		{kind: KindPasswordReset, needLink: true},
		{kind: KindPasswordChanged, needBaseURL: true},
		{kind: KindPasswordResetDone, needBaseURL: true},
		{kind: KindEmailChangeConfirm, needLink: true, needNewEmail: true},
		{kind: KindEmailChanged, needNewEmail: true},
		{kind: KindEmailTaken},
		{kind: KindNewDevice, needBaseURL: true},
		{kind: KindAccountDeleted},
		{kind: KindAccountFrozen},
		{kind: KindAccountRestored, needLink: true},
		{kind: KindStaffChanged, needChanges: true},
		{kind: KindSMTPTest},
		{kind: KindSignInChanged, needChanges: true, needBaseURL: true},
	}
}

// Data fills the templates. Fields a kind does not use are ignored.
type Data struct {
	SiteName  string // shop name, e.g. "Marbelle"
	BaseURL   string // e.g. "http://127.0.0.1:8080", no trailing slash
	FirstName string
	Email     string // the account's address
	NewEmail  string // for email change kinds
	Link      string // full link carrying a token, already built by the caller
	TTL       string // human lifetime of the link, e.g. "24 hours", "1 hour"
	IP        string // where the action came from (may be empty)
	UserAgent string // may be empty
	// UndoLink is the "This wasn't me" link of a security notice (a
	// single-use token); UndoTTL its lifetime in words.
	UndoLink string
	UndoTTL  string
	// Changes says in words what staff changed (staff_account_changed),
	// and Actor which staff member did it.
	Changes string
	Actor   string
	// Language is the recipient's language ("" is English): the words
	// of the templates ({{.T "mail.…"}}) come from its catalogue.
	Language string
}

// Translator gives the words of a mail in a language (i18n.Catalogue): a
// key's text with its placeholders filled from data.
type Translator interface {
	T(lang, key string, data any) string
	Languages() []string
}

// templateData is what the templates see: Data plus values derived here so
// templates stay free of logic.
type templateData struct {
	Data
	To        string // the recipient address
	Subject   string // rendered subject, for the HTML <title>
	ForgotURL string // BaseURL + "/forgot-password", "" without BaseURL
	words     Translator
}

// T is the text of a catalogue key in the recipient's language, its
// placeholders ({{.SiteName}}, {{.TTL}}…) filled from the mail's data.
// Without a catalogue it is the key itself.
func (td templateData) T(key string) string {
	if td.words == nil {
		return key
	}
	return td.words.T(cmp.Or(td.Language, "en"), key, td)
}

// Lang is the recipient's language for <html lang>.
func (td templateData) Lang() string { return cmp.Or(td.Language, "en") }

//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

type kindTemplates struct {
	spec kindSpec
	text *texttemplate.Template // body; defines "subject"
	html *htmltemplate.Template
}

// Composer renders account mail from the embedded templates. It is safe for
// concurrent use.
type Composer struct {
	kinds map[Kind]kindTemplates
	words Translator // nil: the templates' keys show as they are
}

// NewComposer parses every kind's templates (templates/<kind>.txt and
// templates/<kind>.html, plus the shared layout.txt and layout.html).
// Its words are the built-in catalogues' (i18n).
func NewComposer() (*Composer, error) {
	words, err := i18n.Load("")
	if err != nil {
		return nil, err
	}
	return NewComposerWith(nil, words)
}

// NewComposerWith is NewComposer with the words of every language (words)
// and a shop's templates: a file in overrides replaces the built-in one of
// the same name (no rebuild). Every kind is then rendered once with sample
// data, so that a broken override (bad syntax, a placeholder Data does not
// have) fails here, naming the file, rather than at the first mail.
func NewComposerWith(overrides fs.FS, words Translator) (*Composer, error) {
	read := func(name string) (string, error) {
		if overrides != nil {
			b, err := fs.ReadFile(overrides, name)
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("override %s: %w", name, err)
			}
		}
		b, err := templateFS.ReadFile("templates/" + name)
		return string(b), err
	}
	textLayout, err := read("layout.txt")
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	htmlLayout, err := read("layout.html")
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	c := &Composer{kinds: make(map[Kind]kindTemplates), words: words}
	for _, spec := range kindSpecs() {
		name := string(spec.kind)
		txtSrc, err := read(name + ".txt")
		if err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		htmlSrc, err := read(name + ".html")
		if err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		// Each kind gets its own template set so every file can define its
		// own "subject" without clashing.
		tt := texttemplate.New(name).Option("missingkey=error")
		if _, err := tt.Parse(textLayout); err != nil {
			return nil, fmt.Errorf("mail: layout.txt: %w", err)
		}
		if _, err := tt.Parse(txtSrc); err != nil {
			return nil, fmt.Errorf("mail: %s.txt: %w", name, err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail: %s.txt does not define \"subject\"", name)
		}
		ht := htmltemplate.New(name).Option("missingkey=error").Funcs(htmlFuncs())
		if _, err := ht.Parse(htmlLayout); err != nil {
			return nil, fmt.Errorf("mail: layout.html: %w", err)
		}
		if _, err := ht.Parse(htmlSrc); err != nil {
			return nil, fmt.Errorf("mail: %s.html: %w", name, err)
		}
		c.kinds[spec.kind] = kindTemplates{spec: spec, text: tt, html: ht}
	}
	if overrides != nil {
		if err := c.trySamples(overrides); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// SampleData fills every field a template may use, for checks and tests.
func SampleData() Data {
	return Data{SiteName: "Sample Shop", BaseURL: "https://shop.example", FirstName: "Ann", Email: "ann@example.test",
		NewEmail: "ann.new@example.test", Link: "https://shop.example/verify-email?token=sample", TTL: "24 hours",
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0", UndoLink: "https://shop.example/undo?token=sample", UndoTTL: "7 days",
		Changes: "staff access removed", Actor: "staff@example.test"}
}

// trySamples renders every kind with SampleData; an error names the
// overridden files of the part that failed.
func (c *Composer) trySamples(overrides fs.FS) error {
	langs := []string{""}
	if c.words != nil {
		langs = c.words.Languages()
	}
	for _, spec := range kindSpecs() {
		var err error
		for _, lang := range langs {
			d := SampleData()
			d.Language = lang
			if _, err = c.Compose(spec.kind, "shop@example.test", "ann@example.test", d); err != nil {
				break
			}
		}
		if err == nil {
			continue
		}
		part := ".html"
		if strings.Contains(err.Error(), " text: ") || strings.Contains(err.Error(), " subject: ") {
			part = ".txt"
		}
		var files []string
		for _, name := range []string{string(spec.kind) + part, "layout" + part} {
			if _, statErr := fs.Stat(overrides, name); statErr == nil {
				files = append(files, name)
			}
		}
		return fmt.Errorf("mail template override %s: %w", strings.Join(files, ", "), err)
	}
	return nil
}

// Compose renders kind with d into a Message from `from` to `to`.
func (c *Composer) Compose(kind Kind, from, to string, d Data) (Message, error) {
	kt, ok := c.kinds[kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: unknown kind %q", kind)
	}
	td, err := prepare(kt.spec, to, d)
	if err != nil {
		return Message{}, err
	}
	td.words = c.words
	var b bytes.Buffer
	if err := kt.text.ExecuteTemplate(&b, "subject", td); err != nil {
		return Message{}, fmt.Errorf("mail: %s subject: %w", kind, err)
	}
	td.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := kt.text.Execute(&b, td); err != nil {
		return Message{}, fmt.Errorf("mail: %s text: %w", kind, err)
	}
	text := tidyText(b.String())
	b.Reset()
	if err := kt.html.Execute(&b, td); err != nil {
		return Message{}, fmt.Errorf("mail: %s html: %w", kind, err)
	}
	return Message{From: from, To: to, Subject: td.Subject, Text: text, HTML: b.String()}, nil
}

func prepare(spec kindSpec, to string, d Data) (templateData, error) {
	// Everything shown in a mail is reduced to one tidy line: a name or a
	// user agent must not be able to add lines (e.g. a fake link) to the
	// text part, nor make a subject that Bytes would refuse.
	d.SiteName = oneLine(d.SiteName, 100)
	d.FirstName = oneLine(d.FirstName, 100)
	d.Email = oneLine(d.Email, 254)
	d.NewEmail = oneLine(d.NewEmail, 254)
	d.TTL = oneLine(d.TTL, 50)
	d.IP = oneLine(d.IP, 64)
	d.UserAgent = oneLine(d.UserAgent, 200)
	d.BaseURL = strings.TrimRight(strings.TrimSpace(d.BaseURL), "/")
	d.Link = strings.TrimSpace(d.Link)
	d.UndoLink = strings.TrimSpace(d.UndoLink)
	d.UndoTTL = oneLine(d.UndoTTL, 50)
	d.Changes = oneLine(d.Changes, 300)
	d.Actor = oneLine(d.Actor, 254)

	if d.SiteName == "" {
		return templateData{}, errors.New("mail: Data.SiteName is empty")
	}
	if spec.needLink && d.Link == "" {
		return templateData{}, fmt.Errorf("mail: %s needs Data.Link", spec.kind)
	}
	if spec.needNewEmail && d.NewEmail == "" {
		return templateData{}, fmt.Errorf("mail: %s needs Data.NewEmail", spec.kind)
	}
	if spec.needChanges && d.Changes == "" {
		return templateData{}, fmt.Errorf("mail: %s needs Data.Changes", spec.kind)
	}
	if spec.needBaseURL && d.BaseURL == "" {
		return templateData{}, fmt.Errorf("mail: %s needs Data.BaseURL", spec.kind)
	}
	// html/template would replace a non-http(s) URL with "#ZgotmplZ", so
	// the text and HTML links could differ; refuse such links up front.
	if d.Link != "" {
		if err := checkWebURL("Link", d.Link); err != nil {
			return templateData{}, err
		}
	}
	if d.UndoLink != "" {
		if err := checkWebURL("UndoLink", d.UndoLink); err != nil {
			return templateData{}, err
		}
	}
	td := templateData{Data: d, To: oneLine(to, 254)}
	if d.BaseURL != "" {
		if err := checkWebURL("BaseURL", d.BaseURL); err != nil {
			return templateData{}, err
		}
		td.ForgotURL = d.BaseURL + "/forgot-password"
	}
	return td, nil
}

func checkWebURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("mail: Data.%s must be an absolute http(s) URL without spaces", field)
	}
	return nil
}

// oneLine replaces control characters (including CR and LF) with spaces,
// collapses runs of spaces and caps the length in runes.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// tidyText lets the text templates be written for readability: trailing
// spaces go, blank-line runs collapse to one, and the text ends in one "\n".
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	s = strings.Join(lines, "\n")
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return strings.Trim(s, "\n") + "\n"
}
