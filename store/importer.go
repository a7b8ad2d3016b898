package store

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// The imports bucket (schema.go) remembers which user each record of
// another system became, so that an import run again recognises exactly
// what it brought in before. The source and the external id are the
// importer's (the store knows nothing of them). An entry outlives its user
// on purpose: an account deleted in Marbelle is not brought back by a
// later run.

// ErrImported: the external record was imported before.
var ErrImported = errors.New("store: already imported")

func importKey(source, externalID string) []byte {
	return join([]byte(source), []byte{0}, []byte(externalID))
}

// ImportedUser returns the id of the user that record externalID of source
// became (that user may have been deleted since). Errors: ErrNotFound.
func (tx *Tx) ImportedUser(source, externalID string) (uuid.UUID, error) {
	b := tx.bucket(bucketImports)
	if b == nil {
		return uuid.Nil, ErrNotFound
	}
	id, ok := idFromBytes(b.Get(importKey(source, externalID)))
	if !ok {
		return uuid.Nil, ErrNotFound
	}
	return id, nil
}

// ImportUser creates u with all of its addresses and records that it is
// record externalID of source, in this transaction: the user and its
// addresses land together or not at all. Each address must have UserID
// u.ID; primary must be one of them (uuid.Nil when there are none). u's
// PrimaryAddressID and AddressCount are set from them. Errors: ErrImported,
// ErrEmailTaken, ErrAddressLimit, or an error naming a wrong primary or
// owner (a bug in the caller).
func (tx *Tx) ImportUser(source, externalID string, u *User, addrs []Address, primary uuid.UUID) error {
	if len(addrs) > MaxAddresses {
		return ErrAddressLimit
	}
	found := len(addrs) == 0 && primary == uuid.Nil
	for i := range addrs {
		if addrs[i].UserID != u.ID {
			return fmt.Errorf("store: import: address %s is not of user %s", addrs[i].ID, u.ID)
		}
		found = found || addrs[i].ID == primary
	}
	if !found {
		return fmt.Errorf("store: import: primary %s is not one of the user's %d addresses", primary, len(addrs))
	}
	imports := tx.bucket(bucketImports)
	key := importKey(source, externalID)
	if imports.Get(key) != nil {
		return ErrImported
	}
	u.PrimaryAddressID, u.AddressCount = primary, len(addrs)
	if err := tx.CreateUser(u); err != nil {
		return err
	}
	b := tx.bucket(bucketAddresses)
	for i := range addrs {
		if err := b.Put(addressKey(u.ID, addrs[i].ID), encodeAddress(&addrs[i])); err != nil {
			return err
		}
	}
	return imports.Put(key, u.ID[:])
}
