package incident_test

import (
	"context"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// Two managers on one store, as two replicas: the standby acknowledges an
// incident the leader opened; the leader, told to reload it, goes on from
// the acknowledged copy (its resolution keeps the acknowledgement), and a
// replica taking over after the incident was resolved elsewhere does not
// hold it open.
func TestReloadTakesOtherReplicasChanges(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	lead := newFleet(t, store, "")
	lead.set(geo.KrandeganCode, jagadesa.StatusUp)
	lead.step(2 * time.Second)
	lead.set(geo.KrandeganCode, jagadesa.StatusDown)
	lead.step(time.Second)
	open := lead.open()
	if len(open) != 1 {
		t.Fatalf("open %+v", open)
	}
	id := open[0].ID

	standby := newFleet(t, store, "")
	if _, err := standby.m.Acknowledge(ctx, id, "analyst@33.06"); err != nil {
		t.Fatal(err)
	}
	if err := lead.m.ReloadIncident(ctx, id); err != nil {
		t.Fatal(err)
	}
	if o := lead.open(); len(o) != 1 || o[0].AckedBy != "analyst@33.06" {
		t.Fatalf("the leader's copy after reload: %+v", o)
	}
	lead.set(geo.KrandeganCode, jagadesa.StatusUp)
	lead.step(time.Second)
	got, err := store.Incident(ctx, id)
	if err != nil || got.State != jagadesa.StateResolved || got.AckedBy != "analyst@33.06" {
		t.Fatalf("stored after the leader resolved it: %+v %v", got, err)
	}
	// The standby still holds the incident as open (it only read it);
	// taking over, it reloads and holds nothing open.
	if err := standby.m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if o := standby.open(); len(o) != 0 {
		t.Fatalf("after reload the new leader holds %+v open", o)
	}
	// A reload of a resolved incident drops it too.
	if err := lead.m.ReloadIncident(ctx, id); err != nil || len(lead.open()) != 0 {
		t.Fatalf("%v %+v", err, lead.open())
	}
}
