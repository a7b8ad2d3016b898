package store

// DecodeUserRecord reads a stored user value, binary or JSON, for tests
// outside the package that edit records by hand.
func DecodeUserRecord(b []byte) (User, error) {
	var u User
	err := decodeUser(b, &u)
	return u, err
}
