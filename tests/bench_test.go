package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	orderingadapters "github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// sagaHops is the order saga's critical path in (append, relay, consume)
// hops: ordering appends order_placed -> catalog reserves; catalog's
// stock_reserved -> payments captures; payments' payment_captured ->
// ordering confirms. The appends inside each context (intents, product
// holds, wallet debits) are not hops; sagaExtraAppends counts them.
const sagaHops = 3

// sagaExtraAppends counts the durable appends on the saga's critical path
// beyond the one each hop starts with: catalog's reservation intent and
// product hold, payments' capture intent (with the fact that made it due)
// and wallet debit, and ordering's confirmation. The design asks for each
// (intent before derived writes), and each waits for an fsync, so the
// saga's structural floor is sagaHops x floor + sagaExtraAppends x append.
const sagaExtraAppends = 5

// terminals watches the event store for orders reaching CONFIRMED or
// CANCELLED and records when each was seen.
type terminals struct {
	mu   sync.Mutex
	seen map[string]time.Time
	wait map[string]chan struct{}
}

func watchTerminals(b *testing.B, p *platform) *terminals {
	b.Helper()
	tm := &terminals{seen: map[string]time.Time{}, wait: map[string]chan struct{}{}}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	sub, err := p.st.EventStore().SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{orderingadapters.OrderCategory + "-"}}})
	if err != nil {
		b.Fatal(err)
	}
	mapper := orderingadapters.Mapper(orderingadapters.NewEventRegistry())
	go func() {
		defer sub.Close()
		for {
			ev := sub.Recv()
			if ev.SubscriptionDropped != nil {
				return
			}
			if ev.EventAppeared == nil || ev.EventAppeared.Event == nil {
				continue
			}
			ie, ok, err := mapper.Map(eventstore.NewRecordedEvent(ev.EventAppeared.Event))
			if err != nil || !ok || (ie.Type != events.TypeOrderConfirmed && ie.Type != events.TypeOrderCancelled) {
				continue
			}
			var o struct {
				OrderID string `json:"orderId"`
			}
			if json.Unmarshal(ie.Payload, &o) != nil {
				continue
			}
			now := time.Now()
			tm.mu.Lock()
			if _, dup := tm.seen[o.OrderID]; !dup {
				tm.seen[o.OrderID] = now
				if c := tm.wait[o.OrderID]; c != nil {
					close(c)
				}
			}
			tm.mu.Unlock()
		}
	}()
	return tm
}

// await blocks until orderID is terminal and returns when it was seen.
func (tm *terminals) await(orderID string, timeout time.Duration) (time.Time, bool) {
	tm.mu.Lock()
	if at, ok := tm.seen[orderID]; ok {
		tm.mu.Unlock()
		return at, true
	}
	c := tm.wait[orderID]
	if c == nil {
		c = make(chan struct{})
		tm.wait[orderID] = c
	}
	tm.mu.Unlock()
	select {
	case <-c:
	case <-time.After(timeout):
		return time.Time{}, false
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.seen[orderID], true
}

// BenchmarkSaga measures orders through the whole saga (wallet, all
// confirmed): orders/s at concurrency 64, and placed-to-terminal latency
// p50/p99 (placed = the HTTP request is sent, terminal = the confirmation
// is in the event store) at concurrency 64 and at 1 (low load). The floor
// (BenchmarkFloor) runs in the same process; the ratio is reported beside.
// The process runs with the GC target `troupe up` sets (stack.TuneGC).
func BenchmarkSaga(b *testing.B) {
	stack.TuneGC()
	for _, backend := range []string{testinfra.Embedded, testinfra.Real} {
		b.Run(backend, func(b *testing.B) {
			if backend == testinfra.Real && testinfra.RealKafka() == nil {
				b.Skip("real Kafka: set " + testinfra.EnvKafkaBrokers)
			}
			p := sharedPlatform(b, backend)
			floor, appendP50 := measureFloor(b, p, 200)
			b.Logf("%s floor (append + relay hop + consume): p50 %v; append alone: p50 %v", backend, floor, appendP50)
			// c1 and c64 order one hot SKU (every reservation contends on
			// one product stream: the worst case); c64-spread spreads the
			// orders over benchSpreadSKUs products, as a real catalog does.
			for _, c := range []struct {
				name      string
				conc, sku int
			}{{"c1", 1, 1}, {"c64", 64, 1}, {"c64-spread", 64, benchSpreadSKUs}} {
				b.Run(c.name, func(b *testing.B) {
					benchSaga(b, p, c.conc, c.sku, floor, appendP50)
				})
			}
		})
	}
}

// benchSpreadSKUs is how many products the spread case orders from.
const benchSpreadSKUs = 100

func benchSaga(b *testing.B, p *platform, conc, nSKUs int, floor, appendP50 time.Duration) {
	skus := make([]string, nSKUs)
	for i := range skus {
		skus[i] = id("BENCH")
		p.listProduct(b, skus[i], 100, 1_000_000)
	}
	sku := skus[0]
	customers := make([]string, conc)
	tokens := make([]string, conc)
	for i := range customers {
		customers[i] = id("bc")
		tokens[i] = p.customerToken(b, customers[i])
		p.deposit(b, customers[i], 10_000_000)
	}
	tm := watchTerminals(b, p)
	// Warm up the path (connections, consumer fetch sessions).
	for i := 0; i < 3; i++ {
		o := p.place(b, customers[0], events.PaymentMethodWallet, orderLine{sku, 1})
		if _, ok := tm.await(o, time.Minute); !ok {
			b.Fatalf("warm-up order %s did not settle", o)
		}
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				placed := time.Now()
				o := p.place(b, customers[w], events.PaymentMethodWallet, orderLine{skus[i%len(skus)], 1})
				at, ok := tm.await(o, 2*time.Minute)
				if !ok {
					b.Errorf("order %s did not settle", o)
					return
				}
				lat[i] = at.Sub(placed)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
	b.ReportMetric(float64(p50)/float64(sagaHops*floor), "p50/(3xfloor)")
	b.ReportMetric(float64(p50)/float64(sagaHops*floor+sagaExtraAppends*appendP50), "p50/(3xfloor+5xappend)")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFloor is the baseline alone: one append, one relay hop and one
// consume, sequentially, on the same machine and stack as BenchmarkSaga.
func BenchmarkFloor(b *testing.B) {
	for _, backend := range []string{testinfra.Embedded, testinfra.Real} {
		b.Run(backend, func(b *testing.B) {
			if backend == testinfra.Real && testinfra.RealKafka() == nil {
				b.Skip("real Kafka: set " + testinfra.EnvKafkaBrokers)
			}
			p := sharedPlatform(b, backend)
			b.ResetTimer()
			floor, appendP50 := measureFloor(b, p, b.N)
			b.ReportMetric(float64(floor.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(appendP50.Microseconds())/1000, "append-p50-ms")
		})
	}
}

// measureFloor appends n events one after the other to a context of its
// own, relays them with the platform's relay and a mapper that publishes
// each, consumes them with the subscriber SDK, and returns the p50 of
// append-to-handled and the p50 of the append alone.
func measureFloor(b testing.TB, p *platform, n int) (floor, appendP50 time.Duration) {
	b.Helper()
	ctxName := "floor" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	eventType := ctxName + ".pinged.v1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := quietLogger()
	rl, err := relay.New(relay.Config{Context: ctxName, EventStore: p.st.EventStore(), Brokers: p.st.Brokers(), Logger: quiet,
		Mapper: relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
			return relay.Event{Type: eventType, Payload: ev.Data}, true, nil
		})})
	if err != nil {
		b.Fatal(err)
	}
	// The consume is a plain partition consumer: the subscriber SDK
	// validates every payload against the published schemas, which a
	// throwaway context has none of; its own cost is part of the saga's.
	topic := messaging.TopicFor(ctxName)
	if err := messaging.EnsureTopics(p.st.Brokers(), messaging.NewSaramaConfig(ctxName), topic); err != nil {
		b.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(p.st.Brokers(), messaging.NewSaramaConfig(ctxName))
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	got := make(chan string, 16)
	var (
		wg  sync.WaitGroup
		pcs []sarama.PartitionConsumer
	)
	defer func() {
		cancel()
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()
	for part := range int32(messaging.TopicPartitions) {
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		pcs = append(pcs, pc)
		wg.Go(func() {
			for m := range pc.Messages() {
				select {
				case got <- string(m.Value):
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Go(func() {
		if err := rl.Run(ctx); err != nil && ctx.Err() == nil {
			b.Errorf("floor relay: %v", err)
		}
	})

	ping := func(i int) (total, appended time.Duration) {
		body := fmt.Sprintf(`{"i":%d}`, i)
		start := time.Now()
		_, err := p.st.EventStore().AppendToStream(ctx, fmt.Sprintf("%s.ping-%d", ctxName, i), esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
			esdb.EventData{EventType: "pinged", ContentType: esdb.ContentTypeJson, Data: []byte(body)})
		if err != nil {
			b.Fatal(err)
		}
		appended = time.Since(start)
		for {
			select {
			case s := <-got:
				if s == body {
					return time.Since(start), appended
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("ping %d not consumed within a minute", i)
			}
		}
	}
	for i := 0; i < 5; i++ { // the topic, the group and the fetch sessions
		ping(-1 - i)
	}
	lat, app := make([]time.Duration, n), make([]time.Duration, n)
	for i := range lat {
		lat[i], app[i] = ping(i)
	}
	slices.Sort(lat)
	slices.Sort(app)
	return lat[len(lat)/2], app[len(app)/2]
}
