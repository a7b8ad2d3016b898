package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/marbelle/marbelle/internal/testutil"
)

func TestNewSMTPSenderURLs(t *testing.T) {
	const secret = "s3cr%C3%A9t-pw"
	const decodedSecret = "s3cré t-pw"
	cases := []struct {
		url                   string
		ok                    bool
		addr                  string
		implicitTLS, loopback bool
		errHas                string
	}{
		{url: "smtps://user:" + secret + "@mail.example.com", ok: true, addr: "mail.example.com:465", implicitTLS: true},
		{url: "smtps://user:" + secret + "@mail.example.com:2465", ok: true, addr: "mail.example.com:2465", implicitTLS: true},
		{url: "smtp://user:" + secret + "@mail.example.com", ok: true, addr: "mail.example.com:587"},
		{url: "smtp://127.0.0.1:1025", ok: true, addr: "127.0.0.1:1025", loopback: true},
		{url: "smtp://127.8.9.10:25", ok: true, addr: "127.8.9.10:25", loopback: true},
		{url: "smtp://localhost", ok: true, addr: "localhost:587", loopback: true},
		{url: "smtp://[::1]:25", ok: true, addr: "[::1]:25", loopback: true},
		{url: "smtp://10.0.0.1:25", ok: true, addr: "10.0.0.1:25"},
		{url: "http://user:" + secret + "@mail.example.com", errHas: "scheme"},
		{url: "mail.example.com:587", errHas: "scheme"},
		{url: "smtp://user:" + secret + "@mail.example.com/inbox", errHas: "path"},
		{url: "smtp://user:" + secret + "@mail.example.com/", errHas: "path"},
		{url: "smtp://user:" + secret + "@mail.example.com?tls=no", errHas: "query"},
		{url: "smtp://user:" + secret + "@:587", errHas: "no host"},
		{url: "smtps://", errHas: "no host"},
		{url: "smtp:user:" + secret + "@mail.example.com", errHas: "look like"},
		{url: "smtp://user:" + secret + "@mail.example.com:0", errHas: "port"},
		{url: "smtp://user:" + secret + "@mail.example.com:99999", errHas: "port"},
		{url: "smtp://user:" + secret + "%zz@mail.example.com", errHas: "parse"},
		{url: "smtp://:" + secret + "@mail.example.com", errHas: "user name"},
	}
	for _, tc := range cases {
		s, err := NewSMTPSender(tc.url, "", nil)
		if !tc.ok {
			if err == nil {
				t.Fatalf("%s: got a sender, want an error", tc.url)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("%s: got %q, want it to mention %q", tc.url, err, tc.errHas)
			}
			for _, leak := range []string{secret, decodedSecret, "s3cr"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("%s: got %q, want no password in the error", tc.url, err)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: got %v, want a sender", tc.url, err)
		}
		if s.addr != tc.addr || s.implicitTLS != tc.implicitTLS || s.loopback != tc.loopback {
			t.Fatalf("%s: got addr %q tls %v loopback %v, want %q %v %v",
				tc.url, s.addr, s.implicitTLS, s.loopback, tc.addr, tc.implicitTLS, tc.loopback)
		}
		if strings.Contains(s.String(), "s3cr") {
			t.Fatalf("%s: String() = %q, want the password redacted", tc.url, s.String())
		}
		if s.tlsConfig.ServerName != s.host {
			t.Fatalf("%s: TLS ServerName: got %q, want %q", tc.url, s.tlsConfig.ServerName, s.host)
		}
	}
	if _, err := NewSMTPSender("smtp://127.0.0.1", "bad name", nil); err == nil {
		t.Fatalf("local name with a space: got nil, want an error")
	}
}

// redirect makes s dial addr whatever host its URL names, so a "remote"
// relay can be played by a loopback listener.
func redirect(s *SMTPSender, addr string) {
	s.dial = func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func TestSMTPSenderToSink(t *testing.T) {
	sink, addr := startSink(t, 10)
	s := newSender(t, "smtp://"+addr, "marbelle.test", nil)
	raw, err := sampleMessage().Bytes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), "no-reply@shop.example", []string{"bob@example.com", "carol@example.com"}, raw); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	list := sink.List()
	if len(list) != 1 {
		t.Fatalf("got %d captured, want 1", len(list))
	}
	c := list[0]
	if c.From != "no-reply@shop.example" || strings.Join(c.To, ",") != "bob@example.com,carol@example.com" || c.Subject != "Hello" {
		t.Fatalf("got %+v, want the message just sent", c)
	}
	if err := s.Send(context.Background(), "no-reply@shop.example", nil, raw); err == nil {
		t.Fatalf("Send without recipients: got nil, want an error")
	}
}

func TestSMTPSenderImplicitTLSWithAuth(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	be := &testBackend{user: "shop", pass: "pa ss"}
	addr := startServer(t, be, nil, serverTLS)

	s := newSender(t, "smtps://shop:pa%20ss@"+addr, "", clientTLS)
	if err := s.Send(context.Background(), "a@shop.example", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	got := be.received()
	if len(got) != 1 || !got[0].tls || got[0].from != "a@shop.example" {
		t.Fatalf("got %+v, want one message over TLS", got)
	}

	// Without the test CA the certificate must not be trusted.
	s = newSender(t, "smtps://shop:pa%20ss@"+addr, "", &tls.Config{})
	if err := sendX(s); err == nil {
		t.Fatalf("Send to an untrusted certificate: got nil, want an error")
	}
}

func TestSMTPSenderRemoteNeedsSTARTTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)

	// A non-loopback relay without STARTTLS: nothing may be sent in clear.
	plain := &testBackend{}
	s := newSender(t, "smtp://mail.example.com:587", "", clientTLS)
	redirect(s, startServer(t, plain, nil, nil))
	err := sendX(s)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send without STARTTLS: got %v, want a STARTTLS error", err)
	}
	if n := len(plain.received()); n != 0 {
		t.Fatalf("got %d messages delivered in clear, want 0", n)
	}

	// The same relay offering STARTTLS, with credentials.
	withTLS := &testBackend{user: "shop", pass: "pw"}
	s = newSender(t, "smtp://shop:pw@mail.example.com:587", "marbelle.test", clientTLS)
	redirect(s, startServer(t, withTLS, serverTLS, nil))
	if err := sendX(s); err != nil {
		t.Fatalf("Send with STARTTLS: got %v, want nil", err)
	}
	if got := withTLS.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("got %+v, want one message over TLS", got)
	}
}

func TestSMTPSenderLoopbackUsesSTARTTLSWhenOffered(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	be := &testBackend{}
	addr := startServer(t, be, serverTLS, nil)
	s := newSender(t, "smtp://"+addr, "", clientTLS)
	if err := sendX(s); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}
	if got := be.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("got %+v, want one message over TLS", got)
	}
}

func TestSMTPSenderLoopbackAuth(t *testing.T) {
	be := &testBackend{user: "shop", pass: "right-password"}
	addr := startServer(t, be, nil, nil)

	s := newSender(t, "smtp://shop:right-password@"+addr, "", nil)
	if err := sendX(s); err != nil {
		t.Fatalf("Send: got %v, want nil", err)
	}

	s = newSender(t, "smtp://shop:wrong-password@"+addr, "", nil)
	err := sendX(s)
	if err == nil || !Permanent(err) {
		t.Fatalf("Send with a wrong password: got %v, want a permanent error", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("got %q, want no password in the error", err)
	}
}

func TestPermanent(t *testing.T) {
	send := func(rcptErr error) error {
		addr := startServer(t, &testBackend{rcptErr: rcptErr}, nil, nil)
		s := newSender(t, "smtp://"+addr, "", nil)
		return sendX(s)
	}

	err550 := send(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	if err550 == nil || !Permanent(err550) {
		t.Fatalf("550: got Permanent(%v) = false, want true", err550)
	}
	err451 := send(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})
	if err451 == nil || Permanent(err451) {
		t.Fatalf("451: got Permanent(%v) = true, want false", err451)
	}

	// A port nobody listens on any more.
	s := newSender(t, "smtp://"+testutil.FreePort(t), "", nil)
	netErr := sendX(s)
	if netErr == nil || Permanent(netErr) {
		t.Fatalf("network error: got Permanent(%v) = true, want false", netErr)
	}

	if Permanent(nil) || Permanent(errors.New("boom")) {
		t.Fatalf("got Permanent(nil or plain error) = true, want false")
	}
}

func TestSMTPSenderHonoursContext(t *testing.T) {
	// A relay that accepts the connection and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := newSender(t, "smtp://"+l.Addr().String(), "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = s.Send(ctx, "a@shop.example", []string{"b@example.com"}, []byte("x\r\n"))
	if !errors.Is(err, context.DeadlineExceeded) || Permanent(err) {
		t.Fatalf("got %v, want a temporary error wrapping context.DeadlineExceeded", err)
	}
}
