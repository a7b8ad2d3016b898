// Package mail renders, sends and queues Marbelle's account mail, and
// provides an in-memory SMTP sink for development and tests.
package mail

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one rendered mail.
type Message struct {
	From    string // full From header value, e.g. `Marbelle <no-reply@localhost>`
	To      string // one bare address
	ReplyTo string // optional Reply-To header value (MARBELLE_MAIL_REPLY_TO)
	Subject string
	Text    string
	HTML    string
}

// checkHeader refuses line breaks so a value can never start a new header
// (mail header injection).
func checkHeader(name, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("mail: %s header contains a line break", name)
	}
	return nil
}

// parseAddress parses one RFC 5322 address after refusing line breaks,
// which net/mail would otherwise accept as folding whitespace.
func parseAddress(name, v string) (*mail.Address, error) {
	if err := checkHeader(name, v); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, fmt.Errorf("mail: %s address %q: %w", name, v, err)
	}
	return a, nil
}

// formatAddress re-renders a parsed address so the header is always well
// formed (quoting and RFC 2047 encoding of the display name are net/mail's).
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// EnvelopeFrom returns the bare address of m.From, for SMTP MAIL FROM.
func (m Message) EnvelopeFrom() (string, error) {
	a, err := parseAddress("From", m.From)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// Bytes renders m as an RFC 5322 message with a multipart/alternative body
// (text/plain and text/html, UTF-8, quoted-printable). now sets the Date
// header. Header values containing CR or LF are refused.
func (m Message) Bytes(now time.Time) ([]byte, error) {
	if err := checkHeader("Subject", m.Subject); err != nil {
		return nil, err
	}
	from, err := parseAddress("From", m.From)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress("To", m.To)
	if err != nil {
		return nil, err
	}
	var replyTo *mail.Address
	if m.ReplyTo != "" {
		if replyTo, err = parseAddress("Reply-To", m.ReplyTo); err != nil {
			return nil, err
		}
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if domain == "" {
		return nil, errors.New("mail: From address has no domain")
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeTextPart(mw, "text/plain", m.Text); err != nil {
		return nil, err
	}
	if err := writeTextPart(mw, "text/html", m.HTML); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", formatAddress(from))
	header("To", formatAddress(to))
	if replyTo != nil {
		header("Reply-To", formatAddress(replyTo))
	}
	// QEncoding leaves plain ASCII untouched and encodes anything else.
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.ToLower(rand.Text())+"@"+domain+">")
	// RFC 3834: every mail is machine-made, so autoresponders (out of
	// office) must not answer it.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

func writeTextPart(mw *multipart.Writer, mediaType, content string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	// Quoted-printable keeps lines under the 998-octet SMTP limit and is
	// 7-bit clean whatever the relay supports.
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(content)); err != nil {
		return err
	}
	return qp.Close()
}
