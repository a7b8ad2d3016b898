package store

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Event is one audit log entry. It never holds a password, token or
// session secret.
type Event struct {
	ID        uuid.UUID         `json:"id"` // UUIDv7: key order is time order
	At        time.Time         `json:"at"`
	Event     string            `json:"event"`
	UserID    uuid.UUID         `json:"user_id,omitzero"`
	Email     string            `json:"email,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// AppendAudit stores e (giving it an id when it has none).
func (tx *Tx) AppendAudit(e *Event) error {
	if e.ID == uuid.Nil {
		e.ID = NewID()
	}
	if err := putJSON(tx.bucket(bucketAudit), e.ID[:], e); err != nil {
		return err
	}
	if e.UserID != uuid.Nil {
		return tx.bucket(bucketAuditByUser).Put(join(e.UserID[:], e.ID[:]), nil)
	}
	return nil
}

// AuditEvents returns up to limit events, newest first, optionally only
// those of one user (uuid.Nil for all).
func (tx *Tx) AuditEvents(userID uuid.UUID, limit int) ([]Event, error) {
	var out []Event
	audit := tx.bucket(bucketAudit)
	if userID == uuid.Nil {
		c := audit.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	c := tx.bucket(bucketAuditByUser).Cursor()
	// Seek past this user's range, then walk back through it.
	next := join(userID[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	k, _ := c.Seek(next)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && len(out) < limit && len(k) == 32 && uuid.UUID(k[:16]) == userID; k, _ = c.Prev() {
		var e Event
		if err := getJSON(audit, k[16:], &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	UserID uuid.UUID
	Event  string
	Before uuid.UUID // only events older than this event id (paging)
	Limit  int
}

// AuditQuery returns events matching f, newest first. Filtering by user
// reads only that user's index range.
func (tx *Tx) AuditQuery(f AuditFilter) ([]Event, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	var out []Event
	audit := tx.bucket(bucketAudit)
	keep := func(e *Event) bool {
		return (f.Event == "" || e.Event == f.Event) && (f.Before == uuid.Nil || bytes.Compare(e.ID[:], f.Before[:]) < 0)
	}
	if f.UserID == uuid.Nil {
		c := audit.Cursor()
		var k, v []byte
		if f.Before != uuid.Nil {
			k, v = c.Seek(f.Before[:])
			if k == nil {
				k, v = c.Last()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < f.Limit; k, v = c.Prev() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return nil, err
			}
			if keep(&e) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	events, err := tx.AuditEvents(f.UserID, 1<<30)
	if err != nil {
		return nil, err
	}
	for i := range events {
		if len(out) >= f.Limit {
			break
		}
		if keep(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out, nil
}
