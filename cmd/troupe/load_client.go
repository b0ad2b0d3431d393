package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// loadClient calls the platform's HTTP API for `troupe load`. A call is
// retried with exponential backoff, for at most retryFor, through what a
// component restart looks like from outside: a connection error, 429, 500,
// 502, 503 (honouring Retry-After) and 504. Only calls that are safe to
// repeat go through it: GETs, POSTs carrying an Idempotency-Key, and the
// seeding's product listings and stock receipts, whose repetition the load
// tolerates. Safe for concurrent use.
type loadClient struct {
	base     string
	http     *http.Client
	retryFor time.Duration
	// requests counts the requests sent, retries included.
	requests atomic.Int64
}

// newLoadClient returns a client of base keeping up to conns idle
// connections, so that concurrent workers reuse theirs.
func newLoadClient(base string, conns int, retryFor time.Duration) *loadClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &loadClient{base: base, retryFor: retryFor, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// apiResponse is an answer read in full.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// call is one request of the load.
type call struct {
	method, path, token string
	body                any
	header              map[string]string
	// retryAlso marks further answers as worth retrying (for instance a 422
	// for a SKU the price book has not learnt yet).
	retryAlso func(apiResponse) bool
}

// transientStatus reports the answers a restarting component gives.
func transientStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends c, retrying transient failures, and returns the last answer. An
// error means no answer was received in time; an answer that is still
// transient after retryFor comes back with a nil error for the caller to
// judge.
func (l *loadClient) do(ctx context.Context, c call) (apiResponse, error) {
	var payload []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return apiResponse{}, err
		}
		payload = b
	}
	var last apiResponse
	op := func() (apiResponse, error) {
		req, err := http.NewRequestWithContext(ctx, c.method, l.base+c.path, bytes.NewReader(payload))
		if err != nil {
			return apiResponse{}, backoff.Permanent(err)
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		l.requests.Add(1)
		resp, err := l.http.Do(req)
		if err != nil {
			last = apiResponse{}
			if ctx.Err() != nil {
				return apiResponse{}, backoff.Permanent(err)
			}
			return apiResponse{}, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return apiResponse{}, err
		}
		r := apiResponse{status: resp.StatusCode, header: resp.Header, body: body}
		last = r
		if transientStatus(r.status) || (c.retryAlso != nil && c.retryAlso(r)) {
			err := fmt.Errorf("%s %s: %d %s", c.method, c.path, r.status, bytes.TrimSpace(body))
			if s, perr := strconv.Atoi(r.header.Get("Retry-After")); perr == nil && s > 0 && s <= 10 {
				return r, backoff.RetryAfter(s)
			}
			return r, err
		}
		return r, nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	r, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(l.retryFor))
	if err != nil && last.status != 0 && ctx.Err() == nil {
		// Still transient when the budget ran out: the answer says why.
		return last, nil
	}
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s %s: %w", c.method, c.path, err)
	}
	return r, nil
}

// problemDetail is the part of a problem+json answer worth printing.
func problemDetail(r apiResponse) string {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.body, &p) != nil {
		return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
	}
	s := fmt.Sprintf("%d %s", r.status, p.Title)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, e := range p.Errors {
		s += "; " + e.Field + " " + e.Message
	}
	return s
}

// floor measures the HTTP floor of this client against the platform:
// workers goroutines sending GET /healthz back to back for d, over the same
// transport the load uses. It returns requests/s and the latencies.
func (l *loadClient) floor(ctx context.Context, workers int, d time.Duration) (float64, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu    sync.Mutex
		lat   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/healthz", nil)
				resp, err := l.http.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
					}
					break
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		return 0, nil, fmt.Errorf("GET /healthz: %w", first)
	}
	return float64(len(lat)) / time.Since(start).Seconds(), lat, nil
}
