package jagadesacmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/ingest"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sqlite"
	"github.com/jagadesa/jagadesa/server/status"
)

// benchFlood measures what a hostile probe's flood of security events costs
// everyone else (issue 11): while probes send batches of 2,000
// login_bruteforce events (8 attributes of 200 bytes each), the 599
// programme villages report live-size rounds and staff list the villages.
// It prints the latency percentiles of both, measured by the clients.
func benchFlood(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jagadesa bench flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	influxURL := fs.String("influx-url", os.Getenv("JAGADESA_INFLUX_URL"), "InfluxDB 1.8 URL (database bench_flood is dropped and recreated)")
	seconds := fs.Int("seconds", 20, "how long to measure")
	flooders := fs.Int("flooders", 2, "probes sending 2,000-event batches back to back")
	clients := fs.Int("clients", 8, "concurrent live reporters")
	allowance := fs.Int("allowance", 0, "records a probe may send a minute (0: the server's default; a large value measures floods the allowance would not stop)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *influxURL == "" {
		return fmt.Errorf("--influx-url is required")
	}
	for _, q := range []string{"DROP DATABASE bench_flood", "CREATE DATABASE bench_flood"} {
		if err := influxQL(*influxURL, q); err != nil {
			return err
		}
	}
	reg, err := geo.Jateng()
	if err != nil {
		return err
	}
	progList := geo.DemoProgramme(reg)
	prog := map[string]jagadesa.Programme{}
	for _, p := range progList {
		prog[p.Code] = p
	}
	dir, err := os.MkdirTemp("", "jagadesa-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := influx.New(influx.Config{URL: *influxURL, Bucket: "bench_flood/autogen"})
	if err != nil {
		return err
	}
	defer store.Close()
	archive, err := evidence.New(filepath.Join(dir, "evidence"))
	if err != nil {
		return err
	}
	directory, err := route.Demo()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mgr := incident.New(incident.Config{}, log, db, directory, reg, prog, nopSender{})
	engine := status.New(status.Config{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = (&ingest.Worker{Outbox: db, Apply: mgr, Logger: log}).Run(ctx) }()
	go func() { defer wg.Done(); runDetector(ctx, log, mgr, engine, db, prog) }()
	defer wg.Wait()
	const admin = "bench-admin-token-0123456789"
	h := server.NewServer(server.Deps{Logger: log, Registry: reg, Programme: prog, Probes: db, Points: store, AdminToken: admin,
		Evidence: archive, Status: engine, Incidents: mgr, IncidentStore: db, ProbeRecordsPerMinute: *allowance})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	type probe struct {
		id, token, village string
		key                ed25519.PrivateKey
		seq                uint64
	}
	var probes []*probe
	for _, p := range progList {
		pr, tok, err := db.CreateProbe(ctx, p.Code)
		if err != nil {
			return err
		}
		pub, key, _ := ed25519.GenerateKey(nil)
		if _, err := db.SetProbeKey(ctx, pr.ID, pub, "admin"); err != nil {
			return err
		}
		probes = append(probes, &probe{id: pr.ID, token: tok, village: p.Code, key: key})
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients + *flooders + 2}, Timeout: 60 * time.Second}
	type wire struct {
		gz  []byte
		sig string
	}
	encode := func(p *probe, r *jagadesa.Report) wire {
		r.Version, r.Probe, r.Village, r.Stream, r.SentAt = jagadesa.WireVersion, p.id, p.village, "flood", time.Now().UnixMilli()
		raw, _ := json.Marshal(r)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		return wire{buf.Bytes(), jagadesa.SignReport(p.key, raw)}
	}
	send := func(p *probe, w wire) (time.Duration, int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/reports", bytes.NewReader(w.gz))
		req.Header.Set("Authorization", "Bearer "+p.token)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set(jagadesa.SignatureHeader, w.sig)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode, nil
	}
	post := func(p *probe, r *jagadesa.Report) (time.Duration, int, error) { return send(p, encode(p, r)) }
	attrs := func(i int) map[string]string {
		m := map[string]string{"source": fmt.Sprintf("192.31.196.%d", i%250)}
		for k := range 7 {
			m[fmt.Sprintf("a%d", k)] = strings.Repeat("x", 200)
		}
		return m
	}
	flood := func(p *probe) *jagadesa.Report {
		r := &jagadesa.Report{}
		now := time.Now().UnixMilli()
		for i := range 2000 {
			p.seq++
			r.Events = append(r.Events, jagadesa.Event{Seq: p.seq, TimeMs: now, Kind: "login_bruteforce", Severity: "warning", Message: "dropbear", Attrs: attrs(i)})
		}
		return r
	}
	live := func(p *probe) *jagadesa.Report {
		r := &jagadesa.Report{}
		now := time.Now().UnixMilli()
		for _, tg := range []string{"a.example", "b.example", "c.example"} {
			p.seq++
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: p.seq, TimeMs: now, Kind: jagadesa.KindICMP, Target: tg,
				ICMP: &jagadesa.ICMP{Sent: 10, Received: 10, MinMs: 20, AvgMs: 22, MaxMs: 30, StddevMs: 2, JitterMs: 1,
					RTTsMs: []float64{20, 21, 22, 23, 22, 21, 20, 25, 30, 21}}})
		}
		p.seq++
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: p.seq, TimeMs: now, Kind: jagadesa.KindHeartbeat,
			Heartbeat: &jagadesa.Heartbeat{BootID: "b", UptimeS: 100, IntervalS: 60, ProbeVersion: "bench"}})
		return r
	}

	// The flood's bodies are made before the clock starts: the client's
	// JSON and gzip must not compete with the server for the two cores.
	floods := make([][]wire, *flooders)
	for f := range *flooders {
		for range 40 {
			floods[f] = append(floods[f], encode(probes[f], flood(probes[f])))
		}
	}
	deadline := time.Now().Add(time.Duration(*seconds) * time.Second)
	var mu sync.Mutex
	var reportLat, listLat, floodLat []time.Duration
	var fails []string
	throttled := 0
	fail := func(what string, code int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(fails) < 5 {
			fails = append(fails, fmt.Sprintf("%s: %d %v", what, code, err))
		}
	}
	var g sync.WaitGroup
	for f := range *flooders {
		g.Add(1)
		go func() {
			defer g.Done()
			p := probes[f]
			for i := 0; time.Now().Before(deadline); i++ {
				// Past the prepared bodies the last is sent again: a
				// replay, refused as cheaply as the server can.
				d, code, err := send(p, floods[f][min(i, len(floods[f])-1)])
				if code == http.StatusTooManyRequests || code == http.StatusConflict {
					// Over its allowance: a hostile probe ignores
					// Retry-After and sends again at once.
					mu.Lock()
					throttled++
					mu.Unlock()
					continue
				}
				if err != nil || code != 200 {
					fail("flood", code, err)
					continue
				}
				mu.Lock()
				floodLat = append(floodLat, d)
				mu.Unlock()
			}
		}()
	}
	for c := range *clients {
		g.Add(1)
		go func() {
			defer g.Done()
			// Each client has its own probes: one batch of a probe at a
			// time, in order, as a real probe sends.
			var mine []*probe
			for j := *flooders + c; j < len(probes); j += *clients {
				mine = append(mine, probes[j])
			}
			for i := 0; time.Now().Before(deadline); i++ {
				p := mine[i%len(mine)]
				r := live(p)
				d, code, err := post(p, r)
				if err != nil || code != 200 {
					fail("report", code, err)
					continue
				}
				mu.Lock()
				reportLat = append(reportLat, d)
				mu.Unlock()
			}
		}()
	}
	g.Add(1)
	go func() {
		defer g.Done()
		for time.Now().Before(deadline) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/villages", nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				fail("villages", 0, err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fail("villages", resp.StatusCode, nil)
				continue
			}
			mu.Lock()
			listLat = append(listLat, time.Since(start))
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	g.Wait()
	// Let the outbox drain, then read what the flood became.
	time.Sleep(2 * time.Second)
	open := mgr.Open()
	signals, counted := 0, 0
	for _, in := range open {
		signals += len(in.Signals)
		for _, s := range in.Signals {
			counted += s.Count
		}
	}
	fmt.Fprintf(stdout, "bench flood: %d s, %d flooding probes (2,000 events a batch), %d live reporters, %d villages\n", *seconds, *flooders, *clients, len(probes))
	fmt.Fprintf(stdout, "flood batches: %d stored (%s), %d refused (429 over the probe's allowance, or 409 as a replay)\n", len(floodLat), pct(floodLat), throttled)
	fmt.Fprintf(stdout, "POST /api/v1/reports (4 records): %d, %s\n", len(reportLat), pct(reportLat))
	fmt.Fprintf(stdout, "GET /api/v1/villages: %d, %s\n", len(listLat), pct(listLat))
	fmt.Fprintf(stdout, "open incidents %d, signals kept %d, events counted %d\n", len(open), signals, counted)
	if len(fails) > 0 {
		return fmt.Errorf("requests failed: %s", strings.Join(fails, "; "))
	}
	return nil
}

type nopSender struct{}

func (nopSender) Send(*route.Team, jagadesa.Notification) {}

// pct formats the 50th, 99th and highest of a set of latencies.
func pct(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		return s[min(len(s)-1, int(q*float64(len(s))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v, p99 %v, max %v", at(0.5), at(0.99), s[len(s)-1].Round(100*time.Microsecond))
}
