package store

import (
	"reflect"
	"testing"
)

// tokenSession is a session as an app's token login stores it.
func tokenSession() Session {
	s := sampleSession()
	s.Token, s.Methods, s.AAL = true, []string{"password", "totp"}, 2
	return s
}

// TestSessionCodecV2RoundTrip: the token flag, the methods and the AAL
// come back as they went in, beside the staff flag; a truncated value, or
// one with too many methods or an AAL above 3, is refused.
func TestSessionCodecV2RoundTrip(t *testing.T) {
	for _, s := range []Session{tokenSession(), sampleSession()} {
		b := encodeSession(&s)
		if b[0] != sessionCodecV2 {
			t.Fatalf("version byte %x, want %x", b[0], sessionCodecV2)
		}
		var got Session
		if err := decodeSession(b, &got); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip: got %+v, %v; want %+v", got, err, s)
		}
	}
	s := tokenSession()
	b := encodeSession(&s)
	for i := 1; i < len(b); i++ {
		if err := decodeSession(b[:i], &Session{}); err == nil {
			t.Fatalf("a value cut to %d of %d bytes decoded", i, len(b))
		}
	}
	s.AAL = 4
	if err := decodeSession(encodeSession(&s), &Session{}); err == nil {
		t.Fatal("AAL 4 decoded")
	}
	s.AAL, s.Methods = 1, make([]string, MaxSessionMethods+1)
	if err := decodeSession(encodeSession(&s), &Session{}); err == nil {
		t.Fatalf("%d methods decoded", MaxSessionMethods+1)
	}
}

// TestSessionCodecV1ReadByTheMigration: a session written before V2 (every
// one of them a cookie session opened with a password) is not read by the
// everyday decoder; the schema 4 migration reads it as such and stores it
// as V2.
func TestSessionCodecV1ReadByTheMigration(t *testing.T) {
	s := sampleSession() // staff: the one flag V1 has
	if err := decodeSession(encodeV1Session(&s), &Session{}); err == nil {
		t.Fatal("the everyday decoder read a V1 session")
	}
	var got Session
	if err := decodeOldSession(encodeV1Session(&s), &got); err != nil {
		t.Fatalf("decode V1: %v", err)
	}
	want := s
	want.Methods, want.AAL = []string{"password"}, 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("V1 decoded as %+v, want %+v", got, want)
	}
	v2, err := rewriteSession(encodeV1Session(&s))
	if err != nil || len(v2) == 0 || v2[0] != sessionCodecV2 {
		t.Fatalf("the migration rewrote V1 as %.4q…, %v; want V2", v2, err)
	}
	if err := decodeSession(v2, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("rewritten V1 reads as %+v, %v; want %+v", got, err, want)
	}
	if again, err := rewriteSession(v2); again != nil || err != nil {
		t.Fatalf("a V2 record was rewritten again: %v", err)
	}
}

// encodeV1Session writes s as the builds before V2 did.
func encodeV1Session(s *Session) []byte {
	w := recordWriter{sessionCodecV1}
	var flags uint64
	if s.Staff {
		flags = 1
	}
	w.sessionFieldsV1(s, flags)
	return w
}
