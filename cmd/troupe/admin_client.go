package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// adminClient calls the running platform's admin API with an admin token.
type adminClient struct {
	base  string
	token string
}

// adminAPI resolves the platform's API (flag or endpoints.json, reachable
// within 5 s) and signs an admin token for it.
func (t *target) adminAPI(ctx context.Context) (*adminClient, error) {
	base, err := t.baseURL(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := t.adminToken()
	if err != nil {
		return nil, err
	}
	return &adminClient{base: base, token: tok}, nil
}

// hasAPI reports whether an API address was given or found, without
// contacting it.
func (t *target) hasAPI() bool {
	if t.httpAddr != "" {
		return true
	}
	ep, ok := t.endpoints()
	return ok && ep.HTTP != ""
}

// apiError is an admin API answer other than 2xx, with its problem detail.
type apiError struct {
	status  int
	problem httpapi.Problem
}

func (e *apiError) Error() string {
	msg := e.problem.Detail
	if msg == "" {
		msg = e.problem.Title
	}
	for _, fe := range e.problem.Errors {
		msg += fmt.Sprintf(" (%s: %s)", fe.Field, fe.Message)
	}
	return fmt.Sprintf("the platform answered %d: %s", e.status, msg)
}

// statusOf returns the HTTP status of an apiError, or 0.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return 0
}

// do sends a JSON request to path and decodes a 2xx answer into out.
func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{status: resp.StatusCode}
		if json.Unmarshal(b, &ae.problem) != nil || ae.problem.Title == "" {
			ae.problem.Detail = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w (the admin token was refused: does --jwt-secret or the data dir match the platform?)", ae)
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: unreadable answer: %w", method, c.base+path, err)
		}
	}
	return nil
}

// subscribers lists the platform's subscribers.
func (c *adminClient) subscribers(ctx context.Context) ([]admin.Subscriber, error) {
	var l admin.SubscriberList
	if err := c.do(ctx, http.MethodGet, admin.SubscribersPath, nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// unknownSubscriber is the exit-2 error for a subscriber the platform does
// not run, naming those it does when it can list them.
func (c *adminClient) unknownSubscriber(ctx context.Context, name string) error {
	msg := fmt.Sprintf("unknown subscriber %q", name)
	if subs, err := c.subscribers(ctx); err == nil {
		names := make([]string, len(subs))
		for i, s := range subs {
			names[i] = s.Name
		}
		msg += " (the platform runs: " + strings.Join(names, ", ") + ")"
	}
	return usageError{errors.New(msg)}
}
