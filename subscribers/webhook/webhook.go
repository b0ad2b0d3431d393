// Package webhook is the receiving side of Troupe's webhook subscribers:
// the Envelope a receiver is POSTed and the Troupe-Signature it verifies.
// It imports the standard library only, so a Go receiver can use it
// without pulling in Kafka. The forwarder itself is package service.
//
// # The contract, for receivers in any language
//
// Each event is a POST with Content-Type application/json and the body
//
//	{"id": "...", "type": "payments.payment_captured.v1", "stream": "payments.payment-<orderId>",
//	 "revision": 3, "occurredAt": "2025-01-02T03:04:05.123Z", "data": {...the event's payload...}}
//
// and the header
//
//	Troupe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// To verify: split the header on ",", each item on the first "="; compute
// the HMAC-SHA256 of the decimal t, a ".", and the raw body bytes exactly as
// received (before any JSON parsing), keyed by the webhook's secret; compare
// its lowercase hex with each v1 value in constant time; reject a t more
// than a few minutes from your clock (replays). Any 2xx answer acknowledges
// the event; anything else (or no answer within the timeout) is retried
// with backoff, and after the configured attempts the event goes to the
// dead-letter topic webhook-<name>.dlq. Delivery is at least once: use "id"
// to drop a repeat. Events of one stream arrive in order, one at a time.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the HTTP header carrying the signature.
const SignatureHeader = "Troupe-Signature"

// Envelope is the JSON body of every webhook request.
type Envelope struct {
	// ID is the event id: deterministic from the source event, so a
	// redelivery carries the same id.
	ID string `json:"id"`
	// Type is the versioned event type, e.g. "payments.payment_captured.v1".
	Type string `json:"type"`
	// Stream and Revision name the source event; revisions of one stream
	// only grow.
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	// OccurredAt is when the event happened (RFC 3339).
	OccurredAt time.Time `json:"occurredAt"`
	// Data is the integration event's payload, as published.
	Data json.RawMessage `json:"data"`
}

// Errors of Verify, for errors.Is.
var (
	ErrMalformedSignature = errors.New("malformed Troupe-Signature")
	ErrSignatureExpired   = errors.New("Troupe-Signature timestamp outside tolerance")
	ErrSignatureMismatch  = errors.New("Troupe-Signature does not match")
)

func mac(secret string, t int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte("."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the Troupe-Signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + mac(secret, ts, body)
}

// Verify checks a Troupe-Signature header against the raw body: a v1
// signature must be the HMAC of "<t>.<body>" under secret, and t must be
// within tolerance of now (a non-positive tolerance skips that check). It
// accepts several v1 values (as during a secret rotation) and compares in
// constant time. It returns nil or an error wrapping ErrMalformedSignature,
// ErrSignatureExpired or ErrSignatureMismatch.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var (
		ts   int64
		hasT bool
		sigs []string
	)
	for _, item := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return fmt.Errorf("%w: item %q has no '='", ErrMalformedSignature, item)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: t=%q is not unix seconds", ErrMalformedSignature, v)
			}
			ts, hasT = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !hasT || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrMalformedSignature)
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed %v from now", ErrSignatureExpired, d.Round(time.Second))
		}
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal(want, []byte(strings.ToLower(s))) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
