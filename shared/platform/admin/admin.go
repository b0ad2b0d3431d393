// Package admin is the admin API every process that runs Kafka
// subscribers serves: list its subscribers with their state, reset one's
// consumer group (pause, move, resume), and list and redrive its dead
// letters. Admin role only. The CLI (`troupe subscribers`, `troupe dlq`)
// and the gateway speak it; the types below are its wire format.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Paths of the admin API.
const (
	// SubscribersPath lists the subscribers (GET).
	SubscribersPath = "/api/admin/subscribers"
)

// SubscriberPath returns the path of one subscriber's resource, with rest
// appended ("/reset", "/dlq", "/dlq/redrive").
func SubscriberPath(name, rest string) string { return SubscribersPath + "/" + name + rest }

// Subscriber is one subscriber this process runs.
type Subscriber struct {
	// Name is the subscriber's consumer group.
	Name string `json:"name"`
	// Component is the service that runs it (catalog, projections,
	// webhook, ...).
	Component string `json:"component"`
	// State is "running", "paused" or "stopped".
	State  string   `json:"state"`
	Topics []string `json:"topics"`
}

// SubscriberList answers GET /api/admin/subscribers.
type SubscriberList struct {
	Items []Subscriber `json:"items"`
}

// ResetRequest is the body of POST .../reset: "earliest" or an RFC 3339
// time.
type ResetRequest struct {
	To string `json:"to"`
}

// ResetResult answers POST .../reset with the offsets committed.
type ResetResult struct {
	Name       string                      `json:"name"`
	To         string                      `json:"to"`
	Partitions []messaging.PartitionOffset `json:"partitions"`
}

// DeadLetterList answers GET .../dlq.
type DeadLetterList struct {
	Items []messaging.DeadLetter `json:"items"`
}

// RedriveRequest is the body of POST .../dlq/redrive: an empty ID redrives
// every outstanding dead letter, in order.
type RedriveRequest struct {
	ID string `json:"id,omitempty"`
}

// RedriveResult answers POST .../dlq/redrive.
type RedriveResult struct {
	Redriven int `json:"redriven"`
}

// resetTimeout bounds one reset (pause, offset commit, resume).
const resetTimeout = time.Minute

type entry struct {
	component string
	sub       *messaging.Subscriber
}

// Registry is the set of subscribers a process runs, by component. It is
// safe for concurrent use: a component restarted with fresh subscribers is
// added again and replaces its earlier ones.
type Registry struct {
	mu     sync.RWMutex
	byComp map[string][]*messaging.Subscriber
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byComp: map[string][]*messaging.Subscriber{}}
}

// Add registers the subscribers of component, replacing any it registered
// before (a restarted service builds new ones). Nil subscribers are
// skipped.
func (r *Registry) Add(component string, subs ...*messaging.Subscriber) {
	var keep []*messaging.Subscriber
	for _, s := range subs {
		if s != nil {
			keep = append(keep, s)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byComp[component] = keep
}

// Remove forgets component's subscribers.
func (r *Registry) Remove(component string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byComp, component)
}

// entries returns every registered subscriber, sorted by name.
func (r *Registry) entries() []entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []entry
	for c, subs := range r.byComp {
		for _, s := range subs {
			out = append(out, entry{component: c, sub: s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sub.Name() < out[j].sub.Name() })
	return out
}

// Lookup returns the subscriber named name (its consumer group) and its
// component.
func (r *Registry) Lookup(name string) (*messaging.Subscriber, string, bool) {
	for _, e := range r.entries() {
		if e.sub.Name() == name {
			return e.sub, e.component, true
		}
	}
	return nil, "", false
}

// List describes every registered subscriber, sorted by name.
func (r *Registry) List() []Subscriber {
	out := []Subscriber{}
	for _, e := range r.entries() {
		out = append(out, Subscriber{Name: e.sub.Name(), Component: e.component, State: string(e.sub.State()),
			Topics: e.sub.Topics()})
	}
	return out
}

// Routes registers the admin API on e: bearer token with the admin role
// (401 without a valid token, 403 for another role), problem+json errors.
func (r *Registry) Routes(e *echo.Echo, auth *httpapi.Auth) {
	g := e.Group(SubscribersPath, auth.Authenticate(), httpapi.RequireRole(httpapi.RoleAdmin))
	g.GET("", r.list)
	g.POST("/:name/reset", r.reset)
	g.GET("/:name/dlq", r.deadLetters)
	g.POST("/:name/dlq/redrive", r.redrive)
}

func (r *Registry) list(c echo.Context) error {
	return c.JSON(http.StatusOK, SubscriberList{Items: r.List()})
}

func (r *Registry) lookup(c echo.Context) (*messaging.Subscriber, error) {
	name := c.Param("name")
	s, _, ok := r.Lookup(name)
	if !ok {
		return nil, httpapi.NotFound(fmt.Sprintf("this process runs no subscriber %q", name))
	}
	return s, nil
}

func (r *Registry) reset(c echo.Context) error {
	s, err := r.lookup(c)
	if err != nil {
		return err
	}
	var req ResetRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	to, err := messaging.ParseResetTo(req.To)
	if err != nil {
		return httpapi.Invalid("the reset target is invalid",
			httpapi.FieldError{Field: "to", Message: `must be "earliest" or an RFC 3339 time, e.g. 2026-01-02T15:04:05Z`})
	}
	// The reset outlives a dropped request: the subscriber is resumed
	// either way, and a half-done reset is not worth leaving behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), resetTimeout)
	defer cancel()
	offsets, err := s.Reset(ctx, to)
	switch {
	case errors.Is(err, messaging.ErrNotResettable), errors.Is(err, messaging.ErrGroupHasMembers),
		errors.Is(err, messaging.ErrPaused):
		return httpapi.Conflict(err.Error())
	case err != nil:
		return fmt.Errorf("reset %s: %w", s.Name(), err)
	}
	return c.JSON(http.StatusOK, ResetResult{Name: s.Name(), To: to.String(), Partitions: offsets})
}

func (r *Registry) deadLetters(c echo.Context) error {
	s, err := r.lookup(c)
	if err != nil {
		return err
	}
	dl, err := s.DeadLetters(c.Request().Context())
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", s.Name(), err)
	}
	if dl == nil {
		dl = []messaging.DeadLetter{}
	}
	return c.JSON(http.StatusOK, DeadLetterList{Items: dl})
}

func (r *Registry) redrive(c echo.Context) error {
	s, err := r.lookup(c)
	if err != nil {
		return err
	}
	var req RedriveRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	// A redrive outlives the request: stopping halfway would leave it to
	// be started again, which is safe, but there is no reason to.
	ctx := context.WithoutCancel(c.Request().Context())
	var n int
	if req.ID != "" {
		n, err = s.RedriveID(ctx, req.ID)
	} else {
		n, err = s.Redrive(ctx)
	}
	switch {
	case errors.Is(err, messaging.ErrNoDeadLetter):
		return httpapi.Invalid("no such dead letter",
			httpapi.FieldError{Field: "id", Message: fmt.Sprintf("%q is not an outstanding dead letter of %s", req.ID, s.Name())})
	case errors.Is(err, messaging.ErrRedriveOrder):
		return httpapi.Conflict(err.Error())
	case errors.Is(err, messaging.ErrStillFailing):
		return httpapi.Conflict(fmt.Sprintf("redrove %d, then stopped: %v", n, err))
	case err != nil:
		return fmt.Errorf("redrive %s: %w", s.Name(), err)
	}
	return c.JSON(http.StatusOK, RedriveResult{Redriven: n})
}
