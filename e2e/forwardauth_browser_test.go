package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestForwardAuthBrowserThroughCaddy: a signed-out visitor opens a shop
// page behind Caddy, is sent to Marbelle's login page, logs in there and
// lands back on the shop page, which the shop answers for that user. The
// Chromium setup is ui/browser_test.go's, cut to what one test needs.
func TestForwardAuthBrowserThroughCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary, Caddy and Chromium; skipped under -short")
	}
	exe := testutil.Chromium(t)
	proxyBinary(t, "caddy")
	rig := startForwardRig(t)
	shop := startCaddy(t, rig)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	page := shop + "/orders/7?tab=open"
	fail := func(what string, err error) {
		t.Helper()
		c, stop := context.WithTimeout(browser, 5*time.Second)
		defer stop()
		where, _ := chromedp.Run(c, chromedp.Location())
		body, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\nnow at %s:\n%s", what, err, where, body)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#login [name=email]`))); err != nil {
		fail("open the shop page", err)
	}
	loginAt, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loginAt, rig.marbelle.URL+"/login?next=") {
		t.Fatalf("the shop page sent the browser to %s (%v), want Marbelle's login page with next", loginAt, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login [name=email]`), rig.customerEmail),
		chromedp.SendKeys(chromedp.CSS(`#login [name=password]`), forwardPassword),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
	)
	if err != nil {
		fail("log in", err)
	}
	// The login leaves the page for the shop's: a poll running in the page
	// ends with it, so ask again until the shop page is there.
	landed := `location.href === ` + jsString(page) + ` && !!document.querySelector("h1")?.textContent.startsWith("Shop page")`
	testutil.WaitFor(t, 20*time.Second, func() error {
		c, stop := context.WithTimeout(ctx, 2*time.Second)
		defer stop()
		if ok, err := chromedp.Run(c, chromedp.Evaluate[bool](landed)); err != nil || !ok {
			return fmt.Errorf("not back on %s yet (%v)", page, err)
		}
		return nil
	})
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if want := "Shop page /orders/7 for " + rig.customerEmail; err != nil || text != want {
		t.Errorf("the shop page shows %q (%v), want %q", text, err, want)
	}
}

// jsString quotes s for JavaScript (Go's %q is close enough for URLs).
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
