package server

import (
	"context"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

// monthCacheTTL is how long a month's figures are served from memory.
const monthCacheTTL = 5 * time.Minute

// monthCache holds one month's figures of every village for a few
// minutes: one pass over the rollups serves every page, table and report
// of that month. One computation at a time; the others wait for it.
type monthCache[T any] struct {
	mu      sync.Mutex
	month   string
	at      time.Time
	results map[string]T
}

// get returns the month's figures, computing them when they are missing,
// of another month or older than monthCacheTTL.
func (mc *monthCache[T]) get(ctx context.Context, month, now time.Time, compute func(context.Context) (map[string]T, error)) (map[string]T, error) {
	key := month.In(sla.WIB).Format("2006-01")
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.results != nil && mc.month == key && now.Sub(mc.at) < monthCacheTTL {
		return mc.results, nil
	}
	res, err := compute(ctx)
	if err != nil {
		return nil, err
	}
	mc.month, mc.at, mc.results = key, now, res
	return res, nil
}

// invalidate drops the figures (what they are made of changed).
func (mc *monthCache[T]) invalidate() {
	mc.mu.Lock()
	mc.results = nil
	mc.mu.Unlock()
}
