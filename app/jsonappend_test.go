package app

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// encodingJSON is what writeBody sends for v: the reference the
// hand-written encoders must match byte for byte.
func encodingJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r\x00\x01\x1f\x7f",
	"ümlaut Straße 東京", "line\u2028sep\u2029para", "bad \xff utf8 \xc3", "emoji 😀", "\b\f",
}

func TestAddressJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 120000000, time.UTC)
	var list addressList
	var views []addressView
	for i, s := range awkwardStrings {
		list.items = append(list.items, store.Address{
			ID: uuid.New(), Label: s, FirstName: s, LastName: "L", Company: s, StreetAddress: s, StreetAddress2: s,
			City: s, Region: s, PostalCode: s, Country: "DE", Phone: s,
			CreatedAt: at.Add(time.Duration(i) * time.Nanosecond), UpdatedAt: at.Add(time.Duration(i) * time.Second),
		})
		views = append(views, addressViewOf(&list.items[i], i == 0))
	}
	list.primary = list.items[0].ID
	for _, c := range []struct {
		name     string
		data     any
		jsonData any
	}{
		{"list", list, views},
		{"empty list", addressList{}, []addressView{}},
		{"one address", &views[1], views[1]},
	} {
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, "Your <addresses> & more.", c.data)
		want := encodingJSON(t, envelope{Success: true, Message: "Your <addresses> & more.", Data: c.jsonData})
		if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", c.name, got, want)
		}
		if rec.Header().Get("Content-Length") == "" {
			t.Fatalf("%s: no Content-Length", c.name)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := encodingJSON(t, s)
		if got := appendJSONString(nil, s); !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// jsonSize is what appendJSON writes when no string needs escaping and
// the timestamps carry all nine digits (an answer then takes one
// allocation), and an upper bound with fewer digits.
func TestAddressJSONSize(t *testing.T) {
	full := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	v := addressView{ID: uuid.New(), Label: "Home", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical",
		StreetAddress: "Hauptstr. 1", StreetAddress2: "Hof", City: "Berlin", Region: "BE", PostalCode: "10115",
		Country: "DE", Phone: "+4930123456", CreatedAt: full, UpdatedAt: full}
	if got, want := len(v.appendJSON(nil)), v.jsonSize(); got != want {
		t.Fatalf("one address: %d bytes, jsonSize %d", got, want)
	}
	a := store.Address{ID: v.ID, Label: v.Label, FirstName: v.FirstName, LastName: v.LastName, Company: v.Company,
		StreetAddress: v.StreetAddress, StreetAddress2: v.StreetAddress2, City: v.City, Region: v.Region,
		PostalCode: v.PostalCode, Country: v.Country, Phone: v.Phone, CreatedAt: full, UpdatedAt: full}
	list := addressList{items: []store.Address{a, a, a}}
	list.items[1].CreatedAt, list.items[2].ID = full.Truncate(time.Second), uuid.New()
	list.primary = list.items[2].ID
	// true is a byte shorter than false, a whole second ten shorter.
	if got, want := len(list.appendJSON(nil)), list.jsonSize(); got != want-11 {
		t.Fatalf("list: %d bytes, jsonSize %d", got, want)
	}
}
