package store

import (
	"encoding/binary"
	"strings"
	"time"
)

var (
	keyUserCount     = []byte("users")
	keyVerifiedCount = []byte("verified")
	// keyActiveStaffCount is set by the migration to version 4 (countStaff).
	keyActiveStaffCount = []byte("active_staff")
)

// Stats are the counts the admin dashboard shows, kept up to date in the
// same transactions that change users, so reading them scans nothing.
type Stats struct {
	Users    int
	Verified int
}

func (tx *Tx) counter(key []byte) int {
	v := tx.bucket(bucketMeta).Get(key)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v)) // #nosec G115 -- a count of records, far below 2^63
}

func (tx *Tx) addCounter(key []byte, delta int) error {
	return tx.setCounter(key, tx.counter(key)+delta)
}

func (tx *Tx) setCounter(key []byte, n int) error {
	n = max(n, 0)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return tx.bucket(bucketMeta).Put(key, b[:])
}

// Stats returns the live user counts.
func (tx *Tx) Stats() Stats {
	return Stats{Users: tx.counter(keyUserCount), Verified: tx.counter(keyVerifiedCount)}
}

func dayKey(t time.Time) []byte {
	t = t.UTC()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(t.Year()*10000+int(t.Month())*100+t.Day())) // #nosec G115 -- YYYYMMDD of a year below 10000 fits
	return b[:]
}

// countSignup adds one account to the day it was created.
func (tx *Tx) countSignup(at time.Time) error {
	b := tx.bucket(bucketSignupsByDay)
	key := dayKey(at)
	var n uint64
	if v := b.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n+1)
	return b.Put(key, v[:])
}

// DayCount is the number of sign-ups on one UTC day.
type DayCount struct {
	Day   time.Time
	Count int
}

// SignupsByDay returns one entry per UTC day from `from` to `to` inclusive
// (days without sign-ups count 0), read from a range of the per-day index.
func (tx *Tx) SignupsByDay(from, to time.Time) []DayCount {
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	counts := map[uint32]int{}
	c := tx.bucket(bucketSignupsByDay).Cursor()
	last := dayKey(end)
	for k, v := c.Seek(dayKey(start)); k != nil && string(k) <= string(last); k, v = c.Next() {
		if len(v) == 8 {
			counts[binary.BigEndian.Uint32(k)] = int(binary.BigEndian.Uint64(v)) // #nosec G115 -- a count of records, far below 2^63
		}
	}
	var out []DayCount
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		out = append(out, DayCount{Day: d, Count: counts[binary.BigEndian.Uint32(dayKey(d))]})
	}
	return out
}

// UserPage is one page of a user search.
type UserPage struct {
	Users []User
	Total int
}

// Users returns the users whose email, first or last name contains q
// (case-insensitive; empty q matches all; the email also in q's normal
// form, see emailSearchForms), oldest first, skipping offset
// and returning at most limit, with the total number of matches. Searching
// reads every user: it serves staff, not customers.
func (tx *Tx) Users(q string, offset, limit int) (UserPage, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	emailForms := emailSearchForms(q)
	var page UserPage
	c := tx.bucket(bucketUsers).Cursor()
	if q == "" {
		page.Total = tx.counter(keyUserCount)
	}
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if q == "" && n >= offset+limit {
			break
		}
		var u User
		if err := decodeUser(v, &u); err != nil {
			return page, err
		}
		if q != "" && !containsAny(u.Email, emailForms) && !strings.Contains(strings.ToLower(u.FirstName), q) && !strings.Contains(strings.ToLower(u.LastName), q) {
			continue
		}
		if n >= offset && n < offset+limit {
			page.Users = append(page.Users, u)
		}
		n++
	}
	if q != "" {
		page.Total = n
	}
	return page, nil
}

// containsAny reports whether s contains any of subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
