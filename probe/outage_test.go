package probe

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// fakeHost writes the /proc files the tracker reads under a temp root: the
// boot id, the uptime, and a default route via gateway (none if empty).
func fakeHost(t *testing.T, root, bootID string, uptimeS float64, gateway string) string {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	for _, d := range []string{"proc/sys/kernel/random", "proc/net"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/sys/kernel/random/boot_id", bootID+"\n")
	write("proc/uptime", strconv.FormatFloat(uptimeS, 'f', 2, 64)+" 12345.67\n")
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	if gateway != "" {
		// The kernel prints the address in host byte order.
		a := netip.MustParseAddr(gateway).As4()
		route += fmt.Sprintf("wan\t00000000\t%08X\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", binary.NativeEndian.Uint32(a[:]))
	}
	write("proc/net/route", route)
	return root
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func ping(target string, received int) jagadesa.Sample {
	return jagadesa.Sample{Kind: jagadesa.KindICMP, Target: target, ICMP: &jagadesa.ICMP{Sent: 5, Received: received}}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func ms(t time.Time) int64 { return t.UnixMilli() }

func readState(t *testing.T, dir string) outageState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, OutageStateFile))
	if err != nil {
		t.Fatal(err)
	}
	var st outageState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file %q: %v", b, err)
	}
	return st
}

func writeState(t *testing.T, dir string, st outageState) {
	t.Helper()
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, OutageStateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func checkOutages(t *testing.T, got []jagadesa.Sample, want []jagadesa.Outage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outages %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i, s := range got {
		o := s.Outage
		if s.Kind != jagadesa.KindOutage || o == nil {
			t.Fatalf("sample %d is not an outage: %+v", i, s)
		}
		if o.Cause != want[i].Cause || o.StartMs != want[i].StartMs || o.EndMs != want[i].EndMs {
			t.Errorf("outage %d: %s %s → %s, want %s %s → %s", i,
				o.Cause, time.UnixMilli(o.StartMs).UTC().Format(time.TimeOnly), time.UnixMilli(o.EndMs).UTC().Format(time.TimeOnly),
				want[i].Cause, time.UnixMilli(want[i].StartMs).UTC().Format(time.TimeOnly), time.UnixMilli(want[i].EndMs).UTC().Format(time.TimeOnly))
		}
		if s.TimeMs != o.EndMs {
			t.Errorf("outage %d: sample time %d, want its end %d", i, s.TimeMs, o.EndMs)
		}
		if o.Detail == "" {
			t.Errorf("outage %d has no detail", i)
		}
		// Whatever the clocks did, the server must accept it: a rejected
		// sample would cost its whole batch.
		r := jagadesa.Report{Version: jagadesa.WireVersion, Probe: "p", Village: "33.06.08.2005", Samples: []jagadesa.Sample{s}}
		r.Samples[0].Seq = 1
		if p := r.Validate(time.UnixMilli(max(o.EndMs, ms(t0)))); p != nil {
			t.Errorf("outage %d would be rejected: %v", i, p)
		}
	}
}

// TestOutageStart: what the probe finds out at start about the time it was
// not running.
func TestOutageStart(t *testing.T) {
	last := t0.Add(-10 * time.Minute) // the previous run's last sign of life
	linkDown := last.Add(-3 * time.Minute)
	tests := []struct {
		name        string
		state       *outageState // nil: no state file
		raw         string       // a state file's content, if not state
		prevClean   bool
		prevStartMs int64 // the running marker's content
		boot        string
		uptime      time.Duration
		want        []jagadesa.Outage
		wantErr     bool
	}{
		{name: "first run ever", prevClean: true, boot: "A", uptime: time.Hour},
		{name: "clean restart", state: &outageState{LastAliveMs: ms(last), BootID: "A"}, prevClean: true, boot: "A", uptime: time.Hour},
		{name: "planned reboot (clean stop, new boot)", state: &outageState{LastAliveMs: ms(last), BootID: "A"}, prevClean: true, boot: "B", uptime: time.Minute},
		{name: "probe crash", state: &outageState{LastAliveMs: ms(last), BootID: "A"}, boot: "A", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(last), EndMs: ms(t0)}}},
		{name: "power cut", state: &outageState{LastAliveMs: ms(last), BootID: "A"}, boot: "B", uptime: 2 * time.Minute,
			want: []jagadesa.Outage{{Cause: jagadesa.CausePower, StartMs: ms(last), EndMs: ms(t0.Add(-2 * time.Minute))}}},
		{name: "power cut told by uptime without a boot id", state: &outageState{LastAliveMs: ms(last)}, boot: "B", uptime: 2 * time.Minute,
			want: []jagadesa.Outage{{Cause: jagadesa.CausePower, StartMs: ms(last), EndMs: ms(t0.Add(-2 * time.Minute))}}},
		{name: "probe crash told by uptime without a boot id", state: &outageState{LastAliveMs: ms(last)}, boot: "", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(last), EndMs: ms(t0)}}},
		{name: "crash before the first state: the marker's start", prevStartMs: ms(last.Add(-5 * time.Minute)), boot: "A", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(last.Add(-5 * time.Minute)), EndMs: ms(t0)}}},
		{name: "marker newer than the state", state: &outageState{LastAliveMs: ms(last.Add(-time.Hour)), BootID: "A"}, prevStartMs: ms(last), boot: "A", uptime: 2 * time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(last), EndMs: ms(t0)}}},
		{name: "link down at a crash", state: &outageState{LastAliveMs: ms(last), BootID: "A", LinkDownMs: ms(linkDown)}, boot: "A", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseLink, StartMs: ms(linkDown), EndMs: ms(last)}, {Cause: jagadesa.CauseProbe, StartMs: ms(last), EndMs: ms(t0)}}},
		{name: "link down at a clean stop", state: &outageState{LastAliveMs: ms(last), BootID: "A", LinkDownMs: ms(linkDown)}, prevClean: true, boot: "A", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseLink, StartMs: ms(linkDown), EndMs: ms(last)}}},
		{name: "link down, then the power", state: &outageState{LastAliveMs: ms(last), BootID: "A", LinkDownMs: ms(linkDown)}, boot: "B", uptime: time.Minute,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseLink, StartMs: ms(linkDown), EndMs: ms(last)}, {Cause: jagadesa.CausePower, StartMs: ms(last), EndMs: ms(t0.Add(-time.Minute))}}},
		{name: "power cut with the boot before the last sign of life (clock set late)", state: &outageState{LastAliveMs: ms(last), BootID: "A"}, boot: "B", uptime: time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CausePower, StartMs: ms(last), EndMs: ms(last)}}},
		{name: "clock went backwards", state: &outageState{LastAliveMs: ms(t0.Add(time.Hour)), BootID: "A"}, boot: "A", uptime: 2 * time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(t0.Add(time.Hour)), EndMs: ms(t0.Add(time.Hour))}}},
		{name: "too old for the server: start moved up", state: &outageState{LastAliveMs: ms(t0.Add(-30 * 24 * time.Hour)), BootID: "A"}, boot: "A", uptime: 60 * 24 * time.Hour,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(t0.Add(-2*jagadesa.MaxPast + time.Hour)), EndMs: ms(t0)}}},
		{name: "corrupt state, marker still known", raw: "{\"last_alive_ms\":", prevStartMs: ms(last), boot: "A", uptime: time.Hour, wantErr: true,
			want: []jagadesa.Outage{{Cause: jagadesa.CauseProbe, StartMs: ms(last), EndMs: ms(t0)}}},
		{name: "unclean, nothing known", boot: "A", uptime: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := fakeHost(t, "", tt.boot, tt.uptime.Seconds(), "")
			if tt.boot == "" {
				os.Remove(filepath.Join(root, "proc/sys/kernel/random/boot_id"))
			}
			if tt.state != nil {
				writeState(t, dir, *tt.state)
			}
			if tt.raw != "" {
				os.WriteFile(filepath.Join(dir, OutageStateFile), []byte(tt.raw), 0o600)
			}
			clk := &fakeClock{t0}
			tr := NewOutageTracker(dir, root, clk.Now)
			got, err := tr.Start(tt.prevClean, tt.prevStartMs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			checkOutages(t, got, tt.want)
			if err := tr.Save(); err != nil {
				t.Fatal(err)
			}
			// The new run is alive now, under the current boot, link not
			// known to be down: the next unclean stop is measured from here.
			if st := readState(t, dir); st != (outageState{LastAliveMs: ms(t0), BootID: tt.boot}) {
				t.Fatalf("state after start %+v", st)
			}
		})
	}
}

// TestOutageRounds: link outages told from rounds of ICMP samples.
func TestOutageRounds(t *testing.T) {
	const gw, far, server = "192.168.1.1", "jatengprov.go.id", "203.0.113.9"
	// Each round lists each target's packets received (of 5); -1 leaves the
	// target out of the round (its check could not run). want is the
	// transition the round makes: "", "down" or "up".
	type round struct {
		recv []int
		want string
	}
	tests := []struct {
		name    string
		gateway string
		targets []string
		rounds  []round
	}{
		{"steady", gw, []string{gw, far, server}, []round{{[]int{5, 5, 5}, ""}, {[]int{5, 5, 5}, ""}}},
		{"outage spanning rounds", gw, []string{gw, far, server}, []round{
			{[]int{5, 5, 5}, ""},
			{[]int{5, 0, 0}, "down"}, // the gateway still answers: the upstream is cut
			{[]int{0, 0, 0}, ""},
			{[]int{5, 0, 0}, ""},
			{[]int{5, 0, 3}, "up"},
			{[]int{5, 5, 5}, ""},
		}},
		{"flapping", gw, []string{gw, far, server}, []round{
			{[]int{5, 5, 5}, ""},
			{[]int{5, 0, 0}, "down"},
			{[]int{5, 2, 0}, "up"},
			{[]int{5, 0, 0}, "down"},
			{[]int{5, 0, 1}, "up"},
			{[]int{5, 0, 0}, "down"}, // left open
		}},
		{"partial loss is no outage", gw, []string{gw, far, server}, []round{{[]int{5, 1, 0}, ""}, {[]int{0, 0, 1}, ""}}},
		{"gateway lost, upstream answering", gw, []string{gw, far, server}, []round{{[]int{0, 5, 5}, ""}}},
		{"no gateway: every target counts", "", []string{"10.0.0.1", far}, []round{{[]int{0, 0}, "down"}, {[]int{1, 0}, "up"}}},
		{"gateway not among the targets", gw, []string{far, server}, []round{{[]int{0, 0}, "down"}, {[]int{0, 5}, "up"}}},
		{"only the gateway targeted", gw, []string{gw}, []round{{[]int{5}, ""}, {[]int{0}, "down"}, {[]int{5}, "up"}}},
		{"rounds without ICMP change nothing", gw, []string{gw, far}, []round{
			{[]int{5, 0}, "down"},
			{[]int{-1, -1}, ""},
			{[]int{-1, 0}, ""},
			{[]int{5, -1}, "up"}, // only the gateway measured: it is all there is to go by
			{[]int{5, 5}, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := fakeHost(t, "", "A", 3600, tt.gateway)
			clk := &fakeClock{t0}
			tr := NewOutageTracker(dir, root, clk.Now)
			if got, _ := tr.Start(true, 0); len(got) != 0 {
				t.Fatalf("first start reported %+v", got)
			}
			var downSince time.Time
			for i, r := range tt.rounds {
				began := t0.Add(time.Duration(i+1) * time.Minute)
				clk.t = began.Add(7 * time.Second) // the round's checks took 7 s
				var samples []jagadesa.Sample
				for j, n := range r.recv {
					if n >= 0 {
						samples = append(samples, ping(tt.targets[j], n))
					}
				}
				samples = append(samples, jagadesa.Sample{Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{}})
				outs, evs := tr.Observe(began, samples)
				if err := tr.Save(); err != nil {
					t.Fatal(err)
				}
				st := readState(t, dir)
				if st.LastAliveMs != ms(clk.t) || st.BootID != "A" {
					t.Fatalf("round %d: state %+v: last sign of life must be now, under boot A", i, st)
				}
				switch r.want {
				case "":
					if len(outs)+len(evs) != 0 {
						t.Fatalf("round %d %v: unexpected %+v %+v", i, r.recv, outs, evs)
					}
				case "down":
					downSince = began
					if len(outs) != 0 || len(evs) != 1 || evs[0].Kind != "link_down" || evs[0].TimeMs != ms(began) || evs[0].Severity != "warning" {
						t.Fatalf("round %d %v: want link_down at the round's start, got %+v %+v", i, r.recv, outs, evs)
					}
				case "up":
					if len(evs) != 1 || evs[0].Kind != "link_up" || evs[0].TimeMs != ms(began) {
						t.Fatalf("round %d %v: want link_up at the round's start, got %+v", i, r.recv, evs)
					}
					checkOutages(t, outs, []jagadesa.Outage{{Cause: jagadesa.CauseLink, StartMs: ms(downSince), EndMs: ms(began)}})
					if evs[0].Attrs["down_since_ms"] != strconv.FormatInt(ms(downSince), 10) {
						t.Fatalf("link_up attrs %v", evs[0].Attrs)
					}
					downSince = time.Time{}
				}
				want := int64(0)
				if !downSince.IsZero() {
					want = ms(downSince)
				}
				if st.LinkDownMs != want {
					t.Fatalf("round %d: persisted link_down_ms %d, want %d", i, st.LinkDownMs, want)
				}
			}
		})
	}
}

// TestOutageAcrossUncleanRestart: a link outage still open when the probe
// dies is closed at its last sign of life; the probe's own outage follows;
// a link still down after the restart opens a new outage.
func TestOutageAcrossUncleanRestart(t *testing.T) {
	dir := t.TempDir()
	root := fakeHost(t, "", "A", 3600, "")
	clk := &fakeClock{t0}
	tr := NewOutageTracker(dir, root, clk.Now)
	tr.Start(true, 0)
	observe := func(tr *OutageTracker, began time.Time, recv int) ([]jagadesa.Sample, []jagadesa.Event) {
		clk.t = began.Add(2 * time.Second)
		outs, evs := tr.Observe(began, []jagadesa.Sample{ping("203.0.113.9", recv)})
		if err := tr.Save(); err != nil {
			t.Fatal(err)
		}
		return outs, evs
	}
	r1 := t0.Add(time.Minute)
	observe(tr, t0, 5)
	if _, evs := observe(tr, r1, 0); len(evs) != 1 || evs[0].Kind != "link_down" {
		t.Fatalf("no link_down: %+v", evs)
	}
	lastAlive := r1.Add(2 * time.Second)
	// killed here; back 30 s later on the same boot
	clk.t = lastAlive.Add(30 * time.Second)
	restart := clk.t
	tr2 := NewOutageTracker(dir, root, clk.Now)
	got, err := tr2.Start(false, ms(t0))
	if err != nil {
		t.Fatal(err)
	}
	checkOutages(t, got, []jagadesa.Outage{
		{Cause: jagadesa.CauseLink, StartMs: ms(r1), EndMs: ms(lastAlive)},
		{Cause: jagadesa.CauseProbe, StartMs: ms(lastAlive), EndMs: ms(restart)},
	})
	tr2.Save()
	r2 := restart.Add(time.Second)
	if _, evs := observe(tr2, r2, 0); len(evs) != 1 || evs[0].Kind != "link_down" || evs[0].TimeMs != ms(r2) {
		t.Fatalf("still down after the restart: want a new link_down at %d, got %+v", ms(r2), evs)
	}
	outs, _ := observe(tr2, r2.Add(time.Minute), 1)
	checkOutages(t, outs, []jagadesa.Outage{{Cause: jagadesa.CauseLink, StartMs: ms(r2), EndMs: ms(r2.Add(time.Minute))}})
}

// TestOutageSave: at most one write a round, atomically, nothing left over.
func TestOutageSave(t *testing.T) {
	dir := t.TempDir()
	root := fakeHost(t, "", "A", 3600, "")
	clk := &fakeClock{t0}
	tr := NewOutageTracker(dir, root, clk.Now)
	tr.Start(true, 0)
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, OutageStateFile)
	os.Remove(path)
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("Save without a change wrote the state again")
	}
	clk.t = t0.Add(time.Minute)
	tr.Observe(t0.Add(50*time.Second), []jagadesa.Sample{ping("x", 1)})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, dir); st.LastAliveMs != ms(clk.t) {
		t.Fatalf("state %+v", st)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	// A state file the probe cannot write is an error, not a panic.
	ro := NewOutageTracker(filepath.Join(dir, "missing", "dir"), root, clk.Now)
	ro.Start(true, 0)
	if err := ro.Save(); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
}

// TestProbeOutageWiring runs the start check and the per-round hook through
// New, the spool and the running marker, as the probe does.
func TestProbeOutageWiring(t *testing.T) {
	root := fakeHost(t, "", "boot-A", 3600, "192.168.1.1")
	cfg := Config{Server: "http://127.0.0.1:9", Token: "t", Village: "33.06.08.2005", Spool: t.TempDir(), Interval: time.Minute,
		Targets: []string{"192.168.1.1", "203.0.113.9"}, Root: root, Count: 1, PingInterval: time.Second, Version: "test"}
	log := slog.New(slog.DiscardHandler)
	// spooled returns what New and the rounds appended since the last call.
	var seen uint64
	spooled := func(p *Probe) (out []record) {
		t.Helper()
		recs, err := p.spool.Peek(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID <= seen {
				continue
			}
			seen = r.ID
			var rec record
			if err := json.Unmarshal(r.Payload, &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
		return out
	}
	crash := func(p *Probe) { p.spool.Close() } // the running marker stays

	p, err := New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if recs := spooled(p); len(recs) != 0 {
		t.Fatalf("first run spooled %+v", recs)
	}
	began := time.Now()
	p.observeOutages(began, []jagadesa.Sample{ping("192.168.1.1", 1), ping("203.0.113.9", 0)})
	if recs := spooled(p); len(recs) != 1 || recs[0].Event == nil || recs[0].Event.Kind != "link_down" {
		t.Fatalf("link down: spooled %+v", recs)
	}
	lastAlive := readState(t, cfg.Spool).LastAliveMs
	crash(p)

	before := time.Now()
	p, err = New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := spooled(p)
	if len(recs) != 2 || recs[0].Sample == nil || recs[1].Sample == nil {
		t.Fatalf("after a crash: spooled %+v", recs)
	}
	link, crashed := recs[0].Sample.Outage, recs[1].Sample.Outage
	if link.Cause != jagadesa.CauseLink || link.StartMs != began.UnixMilli() || link.EndMs != lastAlive {
		t.Fatalf("open link outage closed as %+v; want %d → %d", link, began.UnixMilli(), lastAlive)
	}
	if crashed.Cause != jagadesa.CauseProbe || crashed.StartMs != lastAlive || crashed.EndMs < before.UnixMilli() || crashed.EndMs > time.Now().UnixMilli() {
		t.Fatalf("probe outage %+v; want from %d to about now", crashed, lastAlive)
	}
	p.observeOutages(time.Now(), []jagadesa.Sample{ping("192.168.1.1", 1), ping("203.0.113.9", 1)})
	if recs := spooled(p); len(recs) != 0 {
		t.Fatalf("link up after the restart: nothing was open, yet spooled %+v", recs)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}

	// A clean stop, then a reboot: planned, no outage.
	fakeHost(t, root, "boot-B", 30, "192.168.1.1")
	if p, err = New(cfg, log, nil); err != nil {
		t.Fatal(err)
	}
	if recs := spooled(p); len(recs) != 0 {
		t.Fatalf("after a clean stop: spooled %+v", recs)
	}
	lastAlive = readState(t, cfg.Spool).LastAliveMs
	crash(p)

	// An unclean stop, then a reboot: a power cut until the host booted.
	time.Sleep(20 * time.Millisecond)
	fakeHost(t, root, "boot-C", 0.01, "192.168.1.1")
	if p, err = New(cfg, log, nil); err != nil {
		t.Fatal(err)
	}
	recs = spooled(p)
	if len(recs) != 1 || recs[0].Sample == nil || recs[0].Sample.Outage.Cause != jagadesa.CausePower {
		t.Fatalf("after a power cut: spooled %+v", recs)
	}
	if o := recs[0].Sample.Outage; o.StartMs != lastAlive || o.EndMs < lastAlive+10 || o.EndMs > time.Now().UnixMilli() {
		t.Fatalf("power outage %+v; want from %d to the boot, 10 ms ago", o, lastAlive)
	}
	if st := readState(t, cfg.Spool); st.BootID != "boot-C" {
		t.Fatalf("state %+v", st)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
}
