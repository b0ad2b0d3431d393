package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// TestAdminAPIListsTheStacksSubscribers: the stack serves the admin API
// (admins only) naming every subscriber it runs, running.
func TestAdminAPIListsTheStacksSubscribers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		if r := p.call(t, http.MethodGet, admin.SubscribersPath, p.customerToken(t, id("c")), nil); r.status != http.StatusForbidden {
			t.Fatalf("customer: %d %s, want 403", r.status, r.body)
		}
		r := p.call(t, http.MethodGet, admin.SubscribersPath, p.admin, nil)
		var list admin.SubscriberList
		if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		got := map[string]admin.Subscriber{}
		for _, s := range list.Items {
			got[s.Name] = s
		}
		for _, name := range []string{"catalog", "ordering", "payments"} {
			if s := got[name]; s.Component != name || s.State != "running" || len(s.Topics) == 0 {
				t.Errorf("subscriber %s: %+v", name, s)
			}
		}
	})
}

// TestAdminResetRedrivesWithoutActingTwice: resetting the contexts' and
// loyalty's groups to the earliest offsets re-drives all history into them
// while the stack runs; nothing acts twice (one debit, stock committed
// once, points granted once). The projections refuse, naming the rebuild.
func TestAdminResetRedrivesWithoutActingTwice(t *testing.T) {
	t.Parallel()
	p := ownPlatform(t, func(c *stack.Config) { c.WithoutProjections = false })
	sku, customer := id("RESET"), id("c")
	p.listProduct(t, sku, 250, 5)
	p.deposit(t, customer, 1000)
	order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 2})
	if v := p.waitSettled(t, order); v.status != "CONFIRMED" {
		t.Fatalf("order %s", v)
	}
	points := func() int64 {
		r := p.call(t, http.MethodGet, "/api/customers/"+customer+"/loyalty", p.customerToken(t, customer), nil)
		var a struct {
			Points int64 `json:"points"`
		}
		_ = json.Unmarshal(r.body, &a)
		return a.Points
	}
	p.waitFor(t, "loyalty points", func() bool { return points() == 5 })

	r := p.call(t, http.MethodPost, admin.SubscriberPath("projections", "/reset"), p.admin, admin.ResetRequest{To: "earliest"})
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "troupe replay projection") {
		t.Fatalf("reset projections: %d %s, want 409 naming the rebuild", r.status, r.body)
	}
	if r := p.call(t, http.MethodPost, admin.SubscriberPath("nobody", "/reset"), p.admin, admin.ResetRequest{To: "earliest"}); r.status != http.StatusNotFound {
		t.Fatalf("reset of an unknown subscriber: %d %s", r.status, r.body)
	}
	groups := []string{"catalog", "ordering", "payments", "loyalty"}
	topics := map[string][]string{}
	for _, g := range groups {
		r := p.call(t, http.MethodPost, admin.SubscriberPath(g, "/reset"), p.admin, admin.ResetRequest{To: "earliest"})
		var res admin.ResetResult
		if r.status != http.StatusOK || json.Unmarshal(r.body, &res) != nil || len(res.Partitions) == 0 {
			t.Fatalf("reset %s: %d %s", g, r.status, r.body)
		}
		for _, po := range res.Partitions {
			if po.Offset != 0 {
				t.Fatalf("reset %s: %+v not at the start", g, po)
			}
			if !contains(topics[g], po.Topic) {
				topics[g] = append(topics[g], po.Topic)
			}
		}
	}
	for _, g := range groups {
		p.waitFor(t, g+" to re-consume history", func() bool {
			lag, err := messaging.GroupLag(p.st.Brokers(), messaging.NewSaramaConfig("test"), g, topics[g]...)
			if err != nil {
				return false
			}
			for _, l := range lag {
				if l.Lag != 0 {
					return false
				}
			}
			return true
		})
	}
	// A new order after the reset still goes through.
	second := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 1})
	if v := p.waitSettled(t, second); v.status != "CONFIRMED" || v.captures != 1 || v.refunds != 0 {
		t.Fatalf("order after the reset %s", v)
	}
	if v := p.order(t, order); v.captures != 1 || v.refunds != 0 || v.committed != 1 || v.confirmedEvents != 1 {
		t.Fatalf("first order after the reset %s: acted twice", v)
	}
	wantStock(t, p, sku, invariant.Stock{Received: 5, Available: 2, Committed: 3})
	if b := p.balance(t, customer); b != 250 {
		t.Fatalf("balance %d, want 250 (one debit per order)", b)
	}
	p.waitFor(t, "loyalty points of the second order", func() bool { return points() >= 7 })
	if got := points(); got != 7 {
		t.Fatalf("loyalty points %d, want 7 (5 + 2, the replay granted none again)", got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
