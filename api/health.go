package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// temporalHealth remembers whether Temporal answered in the last second. While it is down, a request that needs it
// is refused at once (503 with Retry-After) instead of after the whole update wait, which is longer than many
// clients' and load balancers' timeouts; views of finished orders come from the store meanwhile.
type temporalHealth struct {
	check     func(context.Context) error
	mu        sync.Mutex
	checkedAt time.Time
	up        bool
}

// healthRecheck is how long an answer about Temporal's health stands.
const healthRecheck = time.Second

func newTemporalHealth(t Temporal) *temporalHealth {
	return &temporalHealth{check: func(ctx context.Context) error {
		_, err := t.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

// Up asks Temporal at most once a second, and never waits longer than a second for it.
func (t *temporalHealth) Up(ctx context.Context) bool {
	t.mu.Lock()
	if time.Since(t.checkedAt) < healthRecheck {
		up := t.up
		t.mu.Unlock()
		return up
	}
	t.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, healthRecheck)
	defer cancel()
	err := t.check(cctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkedAt, t.up = time.Now(), err == nil
	return t.up
}

// errTemporalDown answers requests that need Temporal while it does not answer.
var errTemporalDown = &Problem{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "服务暂时不可用，请稍后重试",
	RetryAfter: 5}
