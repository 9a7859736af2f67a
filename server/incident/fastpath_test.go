package incident_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/incident"
)

// norm is an incident without what differs between two runs of the same
// script: its random ID, and the ID it was merged into.
func norm(in jagadesa.Incident) jagadesa.Incident {
	in.ID, in.MergedInto = "", ""
	in.Signals = slices.Clone(in.Signals)
	return in
}

func incidentKey(in jagadesa.Incident) string {
	return fmt.Sprint(in.Evidence["group"], "|", in.Village, "|", in.Kind, "|", in.OpenedAt.UnixNano())
}

func normOpen(m *incident.Manager) []jagadesa.Incident {
	var out []jagadesa.Incident
	for _, in := range m.Open() {
		out = append(out, norm(in))
	}
	type keyed struct {
		key string
		in  jagadesa.Incident
	}
	ks := make([]keyed, len(out))
	for i, in := range out {
		ks[i] = keyed{incidentKey(in), in}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	for i := range ks {
		out[i] = ks[i].in
	}
	return out
}

func normSent(r *recorder) []string {
	var out []string
	for _, s := range r.take() {
		in := norm(s.n.Incident)
		out = append(out, fmt.Sprintf("%s|%s|%s|%v|%s|%v", s.n.Event, s.team, incidentKey(in), in.Villages, in.State, s.n.At))
	}
	sort.Strings(out)
	return out
}

// The detector's fast path (villages found by position, their incidents
// looked up only when they have one open) does exactly what looking every
// village's incidents up every tick did: two managers, one on each path,
// fed the same random fleet for an hour — villages going down alone and by
// regions, degraded, anomalous, in breach of contract, attacked, resolved
// by hand, classified by their probes, reloaded — open, keep, resolve and
// notify the same incidents. Most ticks the villages come in the same
// order; now and then in another, or with some missing.
func TestFastPathDoesWhatLookupsDid(t *testing.T) {
	seen := map[string]int{}
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 15))
		fast, slow := newFleet(t, newMemStore(), ""), newFleet(t, newMemStore(), "")
		incident.SetSlowPath(slow.m, true)
		var codes []string
		for _, v := range fast.reg.Villages() {
			if v.Kind == "desa" && (v.RegencyCode == "33.06" || v.RegencyCode == "33.13") && rng.IntN(3) == 0 {
				codes = append(codes, v.Code)
			}
		}
		if len(codes) < 60 {
			t.Fatalf("%d villages", len(codes))
		}
		snaps := make([]incident.Snapshot, len(codes))
		for i, c := range codes {
			snaps[i] = incident.Snapshot{Code: c, Status: jagadesa.StatusUp, LastSeen: t0, RTTMs: ms(20), LossPct: ms(0), JitterMs: ms(1)}
		}
		ctx := context.Background()
		both := func(f func(*fleet)) { f(fast); f(slow) }
		now := t0
		for tick := range 500 {
			now = now.Add(5 * time.Second)
			both(func(f *fleet) { f.now = now })
			regionDown := rng.IntN(120) == 0
			for i := range snaps {
				s := &snaps[i]
				switch r := rng.IntN(200); {
				case regionDown && i%3 == 0, r == 0:
					s.Status, s.Reason, s.SilentS = jagadesa.StatusDown, "silent", 90
				case r == 1:
					s.Status, s.Reason, s.SilentS = jagadesa.StatusDegraded, "loss", 0
				case r == 2:
					s.Status, s.Reason, s.SilentS = jagadesa.StatusUnknown, "no_report_yet", 0
				case r < 12:
					s.Status, s.Reason, s.SilentS = jagadesa.StatusUp, "", 0
				case r < 14:
					s.ThroughputAt, s.SLABreach, s.DownloadPct = now.Add(-time.Minute), rng.IntN(2) == 0, ms(float64(rng.IntN(120)))
				}
				if s.Status != jagadesa.StatusDown && rng.IntN(4) == 0 {
					s.LastSeen = now
					rtt := 20 + rng.Float64()
					if rng.IntN(30) == 0 {
						rtt = 400
					}
					s.RTTMs = ms(rtt)
				}
			}
			in := snaps
			switch rng.IntN(25) {
			case 0: // another order
				in = slices.Clone(snaps)
				rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			case 1: // some missing
				in = slices.Clone(snaps[rng.IntN(10):])
			}
			both(func(f *fleet) { f.m.Evaluate(ctx, now, slices.Clone(in)) })

			switch rng.IntN(15) {
			case 0: // a person resolves an open incident
				if open := normOpen(fast.m); len(open) > 0 {
					k := incidentKey(open[rng.IntN(len(open))])
					both(func(f *fleet) {
						for _, in := range f.open() {
							if incidentKey(in) == k {
								if _, err := f.m.Resolve(ctx, in.ID, "tester", "done"); err != nil {
									t.Fatal(err)
								}
							}
						}
					})
				}
			case 1, 5, 6: // a probe reports the cause of an outage
				// Of a village in one outage incident only: when two
				// overlap, OutageReported takes either (map order).
				c, start := codes[rng.IntN(len(codes))], now.Add(-10*time.Minute)
				outages := map[string]int{}
				open := normOpen(fast.m) // in an order of their own, not of the map
				for _, in := range open {
					switch in.Kind {
					case jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault, jagadesa.IncidentRegional:
						for _, v := range in.Villages {
							outages[v]++
						}
					}
				}
				if outages[c] > 1 {
					break
				}
				for _, in := range open {
					if v := in.Villages[rng.IntN(len(in.Villages))]; (in.Kind == jagadesa.IncidentDown || in.Kind == jagadesa.IncidentRegional) && outages[v] == 1 {
						c, start = v, in.OpenedAt.Add(-30*time.Second)
						break
					}
				}
				cause := []string{"power", "probe", "isp"}[rng.IntN(3)]
				both(func(f *fleet) { f.m.OutageReported(ctx, c, cause, start, now) })
			case 2: // an attack
				c := codes[rng.IntN(len(codes))]
				e := jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "login_bruteforce", Severity: []string{"warning", "critical"}[rng.IntN(2)], Attrs: map[string]string{"source": fmt.Sprint("203.0.113.", rng.IntN(3))}}
				both(func(f *fleet) { f.m.SecurityEvent(ctx, c, e) })
			case 3: // another replica's changes
				both(func(f *fleet) {
					if err := f.m.Reload(ctx); err != nil {
						t.Fatal(err)
					}
				})
			case 4:
				if open := normOpen(fast.m); len(open) > 0 {
					k := incidentKey(open[rng.IntN(len(open))])
					both(func(f *fleet) {
						for _, in := range f.open() {
							if incidentKey(in) == k {
								if err := f.m.ReloadIncident(ctx, in.ID); err != nil {
									t.Fatal(err)
								}
							}
						}
					})
				}
			}
			if err := incident.CheckOpenCounts(fast.m); err != nil {
				t.Fatalf("seed %d tick %d: %v", seed, tick, err)
			}
			gotOpen, wantOpen := normOpen(fast.m), normOpen(slow.m)
			if !reflect.DeepEqual(gotOpen, wantOpen) {
				t.Fatalf("seed %d tick %d: open\n%+v\nwant\n%+v", seed, tick, gotOpen, wantOpen)
			}
			gotSent, wantSent := normSent(fast.rec), normSent(slow.rec)
			if !reflect.DeepEqual(gotSent, wantSent) {
				t.Fatalf("seed %d tick %d: sent\n%v\nwant\n%v", seed, tick, gotSent, wantSent)
			}
			for _, s := range gotSent {
				event, _, _ := strings.Cut(s, "|")
				seen["sent "+event]++
			}
			for _, in := range gotOpen {
				seen[string(in.Kind)]++
				if in.Kind == jagadesa.IncidentPowerCut || in.Kind == jagadesa.IncidentProbeFault {
					seen["reclassified"]++
				}
			}
		}
	}
	for _, k := range []string{string(jagadesa.IncidentDown), string(jagadesa.IncidentRegional), string(jagadesa.IncidentDegraded), string(jagadesa.IncidentSLABreach),
		string(jagadesa.IncidentSecurity), "reclassified", "sent opened", "sent resolved", "sent escalated"} {
		if seen[k] == 0 {
			t.Fatalf("never %q: %v", k, seen)
		}
	}
}
