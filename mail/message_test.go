package mail

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func sampleMessage() Message {
	return Message{
		From:    "Marbelle <no-reply@shop.example>",
		To:      "bob@example.com",
		Subject: "Hello",
		Text:    "Hi Bob,\n\nhttp://127.0.0.1:8080/verify-email?token=abc\n",
		HTML:    "<p>Hi Bob,</p>\n",
	}
}

func TestBytesRefusesLineBreaks(t *testing.T) {
	for _, field := range []string{"From", "To", "Subject"} {
		for _, brk := range []string{"\r", "\n", "\r\n", "\r\n Bcc: eve@example.com"} {
			m := sampleMessage()
			switch field {
			case "From":
				m.From = "Marbelle <no-reply@shop.example>" + brk
			case "To":
				m.To = "bob@example.com" + brk
			case "Subject":
				m.Subject = "Hello" + brk + "Bcc: eve@example.com"
			}
			raw, err := m.Bytes(time.Now())
			if err == nil {
				t.Fatalf("%s with %q: got %q, want an error", field, brk, raw)
			}
		}
	}
	m := sampleMessage()
	m.From = "no-reply@shop.example\n"
	if got, err := m.EnvelopeFrom(); err == nil {
		t.Fatalf("EnvelopeFrom with LF: got %q, want an error", got)
	}
}

func TestBytesHeaders(t *testing.T) {
	m := sampleMessage()
	m.Subject = "Bienvenue chez Marbelle — café"
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	raw, err := m.Bytes(now)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("\n")) && bytes.Count(raw, []byte("\n")) != bytes.Count(raw, []byte("\r\n")) {
		t.Fatalf("got bare LF line endings, want CRLF only")
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("got a %d-octet line, want <= 998", len(line))
		}
		for _, r := range line {
			if r > 127 {
				t.Fatalf("got non-ASCII %q in %q, want a 7-bit message", r, line)
			}
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if got, want := h.Get("From"), `"Marbelle" <no-reply@shop.example>`; got != want {
		t.Fatalf("From: got %q, want %q", got, want)
	}
	if got, want := h.Get("To"), "bob@example.com"; got != want {
		t.Fatalf("To: got %q, want %q", got, want)
	}
	if got, want := h.Get("Date"), "Tue, 04 Mar 2025 05:06:07 +0100"; got != want {
		t.Fatalf("Date: got %q, want %q", got, want)
	}
	if got := h.Get("Subject"); !strings.HasPrefix(got, "=?utf-8?") {
		t.Fatalf("Subject: got %q, want an RFC 2047 encoded word", got)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Fatalf("decoded Subject: got %q (%v), want %q", subject, err, m.Subject)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@shop.example>") || len(id) < 20 {
		t.Fatalf("Message-ID: got %q, want <random@shop.example>", id)
	}
	if got, want := h.Get("Auto-Submitted"), "auto-generated"; got != want {
		t.Fatalf("Auto-Submitted (RFC 3834): got %q, want %q", got, want)
	}
	if got := h.Get("Reply-To"); got != "" {
		t.Fatalf("Reply-To: got %q, want none when not set", got)
	}
	if got, want := h.Get("MIME-Version"), "1.0"; got != want {
		t.Fatalf("MIME-Version: got %q, want %q", got, want)
	}
	if mt, params, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type: got %q (%v), want multipart/alternative with a boundary", h.Get("Content-Type"), err)
	}

	raw2, err := m.Bytes(now)
	if err != nil {
		t.Fatal(err)
	}
	msg2, _ := mail.ReadMessage(bytes.NewReader(raw2))
	if msg2.Header.Get("Message-ID") == h.Get("Message-ID") {
		t.Fatalf("Message-ID: got the same id twice, want a random one each time")
	}
}

func TestBytesReplyTo(t *testing.T) {
	m := sampleMessage()
	m.ReplyTo = "Shop support <support@shop.example>"
	raw, err := m.Bytes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Header.Get("Reply-To"), `"Shop support" <support@shop.example>`; got != want {
		t.Fatalf("Reply-To: got %q, want %q", got, want)
	}
	m.ReplyTo = "x@shop.example\r\nBcc: evil@example.com"
	if _, err := m.Bytes(time.Now()); err == nil {
		t.Fatalf("Reply-To with a line break: got nil, want an error")
	}
}

func TestEnvelopeFrom(t *testing.T) {
	for in, want := range map[string]string{
		"Marbelle <no-reply@localhost>": "no-reply@localhost",
		"no-reply@shop.example":         "no-reply@shop.example",
		`"Café Marbelle" <a@b.example>`: "a@b.example",
	} {
		got, err := Message{From: in}.EnvelopeFrom()
		if err != nil || got != want {
			t.Fatalf("EnvelopeFrom(%q): got %q (%v), want %q", in, got, err, want)
		}
	}
	if got, err := (Message{From: "not an address"}).EnvelopeFrom(); err == nil {
		t.Fatalf("EnvelopeFrom(garbage): got %q, want an error", got)
	}
}

// TestBytesRoundTrip sends Bytes output through SMTP into a Sink and checks
// that subject, text and HTML come back unchanged.
func TestBytesRoundTrip(t *testing.T) {
	sink, addr := startSink(t, 10)
	sender := newSender(t, "smtp://"+addr, "test.local", nil)
	long := strings.Repeat("a=b ", 60) // forces soft line breaks and =3D
	cases := []Message{
		sampleMessage(),
		{
			From:    "Café Marbelle <no-reply@shop.example>",
			To:      "zoë@example.com",
			Subject: "Réinitialisez votre mot de passe ☕ — Marbelle",
			Text:    "Bonjour Zoë,\n\n" + long + "\n\nhttp://127.0.0.1:8080/reset-password?token=" + strings.Repeat("x", 43) + "\n",
			HTML:    "<p>Bonjour Zoë, « ça va » ?</p>\n<p>" + long + "</p>\n",
		},
	}
	for i, m := range cases {
		now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		raw, err := m.Bytes(now)
		if err != nil {
			t.Fatal(err)
		}
		from, err := m.EnvelopeFrom()
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(context.Background(), from, []string{m.To}, raw); err != nil {
			t.Fatalf("case %d: Send: got %v, want nil", i, err)
		}
		list := sink.List()
		if len(list) != i+1 {
			t.Fatalf("case %d: got %d captured, want %d", i, len(list), i+1)
		}
		c := list[0]
		if c.Subject != m.Subject {
			t.Fatalf("case %d: Subject: got %q, want %q", i, c.Subject, m.Subject)
		}
		if c.Text != m.Text {
			t.Fatalf("case %d: Text: got %q, want %q", i, c.Text, m.Text)
		}
		if c.HTML != m.HTML {
			t.Fatalf("case %d: HTML: got %q, want %q", i, c.HTML, m.HTML)
		}
		if !c.Date.Equal(now) {
			t.Fatalf("case %d: Date: got %v, want %v", i, c.Date, now)
		}
		if c.From != from || len(c.To) != 1 || c.To[0] != m.To {
			t.Fatalf("case %d: envelope: got %q %q, want %q [%q]", i, c.From, c.To, from, m.To)
		}
	}
}
