package jagadesacmd

import (
	"context"
	"log/slog"
	"slices"
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
	var pass *detectPass
	var codesAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// The monitored set changes only at enrollment: refresh it
			// every few seconds, not every tick.
			if pass == nil || now.Sub(codesAt) >= 5*time.Second {
				c, err := monitored(ctx, db, prog)
				if err != nil {
					log.Error("detector: listing monitored villages", "err", err)
					continue
				}
				codesAt = now
				if pass == nil || !slices.Equal(c, pass.codes()) {
					pass = newDetectPass(engine, c, prog)
				}
			}
			snaps := pass.snapshots()
			mgr.Evaluate(ctx, now, snaps)
			if observe != nil {
				observe(now, snaps) // valid until the next tick's snapshots
			}
		}
	}
}

// monitored lists the villages the detector judges, sorted: the same set
// is the same list, tick after tick.
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
	slices.Sort(out)
	return out, nil
}

// detectPass reads what the detector judges of a fixed list of villages
// from the status engine, tick after tick, into buffers it reuses: the
// villages are resolved once (status.Roster), and a tick allocates
// nothing per village.
type detectPass struct {
	roster   *status.Roster
	contract []int // per village, its programme's contracted Mbps; 0 when none or not in the programme
	readings []status.Reading
	snaps    []incident.Snapshot
	// nums holds, per village, what the snapshot's pointers point to:
	// RTT, loss, jitter and the download's share of the contract.
	nums []float64
}

func newDetectPass(engine *status.Engine, codes []string, prog map[string]jagadesa.Programme) *detectPass {
	p := &detectPass{roster: engine.Roster(codes), contract: make([]int, len(codes))}
	for i, c := range codes {
		// A contract of 0 or less cannot be judged (status.ContractShare),
		// as a village outside the programme cannot.
		p.contract[i] = max(prog[c].ContractMbps, 0)
	}
	return p
}

func (p *detectPass) codes() []string { return p.roster.Codes() }

// snapshots reads every village's live status. The slice, and what its
// snapshots point to, are reused by the next call.
func (p *detectPass) snapshots() []incident.Snapshot {
	p.readings = p.roster.Read(p.readings)
	n := len(p.readings)
	if cap(p.snaps) < n {
		p.snaps = make([]incident.Snapshot, n)
		p.nums = make([]float64, 4*n)
	}
	p.snaps = p.snaps[:n]
	codes := p.roster.Codes()
	for i := range p.readings {
		v := &p.readings[i]
		num := p.nums[4*i : 4*i+4 : 4*i+4]
		s := &p.snaps[i]
		*s = incident.Snapshot{Code: codes[i], Status: v.Status, Reason: v.Reason, SilentS: v.SilentS, LastSeen: v.LastSeen}
		if v.HasRTT {
			num[0], num[2] = v.RTTMs, v.JitterMs
			s.RTTMs, s.JitterMs = &num[0], &num[2]
		}
		if v.HasLoss {
			num[1] = v.LossPct
			s.LossPct = &num[1]
		}
		if v.HasDownload && p.contract[i] > 0 {
			if pct, breach, ok := status.ContractShare(v.DownloadMbps, v.OtherMbps, p.contract[i]); ok {
				num[3] = pct
				s.SLABreach, s.DownloadPct, s.ThroughputAt = breach, &num[3], v.ThroughputAt
			}
		}
	}
	return p.snaps
}
