package status

import "github.com/jagadesa/jagadesa"

// Reduce keeps of a report only what Observe uses, so that another replica
// can fold it into its own live status from a message of a few hundred
// bytes even when the report was a backfill of hundreds of records: the
// newest round of each target, the newest successful throughput test of
// each direction, the heartbeats that set the interval and the site, and
// one record of the newest time, each round's RTTs as their median.
// Observe(Reduce(r)) leaves an engine as Observe(r) does. The records keep
// their order; events are dropped; r is not changed.
func Reduce(r *jagadesa.Report) *jagadesa.Report {
	keep := make([]bool, len(r.Samples))
	newest, lastHB, siteHB := -1, -1, -1
	targets := map[string]int{}
	speeds := map[string]int{}
	for i := range r.Samples {
		s := &r.Samples[i]
		if newest < 0 || s.TimeMs > r.Samples[newest].TimeMs {
			newest = i
		}
		switch s.Kind {
		case jagadesa.KindHeartbeat:
			if s.Heartbeat == nil {
				continue
			}
			lastHB = i // its interval is the one that holds
			if siteHB < 0 || s.TimeMs > r.Samples[siteHB].TimeMs {
				siteHB = i
			}
		case jagadesa.KindICMP:
			if s.ICMP == nil {
				continue
			}
			if j, ok := targets[s.Target]; !ok || s.TimeMs > r.Samples[j].TimeMs {
				targets[s.Target] = i
			}
		case jagadesa.KindThroughput:
			if s.Throughput == nil || s.Throughput.Error != "" {
				continue
			}
			d := s.Throughput.Direction
			if j, ok := speeds[d]; !ok || s.TimeMs > r.Samples[j].TimeMs {
				speeds[d] = i
			}
		}
	}
	for _, i := range []int{newest, lastHB, siteHB} {
		if i >= 0 {
			keep[i] = true
		}
	}
	for _, i := range targets {
		keep[i] = true
	}
	for _, i := range speeds {
		keep[i] = true
	}
	out := &jagadesa.Report{Version: r.Version, Probe: r.Probe, Village: r.Village}
	for i := range r.Samples {
		if !keep[i] {
			continue
		}
		s := r.Samples[i]
		if s.ICMP != nil && len(s.ICMP.RTTsMs) > 1 {
			// Live status takes the median of the RTTs: one number
			// stands for them all.
			p := *s.ICMP
			p.RTTsMs = []float64{p.MedianMs()}
			s.ICMP = &p
		}
		out.Samples = append(out.Samples, s)
	}
	return out
}
