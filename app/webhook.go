package app

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/store"
	"github.com/marbelle/marbelle/webhook"
)

// Webhook event types (docs/webhooks.md shows each payload).
const (
	evUserRegistered         = "user.registered"
	evUserVerified           = "user.verified"
	evUserUpdated            = "user.updated"
	evUserEmailChanged       = "user.email_changed"
	evUserDeactivated        = "user.deactivated"
	evUserReactivated        = "user.reactivated"
	evUserDeleted            = "user.deleted"
	evAddressCreated         = "address.created"
	evAddressUpdated         = "address.updated"
	evAddressDeleted         = "address.deleted"
	evAddressPrimaryChanged  = "address.primary_changed"
	evWebhookTest            = "webhook.test"
	webhookAllEvents         = "*"
	maxWebhookURLLength      = 2000
	maxWebhookDescription    = 200
	webhookRotationOverlap   = 24 * time.Hour
	webhookDeliveriesListMax = 100
)

// webhookEventTypes lists the events an endpoint may ask for.
func webhookEventTypes() []string {
	return []string{evUserRegistered, evUserVerified, evUserUpdated, evUserEmailChanged, evUserDeactivated,
		evUserReactivated, evUserDeleted, evAddressCreated, evAddressUpdated, evAddressDeleted, evAddressPrimaryChanged, evWebhookTest}
}

// webhookPayload is the body of every delivery.
type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// userEventData is a user event's data: the profile as the API shows it,
// and the user's updated_at, so a receiver can drop an older event that
// arrives after a newer one.
type userEventData struct {
	*profile
	IsActive  bool      `json:"is_active"`
	UpdatedAt time.Time `json:"updated_at"`
}

// addressEventData is an address event's data.
type addressEventData struct {
	UserID        uuid.UUID    `json:"user_id"`
	Address       *addressView `json:"address"`
	UserUpdatedAt time.Time    `json:"user_updated_at"`
}

// deletedUserData is user.deleted's data: only who it was.
type deletedUserData struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
}

// emit writes the event, in this transaction, as one pending delivery per
// endpoint that wants it: it commits with the change or not at all. data
// is called, and the payload encoded, only when some endpoint wants it.
func (t *txn) emit(typ string, data func() any) error {
	n, err := t.EmitWebhookEvent(typ, func() ([]byte, error) {
		return json.Marshal(webhookPayload{Type: typ, Timestamp: t.now.UTC(), Data: data()})
	}, t.now)
	t.hooks += n
	return err
}

// emitUser emits a user event carrying the profile.
func (t *txn) emitUser(typ string, u *store.User) error {
	return t.emit(typ, func() any {
		return userEventData{profile: profileOf(u), IsActive: u.Active, UpdatedAt: u.UpdatedAt.UTC()}
	})
}

// emitAddress emits an address event.
func (t *txn) emitAddress(typ string, u *store.User, v *addressView) error {
	return t.emit(typ, func() any { return addressEventData{UserID: u.ID, Address: v, UserUpdatedAt: u.UpdatedAt.UTC()} })
}

// committedWebhooks counts and wakes the deliverer after a commit that
// queued n deliveries.
func (s *Server) committedWebhooks(n int) {
	if n == 0 {
		return
	}
	s.metrics.webhooksQueued.Add(uint64(n)) // #nosec G115 -- a count, never negative
	if s.wakeWebhooks != nil {
		s.wakeWebhooks()
	}
}

// webhookQueue lets the deliverer read and update the store's deliveries.
type webhookQueue struct{ s *Server }

// WebhookQueue is the delivery store as the deliverer sees it.
func (s *Server) WebhookQueue() webhook.Queue { return webhookQueue{s} }

// SetWebhookWaker sets what wakes the deliverer after a commit.
func (s *Server) SetWebhookWaker(wake func()) { s.wakeWebhooks = wake }

func (q webhookQueue) Due(now time.Time, limit int, room func(endpointID string) int, skip func(id string) bool) ([]webhook.Pending, error) {
	var out []webhook.Pending
	signAt := q.s.now() // the rotation overlap runs on the server's clock
	err := q.s.db.View(func(tx *store.Tx) error {
		hooks := map[uuid.UUID]*signer{}
		due, err := tx.DueDeliveries(now, limit,
			func(ep uuid.UUID) int { return room(ep.String()) },
			func(id uuid.UUID) bool { return skip(id.String()) })
		if err != nil {
			return err
		}
		for _, d := range due {
			h, ok := hooks[d.EndpointID]
			if !ok {
				if h, err = q.signer(tx, d.EndpointID, signAt); err != nil {
					return err
				}
				hooks[d.EndpointID] = h
			}
			out = append(out, webhook.Pending{ID: d.ID.String(), EndpointID: d.EndpointID.String(), URL: h.url,
				EventID: d.EventID.String(), Body: d.Payload, Secrets: h.secrets, SecretErr: h.err, Attempts: d.Attempts, Since: cmpTime(d.RetrySince, d.CreatedAt)})
		}
		return nil
	})
	return out, err
}

// signer is what Due needs of an endpoint: where to, and its secrets in
// clear, or why they cannot be had.
type signer struct {
	url     string
	secrets []string
	err     error
}

// signer reads an endpoint and unseals its secrets; one whose secret does
// not open is logged, and its deliveries fail with err.
func (q webhookQueue) signer(tx *store.Tx, id uuid.UUID, signAt time.Time) (*signer, error) {
	w, err := tx.Webhook(id)
	if err != nil {
		return nil, err
	}
	h := &signer{url: w.URL}
	if h.secrets, h.err = q.s.signingSecrets(w, signAt); h.err != nil {
		q.s.log.Error("webhook signing secret unreadable: rotate the endpoint's secret", "webhook_id", id, "error", h.err)
	}
	return h, nil
}

// cmpTime is a, or b when a is zero.
func cmpTime(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

// Record writes the outcomes of attempts in one transaction, batched
// with the requests' writes (one fsync for the group). Each sets fixed
// values, so the closure may run twice. A delivery gone meanwhile (its
// endpoint was deleted) is passed over.
func (q webhookQueue) Record(outcomes []webhook.Outcome) error {
	err := q.s.db.Batch(func(tx *store.Tx) error {
		for _, o := range outcomes {
			uid, err := uuid.Parse(o.ID)
			if err != nil {
				continue
			}
			err = tx.UpdateDelivery(uid, func(d *store.Delivery) { applyOutcome(d, o) })
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range outcomes {
		switch {
		case o.Delivered():
			q.s.metrics.webhooksDelivered.Add(1)
		case o.Next.IsZero():
			q.s.metrics.webhooksFailed.Add(1)
		default:
			q.s.metrics.webhooksRetried.Add(1)
		}
	}
	return nil
}

// applyOutcome sets a delivery's status from an attempt's outcome.
func applyOutcome(d *store.Delivery, o webhook.Outcome) {
	d.Attempts, d.LastStatusCode, d.LastError = o.Attempts, o.StatusCode, o.Err
	switch {
	case o.Delivered():
		d.Status, d.NextAttemptAt, d.DoneAt = store.DeliveryDelivered, time.Time{}, o.At
	case o.Next.IsZero():
		d.Status, d.NextAttemptAt, d.DoneAt = store.DeliveryFailed, time.Time{}, o.At
	default:
		d.Status, d.NextAttemptAt = store.DeliveryPending, o.Next
	}
}

// webhookInput is the body of POST and PATCH /admin/webhooks…; nil fields
// were not sent (PATCH).
type webhookInput struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// apply checks in onto w, reporting every fault by field. For a new
// endpoint (create) url and events are required.
func (in *webhookInput) apply(w *store.Webhook, create bool, cfg *Config) error {
	errs := fieldErrors{}
	switch {
	case in.URL != nil:
		w.URL = strings.TrimSpace(*in.URL)
		if msg := checkWebhookURL(w.URL, cfg); msg != "" {
			errs.add("url", msg)
		}
	case create:
		errs.add("url", "This field is required.")
	}
	switch {
	case in.Events != nil:
		w.Events = nil
		var unknown []string
		for _, e := range *in.Events {
			switch {
			case e == webhookAllEvents || slices.Contains(webhookEventTypes(), e):
				if !slices.Contains(w.Events, e) {
					w.Events = append(w.Events, e)
				}
			default:
				unknown = append(unknown, strconv.Quote(truncateRunes(e, 60)))
			}
		}
		if len(unknown) > 0 {
			errs.add("events", "Unknown events: "+strings.Join(unknown, ", ")+". Use * or "+strings.Join(webhookEventTypes(), ", ")+".")
		} else if len(w.Events) == 0 {
			errs.add("events", "Name at least one event, or * for all.")
		}
	case create:
		errs.add("events", "This field is required: a list of events, or [\"*\"] for all.")
	}
	if in.Description != nil {
		w.Description = cleanText(errs, "description", *in.Description, false, maxWebhookDescription)
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	return errs.err()
}

// checkWebhookURL says what is wrong with an endpoint URL, or "". Only
// http(s), no userinfo, at most 2,000 characters; in production http://
// only to a loopback host unless MARBELLE_WEBHOOK_ALLOW_HTTP is set.
func checkWebhookURL(raw string, cfg *Config) string {
	if len(raw) > maxWebhookURLLength {
		return "Use a URL of at most 2,000 characters."
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "Use an absolute http:// or https:// URL."
	}
	if u.User != nil {
		return "Leave the user name and password out of the URL."
	}
	if u.Fragment != "" {
		return "Leave the #fragment out of the URL."
	}
	if u.Scheme == "http" && cfg.Production() && !cfg.WebhookAllowHTTP && !loopbackHost(u.Hostname()) {
		return "Use https:// (http:// is only for loopback hosts, unless MARBELLE_WEBHOOK_ALLOW_HTTP=true)."
	}
	return ""
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// webhookView is an endpoint as the admin API shows it: never its secret.
type webhookView struct {
	ID             uuid.UUID  `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	RotationEndsAt *time.Time `json:"rotation_ends_at"`
}

func webhookViewOf(w *store.Webhook, now time.Time) webhookView {
	v := webhookView{ID: w.ID, URL: w.URL, Events: slices.Clone(w.Events), Description: w.Description, Enabled: w.Enabled,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
	if w.Rotating(now) {
		v.RotationEndsAt = optionalTime(w.PreviousUntil)
	}
	return v
}

// webhookSecretView is the answer that carries a secret, this once.
type webhookSecretView struct {
	webhookView
	Secret string `json:"secret"`
}

// deliveryView is a delivery as the admin API shows it.
type deliveryView struct {
	ID             uuid.UUID  `json:"id"`
	EndpointID     uuid.UUID  `json:"endpoint_id"`
	EventID        uuid.UUID  `json:"event_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      string     `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

func deliveryViewOf(d *store.Delivery) deliveryView {
	v := deliveryView{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, Type: d.Type, Status: string(d.Status),
		Attempts: d.Attempts, LastError: d.LastError, NextAttemptAt: optionalTime(d.NextAttemptAt), CreatedAt: d.CreatedAt.UTC()}
	if d.LastStatusCode != 0 {
		code := d.LastStatusCode
		v.LastStatusCode = &code
	}
	return v
}

// webhookDetail is what an audit event says about an endpoint: never its secret.
func webhookDetail(w *store.Webhook) map[string]string {
	return map[string]string{"webhook_id": w.ID.String(), "url": w.URL, "events": strings.Join(w.Events, " "), "enabled": strconv.FormatBool(w.Enabled)}
}

// createWebhook stores a new endpoint with a new secret.
func (s *Server) createWebhook(ctx context.Context, act actor, in *webhookInput) (*webhookSecretView, error) {
	w := &store.Webhook{ID: store.NewID(), Enabled: true}
	if err := in.apply(w, true, &s.cfg); err != nil {
		return nil, err
	}
	secret := webhook.NewSecret()
	sealed, err := sealWebhookSecret(s.sealer, w.ID, secret)
	if err != nil {
		return nil, err
	}
	w.Secret = sealed
	c := clientOf(ctx)
	err = s.update(ctx, func(t *txn) error {
		w.CreatedAt, w.UpdatedAt = t.now, t.now
		if err := t.PutWebhook(w); err != nil {
			return err
		}
		return t.audit("webhook_created", nil, "", c, actorDetail(act, webhookDetail(w)))
	})
	if err != nil {
		return nil, err
	}
	return &webhookSecretView{webhookView: webhookViewOf(w, s.now()), Secret: secret}, nil
}

// changeWebhook applies a PATCH, or rotates the secret (rotate true: in
// is ignored), and returns the secret only when it rotated.
func (s *Server) changeWebhook(ctx context.Context, act actor, id uuid.UUID, in *webhookInput, rotate bool) (*webhookSecretView, error) {
	c := clientOf(ctx)
	secret := webhook.NewSecret()
	sealed, err := sealWebhookSecret(s.sealer, id, secret)
	if err != nil {
		return nil, err
	}
	var v webhookSecretView
	err = s.update(ctx, func(t *txn) error {
		w, err := t.Webhook(id)
		if err != nil {
			return err
		}
		if err := s.sealClear(w); err != nil {
			return err
		}
		event := "webhook_updated"
		if rotate {
			event = "webhook_secret_rotated"
			w.PreviousSecret, w.PreviousUntil, w.Secret = w.Secret, t.now.Add(webhookRotationOverlap), sealed
			if _, err := unseal(s.sealer, w.ID, w.PreviousSecret); err != nil {
				// Sealed under another key (a restored backup): no use
				// signing with, so no overlap.
				w.PreviousSecret, w.PreviousUntil = nil, time.Time{}
			}
		} else if err := in.apply(w, false, &s.cfg); err != nil {
			return err
		}
		w.UpdatedAt = t.now
		if err := t.PutWebhook(w); err != nil {
			return err
		}
		v = webhookSecretView{webhookView: webhookViewOf(w, t.now)}
		if rotate {
			v.Secret = secret
		}
		return t.audit(event, nil, "", c, actorDetail(act, webhookDetail(w)))
	})
	return &v, err
}

// deleteWebhook removes an endpoint with its deliveries.
func (s *Server) deleteWebhook(ctx context.Context, act actor, id uuid.UUID) error {
	c := clientOf(ctx)
	return s.update(ctx, func(t *txn) error {
		w, err := t.Webhook(id)
		if err != nil {
			return err
		}
		if err := t.DeleteWebhook(id); err != nil {
			return err
		}
		return t.audit("webhook_deleted", nil, "", c, actorDetail(act, webhookDetail(w)))
	})
}

// sendTestWebhook queues a webhook.test event for one endpoint, whatever
// its filter and even while disabled, so staff can check the receiver.
func (s *Server) sendTestWebhook(ctx context.Context, id uuid.UUID) (*deliveryView, error) {
	var v deliveryView
	err := s.update(ctx, func(t *txn) error {
		w, err := t.Webhook(id)
		if err != nil {
			return err
		}
		body, err := json.Marshal(webhookPayload{Type: evWebhookTest, Timestamp: t.now.UTC(), Data: map[string]any{"webhook_id": w.ID}})
		if err != nil {
			return err
		}
		d := &store.Delivery{ID: store.NewID(), EndpointID: w.ID, EventID: store.NewID(), Type: evWebhookTest, Payload: body, NextAttemptAt: t.now, CreatedAt: t.now}
		if err := t.QueueDelivery(d); err != nil {
			return err
		}
		t.hooks++
		v = deliveryViewOf(d)
		return nil
	})
	return &v, err
}

// retryDelivery sends a delivery again now, whatever its status.
func (s *Server) retryDelivery(ctx context.Context, id uuid.UUID) (*deliveryView, error) {
	var v deliveryView
	err := s.update(ctx, func(t *txn) error {
		d, err := t.RequeueDelivery(id, t.now)
		if errors.Is(err, store.ErrNotRequeueable) {
			return &Error{Code: CodeValidation, Message: "This delivery has not been tried yet: it is on its way."}
		}
		if err != nil {
			return err
		}
		t.hooks++
		v = deliveryViewOf(d)
		return nil
	})
	return &v, err
}

// writeWebhookQueue writes the webhook queue's depth and the age of its
// oldest pending delivery, read from the store at scrape time.
func (s *Server) writeWebhookQueue(w promWriter) {
	var n int
	var oldest time.Time
	if err := s.db.View(func(tx *store.Tx) error { n, oldest = tx.PendingDeliveries(); return nil }); err != nil {
		return
	}
	const depth = "marbelle_webhook_queue_depth"
	w.head(depth, "gauge", "Webhook deliveries pending (not yet delivered, not given up).")
	w.sample(depth, "", uint64(n)) // #nosec G115 -- a count, never negative
	const age = "marbelle_webhook_oldest_pending_seconds"
	w.head(age, "gauge", "Age of the oldest pending webhook delivery (0 when none).")
	var secs uint64
	if !oldest.IsZero() {
		secs = uint64(max(0, s.now().Sub(oldest)/time.Second)) // #nosec G115 -- clamped at zero
	}
	w.sample(age, "", secs)
}

// sweepWebhookDeliveries prunes deliveries delivered or failed more than
// cfg.WebhookRetention ago, a batch per transaction.
func (s *Server) sweepWebhookDeliveries(ctx context.Context) {
	retention := s.cfg.WebhookRetention
	if retention <= 0 {
		retention = 7 * 24 * time.Hour // the setting's default
	}
	cutoff := s.now().Add(-retention)
	for more := true; more && ctx.Err() == nil; {
		var n int
		err := s.db.Update(func(tx *store.Tx) error {
			var err error
			n, more, err = tx.SweepWebhookDeliveries(cutoff, store.DefaultSweepBatchSize)
			return err
		})
		if err != nil {
			s.log.ErrorContext(ctx, "sweeping webhook deliveries failed", "err", err)
			return
		}
		s.metrics.prunedDeliveries.Add(uint64(n)) // #nosec G115 -- a count
	}
}

// emitAdminUserEvents emits what a staff edit of a user changed: the
// activation switch as user.deactivated or user.reactivated, other fields
// as user.updated.
func (t *txn) emitAdminUserEvents(u *store.User, wasActive, edited bool) error {
	if u.Active != wasActive {
		typ := evUserReactivated
		if !u.Active {
			typ = evUserDeactivated
		}
		if err := t.emitUser(typ, u); err != nil {
			return err
		}
	}
	if edited {
		return t.emitUser(evUserUpdated, u)
	}
	return nil
}
