package ui_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSEC44CrossSiteAttackPageDoesNothing: a page on another site
// (127.0.0.2 is a different site from 127.0.0.1) that auto-submits forms
// (urlencoded and text/plain JSON) and calls fetch with credentials, to
// change the password and delete an address, leaves the signed-in
// customer's account untouched.
func TestSEC44CrossSiteAttackPageDoesNothing(t *testing.T) {
	base := startServer(t)
	c := newCustomer(t, base, "target@example.test", "Tara")
	c.addAddress("Home", "Hauptstr. 1", "10115", "Berlin", "DE")
	var list []struct {
		ID string `json:"id"`
	}
	env := c.call("GET", "/api/v1/auth/addresses", nil)
	if err := json.Unmarshal(env.Data, &list); err != nil || len(list) != 1 {
		t.Fatalf("addresses: %v %d", err, len(list))
	}
	addr := list[0].ID

	b := newBrowser(t, base)
	b.login("target@example.test", password)
	// The attack page's console fills with the refusals (CORS, and our
	// frame-ancestors 'none' against its frames): expected here.
	b.mu.Lock()
	b.probing = true
	b.mu.Unlock()

	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form id=f1 method=POST action="%[1]s/api/v1/auth/password/change" target=s1>
  <input name=current_password value=%[2]q><input name=new_password value="evil harbour pw 99"></form>
<form id=f2 method=POST action="%[1]s/api/v1/auth/password/change" enctype="text/plain" target=s2>
  <input name='{"current_password":%[2]q,"new_password":"evil harbour pw 99","x":"' value='"}'></form>
<iframe name=s1></iframe><iframe name=s2></iframe>
<script>
document.getElementById("f1").submit();
document.getElementById("f2").submit();
const sent = [
  fetch("%[1]s/api/v1/auth/password/change", {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({current_password: %[2]q, new_password: "evil harbour pw 99"})}).catch(() => {}),
  fetch("%[1]s/api/v1/auth/addresses/%[3]s", {method: "DELETE", credentials: "include"}).catch(() => {}),
  fetch("%[1]s/api/v1/auth/addresses/%[3]s", {method: "POST", credentials: "include", mode: "no-cors", body: "{}"}).catch(() => {}),
];
Promise.all(sent).then(() => setTimeout(() => { document.title = "done"; }, 1000));
</script>`, base, password, addr)
	}))
	evil.Listener.Close()
	evil.Listener = ln
	evil.Start()
	defer evil.Close()

	b.do("open the attack page", chromedp.Navigate(evil.URL))
	b.waitFor(`document.title === "done"`, "the attack page finished")

	// Nothing changed: the old password still logs in, the address is there.
	jar, _ := cookiejar.New(nil)
	fresh := &customer{t: t, base: base, http: &http.Client{Jar: jar, Timeout: stepTimeout}}
	if got := fresh.status("POST", "/api/v1/auth/login", map[string]string{"email": "target@example.test", "password": password}); got != 200 {
		t.Fatalf("old password: got %d, want 200 (the attack changed it)", got)
	}
	if got := c.status("GET", "/api/v1/auth/addresses/"+addr, nil); got != 200 {
		t.Fatalf("address after the attack: got %d, want 200", got)
	}
	if got := fresh.status("POST", "/api/v1/auth/login", map[string]string{"email": "target@example.test", "password": "evil harbour pw 99"}); got != 401 {
		t.Fatalf("attacker's password: got %d, want 401", got)
	}
}
