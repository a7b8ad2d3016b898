package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/marbelle/marbelle/store"
)

// Field bounds of an address, in characters (docs/api.md lists them).
const (
	maxLabelLength      = 50
	maxStreetLength     = 255
	maxCityLength       = 100
	maxRegionLength     = 100
	maxPostalCodeLength = 20
)

// addressView is the contract's address object.
type addressView struct {
	ID             uuid.UUID `json:"id"`
	Label          string    `json:"label"`
	FirstName      string    `json:"first_name"`
	LastName       string    `json:"last_name"`
	Company        string    `json:"company"`
	StreetAddress  string    `json:"street_address"`
	StreetAddress2 string    `json:"street_address_2"`
	City           string    `json:"city"`
	Region         string    `json:"region"`
	PostalCode     string    `json:"postal_code"`
	Country        string    `json:"country"`
	Phone          string    `json:"phone"`
	IsPrimary      bool      `json:"is_primary"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func addressViewOf(a *store.Address, primary bool) addressView {
	return addressView{
		ID: a.ID, Label: a.Label, FirstName: a.FirstName, LastName: a.LastName, Company: a.Company,
		StreetAddress: a.StreetAddress, StreetAddress2: a.StreetAddress2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone, IsPrimary: primary,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
}

// addressInput is a create, replace or update body; nil means "not sent".
// id, user_id and the timestamps are never read from the client.
type addressInput struct {
	Label          *string `json:"label"`
	FirstName      *string `json:"first_name"`
	LastName       *string `json:"last_name"`
	Company        *string `json:"company"`
	StreetAddress  *string `json:"street_address"`
	StreetAddress2 *string `json:"street_address_2"`
	City           *string `json:"city"`
	Region         *string `json:"region"`
	PostalCode     *string `json:"postal_code"`
	Country        *string `json:"country"`
	Phone          *string `json:"phone"`
	IsPrimary      *bool   `json:"is_primary"`
}

// apply validates in onto a and reports every fault by field. For create
// and replace (partial false) a must hold no content yet, so that what is
// not sent ends up empty; for update only the fields sent change.
func (in *addressInput) apply(a *store.Address, partial bool, defaultRegion string) error {
	errs := fieldErrors{}
	text := func(field string, v *string, dst *string, required bool, max int) {
		if v == nil {
			if required && !partial {
				errs.add(field, "This field is required.")
			}
			return
		}
		*dst = cleanText(errs, field, *v, required, max)
	}
	text("label", in.Label, &a.Label, true, maxLabelLength)
	text("first_name", in.FirstName, &a.FirstName, true, maxNameLength)
	text("last_name", in.LastName, &a.LastName, true, maxNameLength)
	text("company", in.Company, &a.Company, false, maxCompanyLen)
	text("street_address", in.StreetAddress, &a.StreetAddress, true, maxStreetLength)
	text("street_address_2", in.StreetAddress2, &a.StreetAddress2, false, maxStreetLength)
	text("city", in.City, &a.City, true, maxCityLength)
	text("region", in.Region, &a.Region, false, maxRegionLength)
	text("postal_code", in.PostalCode, &a.PostalCode, true, maxPostalCodeLength)
	switch {
	case in.Country != nil:
		c, ok := normalizeCountry(*in.Country)
		if !ok {
			errs.add("country", "Use a two-letter ISO 3166-1 country code, such as DE or US.")
		}
		a.Country = c
	case !partial:
		errs.add("country", "This field is required.")
	}
	if in.Phone != nil {
		// National numbers are read in the address's own country.
		region := defaultRegion
		if _, ok := normalizeCountry(a.Country); ok && validRegion(a.Country) {
			region = a.Country
		}
		a.Phone = normalizePhone(errs, "phone", *in.Phone, region)
	}
	return errs.err()
}

var errAddressLimit = &Error{Code: CodeValidation, Message: "You can keep at most 10 addresses. Delete one to add another.", Fields: map[string][]string{"non_field_errors": {"You can keep at most 10 addresses."}}}

func (s *Server) handleAddressList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	scratch := s.listScratch()
	defer s.lists.Put(scratch)
	list, err := s.listAddresses(a.User.ID, scratch.items[:0])
	scratch.items = list.items
	if err != nil {
		return err
	}
	scratch.answer = writeJSONWith(w, scratch.answer[:0], http.StatusOK, "Your addresses.", list)
	return nil
}

// listScratch is what an address-list answer needs, kept from request to
// request: the list is the busiest answer, and its slice of addresses and
// its 4 KB of JSON were most of what it allocated (and so of its share of
// collections).
type listScratch struct {
	items  []store.Address
	answer []byte
}

func (s *Server) listScratch() *listScratch {
	if v, ok := s.lists.Get().(*listScratch); ok {
		return v
	}
	return &listScratch{}
}

// listAddresses reads a user's addresses into items (reusing its room) in
// one read transaction, primary first.
func (s *Server) listAddresses(userID uuid.UUID, items []store.Address) (addressList, error) {
	list := addressList{items: items}
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		list.items, list.primary, err = tx.AppendAddresses(items, userID)
		return err
	})
	return list, err
}

func (s *Server) handleAddressCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, a *auth) error {
	var in addressInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.createAddress(r.Context(), a, &in)
	return answer(w, http.StatusCreated, "The address is saved.", v, err)
}

// createAddress adds an address; the limit and the primary rule are held
// by the store inside the one write transaction.
func (s *Server) createAddress(ctx context.Context, a *auth, in *addressInput) (*addressView, error) {
	addr := &store.Address{ID: store.NewID(), UserID: a.User.ID}
	if err := in.apply(addr, false, s.cfg.DefaultRegion); err != nil {
		return nil, err
	}
	var v addressView
	err := s.update(ctx, func(t *txn) error {
		addr.CreatedAt, addr.UpdatedAt = t.now, t.now
		primary, err := t.CreateAddress(addr, in.IsPrimary != nil && *in.IsPrimary)
		if errors.Is(err, store.ErrAddressLimit) {
			return errAddressLimit
		}
		if errors.Is(err, store.ErrNotFound) {
			return errUnauthenticated
		}
		if err != nil {
			return err
		}
		v = addressViewOf(addr, primary)
		return t.emitAddress(evAddressCreated, a.User, &v)
	})
	return &v, err
}

func (s *Server) handleAddressView(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	var v addressView
	err = s.db.View(func(tx *store.Tx) error {
		addr, primary, err := tx.Address(a.User.ID, id)
		if err != nil {
			return err
		}
		v = addressViewOf(addr, primary)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "Your address.", &v)
	return nil
}

// handleAddressChange serves PUT (partial=false) and PATCH (partial=true).
func (s *Server) handleAddressChange(partial bool) userHandler {
	return func(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
		var in addressInput
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		id, err := pathID(p)
		if err != nil {
			return err
		}
		v, err := s.changeAddress(r.Context(), a, id, &in, partial)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, "The address is saved.", v)
		return nil
	}
}

// changeAddress replaces or updates one of the user's addresses; is_primary
// true moves the primary to it (false never leaves the user without one).
func (s *Server) changeAddress(ctx context.Context, a *auth, id uuid.UUID, in *addressInput, partial bool) (*addressView, error) {
	var v addressView
	err := s.update(ctx, func(t *txn) error {
		addr, wasPrimary, err := t.Address(a.User.ID, id)
		if err != nil {
			return err
		}
		if !partial {
			*addr = store.Address{ID: addr.ID, UserID: addr.UserID, CreatedAt: addr.CreatedAt}
		}
		if err := in.apply(addr, partial, s.cfg.DefaultRegion); err != nil {
			return err
		}
		addr.UpdatedAt = t.now
		makePrimary := in.IsPrimary != nil && *in.IsPrimary
		if err := t.PutAddress(addr, makePrimary); err != nil {
			return err
		}
		// is_primary false never clears the primary, so it is known here.
		v = addressViewOf(addr, wasPrimary || makePrimary)
		if err := t.emitAddress(evAddressUpdated, a.User, &v); err != nil {
			return err
		}
		if makePrimary && !wasPrimary {
			return t.emitAddress(evAddressPrimaryChanged, a.User, &v)
		}
		return nil
	})
	return &v, err
}

func (s *Server) handleAddressDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	return answer(w, http.StatusOK, "The address is deleted.", nil, s.deleteAddress(r.Context(), a, id))
}

// deleteAddress removes an address; the store promotes the oldest remaining
// one when it was the primary.
func (s *Server) deleteAddress(ctx context.Context, a *auth, id uuid.UUID) error {
	return s.update(ctx, func(t *txn) error {
		addr, primary, err := t.Address(a.User.ID, id)
		if err != nil {
			return err
		}
		if err := t.DeleteAddress(a.User.ID, id); err != nil {
			return err
		}
		v := addressViewOf(addr, primary)
		return t.emitAddress(evAddressDeleted, a.User, &v)
	})
}

func (s *Server) handleAddressSetPrimary(w http.ResponseWriter, r *http.Request, p httprouter.Params, a *auth) error {
	id, err := pathID(p)
	if err != nil {
		return err
	}
	v, err := s.setPrimaryAddress(r.Context(), a, id)
	return answer(w, http.StatusOK, "This is now your primary address.", v, err)
}

func (s *Server) setPrimaryAddress(ctx context.Context, a *auth, id uuid.UUID) (*addressView, error) {
	var err error
	var v addressView
	err = s.update(ctx, func(t *txn) error {
		_, wasPrimary, err := t.Address(a.User.ID, id)
		if err != nil {
			return err
		}
		if err := t.SetPrimaryAddress(a.User.ID, id); err != nil {
			return err
		}
		addr, primary, err := t.Address(a.User.ID, id)
		if err != nil {
			return err
		}
		v = addressViewOf(addr, primary)
		if wasPrimary {
			return nil // no change, no event
		}
		return t.emitAddress(evAddressPrimaryChanged, a.User, &v)
	})
	return &v, err
}
