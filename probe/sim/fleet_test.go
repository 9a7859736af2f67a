package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// The spliced report is byte for byte what probe.Sender sends for the same
// records: each decoded, numbered with its queue id, and the report encoded
// with encoding/json. Too-old and malformed records are left out.
func TestEncodeReportMatchesSender(t *testing.T) {
	v := &village{info: villageInfo{Code: "33.01.02.2001"}, link: NewLink("33.01.02.2001", 7), spool: newMemQueue(1 << 20)}
	if err := v.setStream("sim-33.01.02.2001"); err != nil {
		t.Fatal(err)
	}
	f := &Fleet{cfg: Config{Count: 10}}
	f.cfg.defaults()
	now := time.UnixMilli(1_800_000_000_123)
	v.booted, v.start = now.Add(-time.Hour), now.Add(-time.Minute)
	f.round(v, now)
	v.down = now.Add(time.Hour) // a cut: losses of 100 %
	f.round(v, now.Add(time.Minute))
	f.event(v, now, "probe_start", `quotes " and <html> & ünïcode`)
	old, _ := probe.EncodeSample(jagadesa.Sample{TimeMs: 1000, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: "x"}})
	v.spool.Append(old)
	v.spool.Append([]byte(`{"x":1}`))
	recs, _ := v.spool.Peek(100, 1<<20)
	if len(recs) != 11 {
		t.Fatalf("%d records", len(recs))
	}
	sentMs := now.UnixMilli() + 5
	got, sent, expired, bad := v.encodeReport(nil, recs, sentMs, 2000)

	want := jagadesa.Report{Version: jagadesa.WireVersion, Village: v.info.Code, SentAt: sentMs, Stream: v.stream}
	for _, r := range recs[:9] {
		var rec struct {
			Sample *jagadesa.Sample `json:"s"`
			Event  *jagadesa.Event  `json:"e"`
		}
		if err := json.Unmarshal(r.Payload, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Sample != nil {
			rec.Sample.Seq = r.ID
			want.Samples = append(want.Samples, *rec.Sample)
		} else {
			rec.Event.Seq = r.ID
			want.Events = append(want.Events, *rec.Event)
		}
	}
	wantB, _ := json.Marshal(want)
	if string(got) != string(wantB) {
		t.Fatalf("spliced report\n got %s\nwant %s", got, wantB)
	}
	if sent != 9 || expired != 1 || bad != 1 || len(want.Events) != 1 {
		t.Fatalf("sent %d expired %d bad %d events %d", sent, expired, bad, len(want.Events))
	}
	// A report with events only, and one with samples only, are right too.
	for _, rs := range [][]spool.Record{recs[8:9], recs[:1]} {
		got, _, _, _ := v.encodeReport(nil, rs, 1, 0)
		var back jagadesa.Report
		if err := json.Unmarshal(got, &back); err != nil || len(back.Samples)+len(back.Events) != 1 {
			t.Fatalf("%s: %v", got, err)
		}
	}
}

func startFleet(t *testing.T, villages int, interval time.Duration, verify bool) (*fakeServer, *Fleet) {
	t.Helper()
	srv, ts := newFakeServer(t, villages, verify)
	f, err := Start(context.Background(), Config{Server: ts.URL, AdminToken: "test", Villages: villages, Interval: interval,
		Dir: t.TempDir(), MemorySpools: true, OutageEvery: 1e6 * time.Hour, Senders: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	if f.Len() != villages || srv.enrolled.Load() != int64(villages) {
		t.Fatalf("%d villages, %d enrolled", f.Len(), srv.enrolled.Load())
	}
	return srv, f
}

func runFor(f *Fleet, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	f.Run(ctx)
}

// checkSeqs asserts that each village's records reached the server
// numbered 1, 2, 3, … in order, none lost or repeated, and returns how many.
func checkSeqs(t *testing.T, srv *fakeServer, f *Fleet) map[string]int {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.errors) > 0 {
		t.Fatalf("server saw: %v", srv.errors[:min(5, len(srv.errors))])
	}
	out := map[string]int{}
	for _, v := range f.villages {
		seqs := srv.seqs[v.info.Code]
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Fatalf("village %s: record %d numbered %d (all: %v)", v.info.Code, i+1, s, seqs)
			}
		}
		out[v.info.Code] = len(seqs)
	}
	return out
}

// The scheduler runs every probe's round once an interval, spread over it,
// and each round's four records go up in one signed report.
func TestFleetReportsOncePerInterval(t *testing.T) {
	const villages, interval = 40, 400 * time.Millisecond
	srv, f := startFleet(t, villages, interval, true)
	const run = 5*interval + interval/2 // rounds at 0..5 intervals, the last for half the fleet
	runFor(f, run)
	got := checkSeqs(t, srv, f)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, v := range f.villages {
		// A village's rounds fall at phase + k·interval, phase = i·interval/n:
		// those before the end of the run. One fewer is allowed for a slow
		// machine, and one more for a village whose last round falls on
		// the end of the run itself (village n/2 here), which may go
		// either way.
		phase := time.Duration(i) * interval / villages
		want := int((run - phase + interval - 1) / interval)
		lo, hi := want-1, want
		if rem := (run - phase) % interval; rem < 20*time.Millisecond || rem > interval-20*time.Millisecond {
			hi = want + 1
		}
		n := len(srv.sizes[v.info.Code])
		if n < lo || n > hi || got[v.info.Code] != 4*n {
			t.Errorf("village %d: %d reports of %d records (sizes %v), want %d to %d of 4", i, n, got[v.info.Code], srv.sizes[v.info.Code], lo, hi)
		}
	}
	if r := f.Stats.Rounds.Load(); r < villages*5 || r > villages*6 {
		t.Errorf("%d rounds", r)
	}
	if f.Stats.Reports.Load() != srv.reports.Load() || f.Stats.UploadFailures.Load() != 0 {
		t.Errorf("stats %d reports (server %d), %d failures", f.Stats.Reports.Load(), srv.reports.Load(), f.Stats.UploadFailures.Load())
	}
}

// While the server refuses uploads the records stay queued; once it takes
// them again they all arrive, oldest first, numbered without a gap.
func TestFleetKeepsRecordsThroughFailures(t *testing.T) {
	const villages, interval = 10, 200 * time.Millisecond
	srv, f := startFleet(t, villages, interval, true)
	srv.fail.Store(true)
	time.AfterFunc(1200*time.Millisecond, func() { srv.fail.Store(false) })
	// Backoff after a failure is up to one interval (2 s minimum halved,
	// capped at the interval), so everything is through well within 2 s.
	runFor(f, 3*time.Second)
	got := checkSeqs(t, srv, f)
	if f.Stats.UploadFailures.Load() < villages {
		t.Errorf("%d failed uploads", f.Stats.UploadFailures.Load())
	}
	total := 0
	for _, v := range f.villages {
		st := v.spool.Stats()
		n := got[v.info.Code]
		total += n + int(st.Records)
		// All but the latest round or two have arrived; nothing was dropped.
		if st.Dropped != 0 || n < 4*10 || st.Records > 8 {
			t.Errorf("village %s: %d records arrived, queue %+v", v.info.Code, n, st)
		}
		srv.mu.Lock()
		sizes := srv.sizes[v.info.Code]
		srv.mu.Unlock()
		if slices.Max(sizes) <= 4 {
			t.Errorf("village %s: the backlog never went in one report: %v", v.info.Code, sizes)
		}
	}
	if want := 4 * int(f.Stats.Rounds.Load()); total != want {
		t.Errorf("%d records arrived or queued, %d made", total, want)
	}
}

// A backlog over one report's 500 records goes in several reports, one
// after another, oldest first.
func TestFleetDrainsABacklogInBatches(t *testing.T) {
	srv, f := startFleet(t, 1, time.Hour, true)
	v := f.villages[0]
	for i := range 300 {
		f.round(v, time.Now().Add(time.Duration(i-300)*time.Second))
	}
	runFor(f, 2*time.Second) // one round (1,204 records), three reports 200 ms apart
	got := checkSeqs(t, srv, f)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if sizes := srv.sizes[v.info.Code]; got[v.info.Code] != 1204 || !slices.Equal(sizes, []int{500, 500, 204}) {
		t.Fatalf("%d records in reports of %v", got[v.info.Code], sizes)
	}
	if st := v.spool.Stats(); st.Records != 0 || f.Stats.Uploads.Load() != 1 {
		t.Fatalf("queue %+v, %d uploads", st, f.Stats.Uploads.Load())
	}
}

// A village whose link is cut sends nothing; its records wait.
func TestFleetCutLinkKeepsRecords(t *testing.T) {
	srv, f := startFleet(t, 1, time.Hour, true)
	v := f.villages[0]
	f.round(v, time.Now())
	v.up.Store(false)
	if n, err := f.sendOnce(context.Background(), v); err == nil || n != 0 {
		t.Fatalf("sent %d, %v", n, err)
	}
	if srv.reports.Load() != 0 || v.spool.Stats().Records != 4 {
		t.Fatalf("%d reports, queue %+v", srv.reports.Load(), v.spool.Stats())
	}
	v.up.Store(true)
	if n, err := f.sendOnce(context.Background(), v); err != nil || n != 4 || v.spool.Stats().Records != 0 {
		t.Fatalf("sent %d, %v, queue %+v", n, err, v.spool.Stats())
	}
}

// All the in-memory queues together stay within memQueuesBytes, however
// large the fleet (down to the per-probe floor of a few rounds).
func TestMemQueuesCap(t *testing.T) {
	for _, n := range []int{1, 599, 2000, 35000, 83763} {
		per := memQueueBytes(n)
		if per*int64(n) > memQueuesBytes && per != 8<<10 || per > 1<<20 || per < 8<<10 {
			t.Errorf("%d probes: %d bytes each", n, per)
		}
	}
	q := newMemQueue(2000)
	for i := range 100 {
		q.Append(fmt.Appendf(nil, "%099d", i))
	}
	st := q.Stats()
	if st.Bytes > 2000 || st.Records != 20 || st.Dropped != 80 {
		t.Fatalf("%+v", st)
	}
	recs, _ := q.Peek(100, 1<<20)
	if recs[0].ID != 81 || string(recs[0].Payload[90:]) != "000000080" {
		t.Fatalf("oldest kept: %d %s", recs[0].ID, recs[0].Payload)
	}
}
