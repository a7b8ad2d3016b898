package store

// DecodeUserRecord reads a stored user value, for tests outside the
// package that edit records by hand.
func DecodeUserRecord(b []byte) (User, error) {
	var u User
	err := decodeUser(b, &u)
	return u, err
}

// EncodeUserRecord is the stored form of u, for the same tests.
func EncodeUserRecord(u *User) []byte { return encodeUser(u) }

// EncodeAddressRecord is the stored form of a, for the same tests.
func EncodeAddressRecord(a *Address) []byte { return encodeAddress(a) }
