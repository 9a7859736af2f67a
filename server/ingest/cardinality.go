package ingest

import (
	"fmt"
	"sync"

	"github.com/jagadesa/jagadesa"
)

// cardinality bounds the distinct tag values each probe may introduce: a
// hostile probe inventing a new target per record would otherwise grow
// InfluxDB's series without end.
type cardinality struct {
	mu     sync.Mutex
	probes map[string]*seen
}

type seen struct {
	targets, resolvers, kinds map[string]struct{}
}

// admit removes from r the records that would give the probe more distinct
// targets, resolvers or event kinds than allowed, and says why.
func (c *cardinality) admit(probe string, r *jagadesa.Report) []jagadesa.Rejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.probes[probe]
	if s == nil {
		s = &seen{targets: map[string]struct{}{}, resolvers: map[string]struct{}{}, kinds: map[string]struct{}{}}
		c.probes[probe] = s
	}
	var out []jagadesa.Rejection
	kept := r.Samples[:0]
	for i := range r.Samples {
		smp := &r.Samples[i]
		p := jagadesa.Problems{}
		if smp.Target != "" && !fits(s.targets, smp.Target, jagadesa.MaxTargetsPerProbe) {
			p["samples["+itoa(i)+"].target"] = fmt.Sprintf("this probe already reports %d distinct targets, the most one probe may", jagadesa.MaxTargetsPerProbe)
		}
		if smp.DNS != nil && !fits(s.resolvers, smp.DNS.Resolver, jagadesa.MaxResolversPerProbe) {
			p["samples["+itoa(i)+"].dns.resolver"] = fmt.Sprintf("this probe already reports %d distinct resolvers, the most one probe may", jagadesa.MaxResolversPerProbe)
		}
		if len(p) > 0 {
			out = append(out, jagadesa.Rejection{Seq: smp.Seq, Problems: p})
			continue
		}
		kept = append(kept, *smp)
	}
	clear(r.Samples[len(kept):])
	r.Samples = kept
	keptE := r.Events[:0]
	for i := range r.Events {
		e := &r.Events[i]
		if !fits(s.kinds, e.Kind, jagadesa.MaxEventKindsPerProbe) {
			out = append(out, jagadesa.Rejection{Seq: e.Seq, Problems: jagadesa.Problems{
				"events[" + itoa(i) + "].kind": fmt.Sprintf("this probe already reports %d distinct event kinds, the most one probe may", jagadesa.MaxEventKindsPerProbe)}})
			continue
		}
		keptE = append(keptE, *e)
	}
	clear(r.Events[len(keptE):])
	r.Events = keptE
	return out
}

// fits adds v to set unless the set is full; it reports whether v is in it.
func fits(set map[string]struct{}, v string, limit int) bool {
	if _, ok := set[v]; ok {
		return true
	}
	if len(set) >= limit {
		return false
	}
	set[v] = struct{}{}
	return true
}

func itoa(i int) string { return fmt.Sprint(i) }
