package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Addresses are read ten at a time on a hot path, so they are stored in a
// compact binary form rather than JSON: a version byte, then each field in
// a fixed order (ids as 16 bytes, strings as a uvarint length and bytes,
// times as a varint of Unix nanoseconds). A value that starts with '{' is
// read as JSON, the form earlier builds wrote.
const addressCodecV1 = 0xA1

func encodeAddress(a *Address) []byte {
	b := make([]byte, 0, 64+len(a.Label)+len(a.FirstName)+len(a.LastName)+len(a.Company)+len(a.StreetAddress)+len(a.StreetAddress2)+len(a.City)+len(a.Region)+len(a.PostalCode)+len(a.Country)+len(a.Phone))
	b = append(b, addressCodecV1)
	b = append(b, a.ID[:]...)
	b = append(b, a.UserID[:]...)
	for _, s := range [...]string{a.Label, a.FirstName, a.LastName, a.Company, a.StreetAddress, a.StreetAddress2, a.City, a.Region, a.PostalCode, a.Country, a.Phone} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, a.CreatedAt.UnixNano())
	b = binary.AppendVarint(b, a.UpdatedAt.UnixNano())
	return b
}

var errBadAddress = errors.New("store: undecodable address")

func decodeAddress(b []byte, a *Address) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, a)
	}
	if len(b) < 33 || b[0] != addressCodecV1 {
		return errBadAddress
	}
	a.ID, a.UserID = uuid.UUID(b[1:17]), uuid.UUID(b[17:33])
	b = b[33:]
	// One copy of the value (bbolt's bytes die with the transaction); the
	// fields are slices of it.
	all := string(b)
	off := 0
	for _, dst := range [...]*string{&a.Label, &a.FirstName, &a.LastName, &a.Company, &a.StreetAddress, &a.StreetAddress2, &a.City, &a.Region, &a.PostalCode, &a.Country, &a.Phone} {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n { // #nosec G115 -- 0 < k <= len(b)
			return errBadAddress
		}
		off += k
		*dst = all[off : off+int(n)] // #nosec G115 -- n <= len(b)-k, checked above
		off += int(n)                // #nosec G115 -- n <= len(b)-k, checked above
		b = b[k+int(n):]             // #nosec G115 -- n <= len(b)-k, checked above
	}
	for _, dst := range [...]*time.Time{&a.CreatedAt, &a.UpdatedAt} {
		ns, k := binary.Varint(b)
		if k <= 0 {
			return errBadAddress
		}
		*dst = time.Unix(0, ns).UTC()
		b = b[k:]
	}
	if len(b) != 0 {
		return errBadAddress
	}
	return nil
}
