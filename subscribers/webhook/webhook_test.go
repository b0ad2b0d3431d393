package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/subscribers/webhook"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"e1","data":{}}`)
	h := webhook.Sign("s3cret", now, body)
	// A known vector (also in docs/subscribers.md), computed independently:
	// printf '%s' '1700000000.{"id":"e1","data":{}}' | openssl dgst -sha256 -hmac s3cret
	if want := "t=1700000000,v1=ea3e343ed3b396458c291cfda18a035c4a688de90ffccdf7d64dd03035d64197"; h != want {
		t.Fatalf("Sign = %q, want %q", h, want)
	}
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "s3cret", h, body, now.Add(time.Minute), nil},
		{"rotation: second v1 matches", "s3cret", "t=1700000000,v1=00ff," + h[len("t=1700000000,"):], body, now, nil},
		{"tampered body", "s3cret", h, []byte(`{"id":"e2","data":{}}`), now, webhook.ErrSignatureMismatch},
		{"wrong secret", "other", h, body, now, webhook.ErrSignatureMismatch},
		{"too old", "s3cret", h, body, now.Add(6 * time.Minute), webhook.ErrSignatureExpired},
		{"from the future", "s3cret", h, body, now.Add(-6 * time.Minute), webhook.ErrSignatureExpired},
		{"no v1", "s3cret", "t=1700000000", body, now, webhook.ErrMalformedSignature},
		{"no t", "s3cret", "v1=abcd", body, now, webhook.ErrMalformedSignature},
		{"garbage", "s3cret", "nonsense", body, now, webhook.ErrMalformedSignature},
		{"bad t", "s3cret", "t=x,v1=ab", body, now, webhook.ErrMalformedSignature},
	} {
		err := webhook.Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := webhook.Verify("s3cret", h, body, now.Add(24*time.Hour), 0); err != nil {
		t.Errorf("tolerance 0 skips the time check: %v", err)
	}
}
