package jagadesacmd

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/status"
)

// statusState is the metadata store's name for the live-status snapshot.
const statusState = "status"

// statusEvery is how often the live status is snapshotted: a crash costs
// at most this much of it, and InfluxDB fills that in at the next start.
const statusEvery = 30 * time.Second

// stateStore is what the live status is kept in (the metadata store).
type stateStore interface {
	PutState(ctx context.Context, name string, body []byte) error
	State(ctx context.Context, name string) ([]byte, error)
}

// restoreLive rebuilds live status at start: the last snapshot first (all
// villages with their hysteresis, in well under a second at national
// size), then from InfluxDB only what arrived after it was taken. Without
// a snapshot (a first start, or an older server's data) the last day of
// InfluxDB is read, as before.
func restoreLive(ctx context.Context, db stateStore, store *influx.Store, engine *status.Engine, log *slog.Logger) {
	began := time.Now()
	since := 24 * time.Hour
	if b, err := db.State(ctx, statusState); err != nil {
		log.Warn("live status snapshot not read", "err", err)
	} else if b != nil {
		n, taken, err := engine.LoadSnapshot(bytes.NewReader(b), nil)
		if err != nil {
			log.Warn("live status snapshot not restored", "err", err)
		} else {
			log.Info("live status snapshot restored", "villages", n, "taken", taken.Format(time.RFC3339), "bytes", len(b),
				"took", time.Since(began).Round(time.Millisecond))
			// What arrived after the snapshot, with a minute's margin for
			// reports stored while it was written.
			since = min(since, max(time.Since(taken)+time.Minute, 2*time.Minute))
		}
	}
	restoreStatus(ctx, store, engine, log, since)
	log.Info("live status restored", "took", time.Since(began).Round(time.Millisecond))
}

// saveStatus snapshots the live status into the metadata store.
func saveStatus(ctx context.Context, db stateStore, engine *status.Engine, log *slog.Logger) {
	var buf bytes.Buffer
	n, err := engine.WriteSnapshot(&buf)
	if err == nil {
		err = db.PutState(ctx, statusState, buf.Bytes())
	}
	if err != nil {
		log.Warn("live status snapshot not saved", "err", err)
		return
	}
	log.Debug("live status snapshot saved", "villages", n, "bytes", buf.Len())
}

// snapshotStatus saves the live status every statusEvery until ctx ends.
func snapshotStatus(ctx context.Context, db stateStore, engine *status.Engine, log *slog.Logger) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			saveStatus(ctx, db, engine, log)
		}
	}
}
