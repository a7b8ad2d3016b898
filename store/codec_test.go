package store

import (
	"encoding/json"
	"testing"
	"time"
)

func sampleAddress() Address {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	return Address{ID: NewID(), UserID: NewID(), Label: "Home ü", FirstName: "Ann", LastName: "Lee", Company: "Lee & Co",
		StreetAddress: "Hauptstr. 1", StreetAddress2: "", City: "Berlin", Region: "BE", PostalCode: "10115", Country: "DE",
		Phone: "+4930123456", CreatedAt: at, UpdatedAt: at.Add(time.Second)}
}

func TestAddressCodecRoundTripAndJSONFallback(t *testing.T) {
	a := sampleAddress()
	var got Address
	if err := decodeAddress(encodeAddress(&a), &got); err != nil || got != a {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, a)
	}
	js, _ := json.Marshal(a)
	got = Address{}
	if err := decodeAddress(js, &got); err != nil || got != a {
		t.Fatalf("JSON value: got %+v, %v", got, err)
	}
	enc := encodeAddress(&a)
	for _, bad := range [][]byte{nil, {addressCodecV1}, enc[:len(enc)-1], append(append([]byte{}, enc...), 0), {0x7f, 1, 2}} {
		if err := decodeAddress(bad, &got); err == nil {
			t.Fatalf("%x: decoded, want an error", bad)
		}
	}
}

func FuzzAddressCodec(f *testing.F) {
	a := sampleAddress()
	f.Add(encodeAddress(&a))
	f.Add([]byte(`{"label":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var x Address
		if err := decodeAddress(b, &x); err != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		var y Address
		if err := decodeAddress(encodeAddress(&x), &y); err != nil || y != x {
			t.Fatalf("round trip of %x changed the address: %+v vs %+v (%v)", b, x, y, err)
		}
	})
}

func BenchmarkDecode10Addresses(b *testing.B) {
	a := sampleAddress()
	enc := encodeAddress(&a)
	b.ReportAllocs()
	for b.Loop() {
		for range 10 {
			var x Address
			if err := decodeAddress(enc, &x); err != nil {
				b.Fatal(err)
			}
		}
	}
}
