package app

import (
	"encoding/hex"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
)

// jsonAppender is a value that writes its own JSON, byte for byte what
// encoding/json (with HTML escaping) writes for it. The address views use
// it: they are the bulk of the busiest answers, and reflection, time and
// uuid marshalers and the re-compaction of their output cost more than the
// rest of such a request. A struct that embeds an appender inherits its
// methods and would be written as the appender alone: none may embed one.
type jsonAppender interface {
	appendJSON(b []byte) []byte
	// jsonSize is about the length appendJSON adds (exact unless strings
	// need escaping), so that an answer is built in one allocation.
	jsonSize() int
}

// appendJSONString appends s as encoding/json writes a string with
// SetEscapeHTML(true): <, > and & as \u003c, \u003e, \u0026, U+2028 and
// U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONUUID appends id in its canonical text form, quoted.
func appendJSONUUID(b []byte, id uuid.UUID) []byte {
	var text [36]byte
	hex.Encode(text[0:8], id[0:4])
	text[8] = '-'
	hex.Encode(text[9:13], id[4:6])
	text[13] = '-'
	hex.Encode(text[14:18], id[6:8])
	text[18] = '-'
	hex.Encode(text[19:23], id[8:10])
	text[23] = '-'
	hex.Encode(text[24:], id[10:])
	b = append(b, '"')
	b = append(b, text[:]...)
	return append(b, '"')
}

func (v *addressView) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONUUID(b, v.ID)
	for _, f := range [...]struct{ key, value string }{
		{`,"label":`, v.Label}, {`,"first_name":`, v.FirstName}, {`,"last_name":`, v.LastName},
		{`,"company":`, v.Company}, {`,"street_address":`, v.StreetAddress},
		{`,"street_address_2":`, v.StreetAddress2}, {`,"city":`, v.City}, {`,"region":`, v.Region},
		{`,"postal_code":`, v.PostalCode}, {`,"country":`, v.Country}, {`,"phone":`, v.Phone},
	} {
		b = append(b, f.key...)
		b = appendJSONString(b, f.value)
	}
	if v.IsPrimary {
		b = append(b, `,"is_primary":true`...)
	} else {
		b = append(b, `,"is_primary":false`...)
	}
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, v.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, v.UpdatedAt)
	return append(b, '}')
}

// addressJSONFrame is what an address's JSON adds to its strings: keys,
// quotes, the id, is_primary and two timestamps of at most 30 characters.
const addressJSONFrame = 316

func (v *addressView) jsonSize() int {
	return addressJSONFrame + len(v.Label) + len(v.FirstName) + len(v.LastName) + len(v.Company) +
		len(v.StreetAddress) + len(v.StreetAddress2) + len(v.City) + len(v.Region) + len(v.PostalCode) +
		len(v.Country) + len(v.Phone)
}

// addressList is the list answer: a user's addresses, primary first, and
// which is the primary (none is written as [], never null). Each address
// is turned into its view on the stack as it is written, not copied into
// a slice of views first.
type addressList struct {
	items   []store.Address
	primary uuid.UUID
}

func (l addressList) jsonSize() int {
	n := 1 + len(l.items) // brackets and commas
	for i := range l.items {
		v := addressViewOf(&l.items[i], false)
		n += v.jsonSize()
	}
	return n
}

func (l addressList) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i := range l.items {
		if i > 0 {
			b = append(b, ',')
		}
		v := addressViewOf(&l.items[i], l.items[i].ID == l.primary)
		b = v.appendJSON(b)
	}
	return append(b, ']')
}
