package stack

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// lagger is a service feeding a read model from its consumer group.
type lagger interface {
	Lag(ctx context.Context) (readmodel.Lag, error)
	GroupLag(ctx context.Context) (int64, error)
}

// asLagger is c's service as a lagger, if it is one.
func asLagger(c Component) (lagger, bool) {
	if c == nil {
		return nil, false
	}
	l, ok := c.Service().(lagger)
	return l, ok
}

// newMonitor measures the read models this stack feeds (projections and
// loyalty, when wired). Each measurement looks the service up at the time,
// so after a Restart the new instance is measured, not its predecessor.
func (s *Stack) newMonitor() *readmodel.Monitor {
	cfg := readmodel.MonitorConfig{ReadModels: map[string]readmodel.LagFunc{}, Groups: map[string]readmodel.GroupLagFunc{}}
	for _, name := range []string{Projections, Loyalty} {
		if _, ok := asLagger(s.services[name]); !ok {
			continue
		}
		get := func() (lagger, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			l, ok := asLagger(s.services[name])
			if !ok {
				return nil, fmt.Errorf("stack: %s is not wired", name)
			}
			return l, nil
		}
		cfg.ReadModels[name] = func(ctx context.Context) (readmodel.Lag, error) {
			l, err := get()
			if err != nil {
				return readmodel.Lag{}, err
			}
			return l.Lag(ctx)
		}
		cfg.Groups[name] = func(ctx context.Context) (int64, error) {
			l, err := get()
			if err != nil {
				return 0, err
			}
			return l.GroupLag(ctx)
		}
	}
	return readmodel.NewMonitor(cfg)
}

// ReadModels reports the lag of every read model the stack feeds, measured
// at most a second ago (the same figures /readyz and /metrics show).
func (s *Stack) ReadModels(ctx context.Context) map[string]readmodel.Status {
	return s.monitor.Statuses(ctx)
}
