package eventstore_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func TestRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	r := accountEvents()
	for _, ev := range []any{moneyDeposited{Amount: 5, Source: "s"}, &moneyDeposited{Amount: 7}} {
		name, data, err := r.Encode(ev)
		if err != nil || name != "test.account.deposited" {
			t.Fatalf("encode %#v: %q, %v", ev, name, err)
		}
		got, err := r.Decode(name, data)
		if err != nil {
			t.Fatal(err)
		}
		want := ev
		if p, ok := ev.(*moneyDeposited); ok {
			want = *p
		}
		if got != want {
			t.Fatalf("decoded %#v, want %#v (a value, not a pointer)", got, want)
		}
	}
}

func TestRegistryRefusesUnknown(t *testing.T) {
	t.Parallel()
	r := accountEvents()
	type stranger struct{}
	if _, _, err := r.Encode(stranger{}); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("encode an unregistered type: %v", err)
	}
	if _, err := r.Decode("test.account.closed", []byte(`{}`)); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("decode an unregistered name: %v", err)
	}
	if _, err := r.Decode("test.account.deposited", []byte(`{"Amount":"x"}`)); err == nil {
		t.Fatal("decode of malformed data succeeded")
	}
}

func TestRegistryPanicsOnDuplicates(t *testing.T) {
	t.Parallel()
	for name, register := range map[string]func(r *eventstore.Registry){
		"same name": func(r *eventstore.Registry) { eventstore.Register[struct{ X int }](r, "test.account.opened") },
		"same type": func(r *eventstore.Registry) { eventstore.Register[accountOpened](r, "test.account.reopened") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register(accountEvents())
		}()
	}
}

// An adapter keeps struct tags out of the domain by mapping to a DTO.
func TestRegistryCustomCodec(t *testing.T) {
	t.Parallel()
	type dto struct {
		Name    string `json:"owner_name"`
		Version int    `json:"v"`
	}
	r := eventstore.NewRegistry()
	eventstore.RegisterCodec(r, "test.account.opened", eventstore.Codec[accountOpened]{
		Marshal: func(e accountOpened) ([]byte, error) { return json.Marshal(dto{Name: e.Owner, Version: 1}) },
		Unmarshal: func(b []byte) (accountOpened, error) {
			var d dto
			err := json.Unmarshal(b, &d)
			return accountOpened{Owner: d.Name}, err
		},
	})
	_, data, err := r.Encode(accountOpened{Owner: "ada"})
	if err != nil || !strings.Contains(string(data), `"owner_name":"ada"`) {
		t.Fatalf("encoded %s, %v", data, err)
	}
	got, err := r.Decode("test.account.opened", data)
	if err != nil || got != (accountOpened{Owner: "ada"}) {
		t.Fatalf("decoded %#v, %v", got, err)
	}
}

func TestEventIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a := eventstore.EventID("src", "test.account-1", 0)
	if a != eventstore.EventID("src", "test.account-1", 0) {
		t.Fatal("same inputs gave different ids")
	}
	seen := map[string]bool{a.String(): true}
	for _, other := range [][3]any{{"src", "test.account-1", 1}, {"src", "test.account-2", 0}, {"src2", "test.account-1", 0}} {
		id := eventstore.EventID(other[0].(string), other[1].(string), other[2].(int)).String()
		if seen[id] {
			t.Fatalf("%v collides", other)
		}
		seen[id] = true
	}
	if a.Version() != 5 {
		t.Fatalf("version %d, want a v5 (name-based) uuid", a.Version())
	}
}

func TestRegistryNames(t *testing.T) {
	t.Parallel()
	r := eventstore.NewRegistry()
	if n := r.Names(); len(n) != 0 {
		t.Fatalf("empty registry: %q", n)
	}
	r = accountEvents()
	names := r.Names()
	if want := []string{"test.account.deposited", "test.account.opened"}; !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	for _, n := range names {
		if _, err := r.Decode(n, []byte(`{}`)); err != nil {
			t.Errorf("%s is listed but does not decode: %v", n, err)
		}
	}
}
