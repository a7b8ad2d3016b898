package app

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/marbelle/marbelle/app/internal/ratelimit"
	"github.com/marbelle/marbelle/store"
)

// The TOTP codes of these tests come from github.com/pquerna/otp, not from
// Marbelle's own HOTP (mfa.go): RFC 6238 is checked by another's code.

const mfaEmail = "mfa@example.test"

// libCode is the library's code for secret at t.
func libCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolTOTP sets up and confirms TOTP for the signed-in c and returns the
// secret and the recovery codes.
func enrolTOTP(t testing.TB, ts *testServer, c *testClient) (string, []string) {
	t.Helper()
	var setup totpSetup
	c.do("POST", "/api/v1/auth/mfa/totp/setup", map[string]string{"password": testPassword}).want(t, 200, "").data(t, &setup)
	var codes recoveryCodes
	c.do("POST", "/api/v1/auth/mfa/totp/confirm", map[string]string{"code": libCode(t, setup.Secret, ts.clock.Now())}).want(t, 200, "").data(t, &codes)
	return setup.Secret, codes.RecoveryCodes
}

// passwordStep logs in with the password and returns the mfa token.
func passwordStep(t testing.TB, c *testClient, email string, extra ...string) string {
	t.Helper()
	body := map[string]string{"email": email, "password": testPassword}
	if len(extra) == 2 {
		body[extra[0]] = extra[1]
	}
	before := c.secCookie("marbelle_session")
	var p mfaPending
	c.do("POST", "/api/v1/auth/login", body).want(t, 200, "").data(t, &p)
	if !p.MFARequired || p.MFAToken == "" || len(p.Methods) == 0 {
		t.Fatalf("password step: want mfa_required with a token, got %+v", p)
	}
	if c.secCookie("marbelle_session") != before {
		t.Fatalf("password step set a session cookie")
	}
	return p.MFAToken
}

// tick moves the test clock to the start of a fresh TOTP step.
func tick(ts *testServer, steps int) {
	now := ts.clock.Now()
	next := now.Truncate(30 * time.Second).Add(time.Duration(steps) * 30 * time.Second)
	ts.clock.Advance(next.Sub(now) + time.Second)
}

// TestSEC10MFATOTPStepsAndReplay: RFC 6238 codes at the previous, current
// and next step pass, codes two steps away fail, and a used code (or an
// older one) is refused.
func TestSEC10MFATOTPStepsAndReplay(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	secret, codes := enrolTOTP(t, ts, c)
	if len(codes) != 10 {
		t.Fatalf("want 10 recovery codes, got %d", len(codes))
	}
	tick(ts, 10)
	now := ts.clock.Now()
	at := func(d int) string { return libCode(t, secret, now.Add(time.Duration(d)*30*time.Second)) }
	second := func(code string, status int, errCode string) *response {
		t.Helper()
		b := ts.client()
		tok := passwordStep(t, b, mfaEmail)
		return b.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": code}).want(t, status, errCode)
	}
	second(at(-2), 401, CodeUnauthenticated)
	second(at(2), 401, CodeUnauthenticated)
	second(at(-1), 200, "")
	r := second(at(0), 200, "")
	second(at(0), 401, CodeUnauthenticated)  // replay
	second(at(-1), 401, CodeUnauthenticated) // older than the last used
	second(at(1), 200, "")
	second(at(1), 401, CodeUnauthenticated)
	var p profile
	r.data(t, &p)
	if p.Email != mfaEmail {
		t.Fatalf("second step answer: %+v", p)
	}
}

// TestMFATwoStepLoginSessionsShowAAL2: the second step opens a session
// that the session check and the list show as AAL2 with its methods; the
// bearer variant answers a token.
func TestMFATwoStepLoginSessionsShowAAL2(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	var check sessionCheck
	c.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &check)
	if check.Session.AAL != 1 || strings.Join(check.Session.Methods, ",") != "password" {
		t.Fatalf("password session: %+v", check.Session)
	}
	secret, _ := enrolTOTP(t, ts, c)
	tick(ts, 1)

	b := ts.client()
	tok := passwordStep(t, b, mfaEmail)
	b.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": libCode(t, secret, ts.clock.Now())}).want(t, 200, "")
	b.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &check)
	if check.Session.AAL != 2 || strings.Join(check.Session.Methods, ",") != "password,totp" {
		t.Fatalf("two-step session: %+v", check.Session)
	}
	var list []sessionView
	b.do("GET", "/api/v1/auth/sessions", nil).want(t, 200, "").data(t, &list)
	found := false
	for _, s := range list {
		if s.Current {
			found = s.AAL == 2 && strings.Join(s.Methods, ",") == "password,totp"
		}
	}
	if !found {
		t.Fatalf("sessions list does not show the current session at AAL2: %+v", list)
	}

	tick(ts, 1)
	app := ts.client()
	tok = passwordStep(t, app, mfaEmail, "session", "token")
	var li struct {
		SessionToken string `json:"session_token"`
	}
	app.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": libCode(t, secret, ts.clock.Now())}).want(t, 200, "").data(t, &li)
	if li.SessionToken == "" || app.secCookie("marbelle_session") != "" {
		t.Fatalf("token variant: want a session token and no cookie, got %+v", li)
	}
	bearer := ts.client()
	bearer.header.Set("Authorization", "Bearer "+li.SessionToken)
	bearer.do("GET", "/api/v1/auth/session", nil).want(t, 200, "").data(t, &check)
	if check.Session.AAL != 2 {
		t.Fatalf("bearer session: %+v", check.Session)
	}
}

// TestSEC28MFATokenExpiresAndDiesAfterFiveWrongCodes: the mfa token lives
// five minutes and allows five wrong codes.
func TestSEC28MFATokenExpiresAndDiesAfterFiveWrongCodes(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	secret, _ := enrolTOTP(t, ts, ts.login(mfaEmail, testPassword))
	tick(ts, 1)
	c := ts.client()
	tok := passwordStep(t, c, mfaEmail)
	wrong := "000000"
	if libCode(t, secret, ts.clock.Now()) == wrong {
		wrong = "000001"
	}
	for range 5 {
		c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": wrong}).want(t, 401, CodeUnauthenticated)
	}
	good := libCode(t, secret, ts.clock.Now())
	c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": good}).want(t, 400, CodeInvalidToken)

	tok = passwordStep(t, c, mfaEmail)
	ts.clock.Advance(mfaTokenTTL + time.Second)
	c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": libCode(t, secret, ts.clock.Now())}).want(t, 400, CodeInvalidToken)
	if c.secCookie("marbelle_session") != "" {
		t.Fatalf("a void token opened a session")
	}
}

// TestSEC10MFAWrongCodesCountTowardTheFailureLimit: wrong codes take the
// same per-account budget as wrong passwords.
func TestSEC10MFAWrongCodesCountTowardTheFailureLimit(t *testing.T) {
	ts := newTestServer(t, generousLimits(func(l *ratelimit.Limits) { l.LoginFailures = ratelimit.Rate{N: 3, Per: 15 * time.Minute} }))
	ts.mustUser(mfaEmail, testPassword)
	enrolTOTP(t, ts, ts.login(mfaEmail, testPassword))
	c := ts.client()
	tok := passwordStep(t, c, mfaEmail)
	for range 3 {
		c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": "999999"}).want(t, 401, CodeUnauthenticated)
	}
	c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": "999999"}).want(t, 429, CodeRateLimited)
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": mfaEmail, "password": testPassword}).want(t, 429, CodeRateLimited)
}

// TestMFARecoveryCodesSingleUseAndConcurrent: a recovery code signs in
// once; used from many goroutines at once, exactly one wins; its use is
// mailed.
func TestMFARecoveryCodesSingleUseAndConcurrent(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	_, codes := enrolTOTP(t, ts, ts.login(mfaEmail, testPassword))

	c := ts.client()
	tok := passwordStep(t, c, mfaEmail)
	c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "recovery_code": strings.ToUpper(codes[0])}).want(t, 200, "")
	var check sessionCheck
	c.do("GET", "/api/v1/auth/session", nil).data(t, &check)
	if check.Session.AAL != 2 || strings.Join(check.Session.Methods, ",") != "password,recovery_code" {
		t.Fatalf("recovery session: %+v", check.Session)
	}
	tok = passwordStep(t, c, mfaEmail)
	c.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "recovery_code": codes[0]}).want(t, 401, CodeUnauthenticated)
	secWaitSubject(t, ts, mfaEmail, "sign-in methods")

	const n = 16
	clients, tokens := make([]*testClient, n), make([]string, n)
	for i := range n {
		clients[i] = ts.client()
		tokens[i] = passwordStep(t, clients[i], mfaEmail)
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			statuses[i] = clients[i].send(t, "POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tokens[i], "recovery_code": codes[1]}).Status
		})
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		if s == 200 {
			wins++
		} else if s != 401 {
			t.Fatalf("concurrent use: unexpected status %d", s)
		}
	}
	if wins != 1 {
		t.Fatalf("concurrent use of one recovery code: %d winners, want 1", wins)
	}
}

// TestMFABadInputIsA400: codes of the wrong length or with letters, and
// malformed tokens, are clear 400s.
func TestMFABadInputIsA400(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	c.do("POST", "/api/v1/auth/mfa/totp/setup", map[string]string{"password": "wrong"}).want(t, 400, CodeValidation)
	c.do("POST", "/api/v1/auth/mfa/totp/confirm", map[string]string{"code": "123456"}).want(t, 400, CodeValidation)
	c.do("POST", "/api/v1/auth/mfa/totp/setup", map[string]string{"password": testPassword}).want(t, 200, "")
	for _, bad := range []string{"12345", "1234567", "12a456", "", "１２３４５６"} {
		r := c.do("POST", "/api/v1/auth/mfa/totp/confirm", map[string]string{"code": bad}).want(t, 400, CodeValidation)
		if len(r.Env.Errors["code"]) == 0 {
			t.Fatalf("code %q: want a message on code, got %s", bad, r.Body)
		}
	}
	anon := ts.client()
	for _, body := range []any{
		map[string]string{"mfa_token": "short", "code": "123456"},
		map[string]string{"mfa_token": newSecret(), "code": "12a456"},
		map[string]string{"mfa_token": newSecret(), "code": "123456", "recovery_code": "aaaaa-aaaaa"},
		map[string]string{"mfa_token": newSecret()},
		map[string]any{"mfa_token": 5},
		"{",
	} {
		if r := anon.do("POST", "/api/v1/auth/login/mfa", body); r.Status != 400 {
			t.Fatalf("%v: got %d, want 400: %s", body, r.Status, r.Body)
		}
	}
	anon.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": newSecret(), "code": "123456"}).want(t, 400, CodeInvalidToken)
}

// TestMFASecretIsNeverStoredOrLoggedInTheClear, and removal and
// regeneration ask for the password and mail notices.
func TestMFASecretIsNeverStoredOrLoggedInTheClear(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	secret, codes := enrolTOTP(t, ts, c)
	for _, name := range []string{"mfa_totp", "mfa_recovery", "audit", "tokens"} {
		for _, v := range secBucket(t, ts, name) {
			if bytes.Contains(v, []byte(secret)) || bytes.Contains(v, []byte(strings.ReplaceAll(codes[0], "-", ""))) {
				t.Fatalf("bucket %s holds the secret or a recovery code in the clear", name)
			}
		}
	}
	if strings.Contains(ts.logBuf.String(), secret) {
		t.Fatalf("the log holds the TOTP secret")
	}
	export := c.do("GET", "/api/v1/auth/export", nil).want(t, 200, "")
	if bytes.Contains(export.Body, []byte(secret)) {
		t.Fatalf("the export holds the TOTP secret")
	}

	var fresh recoveryCodes
	c.do("POST", "/api/v1/auth/mfa/recovery-codes", map[string]string{"password": "wrong"}).want(t, 400, CodeValidation)
	c.do("POST", "/api/v1/auth/mfa/recovery-codes", map[string]string{"password": testPassword}).want(t, 200, "").data(t, &fresh)
	if len(fresh.RecoveryCodes) != 10 {
		t.Fatalf("regenerated %d codes", len(fresh.RecoveryCodes))
	}
	b := ts.client()
	tok := passwordStep(t, b, mfaEmail)
	b.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "recovery_code": codes[2]}).want(t, 401, CodeUnauthenticated) // old codes died

	var st mfaStatus
	c.do("GET", "/api/v1/auth/mfa", nil).want(t, 200, "").data(t, &st)
	if !st.TOTP || st.RecoveryCodesLeft != 10 {
		t.Fatalf("status: %+v", st)
	}
	tick(ts, 1)
	c.do("DELETE", "/api/v1/auth/mfa/totp", map[string]string{"password": testPassword, "code": "000000x"}).want(t, 400, CodeValidation)
	c.do("DELETE", "/api/v1/auth/mfa/totp", map[string]string{"password": testPassword, "code": libCode(t, secret, ts.clock.Now())}).want(t, 200, "")
	c.do("GET", "/api/v1/auth/mfa", nil).want(t, 200, "").data(t, &st)
	if st.TOTP {
		t.Fatalf("TOTP still on after removal")
	}
	ts.login(mfaEmail, testPassword) // one step again
	events := map[string]bool{}
	for _, e := range ts.auditEvents(mfaEmail) {
		events[e.Event] = true
	}
	for _, want := range []string{"totp_enabled", "recovery_codes_regenerated", "totp_disabled", "login_mfa_required"} {
		if !events[want] {
			t.Fatalf("no %s audit event", want)
		}
	}
}

// TestSEC39StaffWithoutSecondFactorGetMFARequired: with
// MARBELLE_STAFF_MFA=required, every admin route refuses a staff session
// without a second factor with 403 mfa_required; enrolling and logging in
// again with the code opens admin.
func TestSEC39StaffWithoutSecondFactorGetMFARequired(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.StaffMFARequired = true })
	staff := ts.staff("boss@example.test")
	ts.mustUser("customer@example.test", testPassword)
	id := ts.userID("customer@example.test")
	n := 0
	for _, route := range ts.srv.routeList {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/api/v1/admin/") {
			continue
		}
		path = strings.ReplaceAll(path, ":id", id)
		r := staff.do(method, path, map[string]any{}).want(t, 403, CodeMFARequired)
		if !strings.Contains(r.Env.Message, "second factor") {
			t.Fatalf("%s: message does not say what to do: %q", route, r.Env.Message)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d admin routes found", n)
	}
	staff.do("GET", "/api/v1/auth/forward?staff=1", nil).want(t, 403, CodeMFARequired)
	// They can still enrol; the session they enrolled in stays AAL1.
	secret, _ := enrolTOTP(t, ts, staff)
	staff.do("GET", "/api/v1/admin/users", nil).want(t, 403, CodeMFARequired)
	tick(ts, 1)
	again := ts.client()
	tok := passwordStep(t, again, "boss@example.test")
	again.do("POST", "/api/v1/auth/login/mfa", map[string]string{"mfa_token": tok, "code": libCode(t, secret, ts.clock.Now())}).want(t, 200, "")
	again.do("GET", "/api/v1/admin/users", nil).want(t, http.StatusOK, "")
	again.do("GET", "/api/v1/admin/users/"+id, nil).want(t, http.StatusOK, "")
	again.do("GET", "/api/v1/auth/forward?staff=1", nil).want(t, http.StatusOK, "")
}

// TestMFAStaffPolicyDefaults: required in production, optional in
// development, and anything else is refused.
func TestMFAStaffPolicyDefaults(t *testing.T) {
	prod := secProductionEnv(t)
	cfg, err := parseConfig(prod)
	if err != nil || !cfg.StaffMFARequired {
		t.Fatalf("production: required=%v err=%v", cfg.StaffMFARequired, err)
	}
	prod["MARBELLE_STAFF_MFA"] = "optional"
	if cfg, err = parseConfig(prod); err != nil || cfg.StaffMFARequired {
		t.Fatalf("production optional: required=%v err=%v", cfg.StaffMFARequired, err)
	}
	if testConfig(t).StaffMFARequired {
		t.Fatalf("development: want optional by default")
	}
	prod["MARBELLE_STAFF_MFA"] = "sometimes"
	if _, err := parseConfig(prod); err == nil || !strings.Contains(err.Error(), "MARBELLE_STAFF_MFA") {
		t.Fatalf("bad value: %v", err)
	}
}

// TestMFAAdminDetailShowsMethodsAndStaffReset: staff see which second
// factors a customer has (never a secret) and can reset them, audited and
// mailed; the export lists them too.
func TestMFAAdminDetailShowsMethodsAndStaffReset(t *testing.T) {
	ts := newTestServer(t, nil)
	staff := ts.staff("boss@example.test")
	ts.mustUser(mfaEmail, testPassword)
	c := ts.login(mfaEmail, testPassword)
	secret, _ := enrolTOTP(t, ts, c)
	id := ts.userID(mfaEmail)
	r := staff.do("GET", "/api/v1/admin/users/"+id, nil).want(t, 200, "")
	var d adminUserDetail
	r.data(t, &d)
	if d.SignInMethods == nil || !d.SignInMethods.TOTP || d.SignInMethods.RecoveryCodesLeft != 10 || bytes.Contains(r.Body, []byte(secret)) {
		t.Fatalf("admin detail: %s", r.Body)
	}
	var doc exportDocument
	c.do("GET", "/api/v1/auth/export", nil).want(t, 200, "").data(t, &doc)
	if doc.SignInMethods == nil || !doc.SignInMethods.TOTP {
		t.Fatalf("export: %+v", doc.SignInMethods)
	}
	staff.do("POST", "/api/v1/admin/users/"+ts.userID("boss@example.test")+"/mfa/reset", nil).want(t, 403, CodeForbidden)
	staff.do("POST", "/api/v1/admin/users/"+id+"/mfa/reset", nil).want(t, 200, "")
	staff.do("POST", "/api/v1/admin/users/"+id+"/mfa/reset", nil).want(t, 400, CodeValidation)
	ts.login(mfaEmail, testPassword) // the password alone again
	found := false
	for _, e := range ts.auditEvents(mfaEmail) {
		found = found || e.Event == "mfa_reset_by_staff" && e.Detail["actor_email"] == "boss@example.test"
	}
	if !found {
		t.Fatalf("no mfa_reset_by_staff event naming the staff member")
	}
	secWaitSubject(t, ts, mfaEmail, "sign-in methods")
}

func (s *Server) mustUserID(t testing.TB, email string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := s.db.View(func(tx *store.Tx) error {
		u, err := tx.UserByEmail(email)
		if err == nil {
			id = u.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMFAHOTPMatchesRFC4226Vectors: Marbelle's HOTP gives the test
// values of RFC 4226 appendix D.
func TestMFAHOTPMatchesRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp([]byte("12345678901234567890"), uint64(i)); got != w {
			t.Fatalf("counter %d: got %s, want %s", i, got, w)
		}
	}
}

// TestMFAUndoOfASignInChangeRemovesTheSecondFactors: "This wasn't me" on
// the notice of a new authenticator app ends every session, asks for a
// password reset and removes the app (whoever added it holds it).
func TestMFAUndoOfASignInChangeRemovesTheSecondFactors(t *testing.T) {
	ts := newServerWithUser(t, mfaEmail)
	c := ts.login(mfaEmail, testPassword)
	enrolTOTP(t, ts, c)
	undo := secWaitToken(t, ts, mfaEmail, "undo", 1)
	ts.client().do("POST", "/api/v1/auth/security/undo", map[string]string{"token": undo}).want(t, 200, "")
	c.do("GET", "/api/v1/auth/session", nil).want(t, 401, CodeUnauthenticated)
	ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": mfaEmail, "password": testPassword}).want(t, 403, CodePasswordResetRequired)
	id := ts.srv.mustUserID(t, mfaEmail)
	if err := ts.db.View(func(tx *store.Tx) error {
		if tx.HasSecondFactor(id) {
			t.Fatalf("the second factor survived the undo")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
