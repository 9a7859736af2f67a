// Package e2e runs the real programs — the server's and the probe's Run, as
// their main functions call them — against a real InfluxDB, on loopback.
package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/internal/syncbuf"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

const admin = "e2e-admin-token-0123456789"

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is the shared concurrent-safe test log sink.
type syncBuffer = syncbuf.Buffer

// signers are the keys of probes a test posts for itself (enrollSigned);
// call signs their reports as a probe would.
var signers sync.Map // token → ed25519.PrivateKey

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if k, ok := signers.Load(token); ok && method == "POST" && strings.HasSuffix(url, "/api/v1/reports") {
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k.(ed25519.PrivateKey), []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func adminEnv(k string) string {
	if k == "JAGADESA_ADMIN_TOKEN" {
		return admin
	}
	return ""
}

// startServer runs `jagadesa serve` until ctx ends and waits until it is
// healthy. The returned channel yields serve's result.
func startServer(t *testing.T, ctx context.Context, influxURL, bucket string, log *syncBuffer) (string, chan error) {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	done := make(chan error, 1)
	go func() {
		done <- jagadesacmd.Run(ctx, []string{"serve", "--listen", addr, "--influx-url", influxURL,
			"--influx-bucket", bucket, "--data-dir", t.TempDir(), "--grace", "1s", "--metrics-listen", "127.0.0.1:0"}, adminEnv, nil, log, log)
	}()
	for i := 0; ; i++ {
		if code, _ := call(t, "GET", base+"/healthz", "", ""); code == 200 {
			return base, done
		}
		if i > 100 {
			t.Fatalf("server not healthy:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type villageView struct {
	Status   jagadesa.Status `json:"status"`
	LastSeen *time.Time      `json:"last_seen"`
	RTTMs    *float64        `json:"rtt_ms"`
	LossPct  *float64        `json:"loss_pct"`
	Reason   string          `json:"reason"`
}

func waitStatus(t *testing.T, url string, want jagadesa.Status, within time.Duration, logs ...*syncBuffer) villageView {
	t.Helper()
	deadline := time.Now().Add(within)
	var v villageView
	for time.Now().Before(deadline) {
		code, b := call(t, "GET", url, admin, "")
		if code == 200 {
			v = villageView{}
			json.Unmarshal(b, &v)
			if v.Status == want {
				return v
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range logs {
		t.Log(l.String())
	}
	t.Fatalf("village did not turn %s within %s; last view %+v", want, within, v)
	return v
}

// TestProbeToServerOnLoopback: the server's and the probe's real programs,
// a real ping to 127.0.0.1, and the village turning up through the API —
// then down once the probe stops, within its interval plus the grace.
func TestProbeToServerOnLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the probe pings 127.0.0.1 over a raw socket: run as root (CI does)")
	}
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	village := geo.KrandeganCode
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog syncBuffer
	base, serverDone := startServer(t, ctx, ifx.URL, bucket, &serverLog)

	// Metrics: a token on the public listener, none on --metrics-listen.
	if code, _ := call(t, "GET", base+"/metrics", "", ""); code != 401 {
		t.Fatalf("/metrics without a token on the public listener: %d", code)
	}
	m := regexp.MustCompile(`metrics served without a token" addr=(\S+)`).FindStringSubmatch(serverLog.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", serverLog.String())
	}
	if code, b := call(t, "GET", "http://"+m[1]+"/metrics", "", ""); code != 200 || !bytes.Contains(b, []byte("jagadesa_villages")) {
		t.Fatalf("/metrics on --metrics-listen: %d %.200s", code, b)
	}

	// The documented set-up: the probe makes its key on the router
	// (jagadesa-probe keygen), the key is bound at enrollment.
	spool := t.TempDir()
	var pubOut, keyLog bytes.Buffer
	if err := probecmd.Run(ctx, []string{"keygen", "--spool", spool}, func(string) string { return "" }, &pubOut, &keyLog); err != nil {
		t.Fatalf("keygen: %v %s", err, keyLog.String())
	}
	code, b := call(t, "POST", base+"/api/v1/probes", admin, fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, strings.TrimSpace(pubOut.String())))
	if code != 201 {
		t.Fatalf("enroll: %d %s", code, b)
	}
	var enr struct{ Probe, Token string }
	json.Unmarshal(b, &enr)

	villageURL := base + "/api/v1/villages/" + village
	if v := waitStatus(t, villageURL, jagadesa.StatusUnknown, time.Second); v.LastSeen != nil {
		t.Fatal("a village nobody reported for has a last_seen")
	}

	pctx, pcancel := context.WithCancel(ctx)
	var probeLog syncBuffer
	probeDone := make(chan error, 1)
	go func() {
		probeDone <- probecmd.Run(pctx, []string{"--server", base, "--token", enr.Token, "--village", village,
			"--spool", spool, "--interval", "2s", "--target", "127.0.0.1", "--count", "3", "--ping-interval", "100ms",
			// Every check stays on this machine: no default internet targets.
			"--dns-name", "localhost", "--dns-reference=", "--http-url", base + "/healthz", "--speedtest-budget", "0"},
			func(string) string { return "" }, &probeLog, &probeLog)
	}()

	v := waitStatus(t, villageURL, jagadesa.StatusUp, 15*time.Second, &probeLog, &serverLog)
	if v.LastSeen == nil || time.Since(*v.LastSeen) > 5*time.Second {
		t.Fatalf("last_seen %v is not recent", v.LastSeen)
	}
	if !strings.Contains(probeLog.String(), "INSECURE: the server URL is plain http") {
		t.Fatalf("the probe did not warn about a plain-http server:\n%s", probeLog.String())
	}
	if v.LossPct == nil || *v.LossPct != 0 || v.RTTMs == nil || *v.RTTMs <= 0 || *v.RTTMs > 20 {
		t.Fatalf("loopback figures rtt=%v loss=%v", v.RTTMs, v.LossPct)
	}
	// This machine hands out no addresses: the probe says it runs as an
	// appliance and cannot read usage, in its heartbeat, and says it once.
	_, vb := call(t, "GET", villageURL, admin, "")
	var site struct {
		Site struct {
			Mode   string   `json:"mode"`
			Cannot []string `json:"cannot"`
		} `json:"site"`
	}
	json.Unmarshal(vb, &site)
	if site.Site.Mode != jagadesa.ModeAppliance || !slices.Contains(site.Site.Cannot, "usage") {
		t.Errorf("site as the server sees it: %s", vb)
	}
	if n := strings.Count(probeLog.String(), "usage cannot be read here"); n != 1 {
		t.Errorf("the usage warning appeared %d times, want once:\n%s", n, probeLog.String())
	}

	pcancel()
	select {
	case err := <-probeDone:
		if err != nil {
			t.Fatalf("probe did not stop cleanly: %v\n%s", err, probeLog.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("probe did not stop within 10 s of its context ending")
	}
	if _, err := os.Stat(spool + "/running"); !os.IsNotExist(err) {
		t.Fatalf("a clean stop must remove the running marker: %v", err)
	}
	// Silence past interval (2 s) + grace (1 s): down.
	waitStatus(t, villageURL, jagadesa.StatusDown, 6*time.Second)

	// The pings are in InfluxDB, tagged as the schema says.
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "icmp" and r._field == "received")
  |> group() |> count()`, influx.FluxString(bucket)))
	if err != nil || len(recs) != 1 || recs[0]["_value"].(int64) < 1 {
		t.Fatalf("icmp points in InfluxDB: %v %v", recs, err)
	}
	recs, err = store.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "event" and r._field == "message" and r.kind == "probe_start") |> last()`, influx.FluxString(bucket)))
	if err != nil || len(recs) != 1 || recs[0]["kind"] != "probe_start" || recs[0]["probe"] != enr.Probe || recs[0]["regency"] != "33.06" {
		t.Fatalf("probe_start event: %v %v", recs, err)
	}

	cancel()
	select {
	case err := <-serverDone:
		if err != nil {
			t.Fatalf("server did not shut down cleanly: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not shut down within 15 s")
	}
}

// TestSimulatedFleet runs `jagadesa serve` and `jagadesa sim` as the demo
// does, smaller and faster: every simulated village must report through the
// real probe sender, and the regional power cut must take its kecamatan down.
func TestSimulatedFleet(t *testing.T) {
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog, simLog syncBuffer
	base, serverDone := startServer(t, ctx, ifx.URL, bucket, &serverLog)
	const villages = 60
	simDone := make(chan error, 1)
	go func() {
		simDone <- jagadesacmd.Run(ctx, []string{"sim", "--server", base, "--villages", fmt.Sprint(villages), "--interval", "2s",
			"--dir", t.TempDir(), "--regional-cut-after", "6s", "--regional-cut-for", "30s"}, adminEnv, nil, &simLog, &simLog)
	}()

	type listing struct {
		Villages []struct {
			Code         string          `json:"code"`
			DistrictCode string          `json:"district_code"`
			Status       jagadesa.Status `json:"status"`
			LastSeen     *time.Time      `json:"last_seen"`
		} `json:"villages"`
	}
	list := func() listing {
		code, b := call(t, "GET", base+"/api/v1/villages", admin, "")
		if code != 200 {
			t.Fatalf("villages: %d %s", code, b)
		}
		var l listing
		json.Unmarshal(b, &l)
		return l
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		reporting := 0
		for _, v := range list().Villages {
			if v.LastSeen != nil {
				reporting++
			}
		}
		// A village whose simulated link is cut at its first round may not
		// have reported yet; every other one must have.
		if reporting >= villages-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d simulated villages reporting after 15 s\n%s", reporting, villages, simLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	district := ""
	if out := simLog.String(); strings.Contains(out, "kecamatan ") {
		district = strings.Fields(out[strings.Index(out, "kecamatan ")+len("kecamatan "):])[0]
	}
	if district == "" {
		t.Fatalf("sim did not name its power-cut kecamatan:\n%s", simLog.String())
	}
	// 6 s in the power goes out; 2 s interval + 1 s grace later it shows.
	deadline = time.Now().Add(15 * time.Second)
	for {
		down, inDistrict := 0, 0
		for _, v := range list().Villages {
			if v.DistrictCode == district && v.LastSeen != nil {
				inDistrict++
				if v.Status == jagadesa.StatusDown {
					down++
				}
			}
		}
		if inDistrict > 0 && down == inDistrict {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("regional power cut in %s: %d of %d villages down", district, down, inDistrict)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	for _, c := range []chan error{simDone, serverDone} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatalf("exit: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("sim or server did not stop")
		}
	}
}
