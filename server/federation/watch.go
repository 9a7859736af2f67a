package federation

import (
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Observed is one village's live status as the detector sees it each tick.
type Observed struct {
	Village string
	Status  jagadesa.Status
	Since   time.Time // when the status began, if known; zero: when first seen so
	Cause   string
}

// StatusWatch turns the detector's view of every village, taken each tick,
// into status changes for the forwarder. The status engine changes a
// village's status lazily (silence makes it down without any event), so
// changes are found by comparing views, not by hooking the engine.
type StatusWatch struct {
	send func([]Item) error
	mu   sync.Mutex
	last map[string]Observed
}

// NewStatusWatch returns a watch that hands each tick's changes to send,
// all at once (Forwarder.EnqueueAll).
func NewStatusWatch(send func([]Item) error) *StatusWatch {
	return &StatusWatch{send: send, last: map[string]Observed{}}
}

// Observe compares a tick's view with the last one and sends what changed.
// After a restart every village is sent once again: the national server
// keeps the newest, so that only refreshes it. If sending fails, the
// changes are tried again at the next tick.
func (w *StatusWatch) Observe(now time.Time, view []Observed) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var items []Item
	var changed []Observed
	for _, o := range view {
		prev, seen := w.last[o.Village]
		if seen && prev.Status == o.Status && prev.Cause == o.Cause {
			continue
		}
		if o.Since.IsZero() || o.Since.After(now) {
			o.Since = now
		}
		if seen && prev.Status == o.Status {
			o.Since = prev.Since // only the cause changed
		}
		items = append(items, Item{Kind: KindVillageStatus, At: now,
			VillageStatus: &VillageStatus{Village: o.Village, Status: o.Status, Since: o.Since, Cause: o.Cause}})
		changed = append(changed, o)
	}
	if len(items) == 0 {
		return nil
	}
	if err := w.send(items); err != nil {
		return err
	}
	for _, o := range changed {
		w.last[o.Village] = o
	}
	return nil
}
