package mail

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSinkKeepsNewestMax(t *testing.T) {
	sink, addr := startSink(t, 3)
	s := newSender(t, "smtp://"+addr, "", nil)
	for i := 1; i <= 5; i++ {
		m := sampleMessage()
		m.Subject = fmt.Sprintf("mail %d", i)
		raw, err := m.Bytes(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), "a@shop.example", []string{"b@example.com"}, raw); err != nil {
			t.Fatal(err)
		}
	}
	list := sink.List()
	var subjects []string
	for _, c := range list {
		subjects = append(subjects, c.Subject)
	}
	if got, want := strings.Join(subjects, ","), "mail 5,mail 4,mail 3"; got != want {
		t.Fatalf("List subjects: got %q, want %q", got, want)
	}
	ids := map[string]bool{}
	for _, c := range list {
		if c.ID == "" || strings.ContainsAny(c.ID, "/+=?&#%") || ids[c.ID] {
			t.Fatalf("ID: got %q, want a unique URL-safe id", c.ID)
		}
		ids[c.ID] = true
	}

	got, ok := sink.Message(list[1].ID)
	if !ok || got.Subject != "mail 4" {
		t.Fatalf("Message(%q): got %+v %v, want mail 4", list[1].ID, got, ok)
	}
	got.To[0] = "changed@example.com"
	if again, _ := sink.Message(list[1].ID); again.To[0] != "b@example.com" {
		t.Fatalf("got %q after editing a returned copy, want the sink unchanged", again.To[0])
	}
	if _, ok := sink.Message("no-such-id"); ok {
		t.Fatalf("Message(unknown): got ok, want not found")
	}

	sink.Clear()
	if n := len(sink.List()); n != 0 {
		t.Fatalf("after Clear: got %d messages, want 0", n)
	}
	if _, ok := sink.Message(list[0].ID); ok {
		t.Fatalf("after Clear: Message found %q, want not found", list[0].ID)
	}
}

func TestSinkConcurrentUse(t *testing.T) {
	sink, addr := startSink(t, 5)
	s := newSender(t, "smtp://"+addr, "", nil)
	raw, err := sampleMessage().Bytes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- s.Send(context.Background(), "a@shop.example", []string{"b@example.com"}, raw)
		}()
		go func() {
			defer wg.Done()
			for _, c := range sink.List() {
				sink.Message(c.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: got %v, want nil", err)
		}
	}
	if n := len(sink.List()); n != 5 {
		t.Fatalf("got %d kept, want the max of 5", n)
	}
}

func TestSinkCloseBeforeServe(t *testing.T) {
	sink := NewSink(1, nil)
	if err := sink.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("second Close: got %v, want nil", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Serve(l); err != nil {
		t.Fatalf("Serve after Close: got %v, want nil", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatalf("listener still open after Serve on a closed sink")
	}
}

func TestParseCaptured(t *testing.T) {
	received := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }
	cases := []struct {
		name, raw           string
		subject, text, html string
		date                time.Time
	}{
		{
			name:    "single text/plain, no MIME headers, no Date",
			raw:     "Subject: plain\n\nhello\n",
			subject: "plain", text: "hello\n", date: received,
		},
		{
			name: "single text/html base64",
			raw: "Subject: =?UTF-8?B?Q2Fmw6k=?=\nDate: Mon, 06 Jan 2025 10:00:00 +0000\n" +
				"Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" +
				"PHA+Q2Fmw6kg4pyTPC9w\nPg==\n",
			subject: "Café", html: "<p>Café ✓</p>", date: time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC),
		},
		{
			name: "single text/plain quoted-printable latin1",
			raw: "Subject: =?iso-8859-1?q?r=E9sum=E9?=\nContent-Type: text/plain; charset=iso-8859-1\n" +
				"Content-Transfer-Encoding: quoted-printable\n\nr=E9sum=E9 a=3Db soft=\nbreak\n",
			subject: "résumé", text: "résumé a=b softbreak\n", date: received,
		},
		{
			name: "mixed with nested alternative and an attachment",
			raw: "Subject: nested\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n" +
				"--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n" +
				"--inner\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\nthe text\n" +
				"--inner\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>the =\nhtml=C3=A9</p>\n" +
				"--inner--\n" +
				"--outer\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n" +
				"--outer--\n",
			subject: "nested", text: "the text", html: "<p>the htmlé</p>", date: received,
		},
		{
			name:    "not a message at all",
			raw:     "garbage without headers",
			subject: "", text: "garbage without headers", date: received,
		},
	}
	for _, tc := range cases {
		c := parseCaptured(crlf(tc.raw), received)
		if c.Subject != tc.subject || c.Text != tc.text || c.HTML != tc.html || !c.Date.Equal(tc.date) {
			t.Fatalf("%s: got subject %q text %q html %q date %v, want %q %q %q %v",
				tc.name, c.Subject, c.Text, c.HTML, c.Date, tc.subject, tc.text, tc.html, tc.date)
		}
		if c.ID == "" {
			t.Fatalf("%s: got an empty ID", tc.name)
		}
	}
}
