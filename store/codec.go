package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
)

// Users, sessions and addresses are read on every authenticated request,
// so they are stored in a compact binary form rather than JSON: a version
// byte naming the record kind, then each field in a fixed order (ids as 16
// bytes, strings and byte strings as a uvarint length and the bytes,
// times as a varint of Unix nanoseconds, small numbers and flag sets as
// uvarints). Since schema version 4 every such record is in this form;
// the forms older stores hold (JSON, V1 users) are read only by the
// migrations (decodeOldUser and its kin).
const (
	addressCodecV1 = 0xA1
	userCodecV1    = 0xB1
	// userCodecV2 appends the security stamp to V1's fields.
	userCodecV2 = 0xB2
	// userCodecV3 appends the account's language to V2's fields (schema 5).
	userCodecV3    = 0xB3
	sessionCodecV1 = 0xC1
	// sessionCodecV2 appends the sign-in methods and the AAL to V1's
	// fields, and flags token sessions.
	sessionCodecV2 = 0xC2
)

// zeroTimeNanos stands for the zero time.Time, which has no Unix
// nanoseconds; it is 1677-09-21, before any time this store keeps.
const zeroTimeNanos = math.MinInt64

// recordWriter appends the fields of a binary record.
type recordWriter []byte

func (w *recordWriter) id(u uuid.UUID) { *w = append(*w, u[:]...) }
func (w *recordWriter) uint(n uint64)  { *w = binary.AppendUvarint(*w, n) }
func (w *recordWriter) str(s string) {
	w.uint(uint64(len(s)))
	*w = append(*w, s...)
}
func (w *recordWriter) bytes(b []byte) {
	w.uint(uint64(len(b)))
	*w = append(*w, b...)
}

// strs writes a list of strings: a count, then each.
func (w *recordWriter) strs(list []string) {
	w.uint(uint64(len(list)))
	for _, s := range list {
		w.str(s)
	}
}

// strsSize is about what strs writes of list, for a writer's capacity.
func strsSize(list []string) int {
	n := 0
	for _, s := range list {
		n += 2 + len(s)
	}
	return n
}

func (w *recordWriter) time(t time.Time) {
	ns := int64(zeroTimeNanos)
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	*w = binary.AppendVarint(*w, ns)
}

// recordReader reads the fields of a binary record in the order they were
// written. Strings are slices of one copy of the value (bbolt's bytes die
// with the transaction). A malformed value sets bad and yields zero values.
type recordReader struct {
	rest []byte // what is left to read
	all  string // the copy, for strings
	off  int    // position of rest in all
	bad  bool
}

// isJSON reports whether a stored value is in the JSON form that stores
// before version 4 may hold, rather than the binary one.
func isJSON(b []byte) bool { return len(b) > 0 && b[0] == '{' }

// start sets r to read b, which must begin with the version byte. A reader
// is a local value, so that decoding allocates only the copy and slices.
func (r *recordReader) start(b []byte, version byte) {
	*r = recordReader{rest: b, all: string(b)}
	r.version(version)
}

// finish reports bad unless the whole value was read without fault.
func (r *recordReader) finish(bad error) error {
	if !r.done() {
		return bad
	}
	return nil
}

func (r *recordReader) skip(n int) {
	r.rest = r.rest[n:]
	r.off += n
}

func (r *recordReader) id() uuid.UUID {
	if r.bad || len(r.rest) < 16 {
		r.bad = true
		return uuid.Nil
	}
	u := uuid.UUID(r.rest[:16])
	r.skip(16)
	return u
}

func (r *recordReader) uint() uint64 {
	if r.bad {
		return 0
	}
	n, k := binary.Uvarint(r.rest)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.skip(k)
	return n
}

// span reads a length and returns where that many bytes start in all.
func (r *recordReader) span() (int, int, bool) {
	n := r.uint()
	if r.bad || n > uint64(len(r.rest)) {
		r.bad = true
		return 0, 0, false
	}
	start := r.off
	r.skip(int(n)) // #nosec G115 -- n <= len(r.rest), checked above
	return start, r.off, true
}

func (r *recordReader) str() string {
	if start, end, ok := r.span(); ok {
		return r.all[start:end]
	}
	return ""
}

func (r *recordReader) bytes() []byte {
	if start, end, ok := r.span(); ok && end > start {
		return []byte(r.all[start:end])
	}
	return nil
}

// strs reads a list written by recordWriter.strs, nil when empty; a count
// over limit is a fault (it bounds the allocation a bad value can cause).
func (r *recordReader) strs(limit uint64) []string {
	n := r.uint()
	if n > limit {
		r.bad = true
	}
	if r.bad || n == 0 {
		return nil
	}
	list := make([]string, n)
	for i := range list {
		list[i] = r.str()
	}
	return list
}

func (r *recordReader) time() time.Time {
	if r.bad {
		return time.Time{}
	}
	ns, k := binary.Varint(r.rest)
	if k <= 0 {
		r.bad = true
		return time.Time{}
	}
	r.skip(k)
	if ns == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// done reports whether the whole value was read without fault.
func (r *recordReader) done() bool { return !r.bad && len(r.rest) == 0 }

// version reads the leading version byte and says whether it is want.
func (r *recordReader) version(want byte) bool {
	if len(r.rest) == 0 || r.rest[0] != want {
		r.bad = true
		return false
	}
	r.skip(1)
	return true
}

func encodeAddress(a *Address) []byte {
	w := make(recordWriter, 0, 64+len(a.Label)+len(a.FirstName)+len(a.LastName)+len(a.Company)+len(a.StreetAddress)+len(a.StreetAddress2)+len(a.City)+len(a.Region)+len(a.PostalCode)+len(a.Country)+len(a.Phone))
	w = append(w, addressCodecV1)
	w.id(a.ID)
	w.id(a.UserID)
	for _, s := range [...]string{a.Label, a.FirstName, a.LastName, a.Company, a.StreetAddress, a.StreetAddress2, a.City, a.Region, a.PostalCode, a.Country, a.Phone} {
		w.str(s)
	}
	w.time(a.CreatedAt)
	w.time(a.UpdatedAt)
	return w
}

var (
	errBadAddress = errors.New("store: undecodable address")
	errBadUser    = errors.New("store: undecodable user")
	errBadSession = errors.New("store: undecodable session")
)

func decodeAddress(b []byte, a *Address) error {
	var r recordReader
	r.start(b, addressCodecV1)
	a.ID, a.UserID = r.id(), r.id()
	for _, dst := range [...]*string{&a.Label, &a.FirstName, &a.LastName, &a.Company, &a.StreetAddress, &a.StreetAddress2, &a.City, &a.Region, &a.PostalCode, &a.Country, &a.Phone} {
		*dst = r.str()
	}
	a.CreatedAt, a.UpdatedAt = r.time(), r.time()
	return r.finish(errBadAddress)
}

// User flags, one bit each.
const (
	userEmailVerified = 1 << iota
	userActive
	userStaff
	userMustResetPassword
	userFrozen
)

func encodeUser(u *User) []byte {
	n := 100 + len(u.Email) + len(u.FirstName) + len(u.LastName) + len(u.Phone) + len(u.CompanyName) + len(u.PasswordHash) + len(u.Language)
	w := make(recordWriter, 0, n+strsSize(u.KnownDevices))
	w = append(w, userCodecV3)
	w.id(u.ID)
	for _, s := range [...]string{u.Email, u.FirstName, u.LastName, u.Phone, u.CompanyName, u.PasswordHash} {
		w.str(s)
	}
	var flags uint64
	if u.EmailVerified {
		flags |= userEmailVerified
	}
	if u.Active {
		flags |= userActive
	}
	if u.Staff {
		flags |= userStaff
	}
	if u.MustResetPassword {
		flags |= userMustResetPassword
	}
	if u.Frozen {
		flags |= userFrozen
	}
	w.uint(flags)
	w.time(u.DateJoined)
	w.time(u.LastLoginAt)
	w.time(u.UpdatedAt)
	w.id(u.PrimaryAddressID)
	w.uint(uint64(max(u.AddressCount, 0))) // #nosec G115 -- not negative
	w.strs(u.KnownDevices)
	w.uint(u.SecurityStamp)
	w.str(u.Language)
	return w
}

func decodeUser(b []byte, u *User) error { return decodeUserAs(b, userCodecV3, u) }

// decodeUserAs reads a user written as version, V1, V2 or V3.
func decodeUserAs(b []byte, version byte, u *User) error {
	var r recordReader
	r.start(b, version)
	u.ID = r.id()
	for _, dst := range [...]*string{&u.Email, &u.FirstName, &u.LastName, &u.Phone, &u.CompanyName, &u.PasswordHash} {
		*dst = r.str()
	}
	flags := r.uint()
	u.EmailVerified = flags&userEmailVerified != 0
	u.Active = flags&userActive != 0
	u.Staff = flags&userStaff != 0
	u.MustResetPassword = flags&userMustResetPassword != 0
	u.Frozen = flags&userFrozen != 0
	u.DateJoined, u.LastLoginAt, u.UpdatedAt = r.time(), r.time(), r.time()
	u.PrimaryAddressID = r.id()
	u.AddressCount = int(min(r.uint(), MaxAddresses+1)) // #nosec G115 -- bounded
	u.KnownDevices = r.strs(MaxKnownDevices)
	u.SecurityStamp = 0
	if version >= userCodecV2 {
		u.SecurityStamp = r.uint()
	}
	u.Language = ""
	if version >= userCodecV3 {
		u.Language = r.str()
	}
	return r.finish(errBadUser)
}

// Session flags, one bit each.
const (
	sessionStaff = 1 << iota
	sessionToken
)

// maxAAL is the highest assurance level NIST SP 800-63B defines.
const maxAAL = 3

func encodeSession(s *Session) []byte {
	w := make(recordWriter, 0, 104+len(s.IP)+len(s.UserAgent)+len(s.Hash)+strsSize(s.Methods))
	w = append(w, sessionCodecV2)
	var flags uint64
	if s.Staff {
		flags |= sessionStaff
	}
	if s.Token {
		flags |= sessionToken
	}
	w.sessionFieldsV1(s, flags)
	w.strs(s.Methods)
	w.uint(uint64(max(s.AAL, 0))) // #nosec G115 -- not negative
	return w
}

// sessionFieldsV1 writes the fields a V1 session has, which begin V2 too.
func (w *recordWriter) sessionFieldsV1(s *Session, flags uint64) {
	w.id(s.ID)
	w.id(s.UserID)
	w.uint(flags)
	w.time(s.CreatedAt)
	w.time(s.LastSeenAt)
	w.time(s.ExpiresAt)
	w.time(s.IdleUntil)
	w.str(s.IP)
	w.str(s.UserAgent)
	w.bytes(s.Hash)
}

func decodeSession(b []byte, s *Session) error { return decodeSessionAs(b, sessionCodecV2, s) }

// decodeSessionAs reads a session written as version, V1 or V2.
func decodeSessionAs(b []byte, version byte, s *Session) error {
	var r recordReader
	r.start(b, version)
	v2 := version == sessionCodecV2
	s.ID, s.UserID = r.id(), r.id()
	flags := r.uint()
	s.Staff = flags&sessionStaff != 0
	s.Token = v2 && flags&sessionToken != 0
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IdleUntil = r.time(), r.time(), r.time(), r.time()
	s.IP, s.UserAgent = r.str(), r.str()
	s.Hash = r.bytes()
	if !v2 {
		// Every session written before V2 came from a password login.
		s.Methods, s.AAL = []string{"password"}, 1
		return r.finish(errBadSession)
	}
	s.Methods = r.strs(MaxSessionMethods)
	aal := r.uint()
	if aal > maxAAL {
		r.bad = true
	}
	s.AAL = int(aal) // #nosec G115 -- at most maxAAL
	return r.finish(errBadSession)
}

// The forms of users, sessions and addresses that stores before version 4
// may hold, read only by the migrations: JSON (before the binary codec)
// and V1: for users before the security stamp (its stamp reads as 0), for
// sessions before their sign-in methods (a password login at AAL 1).

func decodeOldUser(b []byte, u *User) error {
	switch {
	case isJSON(b):
		*u = User{}
		return json.Unmarshal(b, u)
	case len(b) > 0 && (b[0] == userCodecV1 || b[0] == userCodecV2):
		return decodeUserAs(b, b[0], u)
	}
	return decodeUser(b, u)
}

func decodeOldSession(b []byte, s *Session) error {
	switch {
	case isJSON(b):
		*s = Session{}
		if err := json.Unmarshal(b, s); err != nil {
			return err
		}
		if len(s.Methods) == 0 && s.AAL == 0 { // written before sessions had them: as for V1, below
			s.Methods, s.AAL = []string{"password"}, 1
		}
		return nil
	case len(b) > 0 && b[0] == sessionCodecV1:
		return decodeSessionAs(b, sessionCodecV1, s)
	}
	return decodeSession(b, s)
}

func decodeOldAddress(b []byte, a *Address) error {
	if isJSON(b) {
		*a = Address{}
		return json.Unmarshal(b, a)
	}
	return decodeAddress(b, a)
}
