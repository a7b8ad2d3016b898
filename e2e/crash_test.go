package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/marbelle/marbelle/app"
	"github.com/marbelle/marbelle/internal/testutil"
	"github.com/marbelle/marbelle/store"
)

// TestCrashConsistency: the real binary under writes of every
// kind from 16 workers is killed with SIGKILL at a random instant, then
// restarted on the same data dir. Each iteration checks that it serves
// again within 5 s without repair, that `marbelle check` and bbolt's own
// consistency check pass, that every write answered 2xx before the kill is
// there, and that every committed token has its outbox mail (and the other
// way round).
//
// SIGKILL keeps the page cache, so this proves transactional atomicity and
// "answer only after commit", not fsync; TestNoSyncNeverSet and the fsync
// order of R-02 (docs/security.md) cover the rest.
//
// MARBELLE_CRASH_ITERATIONS sets the number of kills (default 20) and
// MARBELLE_CRASH_SEED replays a run (the seed is logged).
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the real binary 20 times; skipped under -short")
	}
	iterations := 20
	if v := os.Getenv("MARBELLE_CRASH_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("MARBELLE_CRASH_ITERATIONS=%q: want 1 to 1000", v)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MARBELLE_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MARBELLE_CRASH_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (MARBELLE_CRASH_SEED=%d replays the kill instants)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d617262656c6c65))
	bin := buildBinary(t, "")
	var total crashStats
	for i := range iterations {
		killAfter := 300*time.Millisecond + time.Duration(rng.Int64N(int64(1700*time.Millisecond)))
		st := crashIteration(t, bin, i, killAfter)
		total.add(st)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d iterations: %s", iterations, total)
}

// crashStats counts what one iteration did, so a run that checked nothing
// shows it.
type crashStats struct {
	answered, unanswered, users, verified, addresses, emailChanges, passwordChanges, tokens int
	webhookEvents                                                                           int // received and matched to the store (#17)
}

func (s *crashStats) add(o crashStats) {
	s.answered += o.answered
	s.unanswered += o.unanswered
	s.users += o.users
	s.verified += o.verified
	s.addresses += o.addresses
	s.emailChanges += o.emailChanges
	s.passwordChanges += o.passwordChanges
	s.tokens += o.tokens
	s.webhookEvents += o.webhookEvents
}

func (s crashStats) String() string {
	return fmt.Sprintf("%d answers (%d requests cut by the kill); checked %d users (%d verified), %d addresses, %d email changes, %d password changes, %d tokens with their mail, %d webhook events",
		s.answered, s.unanswered, s.users, s.verified, s.addresses, s.emailChanges, s.passwordChanges, s.tokens, s.webhookEvents)
}

func crashIteration(t *testing.T, bin string, iter int, killAfter time.Duration) crashStats {
	t.Helper()
	dir := t.TempDir()
	metricsAddr := testutil.FreePort(t)
	env := map[string]string{"MARBELLE_ADDR": testutil.FreePort(t), "MARBELLE_METRICS_ADDR": metricsAddr} // the dev SMTP sink on a port of its own choosing (childEnv)
	hooks := newCrashHooks(t, bin, dir)                                                                   // webhooks (#17): deliveries in flight at the kill
	srv := startChild(t, bin, dir, env)
	srv.waitReady(5 * time.Second)

	d := newCrashDriver(srv.URL, iter)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.pollMail(ctx) })
	for w := range 16 {
		wg.Go(func() { d.worker(ctx, w) })
	}
	time.Sleep(killAfter)
	srv.kill()
	cancel()
	wg.Wait()
	d.tr.CloseIdleConnections()

	// Restart on the same data dir: serving again within 5 s, no repair.
	restart := time.Now()
	srv = startChild(t, bin, dir, env)
	srv.waitReady(5*time.Second - time.Since(restart))
	c := d.client()
	if st, _, err := c.post(srv.URL+"/api/v1/auth/register", registerJSON(fmt.Sprintf("after-%d@example.test", iter), crashPassword)); err != nil || st != 201 {
		t.Fatalf("iteration %d: register after restart: got %d %v, want 201", iter, st, err)
	}
	waitDrained(t, metricsAddr) // pending deliveries resume after the restart
	if code := srv.term(30 * time.Second); code != 0 {
		t.Fatalf("iteration %d: exit status after SIGTERM: got %d, want 0: %s", iter, code, srv.stderr.String())
	}
	mustCheck(t, bin, dir)
	boltCheck(t, filepath.Join(dir, app.StoreFile))
	st := d.verify(t, filepath.Join(dir, app.StoreFile))
	st.webhookEvents = hooks.verify(t, filepath.Join(dir, app.StoreFile))
	if t.Failed() {
		t.Logf("iteration %d (killed after %v), journal:\n%s", iter, killAfter, d.dump())
	}
	return st
}

const crashPassword = "tangerine walrus umbrella 42"

func registerJSON(email, password string) map[string]string {
	return map[string]string{"email": email, "password": password, "first_name": "Ann", "last_name": "Lee"}
}

// boltCheck runs bbolt's own page-level consistency check (what
// `bbolt check FILE` does) on a stopped store.
func boltCheck(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("bbolt open: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var faults []string
		for err := range tx.Check() {
			faults = append(faults, err.Error())
		}
		if len(faults) > 0 {
			return fmt.Errorf("bbolt check: %s", strings.Join(faults, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// --- the load driver ---

// journalEntry is one request of a worker: what it asked and what it was
// answered. Status 0 means no answer arrived (the kill cut the request):
// the write may or may not have committed.
type journalEntry struct {
	user   string    // the account's first email: the journal's key
	route  string    // register, verify, login, address_create, set_primary, address_delete, email_change_request, email_change_confirm, password_change, reset_request
	status int       // 0: no answer
	id     uuid.UUID // the address, or the account (verify, login)
	email  string    // email_change_*: the new address
	pw     string    // password_change: the new password
	at     time.Duration
}

type crashDriver struct {
	base  string
	iter  int
	start time.Time
	tr    *http.Transport

	mu      sync.Mutex
	journal []journalEntry
	tokens  map[string]string // "kind|address" → newest token seen in the dev sink
}

func newCrashDriver(base string, iter int) *crashDriver {
	return &crashDriver{
		base: base, iter: iter, start: time.Now(), tokens: map[string]string{},
		tr: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}
}

func (d *crashDriver) record(e journalEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.at = time.Since(d.start)
	d.journal = append(d.journal, e)
}

func (d *crashDriver) dump() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	for _, e := range d.journal {
		fmt.Fprintf(&b, "%8v %-28s %-20s %3d id=%s email=%s\n", e.at.Round(time.Millisecond), e.user, e.route, e.status, e.id, e.email)
	}
	return b.String()
}

// crashClient is one user's browser: its own cookie jar on a shared pool.
type crashClient struct {
	http *http.Client
}

func (d *crashDriver) client() *crashClient {
	jar, _ := cookiejar.New(nil)
	return &crashClient{http: &http.Client{Jar: jar, Transport: d.tr, Timeout: 10 * time.Second}}
}

// do sends a JSON request and returns the status (0 when no answer came)
// and the envelope's data.
func (c *crashClient) do(ctx context.Context, method, url string, body any) (int, json.RawMessage, error) {
	req, err := testutil.JSONRequest(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		// The status line came but not the whole answer: the server
		// answered, so the write had committed; count it as answered.
		return res.StatusCode, nil, nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(raw, &env)
	return res.StatusCode, env.Data, nil
}

func (c *crashClient) post(url string, body any) (int, json.RawMessage, error) {
	return c.do(context.Background(), "POST", url, body)
}

// crashTokenKinds are the links (keys of testutil.TokenRE) that the
// workers follow.
var crashTokenKinds = []string{"verify-email", "confirm-email-change"}

// pollMail reads the dev sink every 50 ms and indexes the tokens by kind
// and recipient, so that 16 workers do not each download every mail.
func (d *crashDriver) pollMail(ctx context.Context) {
	cl := &http.Client{Transport: d.tr, Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", d.base+"/api/v1/dev/mail", nil)
		res, err := cl.Do(req)
		if err == nil {
			var env struct {
				Data []struct {
					To   []string `json:"to"`
					Text string   `json:"text"`
				} `json:"data"`
			}
			err = json.NewDecoder(res.Body).Decode(&env)
			res.Body.Close()
			if err != nil {
				env.Data = nil // cut by the kill: keep what was indexed
			}
			d.mu.Lock()
			// Newest first: keep the first token seen per kind and address.
			for _, m := range env.Data {
				for _, kind := range crashTokenKinds {
					if match := testutil.TokenRE[kind].FindStringSubmatch(m.Text); match != nil && len(m.To) > 0 {
						key := kind + "|" + strings.ToLower(m.To[0])
						if _, ok := d.tokens[key]; !ok {
							d.tokens[key] = match[1]
						}
					}
				}
			}
			d.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitToken waits (at most 5 s) for the token of kind mailed to addr.
func (d *crashDriver) waitToken(ctx context.Context, kind, addr string) (string, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		d.mu.Lock()
		tok, ok := d.tokens[kind+"|"+addr]
		d.mu.Unlock()
		if ok {
			return tok, true
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", false
}

// worker runs whole account lives one after the other until the kill.
func (d *crashDriver) worker(ctx context.Context, w int) {
	for n := 0; n < 200 && ctx.Err() == nil; n++ {
		d.flow(ctx, fmt.Sprintf("w%02d-i%d-n%d@example.test", w, d.iter, n))
	}
}

func (d *crashDriver) flow(ctx context.Context, email string) {
	c := d.client()
	api := d.base + "/api/v1/auth"
	// call sends one request and journals its answer; ok when it was want.
	// For verify, login and address_create it returns the answer's id.
	call := func(route, method, path string, body any, want int, e journalEntry) (uuid.UUID, bool) {
		if ctx.Err() != nil {
			return uuid.Nil, false
		}
		st, data, err := c.do(ctx, method, api+path, body)
		if err != nil {
			st = 0
		}
		e.user, e.route, e.status = email, route, st
		if (route == "verify" || route == "login" || route == "address_create") && st == want {
			var v struct {
				ID uuid.UUID `json:"id"`
			}
			if json.Unmarshal(data, &v) != nil || v.ID == uuid.Nil {
				// The status came but not the body (the kill fell in
				// between): committed, but its id is unknown.
				st, e.status = 0, 0
			}
			e.id = v.ID
		}
		d.record(e)
		return e.id, st == want
	}

	if _, ok := call("register", "POST", "/register", registerJSON(email, crashPassword), 201, journalEntry{}); !ok {
		return
	}
	tok, ok := d.waitToken(ctx, "verify-email", email)
	if !ok {
		return
	}
	if _, ok := call("verify", "POST", "/verify-email", map[string]string{"token": tok}, 200, journalEntry{}); !ok {
		return
	}
	if _, ok := call("login", "POST", "/login", map[string]string{"email": email, "password": crashPassword}, 200, journalEntry{}); !ok {
		return
	}
	var addrs []uuid.UUID
	for i := range 1 + rand.IntN(10) {
		body := map[string]any{"label": fmt.Sprintf("A%d", i), "first_name": "Ann", "last_name": "Lee", "street_address": "Main St 1",
			"city": "Berlin", "postal_code": "10115", "country": "DE", "is_primary": rand.IntN(3) == 0}
		id, ok := call("address_create", "POST", "/addresses", body, 201, journalEntry{})
		if !ok {
			return
		}
		addrs = append(addrs, id)
	}
	pick := addrs[rand.IntN(len(addrs))]
	if _, ok := call("set_primary", "PATCH", "/addresses/"+pick.String()+"/set-primary", nil, 200, journalEntry{id: pick}); !ok {
		return
	}
	if len(addrs) > 1 {
		victim := addrs[rand.IntN(len(addrs))]
		if _, ok := call("address_delete", "DELETE", "/addresses/"+victim.String(), nil, 200, journalEntry{id: victim}); !ok {
			return
		}
	}
	newEmail := "new-" + email
	if _, ok := call("email_change_request", "POST", "/email-change/request", map[string]string{"new_email": newEmail, "password": crashPassword}, 200, journalEntry{email: newEmail}); !ok {
		return
	}
	if tok, ok = d.waitToken(ctx, "confirm-email-change", newEmail); !ok {
		return
	}
	if _, ok := call("email_change_confirm", "POST", "/email-change/confirm", map[string]string{"token": tok}, 200, journalEntry{email: newEmail}); !ok {
		return
	}
	newPassword := fmt.Sprintf("%s %d", crashPassword, 100+rand.IntN(900))
	if _, ok := call("password_change", "POST", "/password/change", map[string]string{"current_password": crashPassword, "new_password": newPassword}, 200, journalEntry{pw: newPassword}); !ok {
		return
	}
	call("reset_request", "POST", "/password-reset/request", map[string]string{"email": newEmail}, 200, journalEntry{})
}

// --- the oracle ---

// crashExpect is what the answers a user got promise about the store.
type crashExpect struct {
	id                uuid.UUID
	registered        bool     // register answered 201
	verified          bool     // verify answered 200
	emails            []string // the account's email is one of these (the last one once certain)
	mustAddr, notAddr map[uuid.UUID]bool
	pw, oldPw         string // after a 200 password change: pw works, oldPw does not
	pwUncertain       bool   // a change was cut: either password may be the one
	emailChanged      bool
}

func (d *crashDriver) expectations() (map[string]*crashExpect, []string, crashStats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var st crashStats
	exp := map[string]*crashExpect{}
	var order []string
	for _, e := range d.journal {
		x := exp[e.user]
		if x == nil {
			x = &crashExpect{emails: []string{e.user}, mustAddr: map[uuid.UUID]bool{}, notAddr: map[uuid.UUID]bool{}, pw: crashPassword}
			exp[e.user] = x
			order = append(order, e.user)
		}
		if e.status == 0 {
			st.unanswered++
		} else {
			st.answered++
		}
		ok := e.status >= 200 && e.status < 300
		switch e.route {
		case "register":
			x.registered = x.registered || ok
		case "verify", "login":
			if ok {
				x.verified, x.id = true, e.id
			}
		case "address_create":
			if ok {
				x.mustAddr[e.id] = true
			}
		case "address_delete":
			delete(x.mustAddr, e.id) // sent: it may be gone
			if ok {
				x.notAddr[e.id] = true
			}
		case "email_change_confirm":
			switch {
			case ok:
				x.emails, x.emailChanged = []string{e.email}, true
			case e.status == 0:
				x.emails = append(x.emails, e.email)
			}
		case "password_change":
			switch {
			case ok:
				x.oldPw, x.pw = x.pw, e.pw
			case e.status == 0:
				x.pwUncertain = true
			}
		}
	}
	return exp, order, st
}

// verify opens the stopped store read-only and holds it to the journal.
func (d *crashDriver) verify(t *testing.T, path string) crashStats {
	t.Helper()
	exp, order, st := d.expectations()
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open the store read-only: %v", err)
	}
	defer db.Close()
	passwordWorks := func(hash, pw string) bool {
		ok, err := app.PasswordMatches(context.Background(), hash, pw)
		if err != nil {
			t.Fatalf("verify password: %v", err)
		}
		return ok
	}
	err = db.View(func(tx *store.Tx) error {
		for _, key := range order {
			x := exp[key]
			if !x.registered {
				continue
			}
			st.users++
			var u *store.User
			for _, e := range x.emails {
				if got, err := tx.UserByEmail(e); err == nil {
					u = got
				}
			}
			if u == nil {
				t.Errorf("%s: register answered 201, but no account has any of %v", key, x.emails)
				continue
			}
			if x.id != uuid.Nil && u.ID != x.id {
				t.Errorf("%s: account id got %s, want %s", key, u.ID, x.id)
			}
			if x.emailChanged && len(x.emails) == 1 {
				st.emailChanges++
				if u.Email != x.emails[0] {
					t.Errorf("%s: email change confirmed (200), got email %s, want %s", key, u.Email, x.emails[0])
				}
				if old, err := tx.UserByEmail(key); err == nil && old.ID == u.ID {
					t.Errorf("%s: email change confirmed (200), but the old address still finds the account", key)
				}
			}
			if x.verified {
				st.verified++
				if !u.EmailVerified {
					t.Errorf("%s: verify answered 200, account got email_verified false", key)
				}
			}
			for id := range x.mustAddr {
				st.addresses++
				if _, _, err := tx.Address(u.ID, id); err != nil {
					t.Errorf("%s: address %s answered 201 and was never deleted, got %v", key, id, err)
				}
			}
			for id := range x.notAddr {
				if _, _, err := tx.Address(u.ID, id); err == nil {
					t.Errorf("%s: delete of address %s answered 200, but it is there", key, id)
				}
			}
			if x.oldPw != "" && !x.pwUncertain {
				st.passwordChanges++
				if passwordWorks(u.PasswordHash, x.oldPw) {
					t.Errorf("%s: password change answered 200, but the old password still works", key)
				}
				if !passwordWorks(u.PasswordHash, x.pw) {
					t.Errorf("%s: password change answered 200, but the new password does not work", key)
				}
			}
		}
		n, errs := checkTokensHaveMail(tx)
		st.tokens += n
		for _, e := range errs {
			t.Error(e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.answered == 0 {
		t.Fatalf("no request was answered before the kill: the driver did not run")
	}
	return st
}

// tokenMailKind is the outbox mail that carries each kind of token.
var tokenMailKind = map[store.TokenKind]string{
	store.TokenVerifyEmail:   "verify_email",
	store.TokenPasswordReset: "password_reset",
	store.TokenEmailChange:   "email_change_confirm",
}

// checkTokensHaveMail: every verification, reset and email-change token has
// its mail in the outbox (queued or sent), and every such mail its token;
// they are written in one transaction, so they share user, kind and time.
func checkTokensHaveMail(tx *store.Tx) (int, []string) {
	var faults []string
	mails, err := tx.OutboxList("", 1<<30)
	if err != nil {
		return 0, []string{fmt.Sprintf("outbox: %v", err)}
	}
	type key struct {
		user uuid.UUID
		kind string
		at   int64
	}
	mailKeys := map[key]store.MailStatus{}
	for _, m := range mails {
		mailKeys[key{m.UserID, m.Kind, m.CreatedAt.UnixNano()}] = m.Status
	}
	tokenKeys := map[key]bool{}
	page, err := tx.Users("", 0, 1<<30)
	if err != nil {
		return 0, []string{fmt.Sprintf("users: %v", err)}
	}
	n := 0
	for _, u := range page.Users {
		toks, err := tx.UserTokens(u.ID)
		if err != nil {
			faults = append(faults, fmt.Sprintf("tokens of %s: %v", u.Email, err))
			continue
		}
		for _, tok := range toks {
			kind, ok := tokenMailKind[tok.Kind]
			if !ok {
				continue
			}
			k := key{u.ID, kind, tok.CreatedAt.UnixNano()}
			tokenKeys[k] = true
			n++
			status, ok := mailKeys[k]
			if !ok {
				faults = append(faults, fmt.Sprintf("%s: %s token of %v has no outbox mail", u.Email, tok.Kind, tok.CreatedAt))
			} else if status != store.MailQueued && status != store.MailSent {
				faults = append(faults, fmt.Sprintf("%s: the mail of a %s token is %s, want queued or sent", u.Email, tok.Kind, status))
			}
		}
	}
	for k := range mailKeys {
		for _, kind := range tokenMailKind {
			if k.kind == kind && !tokenKeys[k] {
				faults = append(faults, fmt.Sprintf("outbox %s mail to user %s has no token", k.kind, k.user))
			}
		}
	}
	return n, faults
}

// TestProductionBuildHasNoFaultHooks: a normal build carries no fault
// injection code (the hooks of faults_off.go are empty and inlined away).
// TestFaultBuildHasHooks (-tags faults) shows the probe finds it when it is
// there.
func TestProductionBuildHasNoFaultHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped under -short")
	}
	for _, s := range []string{"MARBELLE_FAULTS", "FAULT INJECTION", "after-smtp"} {
		if binaryContains(t, buildBinary(t, ""), s) {
			t.Fatalf("the production binary contains %q", s)
		}
	}
}

func binaryContains(t testing.TB, bin, s string) bool {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}
