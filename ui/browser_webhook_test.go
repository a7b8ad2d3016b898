package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestBrowserAdminWebhooks (issue 17): staff add an endpoint on the admin
// page, see its secret once, send a test event that the receiver verifies
// with the Standard Webhooks reference library, and see the delivery.
func TestBrowserAdminWebhooks(t *testing.T) {
	chromiumPath(t)
	var mu sync.Mutex
	var secret string
	verified := make(chan error, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		wh, err := standardwebhooks.NewWebhook(secret)
		mu.Unlock()
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		verified <- err
	}))
	defer rc.Close()
	_, b := newStaffBrowser(t)
	b.press(".subnav", "Webhooks")
	b.see("No endpoints yet.")
	b.fill("#webhook-form [name=url]", rc.URL+"/hooks")
	b.click(`#webhook-form [name="event:*"]`)
	b.press("#webhook-form", "Add the endpoint")
	b.see("shown only this once")
	shown := eval[string](b, `document.querySelector("#new-secret").textContent`)
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]+=*$`).MatchString(shown) {
		t.Fatalf("shown secret %q", shown)
	}
	mu.Lock()
	secret = shown
	mu.Unlock()
	b.press("section[aria-labelledby=hooks]", "Send test event")
	if err := <-verified; err != nil {
		t.Fatalf("the test event does not verify with the reference library: %v", err)
	}
	b.open("/admin/webhooks")
	b.see("webhook.test")
	if b.pageText() == "" || regexp.MustCompile(`whsec_`).MatchString(b.pageText()) {
		t.Fatal("the page shows the secret again")
	}
}
