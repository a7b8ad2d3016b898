// Package ui serves the web pages embedded in the binary. Pages are plain
// HTML, CSS and JavaScript modules: no build step, no external resource,
// no inline script (the Content-Security-Policy forbids it).
package ui

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:embed
var files embed.FS

// pages are the paths answered with the application page; its script
// renders the right view for each.
var pages = map[string]bool{
	"/": true, "/verify-email": true, "/reset-password": true, "/confirm-email-change": true,
	"/forgot-password": true, "/login": true, "/register": true, "/account": true, "/dev/mail": true,
}

// Config says what the pages need from the server's configuration.
type Config struct {
	SiteName string // the shop's name, in every page's title and header
	DevMail  bool   // serve the captured-mail viewer at /dev/mail (development only)
}

// Handler serves the pages and their assets, with the shop's name in the page.
func Handler(cfg Config) http.Handler {
	siteName := cfg.SiteName
	static, err := fs.Sub(files, "embed")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	tmpl := template.Must(template.ParseFS(static, "index.html"))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, struct{ SiteName string }{siteName}); err != nil {
		panic(err)
	}
	body := page.Bytes()
	assets := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if p != "/" {
			p = strings.TrimSuffix(p, "/")
		}
		switch {
		case p == "/dev/mail" && !cfg.DevMail:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("<!doctype html><meta charset=utf-8><title>Not found</title><p>There is nothing at this address. <a href=\"/\">Home</a></p>\n"))
		case pages[p]:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
		case strings.HasPrefix(p, "/assets/"):
			w.Header().Set("Cache-Control", "public, max-age=3600")
			assets.ServeHTTP(w, r)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("<!doctype html><meta charset=utf-8><title>Not found</title><p>There is nothing at this address. <a href=\"/\">Home</a></p>\n"))
		}
	})
}
