package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// LineRequest is one requested line: a SKU and a quantity.
type LineRequest struct {
	SKU      string
	Quantity int
}

// AddressRequest is a requested shipping address (see order.NewAddress
// for its rules).
type AddressRequest struct {
	Recipient, Line1, Line2, City, PostalCode, Country string
}

// PlaceOrder is a customer's order request.
type PlaceOrder struct {
	CustomerID    string
	Lines         []LineRequest
	PaymentMethod string
	// ShippingAddress is optional.
	ShippingAddress *AddressRequest
	// IdempotencyKey, when set, makes the request repeatable: scoped to the
	// customer, the same key and the same request place one order, the same
	// key with another request is invalid.
	IdempotencyKey string
}

// PlaceOrderResult is the placed order.
type PlaceOrderResult struct {
	OrderID string
	Written Written
	// Repeat is true when an earlier request with the same idempotency key
	// already placed the order.
	Repeat bool
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// idempotencyNamespace derives order ids from (customer, key): the order's
// own stream then holds the key (as its request hash), so a repeat finds it
// there, in one stream and one atomic append, across restarts.
var idempotencyNamespace = uuid.MustParse("0b7a3c52-8f0e-4a7e-93d4-5d1f2e6c9a10")

// PlaceOrder validates the request, prices it from the price book and
// appends the placed order; catalog and payments learn of it through the
// relay. Invalid input is a *ValidationError and appends nothing.
func (a *App) PlaceOrder(ctx context.Context, cmd PlaceOrder) (PlaceOrderResult, error) {
	method, shipTo, err := validatePlacement(cmd)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	lines, err := a.price(ctx, cmd.Lines)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	orderID, requestHash, drawn := uuid.NewString(), "", true
	if cmd.IdempotencyKey != "" {
		drawn = false
		orderID = uuid.NewSHA1(idempotencyNamespace, []byte(cmd.CustomerID+"\x00"+cmd.IdempotencyKey)).String()
		requestHash = hashRequest(cmd)
	}
	now := a.cfg.Now().UTC()
	// The order id correlates every event of its saga.
	ctx = eventstore.WithCorrelation(ctx, orderID)
	if drawn {
		// A drawn id is a new stream: the update need not read it first.
		ctx = eventstore.WithNewStream(ctx)
	}
	repeat := false
	w, err := a.cfg.Orders.Update(ctx, orderID, func(o *order.Order) error {
		repeat = o.Placed()
		return o.Place(order.Placement{
			CustomerID: cmd.CustomerID, Lines: lines, Currency: a.cfg.Currency, PaymentMethod: method,
			PlacedAt: now, Deadline: now.Add(a.cfg.OrderTimeout), RequestHash: requestHash, ShippingAddress: shipTo,
		})
	})
	switch {
	case errors.Is(err, order.ErrIdempotencyMismatch):
		return PlaceOrderResult{}, &ValidationError{Fields: []FieldError{{
			Field: "Idempotency-Key", Message: "already used for a different request"}}}
	case err != nil:
		return PlaceOrderResult{}, fmt.Errorf("place order %s: %w", orderID, err)
	}
	return PlaceOrderResult{OrderID: orderID, Written: w, Repeat: repeat && w.Appended == 0}, nil
}

func validatePlacement(cmd PlaceOrder) (order.PaymentMethod, order.Address, error) {
	verr := &ValidationError{}
	switch {
	case len(cmd.Lines) == 0:
		verr.add("lines", "at least one line is required")
	case len(cmd.Lines) > order.MaxLines:
		verr.add("lines", "at most "+strconv.Itoa(order.MaxLines)+" lines are allowed")
	default:
		for i, l := range cmd.Lines {
			field := "lines[" + strconv.Itoa(i) + "]"
			if !order.ValidSKU(l.SKU) {
				verr.add(field+".sku", "must match [A-Z0-9-]{3,32}")
			}
			if l.Quantity < 1 || l.Quantity > order.MaxQuantity {
				verr.add(field+".quantity", "must be 1.."+strconv.Itoa(order.MaxQuantity))
			}
		}
	}
	method, ok := order.ParsePaymentMethod(cmd.PaymentMethod)
	if !ok {
		verr.add("paymentMethod", `must be "wallet" or "card"`)
	}
	if len(cmd.IdempotencyKey) > MaxIdempotencyKey {
		verr.add("Idempotency-Key", "at most "+strconv.Itoa(MaxIdempotencyKey)+" characters")
	}
	if cmd.CustomerID == "" {
		verr.add("sub", "the token names no customer")
	}
	var shipTo order.Address
	if r := cmd.ShippingAddress; r != nil {
		a, err := order.NewAddress(r.Recipient, r.Line1, r.Line2, r.City, r.PostalCode, r.Country)
		var aerr *order.InvalidAddressError
		switch {
		case errors.As(err, &aerr):
			for _, p := range aerr.Problems {
				verr.add("shippingAddress."+p.Field, p.Message)
			}
		case err != nil:
			return "", order.Address{}, err
		}
		shipTo = a
	}
	return method, shipTo, verr.orNil()
}

// price reads each distinct SKU once from the price book; an unknown SKU
// (or one priced in another currency) names its line.
func (a *App) price(ctx context.Context, reqs []LineRequest) ([]order.Line, error) {
	type priced struct {
		cents    int64
		currency string
		err      error
	}
	cache := map[string]priced{}
	verr := &ValidationError{}
	lines := make([]order.Line, 0, len(reqs))
	for i, r := range reqs {
		p, ok := cache[r.SKU]
		if !ok {
			e, err := a.cfg.Prices.Load(ctx, r.SKU)
			if err != nil {
				return nil, fmt.Errorf("price %s: %w", r.SKU, err)
			}
			p.cents, p.currency, p.err = e.Price()
			cache[r.SKU] = p
		}
		field := "lines[" + strconv.Itoa(i) + "].sku"
		switch {
		case p.err != nil:
			verr.add(field, "unknown SKU "+r.SKU)
			continue
		case p.currency != a.cfg.Currency:
			verr.add(field, "priced in "+p.currency+", not "+a.cfg.Currency)
			continue
		}
		l, err := order.NewLine(r.SKU, r.Quantity, p.cents)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	if err := verr.orNil(); err != nil {
		return nil, err
	}
	return lines, nil
}

// hashRequest fingerprints what the customer asked for, so a repeat of an
// Idempotency-Key can be told from a reuse with another body.
func hashRequest(cmd PlaceOrder) string {
	// omitempty keeps the hash of a request without an address what it
	// was before addresses existed, so such keys still repeat.
	b, _ := json.Marshal(struct {
		Lines           []LineRequest
		PaymentMethod   string
		ShippingAddress *AddressRequest `json:",omitempty"`
	}{cmd.Lines, cmd.PaymentMethod, cmd.ShippingAddress})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
