package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/marbelle/marbelle/store"
)

func TestIdentityLinkIsUniqueAndGoesWithTheUser(t *testing.T) {
	db := mustOpen(t)
	ann, bob := mustCreateUser(t, db, "ann@example.com"), mustCreateUser(t, db, "bob@example.com")
	now := time.Now()
	id := &store.Identity{ID: store.NewID(), UserID: ann.ID, Provider: "google", Issuer: "https://accounts.google.com", Subject: "1", CreatedAt: now}
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.LinkIdentity(id) })
	// The same (issuer, subject) cannot be linked again, to anyone.
	err := db.Update(func(tx *store.Tx) error {
		return tx.LinkIdentity(&store.Identity{ID: store.NewID(), UserID: bob.ID, Provider: "google", Issuer: id.Issuer, Subject: "1", CreatedAt: now})
	})
	if !errors.Is(err, store.ErrIdentityLinked) {
		t.Fatalf("second link: %v", err)
	}
	// Another issuer's subject "1" is another identity.
	mustUpdate(t, db, func(tx *store.Tx) error {
		return tx.LinkIdentity(&store.Identity{ID: store.NewID(), UserID: bob.ID, Provider: "shop", Issuer: "https://id.shop.example", Subject: "1", CreatedAt: now})
	})
	mustUpdate(t, db, func(tx *store.Tx) error { return tx.DeleteUser(ann.ID) })
	mustView(t, db, func(tx *store.Tx) error {
		if _, err := tx.IdentityBySubject(id.Issuer, "1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("identity of a deleted user: %v", err)
		}
		if ids, _ := tx.UserIdentities(bob.ID); len(ids) != 1 {
			t.Fatalf("bob's identities: %+v", ids)
		}
		if faults := tx.Check(); len(faults) > 0 {
			t.Fatal(faults)
		}
		return nil
	})
}

func TestOIDCStateIsTakenOnceAndSwept(t *testing.T) {
	db := mustOpen(t)
	now := time.Now()
	mustUpdate(t, db, func(tx *store.Tx) error {
		if err := tx.PutOIDCState("live", &store.OIDCState{Provider: "google", Nonce: "n", ExpiresAt: now.Add(time.Minute)}); err != nil {
			return err
		}
		return tx.PutOIDCState("old", &store.OIDCState{Provider: "google", Nonce: "n", ExpiresAt: now.Add(-time.Minute)})
	})
	mustUpdate(t, db, func(tx *store.Tx) error {
		if st, err := tx.TakeOIDCState("live", now); err != nil || st.Nonce != "n" {
			t.Fatalf("take: %v", err)
		}
		if _, err := tx.TakeOIDCState("live", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second take: %v", err)
		}
		return nil
	})
	res, err := db.Sweep(now, store.SweepOptions{})
	if err != nil || res.Tokens != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	mustView(t, db, func(tx *store.Tx) error {
		if faults := tx.Check(); len(faults) > 0 {
			t.Fatal(faults)
		}
		return nil
	})
}
