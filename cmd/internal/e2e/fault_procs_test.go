//go:build linux

package e2e

// Helpers for the fault tests (fault_test.go): real processes that a test
// can SIGKILL — an influxd of the test's own, `jagadesa serve` as a child
// process — and a fleet of real probe processes whose every record can be
// accounted for afterwards from their spools.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/probe/spool"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// child is a process started by a test. It gets SIGKILL if the test binary
// dies first. The kernel sends that signal when the thread that started the
// child exits, not the process; so the child is started from a goroutine
// locked to its thread until the child has exited (other tests of this
// package end threads on purpose, see testNetns.listen).
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status; read only after done
}

func startChild(cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the child
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, <-started
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() error {
	if c.exited() {
		return fmt.Errorf("pid %d had already exited (%v)", c.cmd.Process.Pid, c.err)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return err
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("pid %d still there 10 s after SIGKILL", c.cmd.Process.Pid)
	}
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("pid %d ended by itself (%v), not by SIGKILL", c.cmd.Process.Pid, c.err)
	}
	return nil
}

// term sends SIGTERM and returns the exit status, or an error if the
// process is still there after within (it is then killed).
func (c *child) term(within time.Duration) error {
	if c.exited() {
		return fmt.Errorf("pid %d had already exited (%v)", c.cmd.Process.Pid, c.err)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(within):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("pid %d did not stop within %s of SIGTERM", c.cmd.Process.Pid, within)
	}
}

// buildJagadesa builds the server's binary (cmd/jagadesa) into a temp dir.
func buildJagadesa(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jagadesa")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/jagadesa/jagadesa/cmd/jagadesa")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the server (needs the go tool on PATH): %v\n%s", err, out)
	}
	return bin
}

// ownInfluxd is an influxd of one test's own, on loopback, that the test
// may SIGKILL and start again on the same port and data directory. (The
// package's influxd from influxtest is shared by every test and only stops
// with SIGTERM.)
type ownInfluxd struct {
	t       *testing.T
	URL     string
	bin     string
	conf    string
	logPath string
	proc    *child
}

// influxdBinary finds influxd as influxtest does: $INFLUXD, else the copy
// scripts/influxdb.sh caches (influxtest.RunMain has installed it there if
// it had to).
func influxdBinary() (string, error) {
	if p := os.Getenv("INFLUXD"); p != "" {
		return p, nil
	}
	dir := os.Getenv("INFLUX_CACHE_DIR")
	if dir == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			base = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(base, "jagadesa", "influxdb")
	}
	p := filepath.Join(dir, influxtest.Version, "bin", "influxd")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no influxd: INFLUXD is unset and %v (run scripts/influxdb.sh install)", err)
	}
	return p, nil
}

func startOwnInfluxd(t *testing.T) *ownInfluxd {
	t.Helper()
	bin, err := influxdBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	x := &ownInfluxd{t: t, URL: "http://" + addr, bin: bin, conf: filepath.Join(dir, "influxdb.conf"), logPath: filepath.Join(dir, "influxd.log")}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:0"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = %q
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
`, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), addr)
	if err := os.WriteFile(x.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	x.start()
	t.Cleanup(func() {
		if x.proc != nil && !x.proc.exited() {
			x.proc.term(10 * time.Second)
		}
	})
	return x
}

// start starts influxd and waits (at most 60 s) until it answers /ping.
func (x *ownInfluxd) start() {
	x.t.Helper()
	logf, err := os.OpenFile(x.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		x.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(x.bin, "-config", x.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if x.proc, err = startChild(cmd); err != nil {
		x.t.Fatalf("start influxd: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !x.ping() {
		if x.proc.exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(x.logPath)
			x.t.Fatalf("influxd did not come up (%v):\n%s", x.proc.err, lastLines(string(b), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *ownInfluxd) ping() bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(x.URL + "/ping")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

func (x *ownInfluxd) kill() {
	x.t.Helper()
	if err := x.proc.kill(); err != nil {
		x.t.Fatalf("SIGKILL influxd: %v", err)
	}
}

// createDatabase makes database name and returns its bucket, name/autogen.
func (x *ownInfluxd) createDatabase(name string) string {
	x.t.Helper()
	resp, err := http.PostForm(x.URL+"/query", url.Values{"q": {`CREATE DATABASE "` + name + `"`}})
	if err != nil {
		x.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), `"error"`) {
		x.t.Fatalf("create database %s: %d %s", name, resp.StatusCode, b)
	}
	return name + "/autogen"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// serveProc is `jagadesa serve` running as a child process, so that a test
// can SIGKILL it.
type serveProc struct {
	proc *child
	log  *syncBuffer
}

// faultEnv is the server's environment: secrets go there, not in flags.
var faultEnv = []string{"JAGADESA_ADMIN_TOKEN=" + admin, "JAGADESA_WEBHOOK_SECRET=" + webhookSecret}

// startServeProc starts bin with args (a serve command with --listen) and
// waits until it answers HTTP (any status: /healthz says 503 while InfluxDB
// is down). It returns when it is listening.
func startServeProc(t *testing.T, bin string, args []string, log *syncBuffer) *serveProc {
	t.Helper()
	addr := args[slices.Index(args, "--listen")+1]
	cmd := exec.Command(bin, args...)
	cmd.Env = faultEnv
	cmd.Stdout, cmd.Stderr = log, log
	p, err := startChild(cmd)
	if err != nil {
		t.Fatalf("start the server: %v", err)
	}
	s := &serveProc{proc: p, log: log}
	t.Cleanup(func() {
		if !p.exited() {
			p.kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := call(t, "GET", "http://"+addr+"/healthz", "", ""); code != 0 {
			return s
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("server on %s not answering (%v):\n%s", addr, p.err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultProbe is one village's probe process and its spool.
type faultProbe struct {
	village, id, token string
	spool              string
	args               []string
	proc               *child
	log                *syncBuffer
	runs               int
}

// faultFleet is a fleet of real probe processes, one per village, all
// reporting to one server.
type faultFleet struct {
	t      *testing.T
	bin    string
	base   string
	probes []*faultProbe
}

// newFaultFleet enrolls a probe for every village and starts its process:
// one-second rounds of two pings to 127.0.0.1, a lookup of localhost and a
// request to httpTarget (so no round waits on the internet), no speed tests
// and no security collectors (their events depend on the host, not on the
// test).
func newFaultFleet(t *testing.T, bin, base, httpTarget string, villages []string) *faultFleet {
	t.Helper()
	f := &faultFleet{t: t, bin: bin, base: base}
	dir := t.TempDir()
	for i, v := range villages {
		sp := filepath.Join(dir, fmt.Sprintf("spool-%02d", i))
		id, token := enroll(t, base, v, sp)
		p := &faultProbe{village: v, id: id, token: token, spool: sp, log: &syncBuffer{},
			args: []string{"--server", base, "--village", v, "--spool", sp,
				"--interval", faultInterval.String(), "--count", "2", "--ping-interval", "50ms", "--target", "127.0.0.1",
				"--dns-name", "localhost", "--dns-reference=", "--http-url", httpTarget,
				"--speedtest-budget", "0", "--no-security", "--log-level", "info"}}
		f.probes = append(f.probes, p)
	}
	for _, p := range f.probes {
		f.start(p)
	}
	t.Cleanup(func() {
		for _, p := range f.probes {
			if p.proc != nil && !p.proc.exited() {
				p.proc.kill()
			}
		}
	})
	return f
}

func (f *faultFleet) start(p *faultProbe) {
	f.t.Helper()
	cmd := exec.Command(f.bin, p.args...)
	cmd.Env = []string{"JAGADESA_TOKEN=" + p.token} // not a flag: flags show in ps
	cmd.Stdout, cmd.Stderr = p.log, p.log
	fmt.Fprintf(p.log, "--- test: run %d starts %s\n", p.runs+1, time.Now().Format("15:04:05.000"))
	var err error
	if p.proc, err = startChild(cmd); err != nil {
		f.t.Fatalf("start probe %s: %v", p.village, err)
	}
	p.runs++
}

// stop stops the given probes cleanly (SIGTERM), all at once.
func (f *faultFleet) stop(ps ...*faultProbe) {
	f.t.Helper()
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = p.proc.term(15 * time.Second) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.t.Fatalf("probe %s did not stop cleanly: %v\n%s", ps[i].village, err, ps[i].log.String())
		}
	}
}

func (f *faultFleet) byVillage(v string) *faultProbe {
	for _, p := range f.probes {
		if p.village == v {
			return p
		}
	}
	f.t.Fatalf("no probe for %s", v)
	return nil
}

// logCount counts lines containing s in every probe's log.
func (f *faultFleet) logCount(s string) int {
	n := 0
	for _, p := range f.probes {
		n += strings.Count(p.log.String(), s)
	}
	return n
}

// lastIssued returns the id of the last record the stopped probe's spool
// handed out, from the spool itself: on a copy of it, the next Append gets
// that id plus one (a cleanly closed spool continues its ids without a
// gap). It knows of records already sent and acknowledged, so a batch the
// server acknowledged and then lost still counts as sent.
func lastIssued(t *testing.T, dir string) uint64 {
	t.Helper()
	cp := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := copyFile(filepath.Join(dir, e.Name()), filepath.Join(cp, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer os.RemoveAll(cp)
	sp, err := spool.Open(cp, spool.Options{})
	if err != nil {
		t.Fatalf("open a copy of spool %s: %v", dir, err)
	}
	defer sp.Close()
	if st := sp.Stats(); st.Dropped > 0 || st.CorruptBytes > 0 || st.TruncatedBytes > 0 {
		t.Errorf("spool %s: %d records dropped for space, %d corrupt bytes, %d truncated bytes", dir, st.Dropped, st.CorruptBytes, st.TruncatedBytes)
	}
	id, err := sp.Append([]byte("end"))
	if err != nil {
		t.Fatal(err)
	}
	return id - 1
}

// drainTail sends what a stopped probe left in its spool (the records of
// its last rounds, spooled after its last upload) through the probe's own
// sender, signed with its key, on its stream, and returns how many there
// were. Nothing new is measured, so the probe's records end where its
// process stopped.
func drainTail(t *testing.T, base string, p *faultProbe) int {
	t.Helper()
	sp, err := spool.Open(p.spool, spool.Options{})
	if err != nil {
		t.Fatalf("open spool %s: %v", p.spool, err)
	}
	defer sp.Close()
	n := sp.Stats().Records
	key, _, err := probe.LoadOrCreateKey(filepath.Join(p.spool, "probe.key"))
	if err != nil {
		t.Fatal(err)
	}
	streamFile := filepath.Join(p.spool, "stream")
	stream, err := probe.LoadOrCreateStream(streamFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &probe.Sender{Server: base, Token: p.token, Village: p.village, Queue: sp, Key: key, Stream: stream, StreamFile: streamFile,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for sp.Stats().Records > 0 {
		if err := s.Drain(ctx); err != nil && ctx.Err() != nil {
			t.Fatalf("probe %s: the tail of its spool could not be sent: %v", p.village, err)
		}
	}
	return int(n)
}

// seqCounts returns, per probe id, how many points InfluxDB holds for each
// seq: every record of a probe becomes one point carrying its seq.
func seqCounts(t *testing.T, store *influx.Store, bucket string) map[string]map[uint64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs, err := store.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: -1d, stop: 1h)
  |> filter(fn: (r) => r._field == "seq")
  |> group()
  |> keep(columns: ["_value", "probe"])`, influx.FluxString(bucket)))
	if err != nil {
		t.Fatalf("query seqs: %v", err)
	}
	out := map[string]map[uint64]int{}
	for _, r := range recs {
		v, ok := r["_value"].(int64)
		p, _ := r["probe"].(string)
		if !ok || v <= 0 || p == "" {
			t.Fatalf("a point with seq %v (%T), probe %q: %v", r["_value"], r["_value"], p, r)
		}
		if out[p] == nil {
			out[p] = map[uint64]int{}
		}
		out[p][uint64(v)]++
	}
	return out
}

// fleetProgress is, per probe id, how many points carry a seq, the highest
// seq, and the time of the latest heartbeat stored.
type fleetProgress map[string]*struct {
	n, max   int64
	lastBeat time.Time
}

func queryProgress(store *influx.Store, bucket string) (fleetProgress, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := store.Query(ctx, fmt.Sprintf(`seq = from(bucket: %s) |> range(start: -1d, stop: 1h) |> filter(fn: (r) => r._field == "seq")
seq |> group(columns: ["probe"]) |> count() |> yield(name: "n")
seq |> group(columns: ["probe"]) |> max() |> yield(name: "max")
seq |> filter(fn: (r) => r._measurement == "heartbeat") |> last() |> yield(name: "beat")`, influx.FluxString(bucket)))
	if err != nil {
		return nil, err
	}
	out := fleetProgress{}
	for _, r := range recs {
		p, _ := r["probe"].(string)
		if out[p] == nil {
			out[p] = &struct {
				n, max   int64
				lastBeat time.Time
			}{}
		}
		switch r["result"] {
		case "n":
			out[p].n, _ = r["_value"].(int64)
		case "max":
			out[p].max, _ = r["_value"].(int64)
		case "beat":
			out[p].lastBeat, _ = r["_time"].(time.Time)
		}
	}
	return out, nil
}

// caughtUp says whether every probe of f has its records stored without a
// hole up to a heartbeat measured after since: uploads go oldest first, so
// that heartbeat stored means the backlog before it is too.
func (pr fleetProgress) caughtUp(f *faultFleet, since time.Time) (bool, string) {
	behind := 0
	var example string
	for _, p := range f.probes {
		g := pr[p.id]
		if g == nil || g.n != g.max || g.lastBeat.Before(since) {
			behind++
			if example == "" {
				if g == nil {
					example = p.village + ": nothing stored"
				} else {
					example = fmt.Sprintf("%s: %d points, highest seq %d, last heartbeat %s", p.village, g.n, g.max, g.lastBeat.Format("15:04:05.000"))
				}
			}
		}
	}
	return behind == 0, fmt.Sprintf("%d of %d probes behind (e.g. %s)", behind, len(f.probes), example)
}

// checkAllDelivered stops nothing: f's probes must all be stopped. It sends
// what their spools still hold, then checks that InfluxDB holds every record
// each probe's spool ever handed out — ids 1 to the last — exactly once,
// and nothing else. It returns the number of records checked.
func checkAllDelivered(t *testing.T, f *faultFleet, store *influx.Store, bucket string) int {
	t.Helper()
	last := map[string]uint64{}
	tail := 0
	for _, p := range f.probes {
		last[p.id] = lastIssued(t, p.spool)
		tail += drainTail(t, f.base, p)
	}
	got := seqCounts(t, store, bucket)
	total := 0
	for _, p := range f.probes {
		var missing, twice, extra []uint64
		for id := uint64(1); id <= last[p.id]; id++ {
			switch n := got[p.id][id]; {
			case n == 0:
				missing = append(missing, id)
			case n > 1:
				twice = append(twice, id)
			}
		}
		for id := range got[p.id] {
			if id > last[p.id] {
				extra = append(extra, id)
			}
		}
		slices.Sort(extra)
		if len(missing)+len(twice)+len(extra) > 0 {
			t.Errorf("probe %s (%s), records 1..%d: %d missing:%s; %d stored more than once:%s; %d stored beyond the last issued:%s",
				p.id, p.village, last[p.id], len(missing), joinIDs(missing), len(twice), joinIDs(twice), len(extra), joinIDs(extra))
		}
		total += int(last[p.id])
		delete(got, p.id)
	}
	for id := range got {
		t.Errorf("points from probe %s, which is not in the fleet", id)
	}
	t.Logf("%d records of %d probes checked: each stored exactly once (%d of them left in the spools at the stop, sent afterwards)", total, len(f.probes), tail)
	return total
}

// faultVillage is one village as GET /api/v1/villages lists it.
type faultVillage struct {
	Code     string          `json:"code"`
	Status   jagadesa.Status `json:"status"`
	LastSeen *time.Time      `json:"last_seen"`
}

func listVillages(t *testing.T, base string) (map[string]faultVillage, bool) {
	code, b := call(t, "GET", base+"/api/v1/villages", admin, "")
	if code != 200 {
		return nil, false
	}
	var l struct {
		Villages []faultVillage `json:"villages"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, false
	}
	out := make(map[string]faultVillage, len(l.Villages))
	for _, v := range l.Villages {
		out[v.Code] = v
	}
	return out, true
}

// statusCounts counts the fleet's villages by status.
func statusCounts(vs map[string]faultVillage, f *faultFleet) string {
	c := map[jagadesa.Status]int{}
	for _, p := range f.probes {
		c[vs[p.village].Status]++
	}
	var parts []string
	for _, s := range []jagadesa.Status{jagadesa.StatusUp, jagadesa.StatusDegraded, jagadesa.StatusDown, jagadesa.StatusUnknown} {
		if c[s] > 0 {
			parts = append(parts, string(s)+":"+strconv.Itoa(c[s]))
		}
	}
	return strings.Join(parts, ",")
}

// waitFleetUp waits until every village of the fleet is up.
func waitFleetUp(t *testing.T, f *faultFleet, within time.Duration, logs ...*syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		vs, ok := listVillages(t, f.base)
		up := 0
		for _, p := range f.probes {
			if ok && vs[p.village].Status == jagadesa.StatusUp {
				up++
			}
		}
		if up == len(f.probes) {
			return
		}
		if time.Now().After(deadline) {
			for _, l := range logs {
				t.Log(lastLines(l.String(), 40))
			}
			t.Log(lastLines(f.probes[0].log.String(), 20))
			t.Fatalf("%d of %d villages up after %s (%s)", up, len(f.probes), within, statusCounts(vs, f))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
