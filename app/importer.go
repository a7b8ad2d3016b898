package app

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/store"
)

// `marbelle import django FILE` reads what `manage.py dumpdata users`
// writes (DJANGO-MODELS.md) and brings the users with their addresses into
// the store. docs/migrating-from-django.md is the operator's side of it:
// the mapping, every repair and what the report lines mean.
//
// It works in three steps. Reading streams the JSON list one record at a
// time and maps each to a Marbelle record at once, so the raw dump is never
// held; what is held is one small record per user and address (addresses
// come after all users in a dump, so a user cannot be written before the
// end of the file). Planning decides, from the file alone, what is skipped
// and what is repaired. Writing then goes through the users in pk order,
// batch by batch, each batch one write transaction in which every user is
// checked against the store (imported before? email taken?) and written
// with all of its addresses, so nothing is half-imported. A dry run takes
// the same path in read transactions and writes nothing.

// djangoSource names Django's users.user pks among the store's imports, so
// that a second run recognises each user it brought in before.
const djangoSource = "django users.user"

// defaultImportBatch is how many users one write transaction takes.
const defaultImportBatch = 500

// ImportDjangoInput is what `marbelle import django` needs.
type ImportDjangoInput struct {
	DataDir string
	File    string // the dumpdata JSON
	DryRun  bool   // do everything but write; print the same report
	// DefaultRegion reads national phone numbers of users (an address's
	// phone is read in the address's own country). Empty: DE.
	DefaultRegion string
	BatchSize     int              // users per write transaction; 0: 500
	Now           func() time.Time // the import's time (UpdatedAt, audit); nil: time.Now
	Log           *slog.Logger     // takes the store's migration warnings; nil drops them
}

// ImportCounts counts one model's records. Repaired ones are imported too
// and counted among Imported.
type ImportCounts struct {
	Imported, Skipped, Repaired int
}

// ImportReport is what an import did, or with DryRun would do.
type ImportReport struct {
	DryRun    bool
	Users     ImportCounts
	Addresses ImportCounts
	// Ignored counts the records of models other than users.user and
	// users.address, by model.
	Ignored map[string]int
	// Lines has one line per record skipped or repaired, users then
	// addresses, each in pk order: "users.user pk=N: skipped: reason".
	Lines []string
}

// String is the report as the command prints it.
func (r *ImportReport) String() string {
	var b strings.Builder
	if r.DryRun {
		b.WriteString("Dry run: nothing was written. The import would do this:\n")
	}
	for _, m := range slices.Sorted(maps.Keys(r.Ignored)) {
		fmt.Fprintf(&b, "ignored: %d records of model %s (only users.user and users.address are read)\n", r.Ignored[m], printableModel(m))
	}
	for _, l := range r.Lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "users: %d imported, %d skipped, %d repaired\n", r.Users.Imported, r.Users.Skipped, r.Users.Repaired)
	fmt.Fprintf(&b, "addresses: %d imported, %d skipped, %d repaired\n", r.Addresses.Imported, r.Addresses.Skipped, r.Addresses.Repaired)
	return b.String()
}

// importUser is one users.user record on its way in.
type importUser struct {
	pk          int64
	djangoEmail string // as Django had it, trimmed
	u           store.User
	skip        string // why it is not imported; "" while it is
	repairs     []string
	all         []*importAddress // its addresses in the file
	addrs       []*importAddress // those that can be imported, oldest first
	primary     *importAddress
	done        bool // decided: skipped while planning, or its batch went through
}

// importAddress is one users.address record on its way in.
type importAddress struct {
	pk        int64
	userPK    int64
	user      *importUser // nil when its user is not in the file
	a         store.Address
	isPrimary bool // Django's is_primary
	skip      string
	repairs   []string
}

// importRun is one run: the records of the file and what becomes of them.
type importRun struct {
	in        ImportDjangoInput
	now       time.Time
	users     []*importUser // pk order once planned
	addresses []*importAddress
	byPK      map[int64]*importUser
	ignored   map[string]int
}

// ImportDjango imports a dumpdata file into the store of in.DataDir (see
// the top of this file). It works on a stopped store only: while a server
// holds it, it says so and changes nothing. The error is nil whenever the
// file could be read and the store written, whatever was skipped; the
// report is non-nil once the file was read (after a failed batch it holds
// what the batches before it did).
func ImportDjango(ctx context.Context, in ImportDjangoInput) (*ImportReport, error) {
	if in.BatchSize <= 0 {
		in.BatchSize = defaultImportBatch
	}
	if in.DefaultRegion == "" {
		in.DefaultRegion = "DE"
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	run := &importRun{in: in, now: now().UTC(), byPK: map[int64]*importUser{}, ignored: map[string]int{}}
	f, err := os.Open(in.File)
	if err != nil {
		return nil, err
	}
	err = run.read(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.File, err)
	}
	run.plan()

	db, closeDB, err := openImportStore(in.DataDir, in.DryRun, in.Log)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	err = run.write(ctx, db)
	return run.report(), err
}

// openImportStore opens the store to write, or for a dry run to read (a
// data dir without a store is read as an empty one, created aside and
// removed, so that a dry run creates nothing).
func openImportStore(dataDir string, dryRun bool, log *slog.Logger) (*store.DB, func(), error) {
	held := func(err error) error {
		if errors.Is(err, store.ErrInUse) {
			return errStoreHeld("import")
		}
		return err
	}
	if !dryRun {
		db, err := openStore(dataDir, false, log)
		if err != nil {
			return nil, nil, held(err)
		}
		return db, func() { db.Close() }, nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, StoreFile)); errors.Is(err, os.ErrNotExist) {
		tmp, err := os.MkdirTemp("", "marbelle-dry-run-")
		if err != nil {
			return nil, nil, err
		}
		db, err := OpenStore(tmp, false)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, nil, err
		}
		return db, func() { db.Close(); os.RemoveAll(tmp) }, nil
	}
	db, err := OpenStore(dataDir, true)
	if err != nil {
		return nil, nil, held(err)
	}
	return db, func() { db.Close() }, nil
}

// --- reading ---

// djangoRecord is one element of the dumpdata list.
type djangoRecord struct {
	Model  string          `json:"model"`
	PK     json.RawMessage `json:"pk"`
	Fields json.RawMessage `json:"fields"`
}

// djangoUserFields are the users.user fields read (groups and
// user_permissions are not). A JSON null leaves a field empty.
type djangoUserFields struct {
	Password    string `json:"password"`
	LastLogin   string `json:"last_login"`
	IsSuperuser bool   `json:"is_superuser"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	IsStaff     bool   `json:"is_staff"`
	IsActive    bool   `json:"is_active"`
	DateJoined  string `json:"date_joined"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	CompanyName string `json:"company_name"`
}

// djangoAddressFields are the users.address fields.
type djangoAddressFields struct {
	User           int64  `json:"user"`
	Label          string `json:"label"`
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	Company        string `json:"company"`
	StreetAddress  string `json:"street_address"`
	StreetAddress2 string `json:"street_address_2"`
	City           string `json:"city"`
	State          string `json:"state"`
	PostalCode     string `json:"postal_code"`
	Country        string `json:"country"`
	Phone          string `json:"phone"`
	IsPrimary      bool   `json:"is_primary"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
}

// read streams the list: one record is decoded at a time and mapped at
// once. A file that is not such a list is an error; a record whose fields
// cannot be read is skipped and reported.
func (run *importRun) read(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	tok, err := dec.Token()
	if err == io.EOF {
		return errors.New("the file is empty")
	}
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("not a dumpdata list (it does not start with '[')")
	}
	seenAddress := map[int64]bool{}
	for n := 1; dec.More(); n++ {
		var rec djangoRecord
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("record %d (near byte %d): %w", n, dec.InputOffset(), err)
		}
		if rec.Model != "users.user" && rec.Model != "users.address" {
			run.ignored[rec.Model]++
			continue
		}
		var pk int64
		if err := json.Unmarshal(rec.PK, &pk); err != nil {
			return fmt.Errorf("record %d (%s): pk %s is not an integer", n, rec.Model, importShorten(string(rec.PK), 40))
		}
		if rec.Model == "users.user" {
			var fields djangoUserFields
			ferr := json.Unmarshal(rec.Fields, &fields)
			iu := run.mapUser(pk, &fields)
			switch {
			case run.byPK[pk] != nil:
				iu.skip = "a second users.user record with this pk in the file"
			case ferr != nil:
				iu.skip = "its fields cannot be read: " + ferr.Error()
			}
			if run.byPK[pk] == nil {
				run.byPK[pk] = iu
			}
			run.users = append(run.users, iu)
			continue
		}
		var fields djangoAddressFields
		ferr := json.Unmarshal(rec.Fields, &fields)
		ia := run.mapAddress(pk, &fields)
		switch {
		case seenAddress[pk]:
			ia.skip = "a second users.address record with this pk in the file"
		case ferr != nil:
			ia.skip = "its fields cannot be read: " + ferr.Error()
		}
		seenAddress[pk] = true
		run.addresses = append(run.addresses, ia)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("the list does not end (near byte %d): %w", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the list (near byte %d)", dec.InputOffset())
	}
	return nil
}

// mapUser maps a users.user record (docs/migrating-from-django.md, "How
// accounts map"). Skips and repairs are noted on it.
func (run *importRun) mapUser(pk int64, d *djangoUserFields) *importUser {
	iu := &importUser{pk: pk, djangoEmail: strings.TrimSpace(d.Email)}
	email, msg := normalizeEmail(d.Email)
	if strings.TrimSpace(d.Email) == "" {
		iu.skip = "it has no email address"
		return iu
	}
	if msg != "" {
		iu.skip = fmt.Sprintf("email %s is not an address Marbelle accepts", importQuote(d.Email))
		return iu
	}
	joined, ok := parseDjangoTime(d.DateJoined)
	if !ok {
		iu.skip = fmt.Sprintf("date_joined %s is not a date and time", importQuote(d.DateJoined))
		return iu
	}
	var lastLogin time.Time
	if d.LastLogin != "" {
		if lastLogin, ok = parseDjangoTime(d.LastLogin); !ok {
			iu.skip = fmt.Sprintf("last_login %s is not a date and time", importQuote(d.LastLogin))
			return iu
		}
	}
	u := store.User{
		Email:       email,
		FirstName:   iu.text("first_name", d.FirstName, maxNameLength),
		LastName:    iu.text("last_name", d.LastName, maxNameLength),
		CompanyName: iu.text("company_name", d.CompanyName, maxCompanyLen),
		Staff:       d.IsStaff || d.IsSuperuser,
		DateJoined:  joined,
		LastLoginAt: lastLogin,
		UpdatedAt:   run.now,
	}
	if d.Phone != "" {
		errs := fieldErrors{}
		u.Phone = normalizePhone(errs, "phone", d.Phone, run.in.DefaultRegion)
		if len(errs) > 0 {
			u.Phone = ""
			iu.repairs = append(iu.repairs, fmt.Sprintf("phone %s is not a valid phone number; dropped", importQuote(d.Phone)))
		}
	}
	// Django's usable password: anything but empty or "!…". Only the
	// hashes the login verifies (password.CheckDjangoHash) are kept; any
	// other is dropped, so the account must reset its password (like an
	// unusable one).
	usable := d.Password != "" && !strings.HasPrefix(d.Password, "!")
	if usable {
		if err := password.CheckDjangoHash(d.Password); err != nil {
			iu.repairs = append(iu.repairs, "password: "+err.Error()+"; dropped, so the account must reset its password")
		} else {
			u.PasswordHash = d.Password
		}
	}
	// is_active=false meant "email not verified yet" until the first login,
	// and "deactivated by an admin" after it.
	switch {
	case d.IsActive:
		u.Active, u.EmailVerified = true, true
	case !lastLogin.IsZero():
		u.Active, u.EmailVerified = false, true
	case usable:
		u.Active, u.EmailVerified = true, false
	default:
		u.Active, u.EmailVerified = false, false
		iu.repairs = append(iu.repairs, "inactive, never logged in and without a usable password; imported as deactivated")
	}
	iu.u = u
	return iu
}

// text cleans a user's free-text field: control characters become spaces
// and an overlong value is cut, each noted as a repair.
func (iu *importUser) text(field, v string, max int) string {
	v = strings.TrimSpace(v)
	if strings.ContainsFunc(v, unicode.IsControl) {
		v = strings.Join(strings.FieldsFunc(v, unicode.IsControl), " ")
		iu.repairs = append(iu.repairs, field+": control characters replaced by spaces")
	}
	if utf8.RuneCountInString(v) > max {
		v = strings.TrimSpace(string([]rune(v)[:max]))
		iu.repairs = append(iu.repairs, fmt.Sprintf("%s: cut to %d characters", field, max))
	}
	return v
}

// mapAddress maps a users.address record with the API's own validation
// (addressInput.apply): a record it refuses is skipped, except that an
// invalid phone is dropped and a lower-case country is upper-cased.
func (run *importRun) mapAddress(pk int64, d *djangoAddressFields) *importAddress {
	ia := &importAddress{pk: pk, userPK: d.User, isPrimary: d.IsPrimary}
	country, ok := normalizeCountry(d.Country)
	if !ok {
		if strings.TrimSpace(d.Country) == "" {
			ia.skip = "country is missing"
		} else {
			ia.skip = fmt.Sprintf("country %s is not an ISO 3166-1 alpha-2 code", importQuote(d.Country))
		}
		return ia
	}
	in := addressInput{
		Label: &d.Label, FirstName: &d.FirstName, LastName: &d.LastName, Company: &d.Company,
		StreetAddress: &d.StreetAddress, StreetAddress2: &d.StreetAddress2, City: &d.City,
		Region: &d.State, PostalCode: &d.PostalCode, Country: &country,
	}
	if err := in.apply(&ia.a, false, run.in.DefaultRegion); err != nil {
		ia.skip = fieldReasons(err)
		return ia
	}
	if strings.TrimSpace(d.Country) != country {
		ia.repairs = append(ia.repairs, fmt.Sprintf("country %s taken as %s", importQuote(d.Country), country))
	}
	if d.Phone != "" {
		phone := addressInput{Phone: &d.Phone}
		if err := phone.apply(&ia.a, true, run.in.DefaultRegion); err != nil {
			ia.a.Phone = ""
			ia.repairs = append(ia.repairs, fmt.Sprintf("phone %s is not a valid phone number for %s; dropped", importQuote(d.Phone), country))
		}
	}
	created, ok := parseDjangoTime(d.CreatedAt)
	if !ok {
		ia.skip = fmt.Sprintf("created_at %s is not a date and time", importQuote(d.CreatedAt))
		return ia
	}
	updated, ok := parseDjangoTime(d.UpdatedAt)
	if !ok {
		updated = created
	}
	ia.a.CreatedAt, ia.a.UpdatedAt = created, updated
	return ia
}

// djangoFieldNames names Marbelle's address fields as Django's model does.
var djangoFieldNames = []struct{ marbelle, django string }{
	{"label", "label"}, {"first_name", "first_name"}, {"last_name", "last_name"}, {"company", "company"},
	{"street_address", "street_address"}, {"street_address_2", "street_address_2"}, {"city", "city"},
	{"region", "state"}, {"postal_code", "postal_code"}, {"country", "country"}, {"phone", "phone"},
}

// fieldReasons turns a validation error into a report reason, in field
// order and under Django's field names.
func fieldReasons(err error) string {
	e, ok := asError(err)
	if !ok || len(e.Fields) == 0 {
		return err.Error()
	}
	var out []string
	for _, f := range djangoFieldNames {
		for _, msg := range e.Fields[f.marbelle] {
			if msg == "This field is required." {
				out = append(out, f.django+" is missing")
			} else {
				out = append(out, f.django+": "+strings.TrimSuffix(msg, "."))
			}
		}
	}
	return strings.Join(out, "; ")
}

// parseDjangoTime reads the ISO 8601 times dumpdata writes: with a zone
// (USE_TZ = True, "…Z") or naive (USE_TZ = False), which is taken as UTC.
func parseDjangoTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// importQuote quotes a value from the dump for a report line, shortened.
func importQuote(s string) string { return strconv.Quote(importShorten(s, 60)) }

func importShorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func printableModel(m string) string {
	if len(m) > 60 || strings.ContainsFunc(m, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(importShorten(m, 60))
	}
	return m
}

// --- planning ---

// plan decides from the file alone what is skipped and repaired: the
// first of the emails equal once normalised (by pk) is taken; each user's
// importable addresses are cut to the MaxAddresses oldest and get exactly
// one primary.
func (run *importRun) plan() {
	slices.SortStableFunc(run.users, func(a, b *importUser) int { return cmp.Compare(a.pk, b.pk) })
	slices.SortStableFunc(run.addresses, func(a, b *importAddress) int { return cmp.Compare(a.pk, b.pk) })
	owner := map[string]*importUser{}
	for _, iu := range run.users {
		if iu.skip != "" {
			iu.done = true
			continue
		}
		if first, ok := owner[iu.u.Email]; ok {
			how := "but for case"
			if !strings.EqualFold(first.djangoEmail, iu.djangoEmail) {
				how = "once normalised (Unicode composition or IDN domain spelling)"
			}
			iu.skip = fmt.Sprintf("same email as pk=%d %s; only the lowest pk is imported", first.pk, how)
			iu.done = true
			continue
		}
		owner[iu.u.Email] = iu
	}
	for _, ia := range run.addresses {
		iu := run.byPK[ia.userPK]
		ia.user = iu
		if iu != nil {
			iu.all = append(iu.all, ia)
		}
		switch {
		case ia.skip != "":
		case iu == nil:
			ia.skip = fmt.Sprintf("its user pk=%d is not in the file", ia.userPK)
		case iu.skip != "":
			ia.skip = fmt.Sprintf("its user pk=%d is skipped", ia.userPK)
		default:
			iu.addrs = append(iu.addrs, ia)
		}
	}
	for _, iu := range run.users {
		if iu.skip == "" {
			iu.planAddresses()
		}
	}
}

// planAddresses keeps the MaxAddresses oldest importable addresses (by
// created_at, then pk) and picks the primary among them: the oldest of
// those marked primary, else the oldest.
func (iu *importUser) planAddresses() {
	slices.SortStableFunc(iu.addrs, func(a, b *importAddress) int {
		return cmp.Or(a.a.CreatedAt.Compare(b.a.CreatedAt), cmp.Compare(a.pk, b.pk))
	})
	if len(iu.addrs) > store.MaxAddresses {
		for _, ia := range iu.addrs[store.MaxAddresses:] {
			ia.skip = fmt.Sprintf("user pk=%d has more than %d addresses; its %d oldest are kept", iu.pk, store.MaxAddresses, store.MaxAddresses)
		}
		iu.addrs = iu.addrs[:store.MaxAddresses]
	}
	if len(iu.addrs) == 0 {
		return
	}
	for _, ia := range iu.addrs {
		switch {
		case !ia.isPrimary:
		case iu.primary == nil:
			iu.primary = ia
		default:
			ia.repairs = append(ia.repairs, fmt.Sprintf("also marked primary; pk=%d, the oldest primary, stays primary", iu.primary.pk))
		}
	}
	if iu.primary != nil {
		return
	}
	iu.primary = iu.addrs[0]
	var dropped []string
	for _, ia := range iu.all {
		if ia.isPrimary && ia.skip != "" {
			dropped = append(dropped, "pk="+strconv.FormatInt(ia.pk, 10))
		}
	}
	if len(dropped) > 0 {
		iu.primary.repairs = append(iu.primary.repairs, fmt.Sprintf("user pk=%d's primary address (%s) is skipped; this, its oldest address, becomes primary", iu.pk, strings.Join(dropped, ", ")))
	} else {
		iu.primary.repairs = append(iu.primary.repairs, fmt.Sprintf("user pk=%d had no primary address; this, its oldest, becomes primary", iu.pk))
	}
}

// --- writing ---

// write takes the planned users in batches, each one write transaction
// (in a dry run, one read transaction, writing nothing).
func (run *importRun) write(ctx context.Context, db *store.DB) error {
	var todo []*importUser
	for _, iu := range run.users {
		if iu.skip == "" {
			todo = append(todo, iu)
		}
	}
	for start := 0; start < len(todo); start += run.in.BatchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("import interrupted; the batches before stay imported, and a new run goes on from there: %w", err)
		}
		batch := todo[start:min(start+run.in.BatchSize, len(todo))]
		var skips []string
		fn := func(tx *store.Tx) error {
			var err error
			skips, err = run.writeBatch(tx, batch)
			return err
		}
		var err error
		if run.in.DryRun {
			err = db.View(fn)
		} else {
			err = db.Update(fn)
		}
		if err != nil {
			return fmt.Errorf("import stopped at user pk=%d (the batches before stay imported, and a new run goes on from there): %w", batch[0].pk, err)
		}
		for i, iu := range batch {
			iu.done = true
			if skips[i] == "" {
				continue
			}
			iu.skip, iu.repairs = skips[i], nil
			for _, ia := range iu.addrs {
				ia.repairs = nil
				if strings.HasPrefix(skips[i], "already imported") {
					ia.skip = fmt.Sprintf("already imported with its user pk=%d", iu.pk)
				} else {
					ia.skip = fmt.Sprintf("its user pk=%d is skipped", iu.pk)
				}
			}
		}
	}
	return nil
}

// writeBatch checks each user of batch against the store and, unless this
// is a dry run, writes it with its addresses. It returns, per user, why it
// is skipped ("" for imported). Outcomes count only once the transaction
// has committed.
func (run *importRun) writeBatch(tx *store.Tx, batch []*importUser) ([]string, error) {
	skips := make([]string, len(batch))
	for i, iu := range batch {
		key := strconv.FormatInt(iu.pk, 10)
		if id, err := tx.ImportedUser(djangoSource, key); err == nil {
			skips[i] = "already imported"
			if _, err := tx.User(id); errors.Is(err, store.ErrNotFound) {
				skips[i] = "already imported (the account has been deleted in Marbelle since)"
			}
			continue
		}
		_, err := tx.UserByEmail(iu.u.Email)
		if err == nil {
			skips[i] = "an account with this email already exists in Marbelle"
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if run.in.DryRun {
			continue
		}
		u := iu.u
		u.ID = store.NewID()
		addrs := make([]store.Address, len(iu.addrs))
		primary := uuid.Nil
		for j, ia := range iu.addrs {
			addrs[j] = ia.a
			addrs[j].ID, addrs[j].UserID = store.NewID(), u.ID
			if ia == iu.primary {
				primary = addrs[j].ID
			}
		}
		if err := tx.ImportUser(djangoSource, key, &u, addrs, primary); err != nil {
			return nil, fmt.Errorf("user pk=%d: %w", iu.pk, err)
		}
		if err := tx.AppendAudit(&store.Event{At: run.now, Event: "imported", UserID: u.ID, Email: u.Email, Detail: map[string]string{"actor": "cli", "source": "django", "pk": key}}); err != nil {
			return nil, err
		}
	}
	return skips, nil
}

// --- the report ---

// report counts and lists every decided record: users, then addresses,
// each in pk order. Records of a batch that did not go through are left
// out.
func (run *importRun) report() *ImportReport {
	r := &ImportReport{DryRun: run.in.DryRun, Ignored: run.ignored}
	line := func(model string, pk int64, skip string, repairs []string, c *ImportCounts) {
		switch {
		case skip != "":
			c.Skipped++
			r.Lines = append(r.Lines, fmt.Sprintf("%s pk=%d: skipped: %s", model, pk, skip))
		case len(repairs) > 0:
			c.Imported++
			c.Repaired++
			r.Lines = append(r.Lines, fmt.Sprintf("%s pk=%d: repaired: %s", model, pk, strings.Join(repairs, "; ")))
		default:
			c.Imported++
		}
	}
	for _, iu := range run.users {
		if iu.done {
			line("users.user", iu.pk, iu.skip, iu.repairs, &r.Users)
		}
	}
	for _, ia := range run.addresses {
		if ia.user == nil || ia.user.done {
			line("users.address", ia.pk, ia.skip, ia.repairs, &r.Addresses)
		}
	}
	return r
}
