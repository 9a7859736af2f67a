package jagadesacmd

import (
	"context"
	"log/slog"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/metastore"
	"github.com/jagadesa/jagadesa/server/status"
)

// detectEvery is the detector's tick: a silent village's deadline passes
// at most this long before it is noticed.
const detectEvery = time.Second

// runDetector feeds the fleet's live status to the incident manager every
// tick until ctx ends.
func runDetector(ctx context.Context, log *slog.Logger, mgr *incident.Manager, engine *status.Engine, db metastore.Store, prog map[string]jagadesa.Programme) {
	runDetectorObserved(ctx, log, mgr, engine, db, prog, nil)
}

// runDetectorObserved is runDetector that also hands each tick's
// snapshots to observe (federation's status changes); nil: nobody.
func runDetectorObserved(ctx context.Context, log *slog.Logger, mgr *incident.Manager, engine *status.Engine, db metastore.Store, prog map[string]jagadesa.Programme, observe func(time.Time, []incident.Snapshot)) {
	t := time.NewTicker(detectEvery)
	defer t.Stop()
	var codes []string
	var codesAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// The monitored set changes only at enrollment: refresh it
			// every few seconds, not every tick.
			if codes == nil || now.Sub(codesAt) >= 5*time.Second {
				c, err := monitored(ctx, db, prog)
				if err != nil {
					log.Error("detector: listing monitored villages", "err", err)
					continue
				}
				codes, codesAt = c, now
			}
			snaps := snapshots(engine, codes, prog)
			mgr.Evaluate(ctx, now, snaps)
			if observe != nil {
				observe(now, snaps)
			}
		}
	}
}

func monitored(ctx context.Context, db metastore.Store, prog map[string]jagadesa.Programme) ([]string, error) {
	probes, err := db.Probes(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(prog)+len(probes))
	out := make([]string, 0, len(prog)+len(probes))
	for c := range prog {
		seen[c] = true
		out = append(out, c)
	}
	for _, p := range probes {
		if !seen[p.Village] {
			seen[p.Village] = true
			out = append(out, p.Village)
		}
	}
	return out, nil
}

// snapshots reads what the detector judges from the status engine.
func snapshots(engine *status.Engine, codes []string, prog map[string]jagadesa.Programme) []incident.Snapshot {
	out := make([]incident.Snapshot, 0, len(codes))
	engine.Brief(codes, func(i int, v status.View) {
		c := codes[i]
		s := incident.Snapshot{Code: c, Status: v.Status, Reason: v.Reason, SilentS: v.SilentS, RTTMs: v.RTTMs, LossPct: v.LossPct, JitterMs: v.JitterMs}
		if v.LastSeen != nil {
			s.LastSeen = *v.LastSeen
		}
		if v.DownloadMbps != nil && v.ThroughputAt != nil {
			if p, ok := prog[c]; ok {
				other := 0.0
				if v.OtherMbps != nil {
					other = *v.OtherMbps
				}
				if pct, breach, ok := status.ContractShare(*v.DownloadMbps, other, p.ContractMbps); ok {
					s.SLABreach, s.DownloadPct, s.ThroughputAt = breach, &pct, *v.ThroughputAt
				}
			}
		}
		out = append(out, s)
	})
	return out
}
