package incident_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// auditStore counts the incident writes by action.
type auditStore struct {
	*memStore
	actions map[string]int
	details []string
}

func (s *auditStore) UpdateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	s.actions[a.Action]++
	if a.Action == "village_added" {
		s.details = append(s.details, a.Detail)
	}
	return s.memStore.UpdateIncident(ctx, in, a)
}

// Villages that join a regional incident in one tick are one write of the
// incident, whose audit entry names them: a regional outage of thousands
// of villages was a full copy of the incident per village.
func TestVillagesJoiningInOneTickAreOneWrite(t *testing.T) {
	store := &auditStore{memStore: newMemStore(), actions: map[string]int{}}
	f := newFleet(t, store, "")
	var codes []string
	for _, v := range f.reg.Villages() {
		if v.RegencyCode == "33.06" && v.Kind == "desa" {
			codes = append(codes, v.Code)
		}
	}
	if len(codes) < 80 {
		t.Fatalf("only %d villages in 33.06", len(codes))
	}
	codes = codes[:80]
	for _, c := range codes {
		f.set(c, jagadesa.StatusUp)
	}
	f.step(2 * time.Second)
	for _, c := range codes[:10] { // enough for a regional incident
		f.set(c, jagadesa.StatusDown)
		f.step(2 * time.Second)
	}
	open := f.open()
	if len(open) != 1 || open[0].Kind != jagadesa.IncidentRegional {
		t.Fatalf("open %+v", open)
	}
	before, n := store.actions["village_added"], len(open[0].Villages)
	for _, c := range codes[10:] { // seventy more in one tick
		f.set(c, jagadesa.StatusDown)
	}
	f.step(time.Second)
	open = f.open()
	if len(open) != 1 || len(open[0].Villages) != 80 {
		t.Fatalf("after the tick: %d open, %d villages (had %d)", len(open), len(open[0].Villages), n)
	}
	if got := store.actions["village_added"] - before; got != 1 {
		t.Fatalf("%d village_added writes in one tick, want 1", got)
	}
	last := store.details[len(store.details)-1]
	// Some join through the district's incident growing into the
	// regency's, the rest through attach: twenty named, the rest counted.
	if !regexp.MustCompile(`^(33\.06\.\d\d\.\d{4} ){19}33\.06\.\d\d\.\d{4} \(\+\d+\)$`).MatchString(last) {
		t.Fatalf("audit detail %q (had %d villages)", last, n)
	}
	stored, _ := store.Incident(context.Background(), open[0].ID)
	if len(stored.Villages) != 80 {
		t.Fatalf("stored incident has %d villages", len(stored.Villages))
	}
}
