package store

import (
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
