//go:build linux

package e2e

// Helpers for the tests that check the probe's records end to end: the
// probe's spool read back (on a copy, so the probe's own next Open is what
// repairs it), and the seq of every point InfluxDB holds for a probe.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/probe/spool"
	"github.com/jagadesa/jagadesa/server/influx"
)

const testVillage = "33.06.08.2005"

func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (%s); run it as root, as CI does", why)
	}
}

// postEnroll enrolls a probe for village, with pub bound when given, and
// returns its id and token.
func postEnroll(t *testing.T, base, village string, pub ed25519.PublicKey) (id, token string) {
	t.Helper()
	body := fmt.Sprintf(`{"village":%q}`, village)
	if pub != nil {
		body = fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, jagadesa.FormatPublicKey(pub))
	}
	code, b := call(t, "POST", base+"/api/v1/probes", admin, body)
	if code != 201 {
		t.Fatalf("enroll: %d %s", code, b)
	}
	var enr struct{ Probe, Token string }
	if err := json.Unmarshal(b, &enr); err != nil || enr.Probe == "" || enr.Token == "" {
		t.Fatalf("enroll answer %s: %v", b, err)
	}
	return enr.Probe, enr.Token
}

// enroll registers a probe for village with the key the real probe will
// use, made as `jagadesa-probe keygen` makes it in the probe's spool
// directory, and bound at enrollment (the server's default); it returns
// the probe's id and token.
func enroll(t *testing.T, base, village, spool string) (id, token string) {
	t.Helper()
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	key, _, err := probe.LoadOrCreateKey(filepath.Join(spool, "probe.key"))
	if err != nil {
		t.Fatal(err)
	}
	return postEnroll(t, base, village, key.Public().(ed25519.PublicKey))
}

// enrollKeyless enrolls a probe without a key, on a server that trusts a
// probe's first key (--probe-key-tofu): the probe registers its own.
func enrollKeyless(t *testing.T, base, village string) (id, token string) {
	t.Helper()
	return postEnroll(t, base, village, nil)
}

// enrollSigned enrolls a probe for village with a key bound at enrollment,
// for tests that post reports themselves: call signs them with it.
func enrollSigned(t *testing.T, base, village string) (id, token string) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	id, token = postEnroll(t, base, village, pub)
	signers.Store(token, key)
	return id, token
}

// serveAt runs `jagadesa serve` on addr with its metadata in dataDir until
// ctx ends, and waits until it is healthy; unlike startServer it can be
// started again on the same address and data, so enrolled probes stay valid.
func serveAt(t *testing.T, ctx context.Context, addr, dataDir, influxURL, bucket string, log *syncBuffer) chan error {
	t.Helper()
	return runServe(t, ctx, []string{"serve", "--listen", addr, "--influx-url", influxURL,
		"--influx-bucket", bucket, "--data-dir", dataDir, "--grace", "1s"}, adminEnv, log)
}

// runServe runs `jagadesa` with args (a serve command with --listen) until
// ctx ends, and waits until it is healthy.
func runServe(t *testing.T, ctx context.Context, args []string, getenv func(string) string, log *syncBuffer) chan error {
	t.Helper()
	addr := args[slices.Index(args, "--listen")+1]
	done := make(chan error, 1)
	go func() { done <- jagadesacmd.Run(ctx, args, getenv, nil, log, log) }()
	for i := 0; ; i++ {
		if code, _ := call(t, "GET", "http://"+addr+"/healthz", "", ""); code == 200 {
			return done
		}
		select {
		case err := <-done:
			t.Fatalf("server on %s exited: %v\n%s", addr, err, log.String())
		default:
		}
		if i > 100 {
			t.Fatalf("server on %s not healthy:\n%s", addr, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitDone waits for a program's result.
func waitDone(t *testing.T, what string, done <-chan error, within time.Duration, log *syncBuffer) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s did not stop cleanly: %v\n%s", what, err, log.String())
		}
	case <-time.After(within):
		t.Fatalf("%s did not stop within %s\n%s", what, within, log.String())
	}
}

// probeArgs are the flags of a fast probe: one-second rounds of two pings
// 50 ms apart to target, and the DNS and HTTP checks kept local (a name from
// /etc/hosts, the server's health URL) so a round never waits on the
// internet; no throughput tests.
func probeArgs(server, village, spoolDir, target string) []string {
	return []string{"--server", server, "--village", village, "--spool", spoolDir,
		"--interval", "1s", "--count", "2", "--ping-interval", "50ms", "--target", target,
		"--dns-name", "localhost", "--dns-reference=", "--http-url", server + "/healthz",
		"--speedtest-budget", "0", "--log-level", "debug"}
}

// spooled is one record as the probe spooled it.
type spooled struct {
	ID     uint64
	Sample *jagadesa.Sample `json:"s"`
	Event  *jagadesa.Event  `json:"e"`
}

// measurement is where the server stores the record.
func (r spooled) measurement() string {
	if r.Event != nil {
		return influx.MeasEvent
	}
	if r.Sample != nil {
		return r.Sample.Kind
	}
	return "?"
}

func (r spooled) String() string {
	switch {
	case r.Sample != nil && r.Sample.Outage != nil:
		o := r.Sample.Outage
		return fmt.Sprintf("#%d outage %s %d→%d", r.ID, o.Cause, o.StartMs, o.EndMs)
	case r.Sample != nil:
		return fmt.Sprintf("#%d %s %s", r.ID, r.Sample.Kind, r.Sample.Target)
	case r.Event != nil:
		return fmt.Sprintf("#%d event %s", r.ID, r.Event.Kind)
	}
	return fmt.Sprintf("#%d ?", r.ID)
}

// readSpool returns every record pending in the spool at dir. The spool
// must not be open elsewhere.
func readSpool(t *testing.T, dir string) map[uint64]spooled {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatalf("open spool %s: %v", dir, err)
	}
	defer sp.Close()
	recs, err := sp.Peek(0, 0)
	if err != nil {
		t.Fatalf("read spool %s: %v", dir, err)
	}
	if st := sp.Stats(); st.CorruptBytes > 0 || st.Dropped > 0 {
		t.Fatalf("spool %s: %d corrupt bytes, %d records dropped", dir, st.CorruptBytes, st.Dropped)
	}
	out := make(map[uint64]spooled, len(recs))
	for _, r := range recs {
		var rec spooled
		if err := json.Unmarshal(r.Payload, &rec); err != nil || (rec.Sample == nil) == (rec.Event == nil) {
			t.Fatalf("spool record %d undecodable (%v): %q", r.ID, err, r.Payload)
		}
		rec.ID = r.ID
		out[r.ID] = rec
	}
	return out
}

// snapshotSpool reads a copy of the spool at dir, as the probe's next run
// will find it, leaving the original for that run to repair.
func snapshotSpool(t *testing.T, dir string) map[uint64]spooled {
	t.Helper()
	cp := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(dir, e.Name()), filepath.Join(cp, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	defer os.RemoveAll(cp)
	return readSpool(t, cp)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// storedPoint is one stored point's seq and where it sits.
type storedPoint struct {
	Meas  string
	Seq   uint64
	Time  time.Time
	Cause string // outage points
	Kind  string // event points
}

// storedPoints returns every point the probe's records became, by seq.
func storedPoints(t *testing.T, store *influx.Store, bucket, probeID string) map[uint64][]storedPoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := store.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: -1d, stop: 1h)
  |> filter(fn: (r) => r._field == "seq" and r.probe == %s)
  |> group()
  |> keep(columns: ["_time", "_value", "_measurement", "cause", "kind"])`, influx.FluxString(bucket), influx.FluxString(probeID)))
	if err != nil {
		t.Fatalf("query seqs: %v", err)
	}
	out := map[uint64][]storedPoint{}
	for _, r := range recs {
		v, ok := r["_value"].(int64)
		if !ok || v <= 0 {
			t.Fatalf("seq %v (%T) in %v", r["_value"], r["_value"], r)
		}
		p := storedPoint{Seq: uint64(v)}
		p.Meas, _ = r["_measurement"].(string)
		p.Time, _ = r["_time"].(time.Time)
		p.Cause, _ = r["cause"].(string)
		p.Kind, _ = r["kind"].(string)
		out[p.Seq] = append(out[p.Seq], p)
	}
	return out
}

// waitStored polls InfluxDB until done says the stored points are complete.
func waitStored(t *testing.T, within time.Duration, store *influx.Store, bucket, probeID string, done func(map[uint64][]storedPoint) (bool, string), logs ...*syncBuffer) map[uint64][]storedPoint {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := storedPoints(t, store, bucket, probeID)
		ok, why := done(got)
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			for _, l := range logs {
				t.Log(l.String())
			}
			t.Fatalf("after %s: %s", within, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// storedOutages returns the probe's outages as stored, by start.
func storedOutages(t *testing.T, store *influx.Store, bucket, probeID string) []jagadesa.Outage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := store.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: -1d, stop: 1h)
  |> filter(fn: (r) => r._measurement == "outage" and r._field == "end_s" and r.probe == %s)
  |> group()
  |> sort(columns: ["_time"])`, influx.FluxString(bucket), influx.FluxString(probeID)))
	if err != nil {
		t.Fatalf("query outages: %v", err)
	}
	var out []jagadesa.Outage
	for _, r := range recs {
		start, _ := r["_time"].(time.Time)
		end, _ := r["_value"].(float64)
		cause, _ := r["cause"].(string)
		out = append(out, jagadesa.Outage{Cause: cause, StartMs: start.UnixMilli(), EndMs: int64(math.Round(end * 1000))})
	}
	return out
}

// checkOnce fails if any seq became more than one point: a record stored
// twice under different timestamps or tags. (InfluxDB overwrites a point
// with the same measurement, tags and time, so a plain retry cannot show.)
func checkOnce(t *testing.T, stored map[uint64][]storedPoint) {
	t.Helper()
	for seq, ps := range stored {
		if len(ps) != 1 {
			t.Errorf("seq %d stored %d times: %+v", seq, len(ps), ps)
		}
	}
}

// checkContiguous checks that ids, the records of one spool, have no holes
// except where a probe run began: the spool hands each run a fresh block of
// ids, so a run's first record — its start-up outage, or its probe_start
// event — may follow a gap, and nothing else may.
func checkContiguous(t *testing.T, ids map[uint64]spooled) {
	t.Helper()
	sorted := slices.Sorted(maps.Keys(ids))
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1]+1 {
			continue
		}
		r := ids[sorted[i]]
		runStart := (r.Event != nil && r.Event.Kind == "probe_start") || (r.Sample != nil && r.Sample.Kind == jagadesa.KindOutage && r.Sample.Outage.Cause != jagadesa.CauseLink)
		if !runStart {
			t.Errorf("records %d..%d are missing: the next, %s, does not start a run", sorted[i-1]+1, sorted[i]-1, r)
		}
	}
}

// buildProbe builds the probe's binary into a temp dir.
func buildProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jagadesa-probe")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/jagadesa/jagadesa/cmd/jagadesa-probe")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the probe (needs the go tool on PATH): %v\n%s", err, out)
	}
	return bin
}

// heartbeatGaps lists the gaps longer than max between consecutive
// heartbeats.
func heartbeatGaps(times []time.Time, max time.Duration) []string {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var gaps []string
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d > max {
			gaps = append(gaps, fmt.Sprintf("%s after %s", d.Round(time.Millisecond), times[i-1].Format("15:04:05.000")))
		}
	}
	return gaps
}

func joinIDs(ids []uint64) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 20 {
			fmt.Fprintf(&b, " ... (%d in all)", len(ids))
			break
		}
		fmt.Fprintf(&b, " %d", id)
	}
	return b.String()
}
