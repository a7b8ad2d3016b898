package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// Passkeys (WebAuthn) with github.com/go-webauthn/webauthn: every use of
// the library is in this file. Ceremony state lives in the store (5
// minutes, single use, swept), so a restart mid-ceremony fails cleanly.
const (
	ceremonyTTL       = 5 * time.Minute
	maxPasskeyNameLen = 64
)

var (
	errPasskeysNeedDomain = &Error{Code: CodeValidation, Message: "Passkeys work only when this site is opened by its domain name (such as localhost), not by an IP address."}
	errCeremony           = &Error{Code: CodeValidation, Message: "This passkey request has expired or was already used. Please try again."}
	// errPasskeyUnknown: no account has this passkey (deleted, or made for
	// another site).
	errPasskeyUnknown = &Error{Code: CodeUnauthenticated, Message: "This passkey is not known here. Log in with your password, or use another passkey."}
)

// passkeyError is the 400 of a credential the library refuses: its
// description, never the request's bytes.
func passkeyError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	msg := "The passkey response is not valid."
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		msg = "The passkey response is not valid: " + pe.Details + "."
	}
	return &Error{Code: CodeValidation, Message: msg}
}

// relyingParty is the WebAuthn relying party of a request: the origin of
// the base URL (in development without one, of the request's allowed
// Host), and its host, or MARBELLE_COOKIE_DOMAIN when set, as RP id.
func (s *Server) relyingParty(r *http.Request) (*webauthn.WebAuthn, error) {
	origin := s.cfg.BaseURL
	if origin == "" {
		origin = "http://" + r.Host // development: withAllowedHosts vetted it
	}
	u, err := url.Parse(origin)
	if err != nil {
		return nil, err
	}
	rpID := u.Hostname()
	if d := strings.TrimPrefix(s.cfg.CookieDomain, "."); d != "" {
		rpID = d
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: s.cfg.SiteName, RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil { // an IP address: WebAuthn needs a domain name
		return nil, errPasskeysNeedDomain
	}
	return wa, nil
}

// passkeyUser is a user as the library sees one: the user handle is the
// account id.
type passkeyUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte   { return p.u.ID[:] }
func (p *passkeyUser) WebAuthnName() string { return p.u.Email }
func (p *passkeyUser) WebAuthnDisplayName() string {
	return strings.TrimSpace(p.u.FirstName + " " + p.u.LastName)
}
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// loadPasskeyUser reads u's passkeys as library credentials.
func loadPasskeyUser(tx *store.Tx, u *store.User) (*passkeyUser, error) {
	list, err := tx.Passkeys(u.ID)
	if err != nil {
		return nil, err
	}
	pu := &passkeyUser{u: u}
	for _, p := range list {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, err
		}
		pu.creds = append(pu.creds, c)
	}
	return pu, nil
}

// passkeyView is a passkey as its owner (and staff) see it: no key.
type passkeyView struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func passkeyViewOf(p *store.Passkey) passkeyView {
	v := passkeyView{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC()}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt.UTC()
		v.LastUsedAt = &t
	}
	return v
}

// beginCeremony stores the library's session data under its challenge.
func (s *Server) beginCeremony(ctx context.Context, kind string, userID uuid.UUID, sd *webauthn.SessionData) error {
	raw, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return s.update(ctx, func(t *txn) error {
		return t.PutCeremony(sd.Challenge, &store.Ceremony{Kind: kind, UserID: userID, Session: raw, ExpiresAt: t.now.Add(ceremonyTTL)})
	})
}

// ceremonyOf reads the live ceremony a response answers, by the challenge
// in its client data.
func (s *Server) ceremonyOf(kind, challenge string, userID uuid.UUID) (*webauthn.SessionData, error) {
	var c *store.Ceremony
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		c, err = tx.Ceremony(challenge, s.now())
		return err
	})
	if err != nil || c.Kind != kind || c.UserID != userID {
		return nil, errCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return nil, err
	}
	return &sd, nil
}

// parseRegistrationResponse and parseLoginResponse read an
// authenticator's answer with the library's decoders (attacker-controlled
// JSON, CBOR and base64url) and return the challenge it answers; anything
// malformed is a 400. The fuzz tests call them.
func parseRegistrationResponse(body []byte) (string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return "", passkeyError(err)
	}
	return parsed.Response.CollectedClientData.Challenge, nil
}

func parseLoginResponse(body []byte) (string, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return "", passkeyError(err)
	}
	return parsed.Response.CollectedClientData.Challenge, nil
}

// --- registration ---

func (s *Server) handlePasskeyRegisterBegin(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	wa, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	var pu *passkeyUser
	if err := s.db.View(func(tx *store.Tx) error {
		pu, err = loadPasskeyUser(tx, a.User)
		return err
	}); err != nil {
		return err
	}
	creation, sd, err := wa.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		}))
	if err != nil {
		return err
	}
	if err := s.beginCeremony(r.Context(), "register", a.User.ID, sd); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "Create the passkey on your device, then send its answer to /passkeys/register/finish.", creation.Response, nil)
}

func (s *Server) handlePasskeyRegisterFinish(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var body json.RawMessage
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	out, err := s.finishPasskeyRegistration(r, a, body)
	return answer(w, http.StatusCreated, "The passkey is added. You can log in with it now.", out, err)
}

// finishPasskeyRegistration verifies the authenticator's answer against
// the ceremony and stores the passkey; the ceremony ends in the same
// transaction, so an answer is accepted once.
func (s *Server) finishPasskeyRegistration(r *http.Request, a *auth, body []byte) (*passkeyView, error) {
	var named struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(body, &named)
	name := cleanText(fieldErrors{}, "name", named.Name, false, maxPasskeyNameLen)
	if name == "" {
		name = "Passkey"
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, passkeyError(err)
	}
	challenge := parsed.Response.CollectedClientData.Challenge
	sd, err := s.ceremonyOf("register", challenge, a.User.ID)
	if err != nil {
		return nil, err
	}
	wa, err := s.relyingParty(r)
	if err != nil {
		return nil, err
	}
	cred, err := wa.CreateCredential(&passkeyUser{u: a.User}, *sd, parsed)
	if err != nil {
		return nil, passkeyError(err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	c := clientOf(r.Context())
	var view passkeyView
	err = s.update(r.Context(), func(t *txn) error {
		if err := t.EndCeremony(challenge); err != nil {
			return errCeremony
		}
		p := &store.Passkey{ID: store.NewID(), UserID: a.User.ID, Name: name, CredentialID: cred.ID, Credential: raw, CreatedAt: t.now}
		if err := t.PutPasskey(p); errors.Is(err, store.ErrPasskeyTaken) {
			return &Error{Code: CodeValidation, Message: "This passkey is already registered."}
		} else if err != nil {
			return err
		}
		view = passkeyViewOf(p)
		return t.signInMethodsChanged(a.User, "passkey_added", "A passkey ("+name+") was added.", c, map[string]string{"passkey_id": p.ID.String()})
	})
	return &view, err
}

// --- login ---

func (s *Server) handlePasskeyLoginBegin(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	wa, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	if err := s.beginCeremony(r.Context(), "login", uuid.Nil, sd); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return answer(w, http.StatusOK, "Choose a passkey on your device.", assertion.Response, nil)
}

func (s *Server) handlePasskeyLoginFinish(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var body json.RawMessage
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	out, cookie, err := s.passkeyLogin(r, body)
	return answerLoggedIn(w, "You are logged in.", out, cookie, err)
}

// passkeyAssertion is what a verified assertion found.
type passkeyAssertion struct {
	passkey *store.Passkey
	cred    *webauthn.Credential
	uv      bool
}

// verifyAssertion checks an assertion against its ceremony and the stored
// credential (signature, challenge, origin, RP id, user verification, sign
// counter). It does not end the ceremony: the caller does, in the
// transaction that uses the result.
func (s *Server) verifyAssertion(r *http.Request, body []byte) (*passkeyAssertion, string, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, "", passkeyError(err)
	}
	challenge := parsed.Response.CollectedClientData.Challenge
	sd, err := s.ceremonyOf("login", challenge, uuid.Nil)
	if err != nil {
		return nil, "", err
	}
	wa, err := s.relyingParty(r)
	if err != nil {
		return nil, "", err
	}
	var found passkeyAssertion
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		var pu *passkeyUser
		err := s.db.View(func(tx *store.Tx) error {
			p, err := tx.PasskeyByCredential(rawID)
			if err != nil || !bytesEqualID(userHandle, p.UserID) {
				return errPasskeyUnknown
			}
			u, err := tx.User(p.UserID)
			if err != nil {
				return errPasskeyUnknown
			}
			found.passkey = p
			pu, err = loadPasskeyUser(tx, u)
			return err
		})
		return pu, err
	}
	cred, err := wa.ValidateDiscoverableLogin(handler, *sd, parsed)
	if err != nil {
		return nil, "", passkeyError(err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, "", &Error{Code: CodeUnauthenticated, Message: "This passkey's signature counter went backwards, so it may have been copied. Log in another way and check your passkeys."}
	}
	found.cred, found.uv = cred, parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	return &found, challenge, nil
}

func bytesEqualID(handle []byte, id uuid.UUID) bool {
	return len(handle) == len(id) && string(handle) == string(id[:])
}

// passkeyLogin opens a session for a verified assertion: the ceremony
// ends, the credential's counter and flags are stored, and the session is
// AAL2 when the user was verified.
func (s *Server) passkeyLogin(r *http.Request, body []byte) (*loggedIn, *http.Cookie, error) {
	var opts struct {
		Session string `json:"session"`
	}
	_ = json.Unmarshal(body, &opts)
	found, challenge, err := s.verifyAssertion(r, body)
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(found.cred)
	if err != nil {
		return nil, nil, err
	}
	how := signIn{Methods: []string{"passkey"}, AAL: 1, Token: opts.Session == "token"}
	if found.uv {
		how.AAL = 2
	}
	secret := newSessionSecret()
	c := clientOf(r.Context())
	var u *store.User
	var sess *store.Session
	err = s.update(r.Context(), func(t *txn) error {
		if err := t.EndCeremony(challenge); err != nil {
			return errCeremony
		}
		p, err := t.Passkey(found.passkey.UserID, found.passkey.ID)
		if err != nil {
			return errPasskeyUnknown
		}
		if u, err = t.User(p.UserID); err != nil || !u.Active || u.Frozen {
			return errPasskeyUnknown
		}
		if err := loginRefusal(u); err != nil {
			return err
		}
		p.Credential, p.LastUsedAt = raw, t.now
		if err := t.PutPasskey(p); err != nil {
			return err
		}
		sess, err = t.signIn(u, secret, how, c)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return s.loggedInAnswer(u, sess, secret)
}

// --- list, rename, delete ---

func (s *Server) handlePasskeyList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var out []passkeyView
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		out, err = passkeyViews(tx, a.User.ID)
		return err
	})
	return answer(w, http.StatusOK, "Your passkeys.", out, err)
}

// passkeyViews lists a user's passkeys, oldest first; a list, never null.
func passkeyViews(tx *store.Tx, userID uuid.UUID) ([]passkeyView, error) {
	list, err := tx.Passkeys(userID)
	if err != nil {
		return nil, err
	}
	out := make([]passkeyView, len(list))
	for i := range list {
		out[i] = passkeyViewOf(&list[i])
	}
	return out, nil
}

type passkeyRenameInput struct {
	Name string `json:"name"`
}

func (s *Server) handlePasskeyRename(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var in passkeyRenameInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	errs := fieldErrors{}
	name := cleanText(errs, "name", in.Name, true, maxPasskeyNameLen)
	if err := errs.err(); err != nil {
		return err
	}
	c := clientOf(r.Context())
	var view passkeyView
	err = s.update(r.Context(), func(t *txn) error {
		pk, err := t.Passkey(a.User.ID, id)
		if err != nil {
			return err
		}
		pk.Name = name
		if err := t.PutPasskey(pk); err != nil {
			return err
		}
		view = passkeyViewOf(pk)
		return t.audit("passkey_renamed", a.User, "", c, map[string]string{"passkey_id": id.String()})
	})
	return answer(w, http.StatusOK, "The passkey is renamed.", &view, err)
}

func (s *Server) handlePasskeyDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var in passwordInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The passkey is removed.", nil, s.removePasskey(r.Context(), a, id, in.Password))
}

// removePasskey deletes one of the user's passkeys once the password
// confirms it.
func (s *Server) removePasskey(ctx context.Context, a *auth, id uuid.UUID, pw string) error {
	return s.updateWithPassword(ctx, a, pw, func(t *txn, c client) error {
		pk, err := t.Passkey(a.User.ID, id)
		if err != nil {
			return err
		}
		if err := t.DeletePasskey(a.User.ID, id); err != nil {
			return err
		}
		return t.signInMethodsChanged(a.User, "passkey_removed", "A passkey ("+pk.Name+") was removed.", c, map[string]string{"passkey_id": id.String()})
	})
}
