package jagadesacmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe/sim"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// runBench measures ingest: raw line-protocol writes with the client's blocking
// WriteRecord against the full path through POST /api/v1/reports, in one
// run against the same InfluxDB, and prints both rates and their ratio.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "flood" {
		return benchFlood(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New("usage: jagadesa bench ingest|flood [flags]")
	}
	fs := flag.NewFlagSet("jagadesa bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	influxURL := fs.String("influx-url", getenv("JAGADESA_INFLUX_URL"), "InfluxDB 1.8 URL (databases bench_raw and bench_e2e are dropped and recreated)")
	points := fs.Int("points", 1_000_000, "points to write in each phase")
	records := fs.Int("records", 500, "records per report (500 is the probe's backfill batch; 4 is one live round)")
	clients := fs.Int("clients", 16, "concurrent probe connections in the end-to-end phase")
	batch := fs.Int("batch", 5000, "lines per raw write")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the end-to-end phase to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *influxURL == "" {
		return errors.New("--influx-url is required")
	}
	reg, err := geo.Jateng()
	if err != nil {
		return err
	}
	prog := geo.DemoProgramme(reg)
	reports := makeReports(prog, *points, *records)
	fmt.Fprintf(stdout, "bench: %d reports of %d records (%d points) over %d villages\n", len(reports), *records, countPoints(reports), len(prog))

	for _, db := range []string{"bench_raw", "bench_raw4", "bench_e2e"} {
		if err := influxQL(*influxURL, "DROP DATABASE "+db); err != nil {
			return err
		}
		if err := influxQL(*influxURL, "CREATE DATABASE "+db); err != nil {
			return err
		}
	}

	// Raw is measured as specified (one blocking writer) and, for an honest
	// comparison with the server's concurrent commits, with 4 writers too.
	raw, err := benchRaw(ctx, *influxURL, "bench_raw/autogen", reg, reports, *batch, 1)
	if err != nil {
		return fmt.Errorf("raw phase: %w", err)
	}
	fmt.Fprintf(stdout, "raw WriteRecord (batch %d, 1 writer): %.0f points/s\n", *batch, raw)
	raw4, err := benchRaw(ctx, *influxURL, "bench_raw4/autogen", reg, reports, *batch, 4)
	if err != nil {
		return fmt.Errorf("raw phase: %w", err)
	}
	fmt.Fprintf(stdout, "raw WriteRecord (batch %d, 4 writers): %.0f points/s\n", *batch, raw4)
	e2e, err := benchE2E(ctx, *influxURL, "bench_e2e/autogen", reg, reports, *clients, *cpuProfile, stderr)
	if err != nil {
		return fmt.Errorf("end-to-end phase: %w", err)
	}
	fmt.Fprintf(stdout, "end-to-end POST /api/v1/reports (%d records/report, %d clients): %.0f points/s\n", *records, *clients, e2e)
	fmt.Fprintf(stdout, "ratio end-to-end / raw (1 writer): %.3f\n", e2e/raw)
	fmt.Fprintf(stdout, "ratio end-to-end / raw (4 writers): %.3f\n", e2e/raw4)
	return nil
}

// makeReports builds realistic reports from the simulator's link model:
// rounds of three targets (ten RTTs each) plus a heartbeat, per village.
func makeReports(prog []jagadesa.Programme, points, records int) []*jagadesa.Report {
	t0 := time.Now().Add(-6 * 24 * time.Hour).Truncate(time.Minute)
	var out []*jagadesa.Report
	seq := map[string]uint64{}
	round := map[string]int{}
	for n, i := 0, 0; n < points; i++ {
		code := prog[i%len(prog)].Code
		link := sim.NewLink(code, uint64(i/len(prog)))
		r := &jagadesa.Report{Version: jagadesa.WireVersion, Probe: "bench", Village: code}
		for len(r.Samples) < records && n < points {
			t := t0.Add(time.Duration(round[code]) * time.Minute)
			round[code]++
			for _, tg := range sim.Targets {
				s := link.Round(t, tg, 10, true)
				seq[code]++
				s.Seq = seq[code]
				r.Samples = append(r.Samples, s)
			}
			seq[code]++
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: seq[code], TimeMs: t.UnixMilli(), Kind: jagadesa.KindHeartbeat,
				Heartbeat: &jagadesa.Heartbeat{BootID: "bench", UptimeS: 3600, IntervalS: 60, ProbeVersion: "bench"}})
			n += len(sim.Targets) + 1
		}
		out = append(out, r)
	}
	return out
}

func countPoints(rs []*jagadesa.Report) int {
	n := 0
	for _, r := range rs {
		n += len(r.Samples) + len(r.Events)
	}
	return n
}

func influxQL(base, q string) error {
	resp, err := http.PostForm(strings.TrimRight(base, "/")+"/query", url.Values{"q": {q}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("influxql %q: %d %s", q, resp.StatusCode, b)
	}
	return nil
}

func benchRaw(ctx context.Context, influxURL, bucket string, reg *geo.Registry, reports []*jagadesa.Report, batch, writers int) (float64, error) {
	// The same points the server would write, formatted beforehand: this
	// phase measures InfluxDB and the client alone.
	var lines []string
	var enc influx.Encoder
	for _, r := range reports {
		v, _ := reg.Village(r.Village)
		b, _, err := enc.AppendReport(nil, r, v.RegencyCode)
		if err != nil {
			return 0, err
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	client := influxdb2.NewClientWithOptions(influxURL, "", influxdb2.DefaultOptions().SetPrecision(time.Nanosecond).SetHTTPRequestTimeout(60))
	defer client.Close()
	w := client.WriteAPIBlocking("-", bucket)
	var next atomic.Int64
	errs := make(chan error, writers)
	start := time.Now()
	for range writers {
		go func() {
			for {
				i := int(next.Add(int64(batch))) - batch
				if i >= len(lines) {
					errs <- nil
					return
				}
				if err := w.WriteRecord(ctx, lines[i:min(i+batch, len(lines))]...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(len(lines)) / time.Since(start).Seconds(), nil
}

func benchE2E(ctx context.Context, influxURL, bucket string, reg *geo.Registry, reports []*jagadesa.Report, clients int, cpuProfile string, stderr io.Writer) (float64, error) {
	dir, err := os.MkdirTemp("", "jagadesa-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(dir)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	store, err := influx.New(influx.Config{URL: influxURL, Bucket: bucket})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	// The whole production path: signature checks, replay marks and the
	// evidence archive, as `jagadesa serve` runs them.
	archive, err := evidence.New(filepath.Join(dir, "evidence"))
	if err != nil {
		return 0, err
	}
	h := server.NewServer(server.Deps{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Registry: reg, Probes: db, Points: store, AdminToken: "bench-admin-token-0123456789",
		Evidence: archive})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	// Enroll one probe per village and prepare every request body
	// beforehand, so the timed phase is the server's work, not the client's.
	tokens := map[string]string{}
	keys := map[string]ed25519.PrivateKey{}
	type req struct {
		token string
		body  []byte
		sig   string
	}
	reqs := make([]req, 0, len(reports))
	for i, r := range reports {
		if _, ok := tokens[r.Village]; !ok {
			p, tok, err := db.CreateProbe(ctx, r.Village)
			if err != nil {
				return 0, err
			}
			pub, key, _ := ed25519.GenerateKey(nil)
			if _, err := db.SetProbeKey(ctx, p.ID, pub, "admin"); err != nil {
				return 0, err
			}
			tokens[r.Village], keys[r.Village] = tok, key
		}
		p, _ := db.ProbeByToken(tokens[r.Village])
		r.Probe = p.ID
		// Reports of one village go out concurrently here, in no order; a
		// stream each keeps the replay check from taking a late one for
		// a replay.
		r.Stream = "bench-" + strconv.Itoa(i)
		raw, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		reqs = append(reqs, req{tokens[r.Village], buf.Bytes(), jagadesa.SignReport(keys[r.Village], raw)})
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	var next atomic.Int64
	var points atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/reports", bytes.NewReader(reqs[i].body))
				hr.Header.Set("Authorization", "Bearer "+reqs[i].token)
				hr.Header.Set("Content-Encoding", "gzip")
				hr.Header.Set(jagadesa.SignatureHeader, reqs[i].sig)
				resp, err := hc.Do(hr)
				if err == nil {
					var res struct {
						Points int `json:"points"`
					}
					if resp.StatusCode != 200 {
						b, _ := io.ReadAll(resp.Body)
						err = fmt.Errorf("report %d: %d %s", i, resp.StatusCode, b)
					} else if err = json.NewDecoder(resp.Body).Decode(&res); err == nil {
						points.Add(int64(res.Points))
					}
					resp.Body.Close()
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(points.Load()) / el.Seconds(), nil
}
