package app

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// The admin routes of webhooks (routes.go registers them under
// requireScope(webhooks:manage)).

func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	var hooks []store.Webhook
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		hooks, err = tx.Webhooks()
		return err
	})
	now := s.now()
	out := make([]webhookView, 0, len(hooks))
	for i := range hooks {
		out = append(out, webhookViewOf(&hooks[i], now))
	}
	return answer(w, http.StatusOK, "Webhook endpoints, oldest first.", out, err)
}

func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	var in webhookInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.createWebhook(r.Context(), act, &in)
	return answer(w, http.StatusCreated, "The endpoint is added. Copy its secret now: it is shown only this once.", v, err)
}

func (s *Server) handleWebhookView(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var v webhookView
	err = s.db.View(func(tx *store.Tx) error {
		h, err := tx.Webhook(id)
		if err == nil {
			v = webhookViewOf(h, s.now())
		}
		return err
	})
	return answer(w, http.StatusOK, "The webhook endpoint.", &v, err)
}

func (s *Server) handleWebhookUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	var in webhookInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	id, err := pathID(p)
	if err != nil {
		return err
	}
	in.Description = nil // PATCH changes url, events and enabled only
	v, err := s.changeWebhook(r.Context(), act, id, &in, false)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The endpoint is saved.", &v.webhookView, nil)
}

func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The endpoint and its deliveries are deleted.", nil, s.deleteWebhook(r.Context(), act, id))
}

func (s *Server) handleWebhookRotate(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	v, err := s.changeWebhook(r.Context(), act, id, nil, true)
	return answer(w, http.StatusOK, "The secret is rotated. Copy it now: it is shown only this once. For 24 hours deliveries are signed with both secrets.", v, err)
}

func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var out []deliveryView
	err = s.db.View(func(tx *store.Tx) error {
		if _, err := tx.Webhook(id); err != nil {
			return err
		}
		list, err := tx.WebhookDeliveries(id, webhookDeliveriesListMax)
		out = make([]deliveryView, 0, len(list))
		for i := range list {
			out = append(out, deliveryViewOf(&list[i]))
		}
		return err
	})
	return answer(w, http.StatusOK, "Recent deliveries, newest first.", out, err)
}

func (s *Server) handleWebhookTest(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	v, err := s.sendTestWebhook(r.Context(), id)
	return answer(w, http.StatusAccepted, "A webhook.test event is on its way.", v, err)
}

func (s *Server) handleDeliveryRetry(w http.ResponseWriter, r *http.Request, p httprouter.Params, act actor) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	v, err := s.retryDelivery(r.Context(), id)
	return answer(w, http.StatusOK, "The delivery is queued again.", v, err)
}
