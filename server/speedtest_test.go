package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/server"
)

// speedReq sends a speed-test request and returns the response with its
// body unread.
func (e *env) speedReq(method, query, token string, body io.Reader, contentLength int64) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+"/api/v1/speedtest"+query, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = contentLength
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// upload answer of POST /api/v1/speedtest.
type uploadAnswer struct {
	Bytes      int64   `json:"bytes"`
	DurationMs float64 `json:"duration_ms"`
	Mbps       float64 `json:"mbps"`
	Truncated  bool    `json:"truncated"`
}

// zeros is an endless reader for uploads: the server does not care what
// it discards.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSpeedtestDownloadExactBytes(t *testing.T) {
	e := setup(t)
	for _, n := range []int64{1, 12345, 32 << 10, 5_000_001, 0} { // 0: the default
		q := "?bytes=" + strconv.FormatInt(n, 10)
		want := n
		if n == 0 {
			q, want = "", server.SpeedtestDefaultBytes
		}
		t.Run(strconv.FormatInt(want, 10), func(t *testing.T) {
			resp := e.speedReq("GET", q, e.tokA, nil, 0)
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			for h, v := range map[string]string{"Cache-Control": "no-store", "Content-Encoding": "identity", "Content-Type": "application/octet-stream"} {
				if got := resp.Header.Get(h); got != v {
					t.Errorf("%s: %q, want %q", h, got, v)
				}
			}
			start := time.Now()
			head := make([]byte, min(want, 1<<20))
			k, err := io.ReadFull(resp.Body, head)
			if err != nil {
				t.Fatalf("read %d: %v", k, err)
			}
			rest, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				t.Fatalf("body broke after %d bytes: %v", int64(k)+rest, err)
			}
			if got := int64(k) + rest; got != want {
				t.Fatalf("%d bytes, want exactly %d", got, want)
			}
			if want == server.SpeedtestDefaultBytes {
				t.Logf("loopback download: %d bytes in %s = %.0f Mbit/s", want, time.Since(start).Round(time.Millisecond), float64(want)*8/time.Since(start).Seconds()/1e6)
			}
			// Incompressible: gzip cannot shrink it.
			if len(head) >= 64<<10 {
				var z bytes.Buffer
				w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
				w.Write(head)
				w.Close()
				if z.Len() < len(head)*99/100 {
					t.Errorf("gzip shrank %d bytes to %d", len(head), z.Len())
				}
			}
		})
	}
}

func TestSpeedtestDownloadStopsAtSeconds(t *testing.T) {
	e := setup(t)
	start := time.Now()
	resp := e.speedReq("GET", "?bytes=250000000&seconds=0.5", e.tokA, nil, 0)
	defer resp.Body.Close()
	// A reader at about 40 MB/s could not take 250 MB in half a second.
	var n int64
	buf := make([]byte, 64<<10)
	var err error
	for err == nil {
		var k int
		k, err = resp.Body.Read(buf)
		n += int64(k)
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	if err != io.EOF {
		t.Fatalf("body ended with %v after %d bytes; want a clean end", err, n)
	}
	if n >= server.SpeedtestMaxBytes || n == 0 {
		t.Fatalf("%d bytes: the time limit did not end the body", n)
	}
	if el > 3*time.Second {
		t.Fatalf("a 0.5 s test took %s", el)
	}
	t.Logf("0.5 s download to a slow reader: %d bytes in %s", n, el.Round(time.Millisecond))
}

func TestSpeedtestUploadExactBytes(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name   string
		n      int64
		length int64 // Content-Length; -1 chunked
	}{
		{"with Content-Length", 7_654_321, 7_654_321},
		{"chunked", 3_000_001, -1},
		{"one byte", 1, 1},
		{"empty", 0, 0},
		{"the limit exactly", server.SpeedtestMaxBytes, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp := e.speedReq("POST", "", e.tokA, io.LimitReader(zeros{}, tt.n), tt.length)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			var a uploadAnswer
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("answer %s: %v", b, err)
			}
			if a.Bytes != tt.n || a.Truncated || (tt.n > 1e6 && (a.Mbps <= 0 || a.DurationMs <= 0)) {
				t.Fatalf("answer %s, want %d bytes, not truncated", b, tt.n)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if tt.n == server.SpeedtestMaxBytes {
				t.Logf("loopback upload: %d bytes, server measured %.0f ms = %.0f Mbit/s (client saw %s)", a.Bytes, a.DurationMs, a.Mbps, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// rawPost sends a POST by hand, so the test controls exactly what goes on
// the wire even when the server answers before the body is done.
func (e *env) rawPost(header string, body io.Reader) *http.Response {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "POST /api/v1/speedtest HTTP/1.1\r\nHost: jagadesa\r\nAuthorization: Bearer "+e.tokA+"\r\n"+header+"\r\n"); err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		go io.Copy(conn, body) // stops when the server closes the connection
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// chunked frames r as an HTTP/1.1 chunked body.
func chunked(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := fmt.Fprintf(pw, "%x\r\n%s\r\n", n, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				io.WriteString(pw, "0\r\n\r\n")
				pw.Close()
				return
			}
		}
	}()
	return pr
}

func TestSpeedtestLimits(t *testing.T) {
	e := setup(t)
	for _, q := range []string{"?bytes=0", "?bytes=-5", "?bytes=250000001", "?bytes=1e6", "?bytes=lots",
		"?seconds=0", "?seconds=10.5", "?seconds=-1", "?seconds=NaN", "?seconds=soon"} {
		resp := e.speedReq("GET", q, e.tokA, nil, 0)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb struct {
			Error    string
			Problems map[string]string
		}
		json.Unmarshal(b, &eb)
		if resp.StatusCode != 400 || len(eb.Problems) != 1 {
			t.Errorf("GET %s: %d %s, want 400 naming the parameter", q, resp.StatusCode, b)
		}
	}
	// The largest and the longest allowed are fine. (Probe B's token: the
	// test runs on until the server notices the client left, and probe A
	// has more to do.)
	resp := e.speedReq("GET", "?bytes=250000000&seconds=10", e.tokB, nil, 0)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET at the limits: %d", resp.StatusCode)
	}

	// A declared body over 250 MB is refused before a byte is read.
	resp = e.rawPost("Content-Length: 250000001\r\n", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), "limit") {
		t.Errorf("Content-Length over the limit: %d %s, want 413", resp.StatusCode, b)
	}
	// A chunked body is cut off at 250 MB.
	resp = e.rawPost("Transfer-Encoding: chunked\r\n", chunked(io.LimitReader(zeros{}, server.SpeedtestMaxBytes+1)))
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: %d %s, want 413", resp.StatusCode, b)
	}
	// Compression would make the bytes counted not the bytes moved.
	resp = e.rawPost("Content-Encoding: gzip\r\nContent-Length: 3\r\n", strings.NewReader("abc"))
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "compressed") {
		t.Errorf("gzip upload: %d %s, want 400", resp.StatusCode, b)
	}
	// Other methods are not the speed test.
	if code, _ := e.do("PUT", "/api/v1/speedtest", e.tokA, nil, "x"); code != 404 {
		t.Errorf("PUT: %d, want 404", code)
	}
}

func TestSpeedtestNeedsProbeToken(t *testing.T) {
	e := setup(t)
	for _, tok := range []string{"", "jdp_not-a-token", adminToken} {
		for _, method := range []string{"GET", "POST"} {
			resp := e.speedReq(method, "?bytes=1000", tok, strings.NewReader("x"), 1)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with token %q: %d %s, want 401", method, tok, resp.StatusCode, b)
			}
			if len(b) > 1000 {
				t.Errorf("%s with token %q sent %d bytes", method, tok, len(b))
			}
		}
	}
}

// holdDownloads starts a long download for each token and reads nothing,
// so each holds its slot until closed.
func (e *env) holdDownloads(tokens []string) (release func()) {
	e.t.Helper()
	var resps []*http.Response
	for _, tok := range tokens {
		resp := e.speedReq("GET", "?bytes=250000000&seconds=10", tok, nil, 0)
		if resp.StatusCode != 200 {
			e.t.Fatalf("holding download: %d", resp.StatusCode)
		}
		resps = append(resps, resp)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, r := range resps {
				r.Body.Close()
			}
		})
	}
	e.t.Cleanup(release)
	return release
}

func TestSpeedtestConcurrencyLimits(t *testing.T) {
	e := setup(t)
	var toks []string
	for i := 0; i < server.SpeedtestMaxConcurrent; i++ {
		_, tok := e.enroll(villageA)
		toks = append(toks, tok)
	}
	release := e.holdDownloads(toks)

	// The same probe again: 429, whichever direction.
	for _, method := range []string{"GET", "POST"} {
		resp := e.speedReq(method, "?bytes=1000", toks[0], strings.NewReader("x"), 1)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "10" {
			t.Errorf("second %s of one probe: %d Retry-After=%q %s; want 429 with Retry-After 10", method, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	// Another probe: the server is full, 503 with the server's Retry-After.
	for _, method := range []string{"GET", "POST"} {
		resp := e.speedReq(method, "?bytes=1000", e.tokA, strings.NewReader("x"), 1)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("fifth test (%s): %d Retry-After=%q %s; want 503 with Retry-After 7", method, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	// The probe's client sees a refusal it can schedule around.
	_, used, err := probe.MeasureThroughput(context.Background(), probe.ThroughputOptions{Server: e.url, Token: e.tokA, Bytes: 1e6})
	var re *probe.ThroughputRefusedError
	if !errors.Is(err, probe.ErrThroughputRefused) || !errors.As(err, &re) || re.Status != 503 || re.RetryAfter != 7*time.Second || used != 0 {
		t.Fatalf("probe while full: %v (%+v), %d bytes", err, re, used)
	}
	// Ingest is not starved while the speed tests run.
	if code, b := e.do("POST", "/api/v1/reports", e.tokB, nil, mustJSON(t, report(villageB, 3))); code != 200 {
		t.Fatalf("report during full speed tests: %d %s", code, b)
	}

	// Closing the held tests frees the slots.
	release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := e.speedReq("GET", "?bytes=1000", e.tokA, nil, 0)
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && n == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots not freed after the clients left: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, b := e.do("GET", "/metrics", adminToken, nil, "")
	for _, want := range []string{
		`jagadesa_speedtests_total{direction="download",result="busy"} `, // the poll may add to it
		`jagadesa_speedtests_total{direction="upload",result="busy"} 1`,
		`jagadesa_speedtests_total{direction="upload",result="probe_busy"} 1`,
		`jagadesa_speedtests_total{direction="download",result="aborted"} 4`,
	} {
		if code != 200 || !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestSpeedtestStalledReadersLoseTheirSlots(t *testing.T) {
	t.Parallel() // waits out the write deadline
	e := setup(t)
	var toks []string
	for i := 0; i < server.SpeedtestMaxConcurrent; i++ {
		_, tok := e.enroll(villageA)
		toks = append(toks, tok)
	}
	// Clients that neither read nor close, on half-second tests: the
	// server gives up on them after the test's time and its 5 s grace.
	var resps []*http.Response
	for _, tok := range toks {
		resp := e.speedReq("GET", "?bytes=250000000&seconds=0.5", tok, nil, 0)
		resps = append(resps, resp)
	}
	defer func() {
		for _, r := range resps {
			r.Body.Close()
		}
	}()
	start := time.Now()
	resp := e.speedReq("GET", "?bytes=10", e.tokA, nil, 0)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("with 4 stalled tests: %d, want 503", resp.StatusCode)
	}
	for {
		resp := e.speedReq("GET", "?bytes=10", e.tokA, nil, 0)
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && n == 10 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("stalled clients still hold the slots after %s", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("slots freed %s after the stalled clients' tests began", time.Since(start).Round(100*time.Millisecond))
}

func TestSpeedtestUploadStopsAtTenSeconds(t *testing.T) {
	t.Parallel() // takes the full 10 s
	e := setup(t)
	// A body that trickles 1 KB every 10 ms and would never end.
	pr, pw := io.Pipe()
	stop := make(chan struct{})
	go func() {
		chunk := bytes.Repeat([]byte{'x'}, 1000)
		for {
			select {
			case <-stop:
				pw.Close()
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(pw, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				return
			}
		}
	}()
	defer close(stop)
	start := time.Now()
	resp := e.rawPost("Transfer-Encoding: chunked\r\n", pr)
	el := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	var a uploadAnswer
	if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// The cut is at the 10 s deadline; the timer may fire a little late
	// on a loaded machine (10,000.3 ms was seen in CI), never early.
	if !a.Truncated || a.Bytes < 100_000 || a.Bytes%1000 != 0 || a.DurationMs < 9000 || a.DurationMs > 10_500 {
		t.Fatalf("answer %s, want truncated after about 10 s of 100 KB/s", b)
	}
	if el < server.SpeedtestMaxDuration || el > server.SpeedtestMaxDuration+3*time.Second {
		t.Fatalf("answered after %s", el)
	}
}

// TestThroughputProbeToServer runs the probe's own test against the real
// handler, then stores its samples and reads them back through the API.
func TestThroughputProbeToServer(t *testing.T) {
	e := setup(t)
	const n = 50_000_000
	samples, used, err := probe.MeasureThroughput(context.Background(), probe.ThroughputOptions{
		Server: e.url + "/", Token: e.tokA, Bytes: n, Root: "/", Interface: "lo", Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || used != 2*n {
		t.Fatalf("%d samples, %d bytes used; want 2 and %d", len(samples), used, 2*n)
	}
	for i, dir := range []string{"download", "upload"} {
		s := samples[i]
		x := s.Throughput
		if s.Kind != jagadesa.KindThroughput || s.Target != "server" || x.Direction != dir || x.Bytes != n || x.Error != "" ||
			x.Mbps <= 0 || x.DurationMs <= 0 || x.Interface != "lo" || x.OtherMbps < 0 {
			t.Fatalf("%s sample %+v", dir, x)
		}
		// Bytes, time and rate agree.
		if want := float64(x.Bytes) * 8 / (x.DurationMs / 1000) / 1e6; x.Mbps < want*0.99 || x.Mbps > want*1.01 {
			t.Errorf("%s: %.1f Mbit/s, but %d bytes in %.1f ms is %.1f", dir, x.Mbps, x.Bytes, x.DurationMs, want)
		}
		t.Logf("loopback %s: %d bytes in %.1f ms = %.0f Mbit/s (other on lo: %.1f Mbit/s)", dir, x.Bytes, x.DurationMs, x.Mbps, x.OtherMbps)
	}

	// Through the wire format into InfluxDB and the live status.
	r := &jagadesa.Report{Version: jagadesa.WireVersion, Village: villageA}
	for _, s := range samples {
		s.Seq = seqs.Add(1)
		r.Samples = append(r.Samples, s)
	}
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, r)); code != 200 {
		t.Fatalf("report: %d %s", code, b)
	}
	if got := e.count("throughput", "mbps", villageA); got != 2 {
		t.Fatalf("%d throughput points stored, want 2", got)
	}
	v := e.village(villageA)
	if v.DownloadMbps == nil || *v.DownloadMbps != samples[0].Throughput.Mbps || v.UploadMbps == nil || *v.UploadMbps != samples[1].Throughput.Mbps ||
		v.OtherMbps == nil || v.ContractMbps == nil || *v.ContractMbps != 100 || v.DownloadPctOfContract == nil || v.SLAThroughputBreach {
		t.Fatalf("village view after a loopback test: %+v", v)
	}
}

// notInProgramme is a village of the registry that setup's programme
// leaves out.
func notInProgramme(t *testing.T) string {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, p := range geo.DemoProgramme(reg) {
		in[p.Code] = true
	}
	for _, v := range reg.Villages() {
		if !in[v.Code] {
			return v.Code
		}
	}
	t.Fatal("every village is in the programme")
	return ""
}

// throughputView is the throughput part of a village in the API.
type throughputView struct {
	DownloadMbps          *float64 `json:"download_mbps"`
	UploadMbps            *float64 `json:"upload_mbps"`
	OtherMbps             *float64 `json:"other_mbps"`
	ContractMbps          *int     `json:"contract_mbps"`
	DownloadPctOfContract *float64 `json:"download_pct_of_contract"`
	SLAThroughputBreach   bool     `json:"sla_throughput_breach"`
	raw                   map[string]any
}

func (e *env) village(code string) throughputView {
	e.t.Helper()
	code2, b := e.do("GET", "/api/v1/villages/"+code, adminToken, nil, "")
	if code2 != 200 {
		e.t.Fatalf("village %s: %d %s", code, code2, b)
	}
	var v throughputView
	json.Unmarshal(b, &v)
	json.Unmarshal(b, &v.raw)
	return v
}

func TestVillageThroughputSLA(t *testing.T) {
	e := setup(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	test := func(tok, village string, at time.Time, down, other float64) {
		t.Helper()
		r := &jagadesa.Report{Version: jagadesa.WireVersion, Village: village}
		for _, d := range []struct {
			dir         string
			mbps, other float64
		}{{"download", down, other}, {"upload", down / 2, 0}} {
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: seqs.Add(1), TimeMs: at.UnixMilli(), Kind: jagadesa.KindThroughput, Target: "server",
				Throughput: &jagadesa.Throughput{Direction: d.dir, Bytes: 17_000_000, DurationMs: 1000, Mbps: d.mbps, OtherMbps: d.other, Interface: "wan"}})
		}
		if code, b := e.do("POST", "/api/v1/reports", tok, nil, mustJSON(t, r)); code != 200 {
			t.Fatalf("report: %d %s", code, b)
		}
	}

	// Before any test: contract shown, no measurement, no verdict.
	v := e.village(villageA)
	if v.ContractMbps == nil || *v.ContractMbps != 100 || v.DownloadMbps != nil || v.DownloadPctOfContract != nil || v.SLAThroughputBreach {
		t.Fatalf("untested village: %+v", v)
	}
	if _, present := v.raw["sla_throughput_breach"]; present {
		t.Error("sla_throughput_breach present without a breach")
	}
	if val, present := v.raw["download_mbps"]; !present || val != nil {
		t.Errorf("download_mbps should be null until a test: %v %v", val, present)
	}

	tests := []struct {
		name        string
		down, other float64
		pct         float64
		breach      bool
	}{
		{"slow quiet link: breach", 42.5, 1, 42.5, true},
		{"slow but the village was busy: no breach", 45, 40, 45, false},
		{"recovered", 96, 0.5, 96, false},
		{"just under 80%", 79, 0, 79, true},
	}
	for i, tt := range tests {
		test(e.tokA, villageA, base.Add(time.Duration(i)*time.Minute), tt.down, tt.other)
		v := e.village(villageA)
		if v.DownloadMbps == nil || *v.DownloadMbps != tt.down || v.OtherMbps == nil || *v.OtherMbps != tt.other ||
			v.UploadMbps == nil || *v.UploadMbps != tt.down/2 || v.DownloadPctOfContract == nil || *v.DownloadPctOfContract != tt.pct || v.SLAThroughputBreach != tt.breach {
			t.Errorf("%s: %+v", tt.name, v)
		}
		if _, present := v.raw["sla_throughput_breach"]; present != tt.breach {
			t.Errorf("%s: sla_throughput_breach present=%v", tt.name, present)
		}
	}

	// A village outside the programme has speeds but no contract to judge.
	outside := notInProgramme(t)
	_, tok := e.enroll(outside)
	test(tok, outside, base, 10, 0)
	v = e.village(outside)
	if v.DownloadMbps == nil || *v.DownloadMbps != 10 || v.ContractMbps != nil || v.DownloadPctOfContract != nil || v.SLAThroughputBreach {
		t.Fatalf("village outside the programme: %+v", v)
	}

	// The list carries the same fields.
	code, b := e.do("GET", "/api/v1/villages?regency=33.06", adminToken, nil, "")
	var list struct {
		Villages []struct {
			Code   string   `json:"code"`
			Down   *float64 `json:"download_mbps"`
			Breach bool     `json:"sla_throughput_breach"`
		} `json:"villages"`
	}
	json.Unmarshal(b, &list)
	found := false
	for _, lv := range list.Villages {
		if lv.Code == villageA {
			found = lv.Down != nil && *lv.Down == 79 && lv.Breach
		}
	}
	if code != 200 || !found {
		t.Fatalf("list lacks village A's throughput: %d", code)
	}
}
