package store

import "github.com/google/uuid"

// deleteUserAddresses removes the whole range of a user's addresses.
func (tx *Tx) deleteUserAddresses(userID uuid.UUID) error {
	_, err := deletePrefix(tx, bucketAddresses, userID[:])
	return err
}
