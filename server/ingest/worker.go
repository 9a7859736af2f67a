package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Outbox holds the effects of accepted batches until they are applied.
type Outbox interface {
	PendingEffects(ctx context.Context, limit int) (ids []int64, bodies [][]byte, err error)
	DoneEffects(ctx context.Context, ids []int64) error
	EffectsReady() <-chan struct{}
}

// Applier is what effects are applied to: the incident manager.
type Applier interface {
	// OutageReported takes an outage the probe recorded once it was over.
	OutageReported(ctx context.Context, village, cause string, start, end time.Time)
	// SecurityEvents takes a batch's events from one probe. Applying the
	// same events twice must change nothing (the worker applies at least
	// once).
	SecurityEvents(ctx context.Context, village, probe, stream string, events []jagadesa.EventGroup)
}

// Worker applies the outbox, on its own context: a probe that hung up, or
// a server that crashed after the batch was accepted, loses nothing.
type Worker struct {
	Outbox Outbox
	Apply  Applier
	Logger *slog.Logger
	Poll   time.Duration // how often to look without a signal [1s]
	Batch  int           // entries per read [100]
}

// Run applies entries as they come until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	poll, batch := w.Poll, w.Batch
	if poll <= 0 {
		poll = time.Second
	}
	if batch <= 0 {
		batch = 100
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := w.round(ctx, batch)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				w.Logger.Error("outbox: applying effects failed; will retry", "err", err)
				break
			}
			if n < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.Outbox.EffectsReady():
		case <-t.C:
		}
	}
}

// round applies up to batch entries and removes them from the outbox.
func (w *Worker) round(ctx context.Context, batch int) (int, error) {
	ids, bodies, err := w.Outbox.PendingEffects(ctx, batch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	for i, body := range bodies {
		var e Effects
		if err := json.Unmarshal(body, &e); err != nil {
			// Written by this server from a validated batch: a bug, not
			// input. Skip it rather than block the outbox forever.
			w.Logger.Error("outbox: undecodable entry skipped", "id", ids[i], "err", err)
			continue
		}
		for _, o := range e.Outages {
			w.Apply.OutageReported(ctx, e.Village, o.Cause, time.UnixMilli(o.StartMs), time.UnixMilli(o.EndMs))
		}
		if len(e.Events) > 0 {
			w.Apply.SecurityEvents(ctx, e.Village, e.Probe, e.Stream, e.Events)
		}
	}
	return len(ids), w.Outbox.DoneEffects(ctx, ids)
}
