package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func sampleAddress() Address {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	return Address{ID: NewID(), UserID: NewID(), Label: "Home ü", FirstName: "Ann", LastName: "Lee", Company: "Lee & Co",
		StreetAddress: "Hauptstr. 1", StreetAddress2: "", City: "Berlin", Region: "BE", PostalCode: "10115", Country: "DE",
		Phone: "+4930123456", CreatedAt: at, UpdatedAt: at.Add(time.Second)}
}

// The JSON form of earlier builds is read by the migration's decoder
// only; the everyday one refuses it.
func TestAddressCodecRoundTripAndOldForm(t *testing.T) {
	a := sampleAddress()
	var got Address
	if err := decodeAddress(encodeAddress(&a), &got); err != nil || got != a {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, a)
	}
	js, _ := json.Marshal(a)
	got = Address{}
	if err := decodeOldAddress(js, &got); err != nil || got != a {
		t.Fatalf("JSON value: got %+v, %v", got, err)
	}
	if err := decodeAddress(js, &got); err == nil {
		t.Fatalf("decodeAddress read a JSON value, want an error")
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

func sampleUser() User {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	return User{ID: NewID(), Email: "ann@example.test", FirstName: "Ann", LastName: "Lée", Phone: "+4930123456",
		CompanyName: "Lee & Co", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA", EmailVerified: true, Active: true,
		DateJoined: at, UpdatedAt: at.Add(time.Minute), PrimaryAddressID: NewID(), AddressCount: 3,
		MustResetPassword: true, KnownDevices: []string{"a1b2", "c3d4"}}
}

func sampleSession() Session {
	at := time.Date(2026, 11, 27, 10, 0, 0, 5, time.UTC)
	return Session{ID: NewID(), UserID: NewID(), Staff: true, CreatedAt: at, LastSeenAt: at.Add(time.Hour),
		ExpiresAt: at.Add(14 * 24 * time.Hour), IdleUntil: at.Add(25 * time.Hour), IP: "192.0.2.1",
		UserAgent: "Mozilla/5.0", Hash: HashSecret("secret")}
}

// A zero time (a user who never logged in) and an empty device list come
// back as they went in; a JSON record of an earlier build reads through
// the migration's decoder only.
func TestUserAndSessionCodecRoundTripAndOldForm(t *testing.T) {
	for _, u := range []User{sampleUser(), {ID: NewID(), Email: "b@example.test", DateJoined: time.Unix(0, 0).UTC()}} {
		var got User
		if err := decodeUser(encodeUser(&u), &got); err != nil || !reflect.DeepEqual(got, u) {
			t.Fatalf("user round trip: got %+v, %v; want %+v", got, err, u)
		}
		js, _ := json.Marshal(u)
		got = User{}
		if err := decodeOldUser(js, &got); err != nil || !reflect.DeepEqual(got, u) {
			t.Fatalf("user JSON value: got %+v, %v", got, err)
		}
		if err := decodeUser(js, &got); err == nil {
			t.Fatalf("decodeUser read a JSON value, want an error")
		}
	}
	s := sampleSession()
	var gs Session
	if err := decodeSession(encodeSession(&s), &gs); err != nil || !reflect.DeepEqual(gs, s) {
		t.Fatalf("session round trip: got %+v, %v; want %+v", gs, err, s)
	}
	js, _ := json.Marshal(s)
	gs = Session{}
	// JSON sessions predate sign-in methods: each was a password login.
	wantJS := s
	wantJS.Methods, wantJS.AAL = []string{"password"}, 1
	if err := decodeOldSession(js, &gs); err != nil || !reflect.DeepEqual(gs, wantJS) {
		t.Fatalf("session JSON value: got %+v, %v", gs, err)
	}
	if err := decodeSession(js, &gs); err == nil {
		t.Fatalf("decodeSession read a JSON value, want an error")
	}

	u := sampleUser()
	eu, es := encodeUser(&u), encodeSession(&s)
	for _, bad := range [][]byte{nil, {userCodecV1}, eu[:len(eu)-1], append(append([]byte{}, eu...), 0), es} {
		if err := decodeUser(bad, &User{}); err == nil {
			t.Fatalf("user %x: decoded, want an error", bad)
		}
	}
	for _, bad := range [][]byte{nil, {sessionCodecV1}, es[:len(es)-1], append(append([]byte{}, es...), 0), eu} {
		if err := decodeSession(bad, &Session{}); err == nil {
			t.Fatalf("session %x: decoded, want an error", bad)
		}
	}
}

func FuzzUserAndSessionCodecs(f *testing.F) {
	u, s := sampleUser(), sampleSession()
	f.Add(encodeUser(&u))
	f.Add(encodeSession(&s))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 && b[0] == '{' {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		var x, y User
		if decodeUser(b, &x) == nil {
			if err := decodeUser(encodeUser(&x), &y); err != nil || !reflect.DeepEqual(x, y) {
				t.Fatalf("user round trip of %x changed it: %+v vs %+v (%v)", b, x, y, err)
			}
		}
		var p, q Session
		if decodeSession(b, &p) == nil {
			if err := decodeSession(encodeSession(&p), &q); err != nil || !reflect.DeepEqual(p, q) {
				t.Fatalf("session round trip of %x changed it: %+v vs %+v (%v)", b, p, q, err)
			}
		}
	})
}

func BenchmarkDecodeUserAndSession(b *testing.B) {
	u, s := sampleUser(), sampleSession()
	eu, es := encodeUser(&u), encodeSession(&s)
	b.ReportAllocs()
	for b.Loop() {
		var x User
		var y Session
		if decodeUser(eu, &x) != nil || decodeSession(es, &y) != nil {
			b.Fatal("undecodable")
		}
	}
}

// TestUserCodecV1ReadsInMigration: a user written before the security
// stamp existed reads, in the migration, with stamp 0, and is written back
// as V3; the everyday decoder reads V3 only.
func TestUserCodecV1ReadsInMigration(t *testing.T) {
	u := sampleUser()
	u.SecurityStamp, u.Frozen = 7, true
	v3 := encodeUser(&u)
	if v3[0] != userCodecV3 {
		t.Fatalf("version byte %x, want %x", v3[0], userCodecV3)
	}
	// V2 is V3 without the trailing language (one byte for ""); V1 is V2
	// without the stamp (one byte for 7) and the frozen flag, which did
	// not exist.
	u1 := u
	u1.Frozen = false
	v1 := encodeUser(&u1)
	v1 = append([]byte{userCodecV1}, v1[1:len(v1)-2]...)
	var got User
	if err := decodeOldUser(v1, &got); err != nil {
		t.Fatalf("decode V1: %v", err)
	}
	if got.SecurityStamp != 0 || got.Email != u.Email || got.Frozen {
		t.Fatalf("V1 decoded as %+v", got)
	}
	if err := decodeUser(v1, &User{}); err == nil {
		t.Fatalf("decodeUser read a V1 value, want an error")
	}
	if re, err := rewriteUser(v1); err != nil || re[0] != userCodecV3 {
		t.Fatalf("rewriteUser(V1): %x, %v, want a V3 record", re, err)
	}
	if err := decodeUser(v3, &got); err != nil || got.SecurityStamp != 7 || !got.Frozen {
		t.Fatalf("V3 decoded as %+v, %v", got, err)
	}
}

// TestUserCodecV2ReadsInMigration: a user written before the language
// existed (schema 4) reads, in the migration, with no language, and is
// written back as V3 with the language kept from then on.
func TestUserCodecV2ReadsInMigration(t *testing.T) {
	u := sampleUser()
	u.SecurityStamp = 7
	v3 := encodeUser(&u)
	v2 := append([]byte{userCodecV2}, v3[1:len(v3)-1]...) // without the "" language
	if err := decodeUser(v2, &User{}); err == nil {
		t.Fatalf("decodeUser read a V2 value, want an error")
	}
	var got User
	if err := decodeOldUser(v2, &got); err != nil || got.SecurityStamp != 7 || got.Language != "" || got.Email != u.Email {
		t.Fatalf("V2 decoded as %+v, %v", got, err)
	}
	re, err := rewriteUser(v2)
	if err != nil || re[0] != userCodecV3 {
		t.Fatalf("rewriteUser(V2): %x, %v, want a V3 record", re, err)
	}
	if re, err := rewriteUser(v3); re != nil || err != nil {
		t.Fatalf("rewriteUser(V3) = %x, %v, want nothing to do", re, err)
	}
	u.Language = "de"
	if err := decodeUser(encodeUser(&u), &got); err != nil || got.Language != "de" {
		t.Fatalf("language did not round-trip: %+v, %v", got, err)
	}
}
