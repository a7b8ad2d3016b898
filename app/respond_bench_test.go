package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marbelle/marbelle/i18n"
)

// BenchmarkWriteJSONAppender answers one address (a jsonAppender) to a
// German request, as POST /api/v1/auth/addresses does.
func BenchmarkWriteJSONAppender(b *testing.B) {
	cat, err := i18n.Load("")
	if err != nil {
		b.Fatal(err)
	}
	v := &addressView{Label: "Home", FirstName: "Ada", LastName: "Lovelace", StreetAddress: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
	b.ReportAllocs()
	for b.Loop() {
		sw := &statusWriter{ResponseWriter: httptest.NewRecorder(), lang: requestLanguage{cat: cat, accept: "de", def: i18n.English}}
		writeJSON(sw, http.StatusCreated, "The address is saved.", v)
	}
}
