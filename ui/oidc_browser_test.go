package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
)

// landOn waits until the tab, after leaving for the provider and coming
// back, shows a rendered page whose location contains want: the page's
// JavaScript context changes on the way, so a step may fail meanwhile.
func (b *browser) landOn(want string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		ready, err2 := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("#view h1") && !document.querySelector("#view [aria-busy]")`))
		cancel()
		if err == nil && err2 == nil && ready && strings.Contains(loc, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("never landed on %s\npage:\n%s", want, b.pageText())
}

// TestBrowserOIDC drives the whole sign-in with another provider in
// Chromium against a real OpenID provider on 127.0.0.1 (mockoidc): the
// "Continue with …" button, the provider, the callback, the account page;
// then the security page lists the provider; a refused sign-in ends on
// the login page with its message.
func TestBrowserOIDC(t *testing.T) {
	chromiumPath(t)
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })
	base := startServer(t,
		"MARBELLE_OIDC_PROVIDERS", "test",
		"MARBELLE_OIDC_TEST_LABEL", "Test ID",
		"MARBELLE_OIDC_TEST_CLIENT_ID", op.ClientID,
		"MARBELLE_OIDC_TEST_CLIENT_SECRET", op.ClientSecret,
		"MARBELLE_OIDC_TEST_ISSUER", op.Issuer())
	b := newBrowser(t, base)

	op.QueueUser(&mockoidc.MockUser{Subject: "browser-sub", Email: "grace@example.test", EmailVerified: true})
	b.open("/register")
	b.see("Continue with Test ID")
	b.open("/login")
	b.press("main", "Continue with Test ID")
	b.landOn(base + "/account")
	b.see("grace@example.test")

	b.open("/account/security")
	b.see("Sign-in providers")
	b.see("Test ID (grace@example.test)")
	b.press("#providers", "Unlink")
	b.see("This is your only way to sign in.")

	// Log out, then a provider account whose address is not verified.
	b.press("nav", "Log out")
	op.QueueUser(&mockoidc.MockUser{Subject: "other-sub", Email: "hopper@example.test", EmailVerified: false})
	b.open("/login")
	b.press("main", "Continue with Test ID")
	b.landOn("/login?oidc_error=email_unverified")
	b.see("The provider has not verified your email address")
}
