package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sender sends one raw message. *SMTPSender implements it.
type Sender interface {
	Send(ctx context.Context, from string, to []string, raw []byte) error
}

// defaultSendTimeout bounds a send whose context has no deadline, so a
// stuck relay cannot hold the delivery loop forever.
const defaultSendTimeout = 30 * time.Second

// SMTPSender submits mail to one relay described by a URL. It opens a new
// connection per message and is safe for concurrent use.
type SMTPSender struct {
	host, addr  string
	implicitTLS bool // smtps://
	loopback    bool // plain SMTP is allowed only to this machine
	user, pass  string
	localName   string
	tlsConfig   *tls.Config
	// loopbackTLS is used for opportunistic STARTTLS to a loopback relay.
	loopbackTLS *tls.Config
	redacted    string

	// dial opens the TCP connection; tests replace it to reach a
	// "remote" host name on a loopback listener.
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

// NewSMTPSender parses a relay URL:
//
//	smtps://user:pass@host:465  implicit TLS (default port 465)
//	smtp://user:pass@host:587   STARTTLS required (default port 587); plain
//	                            SMTP only when host is a loopback address,
//	                            which then uses STARTTLS if offered.
//
// Credentials, if any, are sent with SASL PLAIN. localName is the EHLO name
// ("localhost" when empty). tlsConfig may be nil (system roots); its
// ServerName defaults to the URL host. Errors never contain the password.
func NewSMTPSender(rawURL string, localName string, tlsConfig *tls.Config) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included, so it is
		// not wrapped.
		return nil, errors.New("mail: SMTP URL cannot be parsed (are special characters in the user name and password percent-encoded?)")
	}
	s := &SMTPSender{redacted: u.Redacted()}
	if s.host, s.addr, s.implicitTLS, err = relayAddr(u); err != nil {
		return nil, err
	}
	s.loopback = isLoopbackHost(s.host)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" {
			return nil, errors.New("mail: SMTP URL has credentials without a user name")
		}
	}
	if localName == "" {
		localName = "localhost"
	}
	if strings.ContainsAny(localName, " \t\r\n") {
		return nil, fmt.Errorf("mail: SMTP local name %q must be a single word", localName)
	}
	s.localName = localName
	s.tlsConfig, s.loopbackTLS = relayTLS(tlsConfig, s.host, s.loopback)
	s.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return s, nil
}

// relayAddr checks the shape of a relay URL and reads where it points:
// the host, host:port (the scheme's port by default) and whether the
// scheme is smtps.
func relayAddr(u *url.URL) (host, addr string, implicitTLS bool, err error) {
	var port string
	switch u.Scheme {
	case "smtps":
		implicitTLS, port = true, "465"
	case "smtp":
		port = "587"
	default:
		return "", "", false, fmt.Errorf("mail: SMTP URL scheme must be smtp or smtps, not %q", u.Scheme)
	}
	const shape = "smtp[s]://user:password@host:port"
	if u.Opaque != "" {
		return "", "", false, fmt.Errorf("mail: SMTP URL must look like %s", shape)
	}
	host = u.Hostname()
	if host == "" {
		return "", "", false, fmt.Errorf("mail: SMTP URL has no host (want %s)", shape)
	}
	if u.Path != "" || u.RawPath != "" {
		return "", "", false, fmt.Errorf("mail: SMTP URL must not have a path (want %s)", shape)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", "", false, fmt.Errorf("mail: SMTP URL must not have a query or fragment (want %s)", shape)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "", false, fmt.Errorf("mail: SMTP URL port %q is not a valid port", p)
		}
		port = p
	}
	return host, net.JoinHostPort(host, port), implicitTLS, nil
}

// relayTLS completes the caller's TLS config (nil: system roots) for the
// relay: ServerName host and at least TLS 1.2. loopbackTLS is the config
// for opportunistic STARTTLS to a loopback relay.
func relayTLS(tlsConfig *tls.Config, host string, loopback bool) (cfg, loopbackTLS *tls.Config) {
	cfg = tlsConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if !loopback || tlsConfig != nil {
		return cfg, cfg
	}
	// A local relay usually has a self-signed certificate, and traffic
	// that never leaves the machine gains nothing from verifying it;
	// verifying would only turn "STARTTLS if offered" into "no mail".
	loopbackTLS = cfg.Clone()
	loopbackTLS.InsecureSkipVerify = true // #nosec G402 -- opportunistic STARTTLS to a loopback relay only, where plain SMTP is allowed anyway
	return cfg, loopbackTLS
}

// String describes the relay without the password, so a sender that ends
// up in a log line or %v does not leak it.
func (s *SMTPSender) String() string { return s.redacted }

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send submits raw to the relay. The whole exchange is bounded by ctx (30 s
// when ctx has no deadline); cancelling ctx aborts it.
func (s *SMTPSender) Send(ctx context.Context, from string, to []string, raw []byte) error {
	if len(to) == 0 {
		return errors.New("mail: send: no recipients")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSendTimeout)
		defer cancel()
	}
	err := s.send(ctx, from, to, raw)
	if err == nil {
		return nil
	}
	// Say why the connection died: ctx ended, or the conn deadline (set
	// from ctx) fired just before ctx's own timer did.
	cause := ctx.Err()
	if dl, _ := ctx.Deadline(); cause == nil && !time.Now().Before(dl) {
		cause = context.DeadlineExceeded
	}
	if cause != nil {
		return fmt.Errorf("mail: send via %s: %w (%w)", s.addr, cause, err)
	}
	return err
}

func (s *SMTPSender) send(ctx context.Context, from string, to []string, raw []byte) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	if s.user != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !s.loopback {
			return fmt.Errorf("mail: refusing to send SMTP credentials to %s without TLS", s.addr)
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail: %s does not offer AUTH; remove the credentials from the SMTP URL", s.addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", s.user, s.pass)); err != nil {
			return fmt.Errorf("mail: authenticate to %s as %q: %w", s.addr, s.user, err)
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("mail: send via %s: %w", s.addr, err)
	}
	// The relay has taken the message once DATA is accepted; a failed QUIT
	// must not cause a retry and a duplicate.
	_ = c.Quit()
	return nil
}

// connect returns a client that has said EHLO with s.localName, over TLS
// unless the relay is a loopback host that does not offer STARTTLS.
func (s *SMTPSender) connect(ctx context.Context) (*smtp.Client, error) {
	switch {
	case s.implicitTLS:
		conn, err := s.open(ctx)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			tc.Close()
			return nil, fmt.Errorf("mail: TLS with %s: %w", s.addr, err)
		}
		return s.hello(ctx, smtp.NewClient(tc))

	case !s.loopback:
		return s.startTLS(ctx, s.tlsConfig)

	default:
		conn, err := s.open(ctx)
		if err != nil {
			return nil, err
		}
		// "localhost" may resolve anywhere; plain SMTP must stay on this
		// machine.
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			conn.Close()
			return nil, fmt.Errorf("mail: %s resolved to non-loopback %v; use TLS", s.addr, conn.RemoteAddr())
		}
		c, err := s.hello(ctx, smtp.NewClient(conn))
		if err != nil {
			return nil, err
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return c, nil
		}
		// go-smtp starts TLS only on a fresh client, so reconnect.
		_ = c.Quit()
		c.Close()
		return s.startTLS(ctx, s.loopbackTLS)
	}
}

func (s *SMTPSender) startTLS(ctx context.Context, cfg *tls.Config) (*smtp.Client, error) {
	conn, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	// go-smtp says EHLO localhost before STARTTLS (its API does not take a
	// name there); the EHLO that counts is the one after, below.
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("mail: STARTTLS with %s: %w", s.addr, err)
	}
	return s.hello(ctx, c)
}

// open dials s.addr and ties the connection's life to ctx.
func (s *SMTPSender) open(ctx context.Context) (net.Conn, error) {
	conn, err := s.dial(ctx, s.addr)
	if err != nil {
		return nil, fmt.Errorf("mail: connect to %s: %w", s.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// go-smtp resets conn deadlines around each command, so closing the
	// connection is what reliably enforces ctx.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

// hello sets the client's timeouts from ctx and says EHLO.
func (s *SMTPSender) hello(ctx context.Context, c *smtp.Client) (*smtp.Client, error) {
	if dl, ok := ctx.Deadline(); ok {
		d := max(time.Until(dl), time.Millisecond)
		c.CommandTimeout, c.SubmissionTimeout = d, d
	}
	if err := c.Hello(s.localName); err != nil {
		c.Close()
		return nil, fmt.Errorf("mail: EHLO to %s: %w", s.addr, err)
	}
	return c, nil
}

// ctxConn releases the context watcher when the connection is closed.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// Permanent reports whether err is a permanent SMTP failure (a 5xx reply).
// Network errors, 4xx replies and anything else are temporary.
func Permanent(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code <= 599
}
