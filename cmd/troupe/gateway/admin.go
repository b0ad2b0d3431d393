package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/sony/gobreaker/v2"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// The admin API is served by every process that runs Kafka subscribers;
// behind the gateway those are several processes, so the gateway merges
// the lists and finds the process that runs a given subscriber.

// maxAdminAnswer bounds an admin answer read into memory (a DLQ listing
// can be long, but not unbounded).
const maxAdminAnswer = 16 << 20

// subscriberList is the admin API's list answer. Items are kept as the
// components wrote them, so fields the gateway does not know pass through.
type subscriberList struct {
	Items []json.RawMessage `json:"items"`
	// Unreachable names the components whose list is missing from Items.
	Unreachable []unreachable `json:"unreachable,omitempty"`
}

type unreachable struct {
	Component string `json:"component"`
	Error     string `json:"error"`
}

// listSubscribers answers GET /api/admin/subscribers with every
// component's list, in component order. A component without the admin API
// (404) contributes nothing; one that cannot be asked is named under
// "unreachable"; when none could be asked, the answer is a 502.
func (g *gateway) listSubscribers(c echo.Context) error {
	r := c.Request()
	type result struct {
		items   []json.RawMessage
		err     error
		skipped bool
	}
	results := make([]result, len(g.upstreams))
	var wg sync.WaitGroup
	for i, u := range g.upstreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, body, err := u.call(r.Context(), r, nil)
			switch {
			case err != nil:
				results[i].err = err
			case status == http.StatusNotFound:
				results[i].skipped = true
			case status != http.StatusOK:
				results[i].err = fmt.Errorf("answered %d: %s", status, firstLine(body))
			default:
				var l subscriberList
				if err := json.Unmarshal(body, &l); err != nil {
					results[i].err = fmt.Errorf("unreadable list: %v", err)
				}
				results[i].items = l.Items
			}
		}()
	}
	wg.Wait()

	out := subscriberList{Items: []json.RawMessage{}}
	asked := 0
	for i, res := range results {
		switch {
		case res.err != nil:
			out.Unreachable = append(out.Unreachable, unreachable{Component: g.upstreams[i].name, Error: res.err.Error()})
		case !res.skipped:
			asked++
			out.Items = append(out.Items, res.items...)
		}
	}
	if asked == 0 && len(out.Unreachable) > 0 {
		return problem(http.StatusBadGateway, "bad-gateway", "no component could be asked for its subscribers: "+describe(out.Unreachable))
	}
	return c.JSON(http.StatusOK, out)
}

// forwardSubscriber sends /api/admin/subscribers/{name}/... to the
// components in turn, the one named like the subscriber first, until one
// answers other than 404, and returns that answer.
func (g *gateway) forwardSubscriber(c echo.Context) error {
	r := c.Request()
	name := c.Param("name")
	body, err := bufferBody(r)
	if err != nil {
		return err
	}
	var down []unreachable
	for _, u := range g.fanOutOrder(name) {
		status, h, answer, err := u.call(r.Context(), r, body)
		if err != nil {
			down = append(down, unreachable{Component: u.name, Error: err.Error()})
			continue
		}
		if status == http.StatusNotFound {
			continue
		}
		for _, k := range []string{echo.HeaderContentType, "Retry-After", echo.HeaderLocation, httpapi.HeaderConsistency} {
			if v := h.Get(k); v != "" {
				c.Response().Header().Set(k, v)
			}
		}
		c.Response().WriteHeader(status)
		_, err = c.Response().Write(answer)
		return err
	}
	if len(down) > 0 {
		return problem(http.StatusBadGateway, "bad-gateway",
			fmt.Sprintf("no reachable component runs the subscriber %q; not asked: %s", name, describe(down)))
	}
	return httpapi.NotFound(fmt.Sprintf("no component runs the subscriber %q", name))
}

// fanOutOrder is the upstreams to ask for subscriber name: the component
// of that name first (webhook-<x> belongs to webhook), then the others.
func (g *gateway) fanOutOrder(name string) []*upstream {
	first := name
	if strings.HasPrefix(name, Webhook+"-") {
		first = Webhook
	}
	order := make([]*upstream, 0, len(g.upstreams))
	if u, ok := g.byName[first]; ok {
		order = append(order, u)
	}
	for _, u := range g.upstreams {
		if u.name != first {
			order = append(order, u)
		}
	}
	return order
}

// call sends in's method, path, query and the headers that matter to u
// (through its breaker, within the upstream timeout) with body, and reads
// the answer whole.
func (u *upstream) call(ctx context.Context, in *http.Request, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	target := *u.base
	target.Path = u.base.Path + in.URL.Path
	target.RawPath = ""
	target.RawQuery = in.URL.RawQuery
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, target.String(), rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, k := range []string{echo.HeaderAuthorization, echo.HeaderContentType, headerRequestID, "Idempotency-Key", httpapi.HeaderConsistency} {
		if v := in.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, nil, nil, u.describe(ctx, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
	if err != nil {
		return 0, nil, nil, u.describe(ctx, err)
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// describe says briefly why a call to u failed.
func (u *upstream) describe(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return errors.New("circuit breaker open")
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer within %s", u.timeout)
	}
	u.log.Warn("gateway: admin call failed", "upstream", u.name, "err", err)
	return errors.New("unreachable")
}

func describe(us []unreachable) string {
	parts := make([]string, len(us))
	for i, x := range us {
		parts[i] = x.Component + " (" + x.Error + ")"
	}
	return strings.Join(parts, ", ")
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
