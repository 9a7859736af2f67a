package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sqlite"
	"github.com/jagadesa/jagadesa/server/status"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

const adminToken = "test-admin-token-0123456789"

// Two real villages: Krandegan (Purworejo) and Kemuning (Karanganyar).
const (
	villageA = geo.KrandeganCode
	villageB = geo.KemuningCode
)

type env struct {
	t      *testing.T
	url    string
	store  *influx.Store
	db     *sqlite.DB
	bucket string
	tokA   string
	probeA string
	tokB   string
	// keys sign each probe's batches, as its real key would (see doBytes).
	keys map[string]ed25519.PrivateKey
}

func setup(t *testing.T) *env {
	t.Helper()
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, reg, func(d *server.Deps) { d.RetryAfter = 7 * time.Second })
}

// newEnv starts the server over a fresh database in the shared influxd,
// with the demo programme, and enrolls probes for villages A and B; tweak
// adjusts its dependencies first.
func newEnv(t *testing.T, reg *geo.Registry, tweak func(*server.Deps)) *env {
	t.Helper()
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	db, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	list, err := geo.ReadProgramme(bytes.NewReader(geo.DemoProgrammeCSV()), reg)
	if err != nil {
		t.Fatal(err)
	}
	prog := map[string]jagadesa.Programme{}
	for _, p := range list {
		prog[p.Code] = p
	}
	deps := server.Deps{
		Logger: slog.New(slog.DiscardHandler), Registry: reg, Programme: prog,
		Probes: db, Points: store, AdminToken: adminToken,
		ProbeAdmin: db, Users: db, Audit: db, Directory: testDirectory(t), Governance: db, Windows: db,
	}
	if tweak != nil {
		tweak(&deps)
	}
	ts := httptest.NewServer(server.NewServer(deps))
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, store: store, db: db, bucket: bucket, keys: map[string]ed25519.PrivateKey{}}
	e.probeA, e.tokA = e.enroll(villageA)
	_, e.tokB = e.enroll(villageB)
	return e
}

func testDirectory(t *testing.T) *route.Directory {
	t.Helper()
	d, err := route.Demo()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// enroll enrolls a probe for village with a fresh key pair bound at
// enrollment; doBytes signs its batches.
func (e *env) enroll(village string) (id, token string) {
	e.t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	code, body := e.do("POST", "/api/v1/probes", adminToken, nil, fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, jagadesa.FormatPublicKey(pub)))
	if code != http.StatusCreated {
		e.t.Fatalf("enroll %s: %d %s", village, code, body)
	}
	var r struct {
		Probe, Token string
		KeyID        string `json:"key_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" || r.Probe == "" || r.KeyID != jagadesa.KeyID(pub) {
		e.t.Fatalf("enroll answer %s (%v)", body, err)
	}
	e.keys[r.Token] = key
	return r.Probe, r.Token
}

func (e *env) do(method, path, token string, hdr map[string]string, body string) (int, []byte) {
	e.t.Helper()
	return e.doBytes(method, path, token, hdr, []byte(body))
}

func (e *env) doBytes(method, path, token string, hdr map[string]string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key := e.keys[token]; key != nil && method == "POST" && path == "/api/v1/reports" {
		// Sign as the probe does: the body before gzip.
		plain := body
		if hdr["Content-Encoding"] == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				plain, err = io.ReadAll(zr)
			}
			if err != nil {
				plain = body // not gzip after all: the server says so
			}
		}
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(key, plain))
	}
	for k, v := range hdr {
		req.Header.Set(k, v) // may replace the signature, to test that
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// seqs hands out record numbers: each report a test builds carries new
// ones, as a probe's would (the server refuses numbers it already has).
var seqs atomic.Uint64

// report builds a valid report for village with n ping rounds a minute
// apart, ending a minute ago.
func report(village string, n int) *jagadesa.Report {
	r := &jagadesa.Report{Version: jagadesa.WireVersion, Village: village}
	base := seqs.Add(uint64(2*n)) - uint64(2*n)
	end := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := 0; i < n; i++ {
		t := end.Add(-time.Duration(n-1-i) * time.Minute).UnixMilli()
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: base + uint64(2*i+1), TimeMs: t, Kind: jagadesa.KindICMP, Target: "jatengprov.go.id",
			ICMP: &jagadesa.ICMP{Sent: 10, Received: 9, MinMs: 20, AvgMs: 22, MaxMs: 30, StddevMs: 3, JitterMs: 1,
				RTTsMs: []float64{20, 21, 22, 20, 21, 22, 20, 22, 30}}})
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: base + uint64(2*i+2), TimeMs: t, Kind: jagadesa.KindHeartbeat,
			Heartbeat: &jagadesa.Heartbeat{BootID: "boot-1", UptimeS: 3600, IntervalS: 60, ProbeVersion: "test"}})
	}
	return r
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// count asks InfluxDB, through Flux, how many points of a measurement and
// field the village has.
func (e *env) count(meas, field, village string) int64 {
	e.t.Helper()
	recs, err := e.store.Query(context.Background(), fmt.Sprintf(`from(bucket: %s)
  |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == %s and r._field == %s and r.village == %s)
  |> group()
  |> count()`, influx.FluxString(e.bucket), influx.FluxString(meas), influx.FluxString(field), influx.FluxString(village)))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[0]["_value"].(int64)
}

func TestIngestIsQueryableWithFlux(t *testing.T) {
	e := setup(t)
	r := report(villageA, 5)
	code, body := e.doBytes("POST", "/api/v1/reports", e.tokA, map[string]string{"Content-Encoding": "gzip"}, gz([]byte(mustJSON(t, r))))
	if code != http.StatusOK {
		t.Fatalf("POST report: %d %s", code, body)
	}
	var res struct{ Accepted, Points int }
	json.Unmarshal(body, &res)
	if res.Accepted != 10 || res.Points != 10 {
		t.Fatalf("answer %s, want 10 accepted and written", body)
	}
	if n := e.count("icmp", "loss_pct", villageA); n != 5 {
		t.Fatalf("%d icmp points stored, want 5", n)
	}
	if n := e.count("heartbeat", "uptime_s", villageA); n != 5 {
		t.Fatalf("%d heartbeat points stored, want 5", n)
	}
	// Tags: village, regency and probe on every point, values as sent.
	recs, err := e.store.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "icmp" and r._field == "rtt_median_ms") |> last()`, influx.FluxString(e.bucket)))
	if err != nil || len(recs) != 1 {
		t.Fatalf("query: %v %v", recs, err)
	}
	got := recs[0]
	if got["village"] != villageA || got["regency"] != "33.06" || got["probe"] != e.probeA || got["target"] != "jatengprov.go.id" || got["_value"] != 21.0 {
		t.Fatalf("stored point %v", got)
	}
}

// A batch sent again — a retry whose answer was lost, or a replay by
// someone who captured it — is refused with 409 and the highest record
// number the server holds, and nothing is written twice.
func TestRetriedBatchIsNotDoubleCounted(t *testing.T) {
	e := setup(t)
	body := mustJSON(t, report(villageA, 20))
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, body); code != http.StatusOK {
		t.Fatalf("first post: %d %s", code, b)
	}
	for i := 1; i < 3; i++ {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/reports", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tokA)
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(e.keys[e.tokA], []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r jagadesa.Report
		json.Unmarshal([]byte(body), &r)
		_, hi := r.SeqRange()
		if resp.StatusCode != http.StatusConflict || resp.Header.Get(server.MaxSeqHeader) != fmt.Sprint(hi) || !strings.Contains(string(b), "replayed batch") {
			t.Fatalf("attempt %d: %d %s=%q %s; want 409 naming max seq %d", i, resp.StatusCode, server.MaxSeqHeader, resp.Header.Get(server.MaxSeqHeader), b, hi)
		}
	}
	if n := e.count("icmp", "sent", villageA); n != 20 {
		t.Fatalf("%d icmp points after 3 identical posts, want 20", n)
	}
	recs, err := e.store.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "icmp" and r._field == "sent") |> group() |> sum()`, influx.FluxString(e.bucket)))
	if err != nil || len(recs) != 1 || recs[0]["_value"] != 200.0 {
		t.Fatalf("sum(sent) = %v (%v), want 200", recs, err)
	}
}

func TestUnavailableInfluxAnswers503ThenRecovers(t *testing.T) {
	e := setup(t)
	first := report(villageA, 3)
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, first)); code != 200 {
		t.Fatalf("before outage: %d %s", code, b)
	}
	ifx := influxtest.Get(t)
	ifx.Stop(t)
	stopped := true
	defer func() {
		if stopped {
			ifx.Restart(t) // leave the shared influxd running for other tests
		}
	}()

	second := report(villageA, 3)
	for i := range second.Samples { // other rounds, as the probe's spool would send
		second.Samples[i].TimeMs -= 10 * 60_000
		second.Samples[i].Seq += 100
	}
	req, _ := http.NewRequest("POST", e.url+"/api/v1/reports", strings.NewReader(mustJSON(t, second)))
	req.Header.Set("Authorization", "Bearer "+e.tokA)
	req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(e.keys[e.tokA], []byte(mustJSON(t, second))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("during outage: %d Retry-After=%q %s; want 503 with Retry-After 7", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if code, _ := e.do("GET", "/healthz", "", nil, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz during outage: %d, want 503", code)
	}

	ifx.Restart(t)
	stopped = false
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, second)); code != 200 {
		t.Fatalf("after restart: %d %s", code, b)
	}
	if code, _ := e.do("GET", "/healthz", "", nil, ""); code != http.StatusOK {
		t.Fatalf("healthz after restart: %d", code)
	}
	if n := e.count("icmp", "sent", villageA); n != 6 {
		t.Fatalf("%d icmp points after the outage, want 6: nothing may be lost", n)
	}
}

func TestReportRejections(t *testing.T) {
	e := setup(t)
	good := mustJSON(t, report(villageA, 1))
	// Every record bad: the whole batch is refused, each record named.
	old := report(villageA, 1)
	old.Samples[0].TimeMs = time.Now().Add(-8 * 24 * time.Hour).UnixMilli()
	old.Samples[1].TimeMs = old.Samples[0].TimeMs
	future := report(villageA, 1)
	future.Samples[0].TimeMs = time.Now().Add(10 * time.Minute).UnixMilli()
	future.Samples[1].TimeMs = future.Samples[0].TimeMs
	bad := report(villageA, 1)
	bad.Samples[0].ICMP.Received = 11
	bad.Samples[1].Heartbeat.UptimeS = -1
	badStream := report(villageA, 1)
	badStream.Stream = "a stream/with spaces"
	other := report(villageB, 1)
	unknown := report("33.99.99.2999", 1)
	wrongProbe := report(villageA, 1)
	wrongProbe.Probe = "p-someoneelse"
	v2 := report(villageA, 1)
	v2.Version = 2
	// 40 MB of zeros squeezes into ~40 KB of gzip: a bomb.
	bomb := gz(bytes.Repeat([]byte{' '}, 40<<20))

	tests := []struct {
		name    string
		token   string
		hdr     map[string]string
		body    []byte
		code    int
		inError string // expected in the error message
		problem string // expected key in problems
	}{
		{"no token", "", nil, []byte(good), 401, "bearer token", ""},
		{"unknown token", "jdp_nope", nil, []byte(good), 401, "unknown", ""},
		{"admin token is not a probe", adminToken, nil, []byte(good), 401, "unknown", ""},
		{"token of village B writing for A", e.tokB, nil, []byte(good), 403, "enrolled for village", ""},
		{"token of A writing for B", e.tokA, nil, []byte(mustJSON(t, other)), 403, "enrolled for village", ""},
		{"village not in the registry", e.tokA, nil, []byte(mustJSON(t, unknown)), 403, "may not report", ""},
		{"someone else's probe id", e.tokA, nil, []byte(mustJSON(t, wrongProbe)), 403, "belongs to probe", ""},
		{"not JSON", e.tokA, nil, []byte(`{"v":1,`), 400, "not valid JSON", ""},
		{"wrong type", e.tokA, nil, []byte(`{"v":"one"}`), 400, "wrong type", ""},
		{"empty body", e.tokA, nil, nil, 400, "empty body", ""},
		{"wire version 2", e.tokA, nil, []byte(mustJSON(t, v2)), 400, "validation", "v"},
		{"older than 7 days", e.tokA, nil, []byte(mustJSON(t, old)), 400, "every record", "samples[0].t"},
		{"5+ minutes in the future", e.tokA, nil, []byte(mustJSON(t, future)), 400, "every record", "samples[1].t"},
		{"received > sent", e.tokA, nil, []byte(mustJSON(t, bad)), 400, "every record", "samples[0].icmp.received"},
		{"stream name", e.tokA, nil, []byte(mustJSON(t, badStream)), 400, "validation", "stream"},
		{"huge number", e.tokA, nil, []byte(strings.Replace(good, `"min_ms":20`, `"min_ms":1e999`, 1)), 400, "not valid JSON", ""},
		{"NaN", e.tokA, nil, []byte(strings.Replace(good, `"min_ms":20`, `"min_ms":NaN`, 1)), 400, "not valid JSON", ""},
		{"body over 4 MiB", e.tokA, nil, bytes.Repeat([]byte{' '}, server.MaxReportBody+1), 413, "limit", ""},
		{"gzip bomb", e.tokA, map[string]string{"Content-Encoding": "gzip"}, bomb, 413, "decompressed", ""},
		{"broken gzip", e.tokA, map[string]string{"Content-Encoding": "gzip"}, []byte("not gzip at all"), 400, "gzip", ""},
		{"unsupported encoding", e.tokA, map[string]string{"Content-Encoding": "br"}, []byte(good), 400, "Content-Encoding", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.doBytes("POST", "/api/v1/reports", tt.token, tt.hdr, tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, b)
			}
			var eb struct {
				Error    string            `json:"error"`
				Problems map[string]string `json:"problems"`
				Rejected []jagadesa.Rejection
			}
			eb.Problems = map[string]string{}
			if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
				t.Fatalf("error body %q is not the JSON error shape", b)
			}
			if !strings.Contains(eb.Error, tt.inError) {
				t.Errorf("error %q does not mention %q", eb.Error, tt.inError)
			}
			for _, r := range eb.Rejected { // per-record verdicts
				maps.Copy(eb.Problems, r.Problems)
			}
			if tt.problem != "" && eb.Problems[tt.problem] == "" {
				t.Errorf("problems %v lack %q", eb.Problems, tt.problem)
			}
		})
	}
	// None of the rejected reports may have written anything.
	if n := e.count("icmp", "sent", villageA) + e.count("icmp", "sent", villageB); n != 0 {
		t.Fatalf("%d points stored from rejected reports", n)
	}
	// And a good report still goes through afterwards.
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, good); code != 200 {
		t.Fatalf("good report after rejections: %d %s", code, b)
	}
}

func TestEnrollRejections(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name, token, body string
		code              int
	}{
		{"no token", "", `{"village":"33.06.08.2005"}`, 401},
		{"wrong token", "nope-nope-nope-nope", `{"village":"33.06.08.2005"}`, 401},
		{"probe token", e.tokA, `{"village":"33.06.08.2005"}`, 403},
		{"bad code", adminToken, `{"village":"33.06"}`, 400},
		{"unknown village", adminToken, `{"village":"33.99.99.2999"}`, 400},
		{"unknown field", adminToken, `{"village":"33.06.08.2005","x":1}`, 400},
		{"two objects", adminToken, `{"village":"33.06.08.2005"}{}`, 400},
		{"oversize", adminToken, `{"village":"` + strings.Repeat("x", 8<<10) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, b := e.do("POST", "/api/v1/probes", tt.token, nil, tt.body); code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, b)
			}
		})
	}
}

type villageJSON struct {
	Code      string              `json:"code"`
	Name      string              `json:"name"`
	Status    jagadesa.Status     `json:"status"`
	LastSeen  *time.Time          `json:"last_seen"`
	RTTMs     *float64            `json:"rtt_ms"`
	LossPct   *float64            `json:"loss_pct"`
	Programme *jagadesa.Programme `json:"programme"`
}

// Two lossy rounds are a blip: the raw verdict says degraded, the status
// still up, as the incident queue would have it.
func TestVillageBlipStaysUp(t *testing.T) {
	e := setup(t)
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 2))); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	code, b := e.do("GET", "/api/v1/villages/"+villageA, adminToken, nil, "")
	var raw struct {
		Status    jagadesa.Status `json:"status"`
		RawStatus jagadesa.Status `json:"raw_status"`
		RawReason string          `json:"raw_reason"`
	}
	if json.Unmarshal(b, &raw); code != 200 || raw.Status != jagadesa.StatusUp || raw.RawStatus != jagadesa.StatusDegraded || raw.RawReason != "loss" {
		t.Fatalf("after a blip: %d %s", code, b)
	}
}

func TestVillagesAPI(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, reg, func(d *server.Deps) {
		d.Status = status.New(status.Config{DegradedAfter: time.Nanosecond})
	})
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 2))); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	code, b := e.do("GET", "/api/v1/villages/"+villageA, adminToken, nil, "")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	// Loss 10% is above the 2% threshold: degraded (this engine's
	// DegradedAfter is 1 ns), with last_seen a minute ago.
	var v villageJSON
	json.Unmarshal(b, &v)
	if v.Status != jagadesa.StatusDegraded || v.LastSeen == nil || v.LossPct == nil || *v.LossPct != 10 || v.RTTMs == nil || *v.RTTMs != 21 {
		t.Fatalf("village view %s", b)
	}
	if v.Name != "Krandegan" || v.Programme == nil || !v.Programme.DigitalVillage {
		t.Fatalf("village A should be Krandegan, desa digital in the programme: %s", b)
	}

	var list struct {
		Count    int           `json:"count"`
		Villages []villageJSON `json:"villages"`
	}
	code, b = e.do("GET", "/api/v1/villages", adminToken, nil, "")
	json.Unmarshal(b, &list)
	if code != 200 || list.Count < 599 {
		t.Fatalf("list: %d, %d villages; want the programme's 599 and more", code, list.Count)
	}
	full := list.Villages
	// Pages of 100 from after= to next_after give the same list; the last
	// page says no next_after.
	var paged []villageJSON
	for after, pages := "", 0; ; pages++ {
		var page struct {
			Count     int           `json:"count"`
			Villages  []villageJSON `json:"villages"`
			NextAfter string        `json:"next_after"`
		}
		code, b := e.do("GET", "/api/v1/villages?limit=100&after="+after, adminToken, nil, "")
		if err := json.Unmarshal(b, &page); code != 200 || err != nil || page.Count != len(page.Villages) || page.Count > 100 {
			t.Fatalf("page after %q: %d %v %.300s", after, code, err, b)
		}
		paged = append(paged, page.Villages...)
		if page.NextAfter == "" {
			if page.Count == 100 && len(paged) != len(full) {
				t.Fatalf("a full page without next_after")
			}
			break
		}
		if page.NextAfter != page.Villages[len(page.Villages)-1].Code || pages > 100 {
			t.Fatalf("next_after %q after %q", page.NextAfter, page.Villages[len(page.Villages)-1].Code)
		}
		after = page.NextAfter
	}
	if len(paged) != len(full) {
		t.Fatalf("pages held %d villages, the list %d", len(paged), len(full))
	}
	for i := range full {
		if paged[i].Code != full[i].Code || (i > 0 && full[i-1].Code >= full[i].Code) {
			t.Fatalf("village %d: paged %s, listed %s (in code order)", i, paged[i].Code, full[i].Code)
		}
	}
	// Compressed when asked, the same document.
	req, _ := http.NewRequest("GET", e.url+"/api/v1/villages", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := io.ReadAll(zr)
	resp.Body.Close()
	if err != nil || !bytes.Equal(zb, b) {
		t.Fatalf("the gzip answer differs from the plain one (%v)", err)
	}
	code, b = e.do("GET", "/api/v1/villages?status=degraded", adminToken, nil, "")
	json.Unmarshal(b, &list)
	if code != 200 || list.Count != 1 || list.Villages[0].Code != villageA {
		t.Fatalf("status filter: %d %s", code, b)
	}
	code, b = e.do("GET", "/api/v1/villages?regency=33.06&status=unknown", adminToken, nil, "")
	json.Unmarshal(b, &list)
	for _, v := range list.Villages {
		if !strings.HasPrefix(v.Code, "33.06.") || v.Status != jagadesa.StatusUnknown {
			t.Fatalf("regency filter leaked %s (%s)", v.Code, v.Status)
		}
	}
	if code != 200 || list.Count == 0 {
		t.Fatalf("regency filter: %d, %d villages", code, list.Count)
	}
	for path, want := range map[string]int{
		"/api/v1/villages?status=sideways": 400,
		"/api/v1/villages?scope=galaxy":    400,
		"/api/v1/villages?limit=0":         400,
		"/api/v1/villages?limit=100001":    400,
		"/api/v1/villages?after=33.06%27":  400,
		"/api/v1/villages/33.99.99.2999":   404,
		"/api/v1/villages/not-a-code":      400,
		"/api/v1/nothing-here":             404,
	} {
		if code, b := e.do("GET", path, adminToken, nil, ""); code != want {
			t.Errorf("GET %s: %d, want %d (%s)", path, code, want, b)
		}
	}
	if code, _ := e.do("GET", "/api/v1/villages", "", nil, ""); code != 401 {
		t.Errorf("villages without a token: %d, want 401", code)
	}
	if code, _ := e.do("GET", "/api/v1/villages", e.tokA, nil, ""); code != 403 {
		t.Errorf("villages with a probe token: %d, want 403", code)
	}
}

func TestMetrics(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	const metricsToken = "prometheus-scrape-token-0123"
	e := newEnv(t, reg, func(d *server.Deps) { d.MetricsToken = metricsToken })
	e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 2)))
	e.do("POST", "/api/v1/reports", e.tokA, nil, `{`)
	// Not for anyone: how many villages are compromised, and where.
	for _, tok := range []string{"", e.tokA, "wrong-token"} {
		if code, b := e.do("GET", "/metrics", tok, nil, ""); code != 401 || bytes.Contains(b, []byte("jagadesa_")) {
			t.Fatalf("/metrics with token %q: %d %.100s", tok, code, b)
		}
	}
	if code, _ := e.do("GET", "/metrics", adminToken, nil, ""); code != 200 {
		t.Fatalf("/metrics with the admin token: %d", code)
	}
	code, b := e.do("GET", "/metrics", metricsToken, nil, "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`jagadesa_reports_total{result="ok"} 1`,
		`jagadesa_reports_total{result="invalid"} 1`,
		`jagadesa_points_written_total 4`,
		`jagadesa_villages{status="up"} 1`, // one lossy minute is not yet degraded
		`jagadesa_http_request_duration_seconds_count{code="200",method="POST",route="/api/v1/reports"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
