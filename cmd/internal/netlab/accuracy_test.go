package netlab_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/netlab"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/server"
)

// The accuracy test holds the probe's measurements against ground truth in
// a lab of two network namespaces (see docs/accuracy.md):
//
//   - ICMP: a userspace responder in the far namespace answers after exactly
//     Delay and drops a seeded Loss share, recording which. The probe's
//     ICMPCheck and Debian's fping measure it from the near namespace.
//   - Throughput: both veth ends shaped by tbf to 100 Mbit/s; iperf3 and the
//     probe's MeasureThroughput, against the real server's speed-test
//     handler running in the far namespace, measure each direction.
//
// It needs root, iproute2, fping and iperf3 (scripts/test.sh installs them)
// and fails, rather than skips, without them: CI runs as root and must not
// pass by measuring nothing.

// Targets, as docs/accuracy.md states them.
const (
	icmpCount    = 200
	icmpInterval = 20 * time.Millisecond
	icmpDelay    = 50 * time.Millisecond
	icmpLoss     = 0.05
	icmpSeed     = 20261122
	medianTolMs  = 0.5 // |median − Delay|

	shapeRate      = "100mbit"
	shapeBurst     = "64kb"
	shapeLatency   = "20ms"
	throughputTime = 8 * time.Second
	throughputTol  = 0.05 // |probe/iperf3 − 1|
)

// Helper roles this test binary plays when re-executed in a namespace.
const (
	roleICMP       = "probe-icmp"
	roleThroughput = "probe-throughput"
	roleSpeedtest  = "speedtest-server"

	envTarget = "JAGADESA_NETLAB_TARGET"
	envServer = "JAGADESA_NETLAB_SERVER"
	envToken  = "JAGADESA_NETLAB_TOKEN"
	envListen = "JAGADESA_NETLAB_LISTEN"
	envReport = "JAGADESA_ACCURACY_REPORT" // file the result table is written to
)

const (
	labToken   = "netlab-probe-token-0123456789"
	labVillage = "33.06.08.2005"
	speedPort  = "8080"
	iperfPort  = "5201"
)

func TestMain(m *testing.M) {
	if code, ok := netlab.HelperMain(); ok {
		os.Exit(code)
	}
	switch role := os.Getenv(netlab.RoleEnv); role {
	case "":
		os.Exit(m.Run())
	case roleICMP:
		os.Exit(helper(icmpHelper))
	case roleThroughput:
		os.Exit(helper(throughputHelper))
	case roleSpeedtest:
		os.Exit(helper(speedtestHelper))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", netlab.RoleEnv, role)
		os.Exit(2)
	}
}

func helper(f func(context.Context) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f(ctx); err != nil {
		fmt.Fprintln(os.Stderr, os.Getenv(netlab.RoleEnv)+":", err)
		return 1
	}
	return 0
}

// icmpHelper runs one round of the probe's ICMPCheck, privileged as the
// probe runs on a router, and prints the sample as JSON.
func icmpHelper(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, icmpCount*icmpInterval+5*time.Second)
	defer cancel()
	s, err := probe.ICMPCheck(ctx, os.Getenv(envTarget), probe.CheckOptions{Count: icmpCount, Interval: icmpInterval, Privileged: true})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}

// throughputHelper runs the probe's throughput test against the lab's
// server and prints the samples as JSON.
func throughputHelper(ctx context.Context) error {
	samples, _, err := probe.MeasureThroughput(ctx, probe.ThroughputOptions{
		Server: os.Getenv(envServer), Token: os.Getenv(envToken),
		Bytes: probe.MaxThroughputBytes, Duration: throughputTime,
		Root: "/", Interface: netlab.NearIf, Version: "netlab",
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(samples)
}

// speedtestHelper serves the real server's API, with in-memory stores that
// know one probe, until its standard input closes.
func speedtestHelper(ctx context.Context) error {
	ln, err := net.Listen("tcp", os.Getenv(envListen))
	if err != nil {
		return err
	}
	reg, err := geo.Jateng()
	if err != nil {
		return err
	}
	h := server.NewServer(server.Deps{
		Logger: slog.New(slog.DiscardHandler), Registry: reg, Probes: labProbes{},
		Points: labPoints{}, AdminToken: "netlab-admin-token-0123456789",
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Println("ready")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type labProbes struct{}

func (labProbes) CreateProbe(context.Context, string) (jagadesa.Probe, string, error) {
	return jagadesa.Probe{}, "", errors.New("not in the lab")
}
func (labProbes) ProbeByToken(tok string) (jagadesa.Probe, bool) {
	return jagadesa.Probe{ID: "netlab", Village: labVillage}, tok == labToken
}
func (labProbes) RevokeProbe(context.Context, string) error { return errors.New("not in the lab") }
func (labProbes) Probes(context.Context) ([]jagadesa.Probe, error) {
	return []jagadesa.Probe{{ID: "netlab", Village: labVillage}}, nil
}

type labPoints struct{}

func (labPoints) WriteReport(context.Context, *jagadesa.Report, string) (int, error) { return 0, nil }
func (labPoints) Ping(context.Context) error                                         { return nil }

// row is one line of the result table.
type row struct {
	quantity, tool, measured, truth, target, verdict string
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "MISS"
}

func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| quantity | tool | measured | ground truth | target | result |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.quantity, r.tool, r.measured, r.truth, r.target, r.verdict)
	}
	return b.String()
}

func TestAccuracy(t *testing.T) {
	if err := netlab.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"fping", "iperf3", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (scripts/test.sh installs fping, iperf3 and iproute2): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	lab, err := netlab.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("remove lab: %v", err)
		}
	})
	t.Logf("lab: namespaces %s (%s) and %s (%s)", lab.Near, netlab.NearAddr, lab.Far, netlab.FarAddr)

	var rows []row
	t.Cleanup(func() {
		tab := table(rows)
		t.Logf("accuracy (%s, %s):\n%s", time.Now().Format(time.DateOnly), hostDescription(), tab)
		if path := os.Getenv(envReport); path != "" {
			if err := os.WriteFile(path, []byte(tab), 0o644); err != nil {
				t.Errorf("write report: %v", err)
			}
		}
	})
	t.Run("icmp", func(t *testing.T) { rows = append(rows, testICMP(t, ctx, lab)...) })
	t.Run("throughput", func(t *testing.T) { rows = append(rows, testThroughput(t, ctx, lab)...) })
}

func testICMP(t *testing.T, ctx context.Context, lab *netlab.Lab) []row {
	resp, err := lab.StartResponder(ctx, icmpDelay, icmpLoss, icmpSeed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Stop() })
	target := netlab.FarAddr.String()

	// Warm up: neighbour discovery makes the first packet of a cold link
	// slower. Whatever the warm-up sees is discarded with the first Stats.
	_, _ = lab.Run(ctx, lab.Near, "fping", "-c", "3", "-p", "50", "-t", "1000", "-q", target)
	if _, err := resp.Stats(); err != nil {
		t.Fatal(err)
	}

	cmd, err := lab.SelfCommand(ctx, lab.Near, roleICMP, envTarget+"="+target)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe ICMP helper: %v\n%s", err, stderr.Bytes())
	}
	var s jagadesa.Sample
	if err := json.Unmarshal(out, &s); err != nil || s.ICMP == nil {
		t.Fatalf("probe ICMP helper printed %q: %v", out, err)
	}
	probeTruth, err := resp.Stats()
	if err != nil {
		t.Fatal(err)
	}

	// fping -C prints one line on stderr: "addr : rtt rtt - rtt ...", with
	// "-" for a lost packet. It exits 1 when any packet was lost. -t is
	// needed: with -p, fping's timeout defaults to the period, and it
	// discards every reply slower than 20 ms as lost.
	fp := lab.Command(ctx, lab.Near, "fping", "-C", strconv.Itoa(icmpCount), "-p", strconv.Itoa(int(icmpInterval/time.Millisecond)),
		"-t", "1000", "-q", target)
	fpOut, fpErr := fp.CombinedOutput()
	fpRTTs, fpLost, perr := parseFping(fpOut, target)
	if perr != nil {
		t.Fatalf("fping: %v (%v)\n%s", perr, fpErr, fpOut)
	}
	fpingTruth, err := resp.Stats()
	if err != nil {
		t.Fatal(err)
	}

	lo, hi := netlab.BinomialInterval(icmpCount, icmpLoss)
	delayMs := float64(icmpDelay) / float64(time.Millisecond)
	var rows []row
	check := func(tool string, sent, received int, rtts []float64, truth netlab.ResponderStats) {
		median := netlab.Median(rtts)
		lost := sent - received
		beforeResponder := sent - truth.Requests // lost on the way there, by the kernel
		t.Logf("%s: sent %d, received %d, median %.3f ms, min %.3f, max %.3f; responder: %d requests, %d dropped, %d replied, %d send errors; responder overshoot median %.1f µs, max %.1f µs",
			tool, sent, received, median, minOf(rtts), maxOf(rtts), truth.Requests, truth.Dropped, truth.Replied, truth.SendErrors,
			netlab.Median(truth.OvershootUs), maxOf(truth.OvershootUs))
		okMedian := math.Abs(median-delayMs) <= medianTolMs
		if !okMedian {
			t.Errorf("%s: median RTT %.3f ms is more than %.1f ms from the responder's %.0f ms", tool, median, medianTolMs, delayMs)
		}
		// Exact ground truth: every reply the responder sent must have been
		// counted, so the loss is the responder's drops plus whatever the
		// kernel lost before the responder saw it.
		okExact := received == truth.Replied && lost == truth.Dropped+beforeResponder+truth.SendErrors
		if !okExact {
			t.Errorf("%s: lost %d of %d; the responder dropped %d, %d never reached it, it sent %d replies and the tool counted %d",
				tool, lost, sent, truth.Dropped, beforeResponder, truth.Replied, received)
		}
		okInterval := lost >= lo && lost <= hi
		if !okInterval {
			t.Errorf("%s: lost %d of %d, outside the binomial 95%% interval %d..%d for %.0f%%", tool, lost, sent, lo, hi, icmpLoss*100)
		}
		rows = append(rows,
			row{"median RTT", tool, fmt.Sprintf("%.3f ms", median), fmt.Sprintf("%.0f ms (responder overshoot median %.3f ms)", delayMs, netlab.Median(truth.OvershootUs)/1000),
				fmt.Sprintf("within %.1f ms", medianTolMs), verdict(okMedian)},
			row{"loss", tool, fmt.Sprintf("%d/%d (%.1f%%)", lost, sent, 100*float64(lost)/float64(sent)),
				fmt.Sprintf("%d dropped + %d lost before the responder", truth.Dropped, beforeResponder),
				"equal to ground truth", verdict(okExact)},
			row{"loss", tool, fmt.Sprintf("%d/%d", lost, sent), fmt.Sprintf("Binomial(%d, %.2f)", sent, icmpLoss),
				fmt.Sprintf("in 95%% interval %d..%d", lo, hi), verdict(okInterval)},
		)
	}
	check("probe (pro-bing)", s.ICMP.Sent, s.ICMP.Received, s.ICMP.RTTsMs, probeTruth)
	if s.ICMP.Sent != icmpCount {
		t.Errorf("probe sent %d requests, want %d", s.ICMP.Sent, icmpCount)
	}
	check("fping", icmpCount, len(fpRTTs), fpRTTs, fpingTruth)
	if len(fpRTTs)+fpLost != icmpCount {
		t.Errorf("fping reported %d packets, want %d", len(fpRTTs)+fpLost, icmpCount)
	}
	return rows
}

// parseFping reads fping -C -q output for addr.
func parseFping(out []byte, addr string) (rtts []float64, lost int, err error) {
	for line := range strings.Lines(string(out)) {
		host, vals, ok := strings.Cut(line, " : ")
		if !ok || strings.TrimSpace(host) != addr {
			continue
		}
		for _, f := range strings.Fields(vals) {
			if f == "-" {
				lost++
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("value %q: %w", f, err)
			}
			rtts = append(rtts, v)
		}
		return rtts, lost, nil
	}
	return nil, 0, fmt.Errorf("no line for %s", addr)
}

func testThroughput(t *testing.T, ctx context.Context, lab *netlab.Lab) []row {
	// Shape each direction where it leaves: Far's end for downloads,
	// Near's for uploads.
	for _, e := range []struct{ ns, dev string }{{lab.Far, netlab.FarIf}, {lab.Near, netlab.NearIf}} {
		if err := lab.Shape(ctx, e.ns, e.dev, shapeRate, shapeBurst, shapeLatency); err != nil {
			t.Fatal(err)
		}
	}
	far := netlab.FarAddr.String()

	// iperf3: the reference.
	// timeout bounds the server even if this test is killed before its
	// clean-up; --forceflush, because its output is a pipe.
	srv := lab.Command(ctx, lab.Far, "timeout", "180", "iperf3", "-s", "-B", far, "-p", iperfPort, "--forceflush")
	if err := startAndWait(t, srv, "Server listening"); err != nil {
		t.Fatalf("iperf3 server: %v", err)
	}
	iperf := map[string]float64{}
	for _, dir := range []string{"upload", "download"} {
		args := []string{"-c", far, "-p", iperfPort, "-t", strconv.Itoa(int(throughputTime / time.Second)), "-J"}
		if dir == "download" {
			args = append(args, "-R") // the server sends: Far to Near
		}
		out, err := lab.Run(ctx, lab.Near, "iperf3", args...)
		if err != nil {
			t.Fatalf("iperf3 %s: %v\n%s", dir, err, out)
		}
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Error != "" || res.End.SumReceived.BitsPerSecond == 0 {
			t.Fatalf("iperf3 %s: %v %s\n%s", dir, err, res.Error, out)
		}
		iperf[dir] = res.End.SumReceived.BitsPerSecond / 1e6
		t.Logf("iperf3 %s: %.2f Mbit/s (receiver)", dir, iperf[dir])
	}

	// The probe, against the real server handler in Far.
	listen := net.JoinHostPort(far, speedPort)
	st, err := lab.SelfCommand(ctx, lab.Far, roleSpeedtest, envListen+"="+listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := startAndWait(t, st, "ready"); err != nil {
		t.Fatalf("speed-test server: %v", err)
	}
	cmd, err := lab.SelfCommand(ctx, lab.Near, roleThroughput, envServer+"=http://"+listen, envToken+"="+labToken)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe throughput helper: %v\n%s", err, stderr.Bytes())
	}
	var samples []jagadesa.Sample
	if err := json.Unmarshal(out, &samples); err != nil {
		t.Fatalf("probe throughput helper printed %q: %v", out, err)
	}
	var rows []row
	seen := map[string]bool{}
	for _, s := range samples {
		tp := s.Throughput
		if tp == nil {
			continue
		}
		seen[tp.Direction] = true
		ref := iperf[tp.Direction]
		dev := tp.Mbps/ref - 1
		t.Logf("probe %s: %.2f Mbit/s, %d bytes in %.0f ms, other %.2f Mbit/s, error %q; iperf3 %.2f Mbit/s: %+.1f%%",
			tp.Direction, tp.Mbps, tp.Bytes, tp.DurationMs, tp.OtherMbps, tp.Error, ref, 100*dev)
		ok := tp.Error == "" && math.Abs(dev) <= throughputTol
		if !ok {
			t.Errorf("probe %s %.2f Mbit/s is %+.1f%% from iperf3's %.2f Mbit/s (target ±%.0f%%; error %q)",
				tp.Direction, tp.Mbps, 100*dev, ref, 100*throughputTol, tp.Error)
		}
		rows = append(rows, row{"throughput " + tp.Direction, "probe vs iperf3",
			fmt.Sprintf("%.2f Mbit/s", tp.Mbps), fmt.Sprintf("iperf3 %.2f Mbit/s (tbf %s)", ref, shapeRate),
			fmt.Sprintf("within %.0f%%: %+.1f%%", 100*throughputTol, 100*dev), verdict(ok)})
	}
	for _, dir := range []string{"download", "upload"} {
		if !seen[dir] {
			t.Errorf("the probe returned no %s sample", dir)
		}
	}
	return rows
}

// startAndWait starts cmd and waits (bounded) for a line of its standard
// output containing marker. Its input is a pipe held open until the test
// ends, then closed, which ends helpers; the lab's Close kills the rest.
func startAndWait(t *testing.T, cmd *exec.Cmd, marker string) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), marker) {
				ok = true
				found <- true
			}
		}
		if !ok {
			found <- false
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			return fmt.Errorf("exited before %q: %s", marker, stderr.String())
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no %q within 10 s: %s", marker, stderr.String())
	}
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// hostDescription names the machine for the record: CPU model, cores,
// kernel.
func hostDescription() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores, Linux %s", model, runtime.NumCPU(), kernel)
}
