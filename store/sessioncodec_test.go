package store

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
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

// TestSessionCodecV1StillReads: a session written before V2 (every one of
// them a cookie session opened with a password) reads as such, and the
// next write stores it as V2.
func TestSessionCodecV1StillReads(t *testing.T) {
	s := sampleSession() // staff: the one flag V1 has
	var got Session
	if err := decodeSession(encodeV1Session(&s), &got); err != nil {
		t.Fatalf("decode V1: %v", err)
	}
	want := s
	want.Methods, want.AAL = []string{"password"}, 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("V1 decoded as %+v, want %+v", got, want)
	}

	// In a store file: a V1 record is found by its secret, and a touch
	// rewrites it as V2 with the same methods.
	db, err := Open(filepath.Join(t.TempDir(), "marbelle.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const secret = "v1-session-secret"
	err = db.Update(func(tx *Tx) error {
		u := sampleUser()
		u.ID, u.Staff, u.AddressCount, u.PrimaryAddressID = s.UserID, true, 0, uuid.Nil
		if err := tx.CreateUser(&u); err != nil {
			return err
		}
		if err := tx.CreateSession(secret, &s); err != nil {
			return err
		}
		return tx.bucket(bucketSessions).Put(s.Hash, encodeV1Session(&s))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		got, err := tx.SessionBySecret(secret)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got.Methods, []string{"password"}) || got.AAL != 1 || got.Token || !got.Staff {
			t.Errorf("V1 record read as %+v", got)
		}
		return tx.TouchSession(s.Hash, s.LastSeenAt.Add(time.Minute), s.IdleUntil.Add(time.Minute))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if v := tx.bucket(bucketSessions).Get(s.Hash); v[0] != sessionCodecV2 {
			t.Errorf("after a touch the record is version %x, want %x", v[0], sessionCodecV2)
		}
		if faults := tx.Check(); len(faults) > 0 {
			t.Errorf("store check: %v", faults)
		}
		return nil
	})
}

// encodeV1Session writes s as the builds before V2 did.
func encodeV1Session(s *Session) []byte {
	w := recordWriter{sessionCodecV1}
	w.id(s.ID)
	w.id(s.UserID)
	var flags uint64
	if s.Staff {
		flags = 1
	}
	w.uint(flags)
	w.time(s.CreatedAt)
	w.time(s.LastSeenAt)
	w.time(s.ExpiresAt)
	w.time(s.IdleUntil)
	w.str(s.IP)
	w.str(s.UserAgent)
	w.bytes(s.Hash)
	return w
}
