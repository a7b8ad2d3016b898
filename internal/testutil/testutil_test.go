package testutil

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 400 {
		t.Fatalf("got %d bytes, want 400", got)
	}
}

func TestFreePortIsFree(t *testing.T) {
	addr := FreePort(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("got %q, want a 127.0.0.1 address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the free port: %v", err)
	}
	ln.Close()
}

func TestWaitForRetriesUntilNil(t *testing.T) {
	calls := 0
	WaitFor(t, 5*time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("cond ran %d times, want 3", calls)
	}
}

func TestDevMailsAndTokens(t *testing.T) {
	tok := strings.Repeat("A", 43)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/dev/mail" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":true,"data":[
			{"id":"3","to":["ann@example.test"],"subject":"Notice","text":"no link"},
			{"id":"2","to":["bob@example.test"],"subject":"Verify","text":"http://x/verify-email?token=%s"},
			{"id":"1","to":["ann@example.test"],"subject":"Verify","text":"http://x/verify-email?token=%s"}]}`, strings.Repeat("B", 43), tok)
	}))
	defer srv.Close()
	if got := DevMails(t, nil, srv.URL, ""); len(got) != 3 {
		t.Fatalf("all mails: got %d, want 3", len(got))
	}
	if got := DevMails(t, nil, srv.URL, "ann@example.test"); len(got) != 2 || got[0].ID != "3" || got[1].ID != "1" {
		t.Fatalf("mails to ann: got %+v, want ids 3 and 1", got)
	}
	if got := WaitDevTokens(t, srv.Client(), srv.URL, "ann@example.test", "verify-email", 1, time.Second); len(got) != 1 || got[0] != tok {
		t.Fatalf("tokens to ann: got %q, want [%s]", got, tok)
	}
	if got := DevTokens(t, nil, srv.URL, "ann@example.test", "reset-password"); len(got) != 0 {
		t.Fatalf("reset tokens to ann: got %q, want none", got)
	}
}
