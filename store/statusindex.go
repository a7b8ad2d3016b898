package store

// statusIndexed is a record kept in an index of its status (mail in
// outbox_due or outbox_sent, a webhook delivery in webhook_due or
// webhook_done), so that what is due or old is found without a scan.
type statusIndexed interface {
	// statusEntry is the record's entry in the index of its status; a nil
	// bucket when its status has no index.
	statusEntry() (bucket, key []byte)
}

// indexStatus puts r's status entry.
func (tx *Tx) indexStatus(r statusIndexed) error {
	if bucket, key := r.statusEntry(); bucket != nil {
		return tx.bucket(bucket).Put(key, nil)
	}
	return nil
}

// unindexStatus deletes r's status entry.
func (tx *Tx) unindexStatus(r statusIndexed) error {
	if bucket, key := r.statusEntry(); bucket != nil {
		return tx.bucket(bucket).Delete(key)
	}
	return nil
}

// restatus takes r out of its status index, applies change, and stores r
// under key in records, indexed again by its new status.
func (tx *Tx) restatus(records, key []byte, r statusIndexed, change func()) error {
	if err := tx.unindexStatus(r); err != nil {
		return err
	}
	change()
	if err := tx.indexStatus(r); err != nil {
		return err
	}
	return putJSON(tx.bucket(records), key, r)
}
