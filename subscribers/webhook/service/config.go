package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/troupe-dev/troupe/shared/events"
)

// EnvWebhooks is the environment variable holding the webhooks as a JSON
// list (the same JSON a --webhooks file holds).
const EnvWebhooks = "TROUPE_WEBHOOKS"

// GroupPrefix prefixes a webhook's name to make its consumer group (and
// subscriber name): "webhook-<name>", dead letters "webhook-<name>.dlq".
const GroupPrefix = "webhook-"

// webhookName leaves room for GroupPrefix within the SDK's 63 characters.
var webhookName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,54}$`)

// Webhook is one endpoint and the event types forwarded to it.
type Webhook struct {
	// Name is stable: it names the consumer group webhook-<Name>; renaming
	// a webhook re-sends all history to it.
	Name string `json:"name"`
	// URL receives the POSTs (http or https).
	URL string `json:"url"`
	// Secret keys the Troupe-Signature HMAC.
	Secret string `json:"secret"`
	// Types are the versioned event types forwarded, e.g.
	// "payments.payment_captured.v1"; others are skipped.
	Types []string `json:"types"`
	// Topics override the topics consumed (default: the "<context>.events"
	// topic of each type).
	Topics []string `json:"topics,omitempty"`
}

// Group returns the webhook's consumer group, "webhook-<name>".
func (w Webhook) Group() string { return GroupPrefix + w.Name }

// Validate reports what makes w unusable, naming the webhook and field.
func (w Webhook) Validate() error {
	if !webhookName.MatchString(w.Name) {
		return fmt.Errorf("webhook %q: name must match [a-z][a-z0-9-]{0,54}", w.Name)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %s: url %q: want an absolute http or https URL", w.Name, w.URL)
	}
	if strings.TrimSpace(w.Secret) == "" {
		return fmt.Errorf("webhook %s: secret is empty: receivers could not verify the signature", w.Name)
	}
	if len(w.Types) == 0 {
		return fmt.Errorf("webhook %s: types is empty: name the event types to forward", w.Name)
	}
	reg := events.NewRegistry()
	for _, t := range w.Types {
		if _, ok := reg.Current(t); !ok {
			return fmt.Errorf("webhook %s: unknown event type %q (want e.g. %q)", w.Name, t, events.TypePaymentCaptured)
		}
	}
	return nil
}

// ValidateAll validates each webhook and that their names are distinct.
func ValidateAll(ws []Webhook) error {
	seen := map[string]bool{}
	for i, w := range ws {
		if err := w.Validate(); err != nil {
			return fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		if seen[w.Name] {
			return fmt.Errorf("webhooks[%d]: name %q used twice", i, w.Name)
		}
		seen[w.Name] = true
	}
	return nil
}

// ParseConfig parses and validates a JSON list of webhooks
// ([{"name","url","secret","types"}]). Unknown fields are errors, so a
// typo does not silently drop a setting.
func ParseConfig(data []byte) ([]Webhook, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ws []Webhook
	if err := dec.Decode(&ws); err != nil {
		return nil, fmt.Errorf("webhooks: want a JSON list of {name, url, secret, types}: %w", err)
	}
	if dec.More() {
		return nil, errors.New("webhooks: trailing data after the JSON list")
	}
	if len(ws) == 0 {
		return nil, errors.New("webhooks: the list is empty")
	}
	if err := ValidateAll(ws); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return ws, nil
}

// LoadConfig reads webhooks from the file at path when it is not empty,
// else from the TROUPE_WEBHOOKS value env (pass os.Getenv(EnvWebhooks)).
// With neither it returns no webhooks and no error: webhooks are optional.
func LoadConfig(path, env string) ([]Webhook, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		ws, err := ParseConfig(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return ws, nil
	}
	if strings.TrimSpace(env) == "" {
		return nil, nil
	}
	ws, err := ParseConfig([]byte(env))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvWebhooks, err)
	}
	return ws, nil
}
