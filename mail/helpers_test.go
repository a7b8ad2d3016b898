package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/marbelle/marbelle/internal/testutil"
)

// newSender is NewSMTPSender for a URL the test knows to be valid.
func newSender(t *testing.T, rawURL, helo string, tlsConfig *tls.Config) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(rawURL, helo, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sendX sends the smallest message, "x", from a@shop.example to
// b@example.com.
func sendX(s *SMTPSender) error {
	return s.Send(context.Background(), "a@shop.example", []string{"b@example.com"}, []byte("x\r\n"))
}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1, localhost and mail.example.com, and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	c := testutil.NewSelfSigned(t, "mail.example.com")
	return &tls.Config{Certificates: []tls.Certificate{c.Cert}}, &tls.Config{RootCAs: c.Pool}
}

type received struct {
	from string
	to   []string
	data []byte
	tls  bool
}

// testBackend is a go-smtp backend whose replies the tests control.
type testBackend struct {
	user, pass string // when set, MAIL requires AUTH PLAIN with these
	rcptErr    error  // returned from every RCPT

	mu   sync.Mutex
	msgs []received
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{b: b, conn: c}, nil
}

func (b *testBackend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type testSession struct {
	b      *testBackend
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.msgs = append(s.b.msgs, received{from: s.from, to: s.to, data: data, tls: isTLS})
	return nil
}

// startServer serves be on a fresh 127.0.0.1 port. startTLS offers STARTTLS
// with that config; implicit wraps the listener in TLS instead.
func startServer(t *testing.T, be smtp.Backend, startTLS, implicit *tls.Config) string {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // only ever on loopback in these tests
	srv.TLSConfig = startTLS
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit != nil {
		l = tls.NewListener(l, implicit)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// startSink serves a new Sink on a fresh 127.0.0.1 port.
func startSink(t *testing.T, max int) (*Sink, string) {
	t.Helper()
	sink := NewSink(max, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sink.Serve(l) }()
	t.Cleanup(func() {
		sink.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve after Close: got %v, want nil", err)
		}
	})
	return sink, l.Addr().String()
}

// waitFor polls cond until it holds or a generous deadline passes; it
// checks outcomes, never how long they took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if !cond() {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		return nil
	})
}
