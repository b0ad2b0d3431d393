package pricebook

import (
	"errors"
	"reflect"
	"testing"
)

func TestPriceBook(t *testing.T) {
	t.Parallel()
	listed := Listed{SKU: "SKU-1", Name: "Mug", PriceCents: 500, Currency: "EUR", SourceRevision: 0}
	for _, tc := range []struct {
		name  string
		given []any
		when  func(e *Entry) error
		then  []any
		err   error
	}{
		{name: "list", when: func(e *Entry) error { return e.List("Mug", 500, "EUR", 0) }, then: []any{listed}},
		{name: "list again is a repeat", given: []any{listed},
			when: func(e *Entry) error { return e.List("Mug", 500, "EUR", 0) }},
		{name: "reprice", given: []any{listed},
			when: func(e *Entry) error { return e.Reprice(700, "EUR", 3) },
			then: []any{Repriced{SKU: "SKU-1", PriceCents: 700, Currency: "EUR", SourceRevision: 3}}},
		{name: "older reprice is a repeat",
			given: []any{listed, Repriced{SKU: "SKU-1", PriceCents: 700, Currency: "EUR", SourceRevision: 3}},
			when:  func(e *Entry) error { return e.Reprice(600, "EUR", 2) }},
		{name: "negative price", when: func(e *Entry) error { return e.List("Mug", -1, "EUR", 0) },
			err: ErrInvalidPrice},
		{name: "no currency", given: []any{listed}, when: func(e *Entry) error { return e.Reprice(1, "", 1) },
			err: ErrInvalidPrice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := New("SKU-1")
			for _, ev := range tc.given {
				e.ApplyEvent(ev)
			}
			err := tc.when(e)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got := e.PendingEvents(); !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events %#v, want %#v", got, tc.then)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	t.Parallel()
	e := New("SKU-1")
	if _, _, err := e.Price(); !errors.Is(err, ErrNotListed) {
		t.Fatalf("unlisted price: %v", err)
	}
	e.ApplyEvent(Listed{SKU: "SKU-1", Name: "Mug", PriceCents: 500, Currency: "EUR"})
	e.ApplyEvent(Repriced{SKU: "SKU-1", PriceCents: 650, Currency: "EUR", SourceRevision: 1})
	p, cur, err := e.Price()
	if err != nil || p != 650 || cur != "EUR" || e.Name() != "Mug" || !e.Listed() {
		t.Fatalf("price %d %s %v", p, cur, err)
	}
}
