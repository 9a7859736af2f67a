package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/status"
)

// Live status survives a restart through the snapshot in the metadata
// store: the second server starts on an empty InfluxDB database, and still
// knows the village — its last report, its figures and its status — from
// the snapshot the first one left at shutdown.
func TestLiveStatusSurvivesRestart(t *testing.T) {
	ifx := influxtest.Get(t)
	addr, data := freeAddr(t), t.TempDir()
	base := "http://" + addr
	const village = "33.06.08.2005"
	var log1 syncBuffer
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := serveAt(t, ctx1, addr, data, ifx.URL, ifx.NewDatabase(t), &log1)
	_, token := enrollSigned(t, base, village)
	at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	r := jagadesa.Report{Version: jagadesa.WireVersion, Village: village, Samples: []jagadesa.Sample{
		{Seq: 1, TimeMs: at.UnixMilli(), Kind: jagadesa.KindICMP, Target: "gw",
			ICMP: &jagadesa.ICMP{Sent: 4, Received: 4, MinMs: 30, AvgMs: 31, MaxMs: 32, RTTsMs: []float64{30, 31, 31, 32}}},
		{Seq: 2, TimeMs: at.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: "b", UptimeS: 100, IntervalS: 600, Mode: "router"}},
	}}
	body, _ := json.Marshal(r)
	if code, b := call(t, "POST", base+"/api/v1/reports", token, string(body)); code != 200 {
		t.Fatalf("report: %d %s", code, b)
	}
	view := func() status.View {
		t.Helper()
		code, b := call(t, "GET", base+"/api/v1/villages/"+village, admin, "")
		if code != 200 {
			t.Fatalf("village: %d %s", code, b)
		}
		var v status.View // the village's fields sit beside the live view's
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return v
	}
	before := view()
	if before.Status != jagadesa.StatusUp || before.RTTMs == nil || *before.RTTMs != 31 {
		t.Fatalf("before the restart: %+v", before)
	}
	stop1()
	waitDone(t, "the first server", done1, 15*time.Second, &log1)

	// The same metadata, a database with nothing in it.
	var log2 syncBuffer
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := serveAt(t, ctx2, addr, data, ifx.URL, ifx.NewDatabase(t), &log2)
	defer func() { stop2(); <-done2 }()
	after := view()
	if after.Status != jagadesa.StatusUp || after.RTTMs == nil || *after.RTTMs != 31 || after.LastSeen == nil || !after.LastSeen.Equal(at) ||
		after.Site == nil || after.Site.Mode != "router" {
		t.Fatalf("after the restart: %+v (last seen %v, want %v)\n%s", after, after.LastSeen, at, log2.String())
	}
	if !strings.Contains(log2.String(), "live status snapshot restored") || !strings.Contains(log2.String(), "villages=1") {
		t.Fatalf("the snapshot was not what restored it:\n%s", log2.String())
	}
}
