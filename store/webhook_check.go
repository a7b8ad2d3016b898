package store

import (
	"github.com/google/uuid"
)

// checkWebhooks verifies the webhook buckets: every endpoint record reads
// (sealed, or in the clear form the app has yet to seal), every delivery belongs to a
// stored endpoint and has its endpoint entry and the entry of its status
// (webhook_due while pending, webhook_done once delivered or failed), and
// every index entry points at a delivery that has it.
func checkWebhooks(tx *Tx, fault func(string, ...any)) {
	each := func(name []byte, fn func(k, v []byte)) {
		tx.bucket(name).ForEach(func(k, v []byte) error { fn(k, v); return nil })
	}
	each(bucketWebhooks, func(k, v []byte) {
		id, err := uuid.FromBytes(k)
		if err == nil {
			_, err = decodeWebhook(id, v)
		}
		if err != nil {
			fault("webhook %x: %v", k, err)
		}
	})
	deliveries := map[uuid.UUID]*Delivery{}
	each(bucketWebhookDeliveries, func(k, v []byte) {
		var d Delivery
		if err := getJSONBytes(v, &d); err != nil {
			fault("webhook delivery %x: %v", k, err)
			return
		}
		deliveries[d.ID] = &d
		if tx.bucket(bucketWebhooks).Get(d.EndpointID[:]) == nil {
			fault("webhook delivery %s: endpoint %s is gone", d.ID, d.EndpointID)
		}
		if tx.bucket(bucketWebhookByEndpoint).Get(join(d.EndpointID[:], d.ID[:])) == nil {
			fault("webhook delivery %s: no endpoint index entry", d.ID)
		}
		due, done := d.dueKey(), join(timeKey(d.DoneAt), d.ID[:])
		switch {
		case d.Status == DeliveryPending && tx.bucket(bucketWebhookDue).Get(due) == nil:
			fault("webhook delivery %s: pending but not in webhook_due", d.ID)
		case d.Status != DeliveryPending && tx.bucket(bucketWebhookDone).Get(done) == nil:
			fault("webhook delivery %s: %s but not in webhook_done", d.ID, d.Status)
		}
	})
	index := func(name []byte, idAt int, ok func(*Delivery, []byte) bool) {
		each(name, func(k, _ []byte) {
			id, err := uuid.FromBytes(k[min(idAt, len(k)):])
			if d := deliveries[id]; err != nil || d == nil || !ok(d, k) {
				fault("%s entry %x points at no delivery that has it", name, k)
			}
		})
	}
	index(bucketWebhookDue, 24, func(d *Delivery, k []byte) bool {
		return d.Status == DeliveryPending && string(k) == string(d.dueKey())
	})
	index(bucketWebhookDone, 8, func(d *Delivery, k []byte) bool {
		return d.Status != DeliveryPending && string(k[:8]) == string(timeKey(d.DoneAt))
	})
	index(bucketWebhookByEndpoint, 16, func(d *Delivery, k []byte) bool { return string(k[:16]) == string(d.EndpointID[:]) })
}
