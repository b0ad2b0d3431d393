package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/troupe-dev/troupe/shared/events"
)

// orderKind is what a planned order is designed to do.
type orderKind int

const (
	// kindOK is an order that must be confirmed: stock and money suffice.
	kindOK orderKind = iota
	// kindNoFunds is a wallet order of a customer whose wallet holds 1 cent:
	// payments fails it (insufficient_funds), ordering cancels it with
	// reason payment_failed.
	kindNoFunds
	// kindNoStock asks for more than the scarce product's whole stock:
	// catalog refuses the reservation, ordering cancels it with reason
	// out_of_stock.
	kindNoStock
)

// expected is the terminal status and cancellation reason the kind is
// designed to reach.
func (k orderKind) expected() (status, reason string) {
	switch k {
	case kindNoFunds:
		return "CANCELLED", events.ReasonPaymentFailed
	case kindNoStock:
		return "CANCELLED", events.ReasonOutOfStock
	}
	return "CONFIRMED", ""
}

// loadLine is one line of an order request.
type loadLine struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// plannedOrder is one order of the plan.
type plannedOrder struct {
	kind     orderKind
	customer string
	method   string
	lines    []loadLine
}

// loadProduct is a product the run lists, with the stock it receives.
type loadProduct struct {
	sku        string
	priceCents int64
	stock      int64
}

// loadDeposit is one wallet deposit of the seeding.
type loadDeposit struct {
	customer string
	cents    int64
}

// loadPlan is everything a run does, derived from its seed: the same seed
// and flags give the same orders (only the run prefix differs).
type loadPlan struct {
	run       string
	products  []loadProduct
	deposits  []loadDeposit
	customers []string
	orders    []plannedOrder
}

// Limits of the API (DESIGN.md, "HTTP API").
const (
	maxDepositCents  = 10_000_000
	maxStockReceipt  = 1_000_000
	loadProducts     = 20
	scarceStock      = 1
	cardShareOfOrder = 0.3
)

// newLoadPlan plans orders orders, round(failRate*orders) of them designed
// to fail (alternately for lack of funds and of stock), for the run prefix
// run (upper case, digits). Stock is received for every unit any order may
// hold at once and every wallet order of a solvent customer is covered by
// its deposits, so an order designed to succeed can fail only through a
// fault of the platform.
func newLoadPlan(run string, orders int, failRate float64, seed uint64) loadPlan {
	rng := rand.New(rand.NewPCG(seed, 0x7472_6f75_7065))
	p := loadPlan{run: run}

	nProducts := min(loadProducts, orders)
	for i := range nProducts {
		p.products = append(p.products, loadProduct{sku: fmt.Sprintf("LD%s-%02d", run, i), priceCents: 100 + rng.Int64N(4901)})
	}
	scarce := loadProduct{sku: "LD" + run + "-X", priceCents: 100 + rng.Int64N(4901), stock: scarceStock}

	fails := int(math.Round(failRate * float64(orders)))
	kinds := make([]orderKind, orders)
	for i := range fails {
		kinds[i] = kindNoFunds
		if i%2 == 1 {
			kinds[i] = kindNoStock
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	solvent := make([]string, max(1, min(orders/4, 1000)))
	for i := range solvent {
		solvent[i] = fmt.Sprintf("ld-%s-c%d", run, i)
	}
	poor := make([]string, max(1, min(fails/8, 100)))
	for i := range poor {
		poor[i] = fmt.Sprintf("ld-%s-p%d", run, i)
	}

	price := map[string]int64{scarce.sku: scarce.priceCents}
	stock := map[string]int64{}
	for _, pr := range p.products {
		price[pr.sku] = pr.priceCents
	}
	owed := map[string]int64{}
	for _, k := range kinds {
		o := plannedOrder{kind: k, method: events.PaymentMethodWallet}
		switch k {
		case kindNoStock:
			o.customer = solvent[rng.IntN(len(solvent))]
			if rng.Float64() < cardShareOfOrder {
				o.method = events.PaymentMethodCard
			}
			o.lines = []loadLine{{SKU: scarce.sku, Quantity: scarceStock + 1 + rng.IntN(9)}}
		default:
			o.lines = randomLines(rng, p.products)
			if k == kindNoFunds {
				o.customer = poor[rng.IntN(len(poor))]
			} else {
				o.customer = solvent[rng.IntN(len(solvent))]
				if rng.Float64() < cardShareOfOrder {
					o.method = events.PaymentMethodCard
				}
			}
			// Orders designed to fail still hold their stock for a while.
			for _, l := range o.lines {
				stock[l.SKU] += int64(l.Quantity)
			}
			if k == kindOK && o.method == events.PaymentMethodWallet {
				for _, l := range o.lines {
					owed[o.customer] += price[l.SKU] * int64(l.Quantity)
				}
			}
		}
		p.orders = append(p.orders, o)
	}
	for i := range p.products {
		p.products[i].stock = stock[p.products[i].sku]
	}
	if fails > 0 {
		p.products = append(p.products, scarce)
	}

	for _, c := range solvent {
		for left := owed[c]; left > 0; left -= maxDepositCents {
			p.deposits = append(p.deposits, loadDeposit{customer: c, cents: min(left, maxDepositCents)})
		}
	}
	// A poor customer's wallet exists and holds less than any order costs.
	if fails > 0 {
		for _, c := range poor {
			p.deposits = append(p.deposits, loadDeposit{customer: c, cents: 1})
		}
		p.customers = append(p.customers, poor...)
	}
	p.customers = append(p.customers, solvent...)
	return p
}

// randomLines picks 1 to 3 distinct products, 1 to 3 units each.
func randomLines(rng *rand.Rand, products []loadProduct) []loadLine {
	n := min(1+rng.IntN(3), len(products))
	idx := rng.Perm(len(products))[:n]
	slices.Sort(idx)
	lines := make([]loadLine, n)
	for i, j := range idx {
		lines[i] = loadLine{SKU: products[j].sku, Quantity: 1 + rng.IntN(3)}
	}
	return lines
}

// expectedFailures counts the orders designed to fail, by kind.
func (p loadPlan) expectedFailures() (noFunds, noStock int) {
	for _, o := range p.orders {
		switch o.kind {
		case kindNoFunds:
			noFunds++
		case kindNoStock:
			noStock++
		}
	}
	return noFunds, noStock
}
