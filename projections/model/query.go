package model

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

//go:embed read.lua
var readScript string

// ErrNotFound is returned for a product, order or wallet the model does
// not hold.
var ErrNotFound = errors.New("not found")

// ErrBadCursor is returned for a cursor this model did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// Statuses of an order, in precedence order (CONFIRMED and CANCELLED are
// final).
const (
	StatusPending   = "PENDING"
	StatusReserved  = "RESERVED"
	StatusConfirmed = "CONFIRMED"
	StatusCancelled = "CANCELLED"
)

// ValidStatus reports whether s is an order status.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusReserved, StatusConfirmed, StatusCancelled:
		return true
	}
	return false
}

// Product is a listed product with its available stock.
type Product struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
	Available  int64  `json:"available"`
}

// Payment is an order's payment state: status "pending", "captured",
// "failed" or "refunded", and the method.
type Payment struct {
	Status string `json:"status"`
	Method string `json:"method"`
}

// TimelineEntry is one event of an order, from any context.
type TimelineEntry struct {
	Type    string    `json:"type"`
	Context string    `json:"context"`
	At      time.Time `json:"at"`
}

// Order is an order's detail.
type Order struct {
	OrderID    string          `json:"orderId"`
	CustomerID string          `json:"customerId"`
	Status     string          `json:"status"`
	Lines      json.RawMessage `json:"lines"`
	TotalCents int64           `json:"totalCents"`
	Currency   string          `json:"currency"`
	Reason     string          `json:"reason,omitempty"`
	PlacedAt   time.Time       `json:"placedAt"`
	Payment    Payment         `json:"payment"`
	Timeline   []TimelineEntry `json:"timeline,omitempty"`
}

// Transaction is one wallet movement: "deposit", "debit" or "credit".
type Transaction struct {
	Type         string    `json:"type"`
	AmountCents  int64     `json:"amountCents"`
	BalanceCents int64     `json:"balanceCents"`
	OrderID      string    `json:"orderId,omitempty"`
	At           time.Time `json:"at"`
}

// Wallet is a customer's balance and transactions (newest first).
type Wallet struct {
	CustomerID   string        `json:"customerId"`
	BalanceCents int64         `json:"balanceCents"`
	Transactions []Transaction `json:"transactions"`
	NextCursor   *string       `json:"nextCursor"`
}

// ProductSales is one product's confirmed sales.
type ProductSales struct {
	SKU          string `json:"sku"`
	Name         string `json:"name"`
	RevenueCents int64  `json:"revenueCents"`
	Quantity     int64  `json:"quantity"`
}

// Stats are the sales statistics over confirmed and cancelled orders.
type Stats struct {
	RevenueCents    int64          `json:"revenueCents"`
	OrdersConfirmed int64          `json:"ordersConfirmed"`
	OrdersCancelled int64          `json:"ordersCancelled"`
	TopProducts     []ProductSales `json:"topProducts"`
}

// Page is a slice of a list and the cursor of the next one ("" at the end).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

func (m *Model) query(ctx context.Context, rdb redis.Scripter, args ...any) (any, error) {
	res, err := m.read.Run(ctx, rdb, []string{m.ns.AliasKey()}, append([]any{m.ns.Root}, args...)...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, readmodel.ErrNoModel
	}
	if err != nil {
		return nil, fmt.Errorf("query %v: %w", args[0], err)
	}
	return res, nil
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(x, 64)
		return int64(math.Round(f))
	}
	return 0
}

func list(v any) []any { l, _ := v.([]any); return l }

// Cursors are opaque: base64url of the last member of the page.
func encodeCursor(member string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(member))
}

func decodeCursor(c string, valid *regexp.Regexp) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !valid.Match(b) {
		return "", ErrBadCursor
	}
	return string(b), nil
}

var (
	skuCursor    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	orderCursor  = regexp.MustCompile(`^[0-9]{13}\|[A-Za-z0-9_.-]{1,64}$`)
	walletCursor = regexp.MustCompile(`^[0-9]{20}\|[a-z]+\|-?[0-9]+\|-?[0-9]+\|[A-Za-z0-9_.-]{0,64}\|-?[0-9]+$`)
)

func product(f []any) (Product, bool) {
	if len(f) < 5 || f[1] == nil {
		return Product{}, false
	}
	return Product{SKU: str(f[0]), Name: str(f[1]), PriceCents: num(f[2]), Currency: str(f[3]), Available: num(f[4])}, true
}

// Product returns one listed product, or ErrNotFound.
func (m *Model) Product(ctx context.Context, rdb redis.Scripter, sku string) (Product, error) {
	res, err := m.query(ctx, rdb, "product", sku)
	if err != nil {
		return Product{}, err
	}
	p, ok := product(list(res))
	if !ok {
		return Product{}, fmt.Errorf("product %s: %w", sku, ErrNotFound)
	}
	return p, nil
}

// Products returns up to limit listed products by SKU, after cursor.
func (m *Model) Products(ctx context.Context, rdb redis.Scripter, cursor string, limit int) (Page[Product], error) {
	after, err := decodeCursor(cursor, skuCursor)
	if err != nil {
		return Page[Product]{}, err
	}
	res, err := m.query(ctx, rdb, "products", after, limit+1)
	if err != nil {
		return Page[Product]{}, err
	}
	out := Page[Product]{Items: []Product{}}
	var last string
	for i, r := range list(res) {
		if i == limit {
			out.NextCursor = encodeCursor(last)
			break
		}
		f := list(r)
		if len(f) > 0 {
			last = str(f[0])
		}
		if p, ok := product(f); ok {
			out.Items = append(out.Items, p)
		}
	}
	return out, nil
}

func orderFrom(id string, f []any) (Order, bool) {
	// cust st total cur placedAt method reason pst pmethod lines
	if len(f) < 10 || f[0] == nil || f[4] == nil {
		return Order{}, false // unknown, or not placed yet (only other contexts' events so far)
	}
	o := Order{OrderID: id, CustomerID: str(f[0]), Status: str(f[1]), TotalCents: num(f[2]), Currency: str(f[3]),
		Reason: str(f[6]), Payment: Payment{Status: str(f[7]), Method: str(f[8])}, Lines: json.RawMessage(str(f[9]))}
	o.PlacedAt, _ = time.Parse(time.RFC3339Nano, str(f[4]))
	if o.Payment.Status == "" {
		o.Payment.Status = "pending"
	}
	if o.Payment.Method == "" {
		o.Payment.Method = str(f[5])
	}
	if len(o.Lines) == 0 {
		o.Lines = json.RawMessage("[]")
	}
	return o, true
}

// Order returns an order's detail with its timeline, or ErrNotFound until
// its order_placed event is applied.
func (m *Model) Order(ctx context.Context, rdb redis.Scripter, orderID string) (Order, error) {
	res, err := m.query(ctx, rdb, "order", orderID)
	if err != nil {
		return Order{}, err
	}
	parts := list(res)
	if len(parts) != 2 {
		return Order{}, fmt.Errorf("order %s: unexpected answer %v", orderID, res)
	}
	o, ok := orderFrom(orderID, list(parts[0]))
	if !ok {
		return Order{}, fmt.Errorf("order %s: %w", orderID, ErrNotFound)
	}
	o.Timeline = []TimelineEntry{}
	for _, v := range list(parts[1]) {
		f := strings.SplitN(str(v), "|", 4)
		if len(f) != 4 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		o.Timeline = append(o.Timeline, TimelineEntry{Type: f[3], Context: f[1], At: time.Unix(0, ns).UTC()})
	}
	return o, nil
}

// CustomerOrders returns up to limit of a customer's orders, newest first,
// with status "" for all, after cursor. Items carry no timeline.
func (m *Model) CustomerOrders(ctx context.Context, rdb redis.Scripter, customerID, status, cursor string, limit int) (Page[Order], error) {
	after, err := decodeCursor(cursor, orderCursor)
	if err != nil {
		return Page[Order]{}, err
	}
	res, err := m.query(ctx, rdb, "corders", customerID, status, after, limit+1)
	if err != nil {
		return Page[Order]{}, err
	}
	out := Page[Order]{Items: []Order{}}
	var last string
	for i, r := range list(res) {
		row := list(r)
		if len(row) != 3 {
			continue
		}
		if i == limit {
			out.NextCursor = encodeCursor(last)
			break
		}
		last = str(row[0])
		if o, ok := orderFrom(str(row[1]), list(row[2])); ok {
			out.Items = append(out.Items, o)
		}
	}
	return out, nil
}

// Wallet returns a customer's balance and up to limit transactions (newest
// first) after cursor, or ErrNotFound when the wallet never moved.
func (m *Model) Wallet(ctx context.Context, rdb redis.Scripter, customerID, cursor string, limit int) (Wallet, error) {
	after, err := decodeCursor(cursor, walletCursor)
	if err != nil {
		return Wallet{}, err
	}
	res, err := m.query(ctx, rdb, "wallet", customerID, after, limit+1)
	if err != nil {
		return Wallet{}, err
	}
	parts := list(res)
	if len(parts) != 2 {
		return Wallet{}, fmt.Errorf("wallet of %s: %w", customerID, ErrNotFound)
	}
	w := Wallet{CustomerID: customerID, BalanceCents: num(parts[0]), Transactions: []Transaction{}}
	var last string
	for i, v := range list(parts[1]) {
		if i == limit {
			c := encodeCursor(last)
			w.NextCursor = &c
			break
		}
		last = str(v)
		f := strings.Split(last, "|")
		if len(f) != 6 {
			continue
		}
		at, _ := strconv.ParseInt(f[5], 10, 64)
		w.Transactions = append(w.Transactions, Transaction{Type: f[1], AmountCents: num(f[2]), BalanceCents: num(f[3]),
			OrderID: f[4], At: time.UnixMilli(at).UTC()})
	}
	return w, nil
}

// TopProducts is how many products Stats ranks.
const TopProducts = 10

// Stats returns the sales statistics with the top products by revenue.
func (m *Model) Stats(ctx context.Context, rdb redis.Scripter) (Stats, error) {
	res, err := m.query(ctx, rdb, "stats", TopProducts)
	if err != nil {
		return Stats{}, err
	}
	parts := list(res)
	if len(parts) != 2 {
		return Stats{}, fmt.Errorf("stats: unexpected answer %v", res)
	}
	s := list(parts[0])
	st := Stats{TopProducts: []ProductSales{}}
	if len(s) == 3 {
		st.RevenueCents, st.OrdersConfirmed, st.OrdersCancelled = num(s[0]), num(s[1]), num(s[2])
	}
	for _, r := range list(parts[1]) {
		f := list(r)
		if len(f) == 4 {
			st.TopProducts = append(st.TopProducts, ProductSales{SKU: str(f[0]), RevenueCents: num(f[1]), Quantity: num(f[2]), Name: str(f[3])})
		}
	}
	return st, nil
}
