package store

import (
	"bytes"
	"slices"
	"time"

	"github.com/google/uuid"
)

// MaxAddresses is how many addresses one user may keep.
const MaxAddresses = 10

// Address is one postal address of a user. Whether it is the primary one is
// not stored here but as User.PrimaryAddressID, so that two primaries
// cannot be represented.
type Address struct {
	ID             uuid.UUID `json:"id"`
	UserID         uuid.UUID `json:"user_id"`
	Label          string    `json:"label"`
	FirstName      string    `json:"first_name"`
	LastName       string    `json:"last_name"`
	Company        string    `json:"company"`
	StreetAddress  string    `json:"street_address"`
	StreetAddress2 string    `json:"street_address_2"`
	City           string    `json:"city"`
	Region         string    `json:"region"`
	PostalCode     string    `json:"postal_code"`
	Country        string    `json:"country"`
	Phone          string    `json:"phone"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func addressKey(userID, id uuid.UUID) []byte { return join(userID[:], id[:]) }

// Addresses returns a user's addresses, primary first, then oldest first,
// from one range scan, with the primary's id (uuid.Nil when none).
// Errors: ErrNotFound (no such user).
func (tx *Tx) Addresses(userID uuid.UUID) ([]Address, uuid.UUID, error) {
	return tx.AppendAddresses(nil, userID)
}

// AppendAddresses is Addresses appending to dst, so that a caller can
// reuse one slice from request to request.
func (tx *Tx) AppendAddresses(dst []Address, userID uuid.UUID) ([]Address, uuid.UUID, error) {
	u, err := tx.User(userID)
	if err != nil {
		return dst, uuid.Nil, err
	}
	out := slices.Grow(dst, u.AddressCount)
	start := len(out)
	c := tx.bucket(bucketAddresses).Cursor()
	for k, v := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, v = c.Next() {
		// Decoded in place: a local would escape, one allocation each.
		out = append(out, Address{})
		if err := decodeAddress(v, &out[len(out)-1]); err != nil {
			return dst, uuid.Nil, err
		}
	}
	primary := u.PrimaryAddressID
	slices.SortStableFunc(out[start:], func(a, b Address) int {
		switch {
		case a.ID == primary:
			return -1
		case b.ID == primary:
			return 1
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	return out, primary, nil
}

// Address returns one of a user's addresses; another user's id is
// ErrNotFound. It also says whether it is the primary.
func (tx *Tx) Address(userID, id uuid.UUID) (*Address, bool, error) {
	u, err := tx.User(userID)
	if err != nil {
		return nil, false, err
	}
	var a Address
	v := tx.bucket(bucketAddresses).Get(addressKey(userID, id))
	if v == nil {
		return nil, false, ErrNotFound
	}
	if err := decodeAddress(v, &a); err != nil {
		return nil, false, err
	}
	return &a, u.PrimaryAddressID == id, nil
}

// CreateAddress adds a to its user and says whether it is now the
// primary. The first address is primary whatever makePrimary says;
// otherwise makePrimary moves the primary to it.
// Errors: ErrNotFound (no user), ErrAddressLimit.
func (tx *Tx) CreateAddress(a *Address, makePrimary bool) (bool, error) {
	u, err := tx.User(a.UserID)
	if err != nil {
		return false, err
	}
	if u.AddressCount >= MaxAddresses {
		return false, ErrAddressLimit
	}
	if err := tx.bucket(bucketAddresses).Put(addressKey(a.UserID, a.ID), encodeAddress(a)); err != nil {
		return false, err
	}
	u.AddressCount++
	if makePrimary || u.PrimaryAddressID == uuid.Nil {
		u.PrimaryAddressID = a.ID
	}
	return u.PrimaryAddressID == a.ID, tx.putUser(u)
}

// PutAddress replaces an existing address of its user; makePrimary moves
// the primary to it (false never clears it: a user with addresses keeps
// exactly one primary). Errors: ErrNotFound.
func (tx *Tx) PutAddress(a *Address, makePrimary bool) error {
	key := addressKey(a.UserID, a.ID)
	b := tx.bucket(bucketAddresses)
	if b.Get(key) == nil {
		return ErrNotFound
	}
	if err := b.Put(key, encodeAddress(a)); err != nil {
		return err
	}
	if makePrimary {
		return tx.SetPrimaryAddress(a.UserID, a.ID)
	}
	return nil
}

// SetPrimaryAddress makes id the user's primary address (the previous one
// stops being primary in the same write). Errors: ErrNotFound.
func (tx *Tx) SetPrimaryAddress(userID, id uuid.UUID) error {
	if tx.bucket(bucketAddresses).Get(addressKey(userID, id)) == nil {
		return ErrNotFound
	}
	u, err := tx.User(userID)
	if err != nil {
		return err
	}
	if u.PrimaryAddressID == id {
		return nil
	}
	u.PrimaryAddressID = id
	return tx.putUser(u)
}

// DeleteAddress removes one of a user's addresses; deleting the primary
// promotes the oldest remaining one. Errors: ErrNotFound.
func (tx *Tx) DeleteAddress(userID, id uuid.UUID) error {
	key := addressKey(userID, id)
	b := tx.bucket(bucketAddresses)
	if b.Get(key) == nil {
		return ErrNotFound
	}
	u, err := tx.User(userID)
	if err != nil {
		return err
	}
	if err := b.Delete(key); err != nil {
		return err
	}
	u.AddressCount--
	if u.PrimaryAddressID == id {
		u.PrimaryAddressID = uuid.Nil
		rest, _, err := tx.addressesOf(userID)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			oldest := slices.MinFunc(rest, func(a, b Address) int { return a.CreatedAt.Compare(b.CreatedAt) })
			u.PrimaryAddressID = oldest.ID
		}
	}
	return tx.putUser(u)
}

// addressesOf scans a user's range without reading the user.
func (tx *Tx) addressesOf(userID uuid.UUID) ([]Address, int, error) {
	var out []Address
	c := tx.bucket(bucketAddresses).Cursor()
	for k, v := c.Seek(userID[:]); k != nil && bytes.HasPrefix(k, userID[:]); k, v = c.Next() {
		var a Address
		if err := decodeAddress(v, &a); err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, len(out), nil
}

// deleteUserAddresses removes the whole range of a user's addresses.
func (tx *Tx) deleteUserAddresses(userID uuid.UUID) error {
	_, err := deletePrefix(tx, bucketAddresses, userID[:])
	return err
}
