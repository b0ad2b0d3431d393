package tests

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/schemas"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// TestEveryPublishedEventValidates drives sagas that make each context
// publish (confirmations, an out-of-stock cancellation, a failed payment
// whose stock is released, deposits, a reprice), then reads every record on the three
// integration topics, from the oldest offset, and checks each against the
// published JSON Schema of the type its header names, and that it carries
// every header of the design. It runs on the embedded stack and on real
// Kafka (where the topics also hold every other scenario's events).
func TestEveryPublishedEventValidates(t *testing.T) {
	t.Parallel()
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.sim.RLock()
		sku, scarce, customer := id("SCHEMA"), id("SCARCE"), id("c")
		p.listProduct(t, sku, 300, 10)
		p.listProduct(t, scarce, 100, 1)
		p.deposit(t, customer, 10_000)
		var orders []string
		orders = append(orders, p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 1}))
		orders = append(orders, p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 2}))
		orders = append(orders, p.place(t, customer, events.PaymentMethodWallet, orderLine{scarce, 5}))
		// Reserved, then unpaid (an empty wallet): payment_failed, and the
		// cancellation releases the stock.
		orders = append(orders, p.place(t, id("c"), events.PaymentMethodWallet, orderLine{sku, 1}))
		for _, o := range orders {
			p.waitSettled(t, o)
		}
		p.sim.RUnlock()
		if resp := p.call(t, http.MethodPut, "/api/catalog/products/"+sku+"/price", p.admin, map[string]any{"priceCents": 350}); resp.status != http.StatusAccepted {
			t.Fatalf("reprice: %d %s", resp.status, resp.body)
		}
		// Every relay has published by now: the last event above (the
		// reprice) is waited for on catalog's topic.
		p.relayed(t, messaging.TopicFor(events.ContextCatalog), "catalog.product-"+sku, events.TypeProductRepriced)

		required := []string{messaging.HeaderEventID, messaging.HeaderEventType, messaging.HeaderStream,
			messaging.HeaderRevision, messaging.HeaderCorrelationID, messaging.HeaderCausationID,
			messaging.HeaderOccurredAt, messaging.HeaderContentType}
		seen := map[string]int{}
		total := 0
		for _, ctx := range []string{events.ContextCatalog, events.ContextOrdering, events.ContextPayments} {
			eachRecord(t, p.st.Brokers(), messaging.TopicFor(ctx), func(m *sarama.ConsumerMessage) {
				h := map[string]string{}
				for _, x := range m.Headers {
					h[string(x.Key)] = string(x.Value)
				}
				for _, k := range required {
					if h[k] == "" {
						t.Fatalf("%s/%d@%d lacks header %s: %v", m.Topic, m.Partition, m.Offset, k, h)
					}
				}
				typ := h[messaging.HeaderEventType]
				if !strings.HasPrefix(typ, ctx+".") || h[messaging.HeaderStream] != string(m.Key) {
					t.Fatalf("%s/%d@%d: type %q or stream %q does not belong here (key %q)", m.Topic, m.Partition, m.Offset,
						typ, h[messaging.HeaderStream], m.Key)
				}
				if err := set.Validate(typ, m.Value); err != nil {
					t.Fatalf("%s/%d@%d (%s): %v\n%s", m.Topic, m.Partition, m.Offset, typ, err, m.Value)
				}
				seen[typ]++
				total++
			})
		}
		types := make([]string, 0, len(seen))
		for typ := range seen {
			types = append(types, typ)
		}
		sort.Strings(types)
		t.Logf("%d records validated, %d types: %v", total, len(types), types)
		for _, want := range []string{events.TypeProductListed, events.TypeProductRepriced, events.TypeStockReceived,
			events.TypeStockReserved, events.TypeStockReservationFailed, events.TypeStockCommitted, events.TypeStockReleased,
			events.TypeOrderPlaced, events.TypeOrderConfirmed, events.TypeOrderCancelled,
			events.TypeFundsDeposited, events.TypeWalletDebited, events.TypePaymentCaptured, events.TypePaymentFailed} {
			if seen[want] == 0 {
				t.Errorf("no %s record was published, so it was not checked", want)
			}
		}
	})
}

// eachRecord calls fn for every record on topic, oldest first per partition,
// up to the end as of the call.
func eachRecord(t *testing.T, brokers []string, topic string, fn func(*sarama.ConsumerMessage)) {
	t.Helper()
	client, err := sarama.NewClient(brokers, messaging.NewSaramaConfig("e2e-contract"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	for _, part := range parts {
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		start, err := client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		if start >= end {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, start)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(60 * time.Second)
	read:
		for {
			select {
			case m := <-pc.Messages():
				fn(m)
				if m.Offset+1 >= end {
					break read
				}
			case <-timeout:
				t.Fatalf("%s/%d: timed out before offset %d", topic, part, end)
			}
		}
		pc.Close()
	}
}
