//go:build linux

package e2e

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// reportedAgain says whether r is an outage that a later record reported
// again. An outage point is its cause and start, so when the probe is killed
// after spooling an outage but before saving its timeline, the next run
// reports the same outage (same start, later end) and the server stores it
// over the first report: two records, one point, the later one's seq.
func reportedAgain(stored map[uint64][]storedPoint, r spooled) bool {
	if r.Sample == nil || r.Sample.Kind != jagadesa.KindOutage {
		return false
	}
	for seq, ps := range stored {
		for _, p := range ps {
			if seq > r.ID && p.Meas == influx.MeasOutage && p.Cause == r.Sample.Outage.Cause && p.Time.UnixMilli() == r.Sample.Outage.StartMs {
				return true
			}
		}
	}
	return false
}

// TestProbeSurvivesKills runs the real probe binary on one spool and
// SIGKILLs it at random moments, well over a hundred times — first while it
// can upload (kills land in rounds, uploads and acks), then while the server
// is unreachable so everything piles up in the spool — and finally lets one
// run drain the spool into the real server and InfluxDB.
//
// After every kill it reads a copy of the spool, as the next run will find
// it. It then checks that every record the spool ever held is stored exactly
// once (one point per seq, none missing), that a run's records have no holes
// (so at most the record being written when the kill came is lost), that
// nothing vanishes from the spool while nothing can be delivered, and that
// the unclean stops were recorded as outages with cause probe.
func TestProbeSurvivesKills(t *testing.T) {
	requireRoot(t, "the probe pings 127.0.0.1 over a raw socket")
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog syncBuffer
	base, serverDone := startServer(t, ctx, ifx.URL, bucket, &serverLog)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	probeID, token := enroll(t, base, testVillage, spoolDir)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bin := buildProbe(t)
	dead := "http://" + freeAddr(t) // nothing listens there: the server is unreachable

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x4a616761))

	// run starts the probe against server and returns it with its output.
	run := func(server string) (*exec.Cmd, *syncBuffer) {
		out := &syncBuffer{}
		cmd := exec.Command(bin, probeArgs(server, testVillage, spoolDir, "127.0.0.1")...)
		cmd.Env = []string{"JAGADESA_TOKEN=" + token} // not a flag: flags show in ps
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
		if err := cmd.Start(); err != nil {
			t.Fatalf("start the probe: %v", err)
		}
		return cmd, out
	}

	ever := map[uint64]spooled{} // every record seen in the spool after any kill
	var held map[uint64]spooled  // the spool after the last kill
	kills := 0
	t0 := time.Now()
	for _, phase := range []struct {
		name   string
		server string
		kills  int
	}{{"uploading", base, 40}, {"server unreachable", dead, 70}} {
		for range phase.kills {
			cmd, out := run(phase.server)
			time.Sleep(time.Duration(rng.IntN(301)) * time.Millisecond)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%s, kill %d: the probe ended by itself (%v), not by SIGKILL:\n%s", phase.name, kills+1, err, out.String())
			}
			kills++
			now := snapshotSpool(t, spoolDir)
			if phase.server == dead {
				// Nothing can be delivered, so nothing may leave the spool.
				for id, r := range held {
					if _, ok := now[id]; !ok {
						t.Fatalf("%s, kill %d: record %s vanished from the spool\n%s", phase.name, kills, r, out.String())
					}
				}
			}
			maps.Copy(ever, now)
			held = now
		}
	}
	t.Logf("%d kills in %s; %d records seen in the spool, %d pending at the end", kills, time.Since(t0).Round(time.Millisecond), len(ever), len(held))

	// Drain: one run against the real server until it has stored every
	// record ever spooled, then a clean stop.
	drainStart := time.Now()
	cmd, out := run(base)
	t.Cleanup(func() { cmd.Process.Kill() })
	stored := waitStored(t, 60*time.Second, store, bucket, probeID, func(stored map[uint64][]storedPoint) (bool, string) {
		var missing []uint64
		for id, r := range ever {
			if _, ok := stored[id]; !ok && !reportedAgain(stored, r) {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		return len(missing) == 0, "records spooled but not stored:" + joinIDs(missing)
	}, out, &serverLog)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("drain run did not stop cleanly on SIGTERM: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(spoolDir, "running")); !os.IsNotExist(err) {
		t.Fatalf("a clean stop must remove the running marker: %v", err)
	}
	stored = storedPoints(t, store, bucket, probeID)
	rest := readSpool(t, spoolDir) // spooled by the drain run after its last upload

	checkOnce(t, stored)
	// Every id the spool handed out, as far as anyone can know: what was
	// seen in it after a kill, what reached InfluxDB (including records
	// spooled and delivered between two kills), and what is still pending.
	all := maps.Clone(ever)
	maps.Copy(all, rest)
	for seq, ps := range stored {
		r, ok := all[seq]
		if !ok {
			// Delivered before any snapshot saw it: only its measurement
			// is known, and a run boundary cannot be told from it.
			all[seq] = spooled{ID: seq, Sample: &jagadesa.Sample{Kind: ps[0].Meas}}
			if ps[0].Meas == influx.MeasEvent {
				all[seq] = spooled{ID: seq, Event: &jagadesa.Event{Kind: ps[0].Kind}}
			}
			if ps[0].Meas == influx.MeasOutage {
				all[seq] = spooled{ID: seq, Sample: &jagadesa.Sample{Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: ps[0].Cause}}}
			}
			continue
		}
		if r.measurement() != ps[0].Meas {
			t.Errorf("record %s stored as %s", r, ps[0].Meas)
		}
		if r.Sample != nil && r.Sample.Kind == jagadesa.KindOutage && !ps[0].Time.Equal(time.UnixMilli(r.Sample.Outage.StartMs)) {
			t.Errorf("outage %s stored at %s, not at its start", r, ps[0].Time)
		}
	}
	checkContiguous(t, all)

	// The unclean stops: every run that got as far as its start-up check
	// (most: kills come 0–300 ms in, the check runs in the first few ms)
	// recorded one, the drain run too. None is a power cut or a link cut:
	// the host stayed up, and loopback always answers.
	merged := 0
	for id, r := range ever {
		if _, ok := stored[id]; !ok && reportedAgain(stored, r) {
			merged++
		}
	}
	outages := storedOutages(t, store, bucket, probeID)
	t.Logf("%d probe outages stored (%d reported twice: killed between spooling one and saving the timeline)", len(outages), merged)
	if len(outages) < kills/3 {
		t.Errorf("only %d outages stored for %d kills", len(outages), kills)
	}
	var drainOutage *jagadesa.Outage
	for i, o := range outages {
		if o.Cause != jagadesa.CauseProbe {
			t.Errorf("outage %+v: the host never rebooted and loopback never failed; want cause probe", o)
		}
		if o.StartMs < t0.UnixMilli()-1000 || o.EndMs < o.StartMs || o.EndMs-o.StartMs > 10_000 {
			t.Errorf("outage %+v: want a short one within the test (a kill came every 0-300 ms)", o)
		}
		if i > 0 && o.StartMs < outages[i-1].EndMs {
			t.Errorf("outages overlap: %+v and %+v", outages[i-1], o)
		}
		if o.EndMs >= drainStart.UnixMilli() {
			drainOutage = &outages[i]
		}
	}
	if drainOutage == nil || drainOutage.StartMs > drainStart.UnixMilli() || drainOutage.EndMs > drainStart.Add(10*time.Second).UnixMilli() {
		t.Errorf("the drain run, after a kill, recorded outage %+v; want one from before it started to its start", drainOutage)
	}

	cancel()
	waitDone(t, "server", serverDone, 15*time.Second, &serverLog)
}
