package app

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/marbelle/marbelle/store"
)

const (
	maxEmailLength = 254
	maxNameLength  = 150
	maxCompanyLen  = 255
)

// normalizeEmail checks an email and returns its stored form
// (store.NormalizeEmail: trimmed, lower-cased, the local part in NFC, the
// domain in IDNA ASCII form), or a message for errors.email.
func normalizeEmail(raw string) (string, string) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", "Enter your email address."
	case utf8.RuneCountInString(raw) > maxEmailLength:
		return "", "The email address is too long (at most 254 characters)."
	case strings.ContainsFunc(raw, invisibleInEmail):
		return "", msgEmailInvisible
	case strings.ContainsFunc(raw, unicode.IsSpace) || !strings.Contains(raw, "@"):
		return "", "Enter a valid email address."
	}
	e, err := store.CanonicalEmail(raw)
	switch {
	case err != nil:
		return "", "Enter a valid email address. The part after @ is not a valid domain name."
	case utf8.RuneCountInString(e) > maxEmailLength:
		// The punycode form of a domain is longer than its Unicode form.
		return "", "The email address is too long (at most 254 characters)."
	}
	a, perr := mail.ParseAddress(e)
	if perr != nil || a.Address != e || a.Name != "" {
		return "", "Enter a valid email address."
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || len(local) > 64 || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return "", "Enter a valid email address."
	}
	return e, ""
}

const msgEmailInvisible = "The email address contains an invisible or control character (such as a zero-width space or a text-direction mark). Type the address again without it."

// invisibleInEmail reports whether r is a character that shows nothing (or
// only moves the text around), so that two addresses that look the same
// could differ in it: controls (Cc) and format characters (Cf: zero-width
// space, non-joiner and joiner, word joiner, BOM, soft hyphen, the bidi
// marks, embeddings, overrides and isolates, U+061C), plus the rest of
// Unicode's default-ignorable code points (variation selectors, Hangul
// fillers, the combining grapheme joiner).
func invisibleInEmail(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// cleanText trims a one-line text field and checks its length and that it
// holds no control characters (which could also reach a mail header).
func cleanText(errs fieldErrors, field, v string, required bool, max int) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		errs.add(field, "This field is required.")
	case utf8.RuneCountInString(v) > max:
		errs.add(field, "Use at most "+strconv.Itoa(max)+" characters.")
	case strings.ContainsFunc(v, unicode.IsControl):
		errs.add(field, "Remove line breaks and control characters.")
	}
	return v
}

// normalizePhone returns a phone number in E.164, reading national numbers
// in region; empty stays empty.
func normalizePhone(errs fieldErrors, field, v, region string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if len(v) > 40 || strings.ContainsFunc(v, unicode.IsControl) {
		errs.add(field, "Enter a valid phone number.")
		return v
	}
	num, err := phonenumbers.Parse(v, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		errs.add(field, "Enter a valid phone number, e.g. +49 30 123456.")
		return v
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) > 16 || strings.ContainsFunc(v, unicode.IsLetter) {
		// E.164 has at most 15 digits, and libphonenumber would read
		// letters as keypad digits: neither is a number to store.
		errs.add(field, "Enter a valid phone number, e.g. +49 30 123456.")
		return v
	}
	return e164
}

// validRegion reports whether r is a region libphonenumber knows.
func validRegion(r string) bool {
	return len(r) == 2 && phonenumbers.GetCountryCodeForRegion(r) != 0
}
