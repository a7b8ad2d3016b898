package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/mail"
)

// The admin "send test email" (#21): one mail sent at once through the
// configured SMTP server, outside the outbox, so a shop sees the server's
// answer the first day instead of a queue that silently grows.

// SetMailSender sets the SMTP client the admin test mail goes through.
func (s *Server) SetMailSender(sender mail.Sender) { s.mailSender = sender }

type mailTestRequest struct {
	To string `json:"to"`
}

type mailTestResult struct {
	To     string `json:"to"`
	Server string `json:"server"` // the SMTP URL without its password
}

// mailTestTimeout bounds the whole SMTP exchange of a test mail.
const mailTestTimeout = 30 * time.Second

func (s *Server) handleAdminMailTest(w http.ResponseWriter, r *http.Request, _ httprouter.Params, act actor) error {
	var req mailTestRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := s.sendTestMail(r.Context(), act, req.To)
	return answer(w, http.StatusOK, "The SMTP server accepted the test email.", res, err)
}

// sendTestMail checks the address, sends and records the outcome in the
// audit log (mail_test_sent, with the error when the server refused).
func (s *Server) sendTestMail(ctx context.Context, act actor, rawTo string) (*mailTestResult, error) {
	to, msg := normalizeEmail(rawTo)
	if msg != "" {
		return nil, fieldError("to", msg)
	}
	// The recipient limit of every other mail (5 an hour by default)
	// keeps the button from being a way to flood an inbox.
	if ok, retry := s.limits.mailRecipient.Allow("smtp-test|"+to, s.now()); !ok {
		return nil, rateLimited(retry)
	}
	res := &mailTestResult{To: to}
	if name, ok := s.mailSender.(fmt.Stringer); ok {
		res.Server = name.String()
	}
	sendErr := s.deliverTestMail(ctx, act, to)
	detail := map[string]string{"to": to, "result": "accepted"}
	if sendErr != nil {
		detail["result"] = "failed"
		detail["error"] = truncateRunes(sendErr.Error(), 300)
	}
	c := clientOf(ctx)
	if err := s.update(ctx, func(t *txn) error {
		return t.audit("mail_test_sent", nil, "", c, actorDetail(act, detail))
	}); err != nil {
		return nil, err
	}
	if sendErr != nil {
		return nil, errorf(CodeSMTPError, "The SMTP server did not take the test email: %s", truncateRunes(sendErr.Error(), 500))
	}
	return res, nil
}

func (s *Server) deliverTestMail(ctx context.Context, act actor, to string) error {
	if s.mailSender == nil {
		return fmt.Errorf("no SMTP target configured (MARBELLE_SMTP_URL)")
	}
	c := clientOf(ctx)
	d := mail.Data{IP: c.IP, UserAgent: c.UserAgent, Language: s.cfg.DefaultLanguage}
	if act.staff != nil {
		d.Actor = act.staff.User.Email
		// The address may be anyone's; the staff member sending it reads it.
		if lang := act.staff.User.Language; lang != "" && s.catalogue.Has(lang) {
			d.Language = lang
		}
	}
	_, raw, from, err := s.renderMail(mail.KindSMTPTest, to, d, s.now())
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTestTimeout)
	defer cancel()
	return s.mailSender.Send(sctx, from, []string{to}, raw)
}
