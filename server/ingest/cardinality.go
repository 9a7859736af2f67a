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
	return r.Refuse(func(f string, smp *jagadesa.Sample, p jagadesa.Problems) {
		if smp.Target != "" && !fits(s.targets, smp.Target, jagadesa.MaxTargetsPerProbe) {
			p[f+".target"] = fmt.Sprintf("this probe already reports %d distinct targets, the most one probe may", jagadesa.MaxTargetsPerProbe)
		}
		if smp.DNS != nil && !fits(s.resolvers, smp.DNS.Resolver, jagadesa.MaxResolversPerProbe) {
			p[f+".dns.resolver"] = fmt.Sprintf("this probe already reports %d distinct resolvers, the most one probe may", jagadesa.MaxResolversPerProbe)
		}
	}, func(f string, e *jagadesa.Event, p jagadesa.Problems) {
		if !fits(s.kinds, e.Kind, jagadesa.MaxEventKindsPerProbe) {
			p[f+".kind"] = fmt.Sprintf("this probe already reports %d distinct event kinds, the most one probe may", jagadesa.MaxEventKindsPerProbe)
		}
	})
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
