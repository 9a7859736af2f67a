package jagadesacmd

import (
	"bufio"
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
	writers := fs.Int("influx-writers", 0, "the server's concurrent InfluxDB commits in the end-to-end phase (0: the server's default)")
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
	e2e, err := benchE2E(ctx, *influxURL, "bench_e2e/autogen", reg, reports, *clients, *writers, *cpuProfile, stderr)
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

func benchE2E(ctx context.Context, influxURL, bucket string, reg *geo.Registry, reports []*jagadesa.Report, clients, writers int, cpuProfile string, stderr io.Writer) (float64, error) {
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
	store, err := influx.New(influx.Config{URL: influxURL, Bucket: bucket, Writers: writers})
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
	// Each request is written out whole beforehand too, and each client
	// is one kept-alive connection that writes a request and reads its
	// answer: net/http's client machinery (pool, write and read
	// goroutines) cost a sixth of the process's CPU, all of it the
	// client's, since clients and server share this process and its cores.
	wire := make([][]byte, len(reqs))
	host := ln.Addr().String()
	for i, r := range reqs {
		var b bytes.Buffer
		fmt.Fprintf(&b, "POST /api/v1/reports HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
			host, r.token, jagadesa.SignatureHeader, r.sig, len(r.body))
		b.Write(r.body)
		wire[i] = b.Bytes()
	}
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
			fail := func(err error) { once.Do(func() { firstErr = err }) }
			conn, err := net.Dial("tcp", host)
			if err != nil {
				fail(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(wire) {
					return
				}
				conn.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := conn.Write(wire[i]); err != nil {
					fail(err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					fail(fmt.Errorf("report %d: %w", i, err))
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				var res struct {
					Points int `json:"points"`
				}
				switch {
				case err != nil:
				case resp.StatusCode != 200:
					err = fmt.Errorf("report %d: %d %s", i, resp.StatusCode, b)
				default:
					err = json.Unmarshal(b, &res)
				}
				if err != nil {
					fail(err)
					return
				}
				points.Add(int64(res.Points))
				if resp.Close {
					fail(fmt.Errorf("report %d: the server closed the connection", i))
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
