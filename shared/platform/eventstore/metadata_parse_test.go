package eventstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestParseMetadataMatchesEncodingJSON: the hand-written fast path gives
// exactly what encoding/json gives, and hands every other shape to it.
func TestParseMetadataMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 4, 5, 6, 789, time.UTC)
	written, _ := json.Marshal(Metadata{CorrelationID: "c-1", CausationID: "e-9", Traceparent: "00-abc-def-01", OccurredAt: at})
	for _, raw := range []string{
		string(written),
		`{}`, ` { } `, `{"traceparent":"x"}`,
		`{"$correlationId":"a","other":"b","$causationId":"c"}`,
		`{"$correlationId":"a\"b"}`,              // escape: slow path
		`{"$correlationId":"é"}`,                 // non-ASCII: slow path
		`{"n":1,"$causationId":"c"}`,             // non-string value: slow path
		`{"nested":{"a":"b"},"traceparent":"t"}`, // nested: slow path
		`{"occurredAt":"not a time"}`,            // bad time: slow path error
		`{"$correlationId":"a",}`, `{"a"}`, `[]`, `nul`, `{"a":"b"} x`,
	} {
		want := Metadata{}
		wantErr := json.Unmarshal([]byte(raw), &want)
		got, err := ParseMetadata([]byte(raw))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: err = %v, encoding/json says %v", raw, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, encoding/json gives %+v", raw, got, want)
		}
	}
}

// FuzzParseMetadata: on any input the result equals encoding/json's.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"$correlationId":"a","$causationId":"b","traceparent":"t","occurredAt":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"x":"y"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := Metadata{}
		wantErr := json.Unmarshal(raw, &want)
		got, err := ParseMetadata(raw)
		if len(raw) == 0 {
			return // empty metadata is the zero value by contract
		}
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v, %v; encoding/json gives %+v, %v", raw, got, err, want, wantErr)
		}
	})
}

// BenchmarkParseMetadata compares the fast path with encoding/json (the
// baseline) on the metadata the Repository writes.
func BenchmarkParseMetadata(b *testing.B) {
	raw, _ := json.Marshal(Metadata{CorrelationID: "9b2f4c1e-0a6d-4c55-9f1e-2b7d3a1c0e11", CausationID: "5a1e2b3c-4d5e-6f70-8192-a3b4c5d6e7f8",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", OccurredAt: time.Now().UTC()})
	var fast, slow time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := ParseMetadata(raw); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var m Metadata
		if err := json.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
		fast += t1.Sub(t0)
		slow += time.Since(t1)
	}
	b.ReportMetric(float64(fast.Nanoseconds())/float64(b.N), "ns/fast")
	b.ReportMetric(float64(slow.Nanoseconds())/float64(b.N), "ns/encoding-json")
	b.ReportMetric(float64(slow)/float64(fast), "speedup")
}
