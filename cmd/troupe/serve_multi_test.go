package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// listed collects the product_listed events of SKUs with one prefix from
// catalog.events, counting how often each event id was published.
type listed struct {
	mu    sync.Mutex
	bySKU map[string]map[string]int // sku -> event id -> copies
}

func watchListed(t *testing.T, brokers []string, prefix string) *listed {
	t.Helper()
	l := &listed{bySKU: map[string]map[string]int{}}
	cfg := sarama.NewConfig()
	cfg.Consumer.Return.Errors = false
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	topic := messaging.TopicFor("catalog")
	var parts []int32
	eventuallyT(t, "the catalog topic exists", 60*time.Second, func() bool {
		_ = client.RefreshMetadata(topic)
		parts, err = client.Partitions(topic)
		return err == nil && len(parts) > 0
	})
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range pc.Messages() {
				var typ, id string
				for _, h := range m.Headers {
					switch string(h.Key) {
					case messaging.HeaderEventType:
						typ = string(h.Value)
					case messaging.HeaderEventID:
						id = string(h.Value)
					}
				}
				var body struct {
					SKU string `json:"sku"`
				}
				if typ != "catalog.product_listed.v1" || json.Unmarshal(m.Value, &body) != nil || !strings.HasPrefix(body.SKU, prefix) {
					continue
				}
				l.mu.Lock()
				if l.bySKU[body.SKU] == nil {
					l.bySKU[body.SKU] = map[string]int{}
				}
				l.bySKU[body.SKU][id]++
				l.mu.Unlock()
			}
		}()
		t.Cleanup(func() { _ = pc.Close() })
	}
	return l
}

// check reports whether every sku was seen, and the most copies of one
// event and the most distinct event ids of one sku.
func (l *listed) check(skus []string) (all bool, mostCopies, mostIDs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	all = true
	for _, sku := range skus {
		ids := l.bySKU[sku]
		if len(ids) == 0 {
			all = false
		}
		mostIDs = max(mostIDs, len(ids))
		for _, n := range ids {
			mostCopies = max(mostCopies, n)
		}
	}
	return all, mostCopies, mostIDs
}

// leaseHolderPID reads the pid out of the lease's last record (the
// default holder id is host-pid-random).
func leaseHolderPID(t *testing.T, c *esdb.Client, name string) int {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), lease.Stream(name), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Holder   string `json:"holder"`
		Released bool   `json:"released"`
	}
	if err := json.Unmarshal(re.OriginalEvent().Data, &rec); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(rec.Holder, "-")
	if len(parts) < 3 || rec.Released {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}

// TestServeTwoCatalogRelays runs two `troupe serve catalog` processes on
// one event store: each product is published exactly once while the relay
// holder lives; after kill -9 of the holder, the other process takes the
// lease over (after its TTL) and publishes the products created since,
// with at most one extra copy of any event (the one holder change).
func TestServeTwoCatalogRelays(t *testing.T) {
	in := startServeInfra(t, 13)
	admin := in.token(t, "admin", httpapi.RoleAdmin)
	a := spawnServe(t, in, "catalog")
	b := spawnServe(t, in, "catalog")
	a.waitReady(t)
	b.waitReady(t)
	prefix := "TWO-" + randomSKU()[:6] + "-"
	seen := watchListed(t, strings.Split(in.brokers, ","), prefix)

	create := func(p *serveProc, sku string) {
		t.Helper()
		code, body := do(t, http.MethodPost, p.base+"/api/catalog/products", admin, `{"sku":"`+sku+`","name":"Two relays","priceCents":100}`)
		if code != http.StatusCreated {
			t.Fatalf("POST %s to %s: %d %s", sku, p.base, code, body)
		}
	}
	var before []string
	for i := range 10 {
		sku := fmt.Sprintf("%s%02d", prefix, i)
		before = append(before, sku)
		create([]*serveProc{a, b}[i%2], sku)
	}
	eventuallyT(t, "the first products are published", 60*time.Second, func() bool { all, _, _ := seen.check(before); return all })
	if _, copies, ids := seen.check(before); copies != 1 || ids != 1 {
		t.Fatalf("with one relay holder: up to %d copies of an event, %d event ids per product; want exactly 1", copies, ids)
	}

	es, err := eventstore.Dial(in.eventstore, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	holder, survivor := a, b
	switch leaseHolderPID(t, es, "catalog") {
	case a.cmd.Process.Pid:
	case b.cmd.Process.Pid:
		holder, survivor = b, a
	default:
		t.Fatalf("the catalog lease is held by neither process (%d, %d)", a.cmd.Process.Pid, b.cmd.Process.Pid)
	}
	holder.kill9(t)

	var after []string
	for i := 10; i < 20; i++ {
		sku := fmt.Sprintf("%s%02d", prefix, i)
		after = append(after, sku)
		create(survivor, sku)
	}
	eventuallyT(t, "the survivor publishes after the takeover", 90*time.Second, func() bool { all, _, _ := seen.check(after); return all })
	if got := leaseHolderPID(t, es, "catalog"); got != survivor.cmd.Process.Pid {
		t.Fatalf("lease holder pid %d after the takeover, want the survivor %d", got, survivor.cmd.Process.Pid)
	}
	// Let a late duplicate arrive before counting: the survivor's relay
	// has published everything after its checkpoint by now.
	time.Sleep(time.Second)
	if _, copies, ids := seen.check(append(before, after...)); copies > 2 || ids != 1 {
		t.Fatalf("after one holder change: up to %d copies of an event, %d event ids per product; want at most 2 copies of one id", copies, ids)
	}
	survivor.term(t)
}

// TestServeTwoProjections starts two `troupe serve projections` on one
// empty Redis at once: the model is rebuilt once (the other instance
// waits for it), both join the one consumer group, both become ready, and
// both answer from a read model that is correct for products created
// before and after they started.
func TestServeTwoProjections(t *testing.T) {
	in := startServeInfra(t, 14)
	admin := in.token(t, "admin", httpapi.RoleAdmin)
	cat := startServe(t, in, "catalog")
	prefix := "PRJ-" + randomSKU()[:6] + "-"
	create := func(sku string, qty int) {
		t.Helper()
		if code, body := do(t, http.MethodPost, cat.base+"/api/catalog/products", admin, `{"sku":"`+sku+`","name":"Two projections","priceCents":250}`); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", sku, code, body)
		}
		if code, body := do(t, http.MethodPost, cat.base+"/api/catalog/products/"+sku+"/stock", admin, fmt.Sprintf(`{"quantity":%d}`, qty)); code != http.StatusAccepted {
			t.Fatalf("POST stock %s: %d %s", sku, code, body)
		}
	}
	want := map[string]int{}
	for i := range 5 {
		sku := fmt.Sprintf("%sA%d", prefix, i)
		want[sku] = 10 + i
		create(sku, 10+i)
	}
	p1 := spawnServe(t, in, "projections")
	p2 := spawnServe(t, in, "projections")
	p1.waitReady(t)
	p2.waitReady(t)
	for i := range 5 {
		sku := fmt.Sprintf("%sB%d", prefix, i)
		want[sku] = 20 + i
		create(sku, 20+i)
	}
	for _, p := range []*serveProc{p1, p2} {
		eventuallyT(t, "projections at "+p.base+" shows every product and its stock", 60*time.Second, func() bool {
			for sku, qty := range want {
				code, body := do(t, http.MethodGet, p.base+"/api/products/"+sku, "", "")
				if code != http.StatusOK {
					return false
				}
				var got struct {
					PriceCents int64 `json:"priceCents"`
					Available  int   `json:"available"`
				}
				if json.Unmarshal([]byte(body), &got) != nil || got.Available != qty || got.PriceCents != 250 {
					return false
				}
			}
			return true
		})
	}
	rebuilds := strings.Count(p1.out.String()+p2.out.String(), "rebuilding from the oldest offsets")
	if rebuilds != 1 {
		t.Errorf("the empty model was rebuilt %d times by two instances, want once:\n%s\n%s", rebuilds, p1.out.String(), p2.out.String())
	}
	members := groupMembers(t, strings.Split(in.brokers, ","), "projections")
	if members < 2 {
		t.Errorf("the projections group has %d members, want both instances", members)
	}
	p1.term(t)
	p2.term(t)
	cat.term(t)
}

func groupMembers(t *testing.T, brokers []string, group string) int {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	descs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(descs) == 0 {
		t.Fatalf("describe %s: %v", group, err)
	}
	return len(descs[0].Members)
}
