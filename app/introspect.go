package app

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// introspection is an active token's answer (RFC 7662 §2.2): the
// registered members active, sub, exp and iat, and Marbelle's own.
type introspection struct {
	Active        bool   `json:"active"`
	Sub           string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	IsStaff       bool   `json:"is_staff"`
	Exp           int64  `json:"exp"` // Unix seconds: when the session ends unless used again
	Iat           int64  `json:"iat"` // Unix seconds: when it began
	AAL           int    `json:"aal"`
}

// inactiveAnswer is the answer for every token that is not a live session:
// it says nothing more (RFC 7662 §2.2), so nothing tells the reasons apart.
const inactiveAnswer = `{"active":false}` + "\n"

// handleIntrospect answers RFC 7662 token introspection, outside the
// envelope as the RFC asks. Only failures of the call itself (key, body)
// are errors, in the envelope; any token is a 200.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request, _ httprouter.Params, _ *store.APIKey) error {
	token, err := introspectionToken(w, r)
	if err != nil {
		return err
	}
	res, err := s.introspect(token)
	if err != nil {
		return err
	}
	if !res.Active {
		writeRaw(w, http.StatusOK, []byte(inactiveAnswer))
		return nil
	}
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, append(body, '\n'))
	return nil
}

// introspectionToken reads the one token parameter of an
// application/x-www-form-urlencoded body (RFC 7662 §2.1; token_type_hint
// and any other parameter are ignored, as §2.1 allows).
func introspectionToken(w http.ResponseWriter, r *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", &Error{Code: CodeUnsupportedMedia, Message: "Send the token form-encoded (Content-Type: application/x-www-form-urlencoded), as RFC 7662 says."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", &Error{Code: CodeTooLarge, Message: "The request body is larger than 1 MiB."}
		}
		return "", errorf(CodeValidation, "The request body could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", errorf(CodeValidation, "The request body is not valid form encoding.")
	}
	switch tokens := form["token"]; {
	case len(tokens) > 1:
		return "", fieldError("token", "Send one token.")
	case len(tokens) == 0 || tokens[0] == "":
		return "", fieldError("token", "This field is required.")
	default:
		return tokens[0], nil
	}
}

// introspect says whether token is a live session (the rule authenticate
// applies, sessionAuth) and, if so, whose. An introspected session counts
// as used, as a request with it does: the service asking is serving its
// holder, whose idle timeout must not run out meanwhile.
func (s *Server) introspect(token string) (introspection, error) {
	secret := s.sessionSecretOf(token)
	if secret == "" {
		return introspection{}, nil
	}
	now := s.now()
	a, err := s.sessionAuth(secret, now)
	if errors.Is(err, errUnauthenticated) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, err
	}
	s.sessionUsed(a.Session, now)
	u, sess := a.User, a.Session
	return introspection{Active: true, Sub: u.ID.String(), Email: u.Email, EmailVerified: u.EmailVerified, IsStaff: u.Staff,
		Exp: sess.EndsAt().Unix(), Iat: sess.CreatedAt.Unix(), AAL: sessionAAL(a)}, nil
}

// sessionSecretOf is the session secret a token stands for: a session
// token is the secret itself (the form newSecret makes), a session cookie's
// value decodes to it. Anything else is "" (no session).
func (s *Server) sessionSecretOf(token string) string {
	if secretForm(token) {
		return token
	}
	return s.cookieValueSecret(token)
}
