package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Captured is one message received by a Sink.
type Captured struct {
	ID      string    `json:"id"`      // random, URL-safe
	From    string    `json:"from"`    // envelope sender
	To      []string  `json:"to"`      // envelope recipients
	Subject string    `json:"subject"` // decoded (RFC 2047)
	Date    time.Time `json:"date"`    // the message's Date header, or receipt time
	Text    string    `json:"text"`    // decoded text/plain part ("" if none)
	HTML    string    `json:"html"`    // decoded text/html part ("" if none)
}

const (
	sinkMaxMessageBytes = 10 << 20
	sinkDefaultMax      = 500
	// maxMIMEDepth stops a hostile message from nesting multiparts deeply.
	maxMIMEDepth = 10
)

// Sink is a development SMTP server that keeps received mail in memory. It
// accepts any sender and recipient without authentication, so it must only
// listen where told (normally 127.0.0.1:1025). It is safe for concurrent use.
type Sink struct {
	log *slog.Logger
	srv *smtp.Server
	max int

	mu        sync.Mutex
	msgs      []Captured // oldest first
	closed    bool
	listeners []net.Listener
}

// NewSink returns a Sink that keeps at most max messages (oldest dropped
// first; max <= 0 means 500). log may be nil.
func NewSink(max int, log *slog.Logger) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if max <= 0 {
		max = sinkDefaultMax
	}
	s := &Sink{log: log, max: max}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = sinkMaxMessageBytes
	srv.MaxRecipients = 100
	srv.EnableSMTPUTF8 = true
	// Timeouts keep abandoned connections from piling up.
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = smtpLogger{log}
	s.srv = srv
	return s
}

// Serve accepts SMTP connections on l until Close; it then returns nil.
func (s *Sink) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	// Tracked here too: Close may run before go-smtp has registered l.
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	err := s.srv.Serve(l)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// Close stops all Serve calls and closes open connections.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()

	err := s.srv.Close()
	for _, l := range ls {
		_ = l.Close() // usually already closed by srv.Close
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

// List returns the kept messages, newest first.
func (s *Sink) List() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Captured, 0, len(s.msgs))
	for i := len(s.msgs) - 1; i >= 0; i-- {
		out = append(out, cloneCaptured(s.msgs[i]))
	}
	return out
}

// Message returns the kept message with the given id.
func (s *Sink) Message(id string) (Captured, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.msgs {
		if c.ID == id {
			return cloneCaptured(c), true
		}
	}
	return Captured{}, false
}

// Clear forgets all kept messages.
func (s *Sink) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

func (s *Sink) add(c Captured) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, c)
	if over := len(s.msgs) - s.max; over > 0 {
		n := copy(s.msgs, s.msgs[over:])
		clear(s.msgs[n:]) // let dropped messages be collected
		s.msgs = s.msgs[:n]
	}
}

// cloneCaptured copies the To slice so callers cannot alter kept mail.
func cloneCaptured(c Captured) Captured {
	c.To = slices.Clone(c.To)
	return c
}

// sinkSession collects one SMTP transaction at a time.
type sinkSession struct {
	sink *Sink
	from string
	to   []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r) // bounded by MaxMessageBytes
	if err != nil {
		return err
	}
	c := parseCaptured(raw, time.Now())
	c.From, c.To = ss.from, slices.Clone(ss.to)
	ss.sink.add(c)
	ss.sink.log.Info("sink: mail captured", "id", c.ID, "subject", c.Subject)
	ss.sink.log.Debug("sink: mail envelope", "id", c.ID, "from", c.From, "to", c.To)
	return nil
}

// smtpLogger routes go-smtp's connection errors to slog.
type smtpLogger struct{ log *slog.Logger }

func (l smtpLogger) Printf(format string, v ...any) {
	l.log.Warn("sink: smtp", "error", fmt.Sprintf(format, v...))
}

func (l smtpLogger) Println(v ...any) {
	l.log.Warn("sink: smtp", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// parseCaptured extracts subject, date and the first text/plain and
// text/html parts from raw. A message that cannot be parsed is kept whole
// as Text, which is what a developer looking at the sink wants to see.
func parseCaptured(raw []byte, received time.Time) Captured {
	c := Captured{ID: newID(), Date: received}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		c.Text = strings.ToValidUTF8(string(raw), "\uFFFD")
		return c
	}
	subject := msg.Header.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = dec
	}
	c.Subject = subject
	if d, err := msg.Header.Date(); err == nil {
		c.Date = d
	}
	walkPart(textproto.MIMEHeader(msg.Header), msg.Body, 0, &c)
	return c
}

// newID returns 128 random bits, base64url encoded.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// walkPart fills c.Text and c.HTML from the first matching parts, looking
// into nested multiparts.
func walkPart(h textproto.MIMEHeader, body io.Reader, depth int, c *Captured) {
	if depth > maxMIMEDepth {
		return
	}
	mediaType, params := "text/plain", map[string]string{} // RFC 2045 default
	if ct := h.Get("Content-Type"); ct != "" {
		mt, p, err := mime.ParseMediaType(ct)
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			return
		}
		mediaType, params = mt, p
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if params["boundary"] == "" {
			return
		}
		// NextPart decodes quoted-printable parts itself and then hides
		// their Content-Transfer-Encoding header.
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			walkPart(p.Header, p, depth+1, c)
		}
	}
	if d, _, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && d == "attachment" {
		return
	}
	if (mediaType != "text/plain" || c.Text != "") && (mediaType != "text/html" || c.HTML != "") {
		return
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // skips CR and LF
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, _ := io.ReadAll(r) // keep what decoded before any error
	text := strings.ReplaceAll(toUTF8(data, params["charset"]), "\r\n", "\n")
	if mediaType == "text/plain" {
		c.Text = text
	} else {
		c.HTML = text
	}
}

// toUTF8 decodes the charsets a dev sink meets in practice; anything else
// is shown as UTF-8 with invalid bytes replaced.
func toUTF8(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	default: // utf-8, us-ascii and unknown
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
}
