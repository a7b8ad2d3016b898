package ui

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/marbelle/marbelle/internal/testutil"
)

// TestSafeNextUnderNode runs assets/next.js, the file the login page
// imports, under node with a table of ?next= values: an open redirect in
// any spelling falls back to /account; own pages and forward-auth origins
// are followed. Without node it skips, unless MARBELLE_BROWSER_TESTS=1
// (as in CI) makes that a failure.
func TestSafeNextUnderNode(t *testing.T) {
	node := testutil.Tool(t, "MARBELLE_BROWSER_TESTS", "node", "apt-get install nodejs (it runs assets/next.js)")
	const (
		own  = "https://account.shop.example"
		shop = "https://shop.example"
	)
	// origins as the server lists them in production (https only), with
	// one host on a port of its own; "http://dev.shop.example" stands for
	// what development adds.
	origins := []string{shop, "https://app.shop.example:8443", "http://dev.shop.example"}
	cases := []struct{ next, want string }{
		// followed
		{"/account/addresses", "/account/addresses"},
		{"/account/security#sessions", "/account/security#sessions"},
		{"/admin/user?id=42", "/admin/user?id=42"},
		{own + "/account", "/account"},
		{shop + "/orders?id=7&x=1", shop + "/orders?id=7&x=1"},
		{shop + "/", shop + "/"},
		{"HTTPS://SHOP.EXAMPLE/Orders", shop + "/Orders"},
		{shop + ":443/x", shop + "/x"},
		{"https://app.shop.example:8443/a", "https://app.shop.example:8443/a"},
		{"http://dev.shop.example/a", "http://dev.shop.example/a"},
		// not a page of ours: the default
		{"", "/account"},
		{"/", "/account"},
		{"/login", "/account"},
		{"/nowhere", "/account"},
		{"/%2F%2Fevil.example", "/account"},
		// another site, in every spelling
		{"//evil.example", "/account"},
		{"//evil.example/account", "/account"},
		{"///evil.example", "/account"},
		{"https:evil.example", "/account"},
		{"https:/evil.example", "/account"},
		{"https://evil.example/account", "/account"},
		{"http://shop.example/", "/account"}, // http where only https is listed
		{"https://app.shop.example/", "/account"},
		{"https://shop.example:8443/", "/account"},
		{"https://shop.example.evil.example/", "/account"},
		{"https://evil.example/" + shop, "/account"},
		{"/\\evil.example", "/account"},
		{"\\\\evil.example", "/account"},
		{"\\/evil.example", "/account"},
		{"https:\\\\evil.example", "/account"},
		{"https://evil.example\\@shop.example/", "/account"},
		{"https://shop.example@evil.example/", "/account"},
		{"https://shop.example:pw@evil.example/", "/account"},
		{"https://user@shop.example/", "/account"},
		{"javascript:alert(1)", "/account"},
		{"JavaScript:alert(1)//" + shop, "/account"},
		{"java\nscript:alert(1)", "/account"},
		{"data:text/html,<script>alert(1)</script>", "/account"},
		{"blob:" + shop + "/0b8c2f0e-0000-4000-8000-000000000000", "/account"},
		{"%2F%2Fevil.example", "/account"},
		{"%2f%2fevil.example", "/account"},
		{"https%3A%2F%2Fevil.example", "/account"},
		{" //evil.example", "/account"},
		{"\t//evil.example", "/account"},
		{"\n/evil.example", "/account"},
		{"/\t/evil.example", "/account"},
		{"\x00//evil.example", "/account"},
		{"\u00a0//evil.example", "/account"},
		{"\ufeff//evil.example", "/account"},
		{"\u2028//evil.example", "/account"},
		{"/account\r\n", "/account"},
		{shop + "/\n", "/account"},
	}
	nexts := make([]string, len(cases))
	for i, c := range cases {
		nexts[i] = c.next
	}
	in, _ := json.Marshal(map[string]any{"own": own, "origins": origins, "nexts": nexts})

	// The module as the page loads it, as a .mjs file so that node reads
	// it as a module whatever its version.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("embed", "assets", "next.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "next.mjs"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	runner := `import { safeNext } from "./next.mjs";
import { readFileSync } from "node:fs";
const { own, origins, nexts } = JSON.parse(readFileSync(0, "utf8"));
const pages = new Set(["/account", "/account/addresses", "/account/security", "/admin", "/admin/user"]);
console.log(JSON.stringify(nexts.map((n) => safeNext(n, own, origins, (p) => pages.has(p)))));
`
	if err := os.WriteFile(filepath.Join(dir, "run.mjs"), []byte(runner), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "run.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderrOf(err))
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %q (%v), want %d answers", out, err, len(cases))
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("safeNext(%q): got %q, want %q", c.next, got[i], c.want)
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
