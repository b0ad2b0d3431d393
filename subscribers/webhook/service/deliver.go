package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/subscribers/webhook"
)

// poster POSTs events to one webhook.
type poster struct {
	hook   Webhook
	client *http.Client
	cfg    *Config
}

// post sends one event and returns nil once the receiver answered 2xx. Any
// other outcome is an error, so the SDK retries it and, in the end,
// dead-letters it.
func (p *poster) post(ctx context.Context, payload []byte, m messaging.Meta) error {
	body, err := json.Marshal(webhook.Envelope{ID: m.EventID, Type: m.EventType, Stream: m.Stream,
		Revision: m.Revision, OccurredAt: m.OccurredAt, Data: payload})
	if err != nil {
		return fmt.Errorf("webhook %s: encode %s: %w", p.hook.Name, m.EventID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.hook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", p.hook.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "troupe-webhook/1")
	req.Header.Set("Troupe-Event-Id", m.EventID)
	req.Header.Set("Troupe-Event-Type", m.EventType)
	// Signed at each attempt, so a retry after a long backoff is still
	// within the receiver's tolerance.
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(p.hook.Secret, p.cfg.Now(), body))
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: POST %s: %w", p.hook.Name, p.hook.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: POST %s: %s: %s", p.hook.Name, p.hook.URL, resp.Status, bytes.TrimSpace(snippet))
	}
	return nil
}
