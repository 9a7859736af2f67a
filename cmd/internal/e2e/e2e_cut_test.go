//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

const probeInterval = time.Second // the probes' --interval in these tests

// probeRun is the probe's real program running in this process.
type probeRun struct {
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

func startProbe(ctx context.Context, args []string, token string) *probeRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &probeRun{cancel: cancel, done: make(chan error, 1), log: &syncBuffer{}}
	getenv := func(k string) string {
		if k == "JAGADESA_TOKEN" {
			return token
		}
		return ""
	}
	go func() { r.done <- probecmd.Run(ctx, args, getenv, r.log, r.log) }()
	return r
}

func (r *probeRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	waitDone(t, "probe", r.done, 15*time.Second, r.log)
}

// finishRun stops a probe run, and runs the probe once more on the same
// spool until everything the first run spooled is stored. It returns every
// record of the first run: id, and what InfluxDB made of it.
func finishRun(t *testing.T, ctx context.Context, p *probeRun, args []string, token string, store *influx.Store, bucket, probeID string) (map[uint64]spooled, map[uint64][]storedPoint) {
	t.Helper()
	p.stop(t)
	spoolDir := args[slices.Index(args, "--spool")+1]
	rest := readSpool(t, spoolDir)
	before := storedPoints(t, store, bucket, probeID)
	if len(rest) > 0 {
		// Spooled after the run's last upload: a second run sends them.
		drain := startProbe(ctx, args, token)
		waitStored(t, 30*time.Second, store, bucket, probeID, func(stored map[uint64][]storedPoint) (bool, string) {
			var missing []uint64
			for id := range rest {
				if _, ok := stored[id]; !ok {
					missing = append(missing, id)
				}
			}
			slices.Sort(missing)
			return len(missing) == 0, "the drain run did not store the first run's last records:" + joinIDs(missing)
		}, drain.log)
		drain.stop(t)
	}
	stored := storedPoints(t, store, bucket, probeID)
	// The first run's records: all stored before the drain, and the rest.
	run := map[uint64]spooled{}
	for seq, ps := range before {
		run[seq] = fromPoint(seq, ps[0])
	}
	maps.Copy(run, rest)
	firstRun := map[uint64][]storedPoint{}
	for id := range run {
		firstRun[id] = stored[id]
	}
	return run, firstRun
}

// fromPoint is as much of a record as its stored point tells.
func fromPoint(seq uint64, p storedPoint) spooled {
	switch p.Meas {
	case influx.MeasEvent:
		return spooled{ID: seq, Event: &jagadesa.Event{Kind: p.Kind, TimeMs: p.Time.UnixMilli()}}
	case influx.MeasOutage:
		return spooled{ID: seq, Sample: &jagadesa.Sample{Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: p.Cause, StartMs: p.Time.UnixMilli()}}}
	}
	return spooled{ID: seq, Sample: &jagadesa.Sample{Kind: p.Meas, TimeMs: p.Time.UnixMilli()}}
}

// checkNoGap checks that one probe run lost nothing: its records' ids run
// without a hole from the first to the last, each is stored exactly once,
// and its heartbeats came every round. It returns the heartbeats' times.
func checkNoGap(t *testing.T, run map[uint64]spooled, stored map[uint64][]storedPoint) []time.Time {
	t.Helper()
	ids := slices.Sorted(maps.Keys(run))
	if len(ids) == 0 {
		t.Fatal("the probe run left no records")
	}
	if n := ids[len(ids)-1] - ids[0] + 1; n != uint64(len(ids)) {
		var holes []uint64
		for i := 1; i < len(ids); i++ {
			for id := ids[i-1] + 1; id < ids[i]; id++ {
				holes = append(holes, id)
			}
		}
		t.Errorf("records %d..%d: %d missing:%s", ids[0], ids[len(ids)-1], len(holes), joinIDs(holes))
	}
	var beats []time.Time
	for _, id := range ids {
		ps := stored[id]
		if len(ps) != 1 {
			t.Errorf("record %s stored %d times, want once: %+v", run[id], len(ps), ps)
			continue
		}
		if ps[0].Meas == influx.MeasHeartbeat {
			beats = append(beats, ps[0].Time)
		}
	}
	// A round is a second; one that waited out its pings takes up to 0.9 s,
	// so consecutive heartbeats are at most ~1.9 s apart.
	if gaps := heartbeatGaps(beats, 2*probeInterval+500*time.Millisecond); len(gaps) > 0 {
		t.Errorf("heartbeats missing: %s", strings.Join(gaps, "; "))
	}
	return beats
}

func countBetween(times []time.Time, from, to time.Time) int {
	n := 0
	for _, x := range times {
		if !x.Before(from) && !x.After(to) {
			n++
		}
	}
	return n
}

// TestProbeThroughServerCut stops the server for several rounds while the
// probe runs, starts it again on the same address and data, and checks that
// the probe's whole run — every record, every round's heartbeat, those of
// the cut included — is in InfluxDB exactly once.
func TestProbeThroughServerCut(t *testing.T) {
	requireRoot(t, "the probe pings 127.0.0.1 over a raw socket")
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, dataDir := freeAddr(t), t.TempDir()
	base := "http://" + addr
	var serverLog syncBuffer
	sctx, scancel := context.WithCancel(ctx)
	serverDone := serveAt(t, sctx, addr, dataDir, ifx.URL, bucket, &serverLog)
	spool := t.TempDir()
	probeID, token := enroll(t, base, testVillage, spool)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	args := probeArgs(base, testVillage, spool, "127.0.0.1")
	p := startProbe(ctx, args, token)
	defer p.cancel()
	heartbeatsAfter := func(since time.Time, n int) func(map[uint64][]storedPoint) (bool, string) {
		return func(stored map[uint64][]storedPoint) (bool, string) {
			got := 0
			for _, ps := range stored {
				if ps[0].Meas == influx.MeasHeartbeat && ps[0].Time.After(since) {
					got++
				}
			}
			return got >= n, fmt.Sprintf("%d heartbeats stored since %s, want %d", got, since.Format("15:04:05.000"), n)
		}
	}
	waitStored(t, 15*time.Second, store, bucket, probeID, heartbeatsAfter(time.Time{}, 2), p.log, &serverLog)

	cutAt := time.Now()
	scancel()
	waitDone(t, "server", serverDone, 15*time.Second, &serverLog)
	time.Sleep(6 * probeInterval)
	restoredAt := time.Now()
	serverDone = serveAt(t, ctx, addr, dataDir, ifx.URL, bucket, &serverLog)
	// Uploads are oldest first: a heartbeat from after the restart stored
	// means the backlog of the cut went before it.
	waitStored(t, 60*time.Second, store, bucket, probeID, heartbeatsAfter(restoredAt.Add(probeInterval), 1), p.log, &serverLog)

	run, stored := finishRun(t, ctx, p, args, token, store, bucket, probeID)
	beats := checkNoGap(t, run, stored)
	if n := countBetween(beats, cutAt.Add(probeInterval/2), restoredAt); n < 5 {
		t.Errorf("%d heartbeats from the %s the server was down, want at least 5", n, restoredAt.Sub(cutAt).Round(time.Millisecond))
	}
	if strings.Contains(p.log.String(), "rejected") {
		t.Errorf("the server rejected a batch:\n%s", p.log.String())
	}
	t.Logf("%d records, %d heartbeats, checked; server down %s", len(run), len(beats), restoredAt.Sub(cutAt).Round(time.Millisecond))
	cancel()
	waitDone(t, "server", serverDone, 15*time.Second, &serverLog)
}

// testNetns is a network namespace made for one test, joined to the host by a
// veth pair.
type testNetns struct {
	name         string
	hostIf, nsIf string
	hostIP, nsIP string
	ip           string // the ip tool
	t            *testing.T
}

// ipCmd runs the ip tool and fails the test if it fails.
func (n *testNetns) ipCmd(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(n.ip, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes a namespace with a unique name and a veth pair between it
// and the host, on a /30 of 10.254.0.0/16 no host interface uses. Cleanup
// removes both, whatever happened.
func newNetns(t *testing.T) *testNetns {
	t.Helper()
	requireRoot(t, "it makes a network namespace and a veth pair")
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("the ip tool (iproute2) is needed to make a network namespace: %v", err)
	}
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	n := &testNetns{name: "jagadesa-e2e-" + suffix, hostIf: "jdh" + suffix, nsIf: "jdn" + suffix, ip: ip, t: t}
	addrs, err := exec.Command(ip, "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v\n%s", err, addrs)
	}
	for {
		x, y := rand.IntN(256), 4*rand.IntN(64)
		if prefix := fmt.Sprintf(" 10.254.%d.", x); !strings.Contains(string(addrs), prefix) {
			n.hostIP, n.nsIP = fmt.Sprintf("10.254.%d.%d", x, y+1), fmt.Sprintf("10.254.%d.%d", x, y+2)
			break
		}
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes its end of the pair, and so the
		// pair; the host end is deleted too in case it never moved.
		exec.Command(ip, "netns", "del", n.name).Run()
		exec.Command(ip, "link", "del", n.hostIf).Run()
		if out, _ := exec.Command(ip, "netns", "list").CombinedOutput(); strings.Contains(string(out), n.name) {
			t.Errorf("network namespace %s is still there after cleanup", n.name)
		}
	})
	hostMAC, nsMAC := "02:6a:64:"+suffix[:2]+":"+suffix[2:4]+":"+suffix[4:], "02:6a:65:"+suffix[:2]+":"+suffix[2:4]+":"+suffix[4:]
	n.ipCmd("netns", "add", n.name)
	n.ipCmd("link", "add", n.hostIf, "address", hostMAC, "type", "veth", "peer", "name", n.nsIf, "address", nsMAC, "netns", n.name)
	n.ipCmd("addr", "add", n.hostIP+"/30", "dev", n.hostIf)
	n.ipCmd("link", "set", n.hostIf, "up")
	n.ipCmd("-n", n.name, "link", "set", "lo", "up")
	n.ipCmd("-n", n.name, "addr", "add", n.nsIP+"/30", "dev", n.nsIf)
	n.ipCmd("-n", n.name, "link", "set", n.nsIf, "up")
	// A permanent neighbour entry on the host's end (it survives the loss
	// of carrier), so the link's state alone decides when packets pass:
	// with ARP, packets sent during a cut wait in the neighbour queue and
	// may go out after the restore, and the first after it may wait up to
	// a second for the next ARP retry — noise of a second in the timings
	// this test checks.
	n.ipCmd("neigh", "replace", n.nsIP, "lladdr", nsMAC, "dev", n.hostIf, "nud", "permanent")
	return n
}

// sysSetns is setns(2)'s system call number, which package syscall lacks.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268, "riscv64": 268, "loong64": 268, "386": 346, "arm": 375, "ppc64le": 350, "s390x": 339}

// listen opens a TCP listener inside the namespace. Only a thread that
// enters the namespace and dies afterwards is involved: the goroutine locks
// itself to its thread and exits without unlocking, so the runtime ends the
// thread and no other goroutine ever runs in the namespace. The socket stays
// in the namespace it was made in.
func (n *testNetns) listen(addr string) net.Listener {
	n.t.Helper()
	nr, ok := sysSetns[runtime.GOARCH]
	if !ok {
		n.t.Fatalf("setns(2)'s number on %s is not known to this test: add it to sysSetns", runtime.GOARCH)
	}
	f, err := os.Open("/run/netns/" + n.name)
	if err != nil {
		n.t.Fatalf("open the namespace: %v", err)
	}
	defer f.Close()
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if _, _, e := syscall.RawSyscall(nr, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			ch <- result{err: fmt.Errorf("setns: %w", e)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		n.t.Fatalf("listen in namespace %s on %s: %v", n.name, addr, r.err)
	}
	return r.ln
}

// relayTo forwards every connection ln accepts to target until the test ends.
func relayTo(t *testing.T, ln net.Listener, target string) {
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				track(c, true)
				track(up, true)
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
				c.Close()
				up.Close()
				track(c, false)
				track(up, false)
			}()
		}
	}()
}

// TestProbeThroughLinkCut puts the server behind a veth pair into a network
// namespace this test makes (a listener inside it relays to the server), so
// the probe reaches the server, and pings its target, only over the veth.
// It cuts the link (the namespace's end set down) for several rounds, then
// restores it, and checks that nothing the probe measured is missing in
// InfluxDB and that a link outage was recorded whose start and end are the
// first rounds after the cut and after the restore.
func TestProbeThroughLinkCut(t *testing.T) {
	ns := newNetns(t)
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog syncBuffer
	base, serverDone := startServer(t, ctx, ifx.URL, bucket, &serverLog)
	spool := t.TempDir()
	probeID, token := enroll(t, base, testVillage, spool)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ln := ns.listen(net.JoinHostPort(ns.nsIP, "0"))
	relayTo(t, ln, strings.TrimPrefix(base, "http://"))
	behindVeth := "http://" + ln.Addr().String()
	if code, b := call(t, "GET", behindVeth+"/healthz", "", ""); code != 200 {
		t.Fatalf("the server is not reachable over the veth at %s: %d %s", behindVeth, code, b)
	}

	// The probe's one target is the namespace's address, across the veth.
	args := probeArgs(behindVeth, testVillage, spool, ns.nsIP)
	p := startProbe(ctx, args, token)
	defer p.cancel()
	count := func(meas string, since time.Time, n int) func(map[uint64][]storedPoint) (bool, string) {
		return func(stored map[uint64][]storedPoint) (bool, string) {
			got := 0
			for _, ps := range stored {
				if ps[0].Meas == meas && ps[0].Time.After(since) {
					got++
				}
			}
			return got >= n, fmt.Sprintf("%d %s points stored since %s, want %d", got, meas, since.Format("15:04:05.000"), n)
		}
	}
	waitStored(t, 15*time.Second, store, bucket, probeID, count(influx.MeasHeartbeat, time.Time{}, 3), p.log, &serverLog)

	cutAt := time.Now()
	ns.ipCmd("-n", ns.name, "link", "set", ns.nsIf, "down")
	time.Sleep(6 * probeInterval)
	upAt := time.Now()
	ns.ipCmd("-n", ns.name, "link", "set", ns.nsIf, "up")
	// The outage is spooled at the first round after the restore; the
	// uploader may still be backing off from the failures of the cut.
	waitStored(t, 60*time.Second, store, bucket, probeID, count(influx.MeasOutage, time.Time{}, 1), p.log, &serverLog)
	waitStored(t, 30*time.Second, store, bucket, probeID, count(influx.MeasHeartbeat, upAt.Add(probeInterval), 1), p.log, &serverLog)

	run, stored := finishRun(t, ctx, p, args, token, store, bucket, probeID)
	beats := checkNoGap(t, run, stored)
	if n := countBetween(beats, cutAt.Add(probeInterval), upAt); n < 4 {
		t.Errorf("%d heartbeats from the %s the link was down, want at least 4", n, upAt.Sub(cutAt).Round(time.Millisecond))
	}

	outages := storedOutages(t, store, bucket, probeID)
	if len(outages) != 1 || outages[0].Cause != jagadesa.CauseLink {
		t.Fatalf("outages stored %+v, want one link outage\n%s", outages, p.log.String())
	}
	o := outages[0]
	start, end := time.UnixMilli(o.StartMs), time.UnixMilli(o.EndMs)
	// The first round wholly lost starts after the cut, within a round;
	// the first answered one within a round of the restore (its second
	// ping may leave just after it).
	const slack = 100 * time.Millisecond
	if start.Before(cutAt.Add(-slack)) || start.After(cutAt.Add(probeInterval+5*slack)) {
		t.Errorf("link outage starts at %s; the link was cut at %s", start.Format("15:04:05.000"), cutAt.Format("15:04:05.000"))
	}
	if end.Before(upAt.Add(-slack)) || end.After(upAt.Add(probeInterval+5*slack)) {
		t.Errorf("link outage ends at %s; the link came back at %s", end.Format("15:04:05.000"), upAt.Format("15:04:05.000"))
	}
	if t.Failed() {
		t.Logf("probe log:\n%s", p.log.String())
	}
	events := map[string]time.Time{}
	for id, r := range run {
		if r.Event != nil && (r.Event.Kind == "link_down" || r.Event.Kind == "link_up") {
			if _, dup := events[r.Event.Kind]; dup {
				t.Errorf("a second %s event (#%d)", r.Event.Kind, id)
			}
			events[r.Event.Kind] = time.UnixMilli(r.Event.TimeMs)
		}
	}
	if !events["link_down"].Equal(start) || !events["link_up"].Equal(end) {
		t.Errorf("link events %v, want link_down at the outage's start %s and link_up at its end %s", events, start, end)
	}
	t.Logf("link cut %s → %s; outage %s → %s; %d records, %d heartbeats checked",
		cutAt.Format("15:04:05.000"), upAt.Format("15:04:05.000"), start.Format("15:04:05.000"), end.Format("15:04:05.000"), len(run), len(beats))
	cancel()
	waitDone(t, "server", serverDone, 15*time.Second, &serverLog)
}
