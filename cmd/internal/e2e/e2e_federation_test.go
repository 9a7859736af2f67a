package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/federation"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/sla"
)

// TestFederationTwoProvincesToNational: two provincial servers, Jawa
// Tengah (33) and Jambi (15), each the real `jagadesa serve` with its own
// InfluxDB database, forward to a national `jagadesa serve` over HTTPS
// (a private CA made here). A village of each province goes up, then
// silent (an incident opens); the national server shows both provinces'
// villages and incidents. The national server is then stopped while both
// villages come back and the incidents resolve, and started again on the
// same data: the backlogs drain and the national view ends where the
// provinces are, with no item missing, none refused, none counted twice.
func TestFederationTwoProvincesToNational(t *testing.T) {
	ifx := influxtest.Get(t)
	jambi, err := geo.Jambi()
	if err != nil {
		t.Fatal(err)
	}
	v33, v15 := geo.KrandeganCode, jambi.Villages()[0].Code
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCA(t, dir)

	// The provinces' keys, made as `jagadesa serve --federation-key` makes
	// them, and the national server's list of them.
	var peers strings.Builder
	keys := map[string]string{}
	for _, p := range []string{"33", "15"} {
		keys[p] = filepath.Join(dir, "province-"+p+".key")
		k, err := federation.LoadOrCreateKey(keys[p])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&peers, "%s %s\n", p, jagadesa.FormatPublicKey(k.Public().(ed25519.PublicKey)))
	}
	peersFile := filepath.Join(dir, "peers.txt")
	if err := os.WriteFile(peersFile, []byte(peers.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	pemCA, _ := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	natAddr, natData, natBucket := freeAddr(t), t.TempDir(), ifx.NewDatabase(t)
	natBase := "https://" + natAddr
	get := func(path string, out any) int {
		req, _ := http.NewRequest("GET", natBase+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := tlsClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			_ = json.Unmarshal(b, out)
		}
		return resp.StatusCode
	}
	startNational := func(ctx context.Context, log *syncBuffer) chan error {
		done := make(chan error, 1)
		go func() {
			done <- jagadesacmd.Run(ctx, []string{"serve", "--listen", natAddr, "--influx-url", ifx.URL, "--influx-bucket", natBucket,
				"--data-dir", natData, "--tls-cert", certFile, "--tls-key", keyFile, "--federation-peers", peersFile,
				"--provinces", "jateng,jambi"}, adminEnv, nil, log, log)
		}()
		for i := 0; get("/healthz", nil) != 200; i++ {
			if i > 100 {
				t.Fatalf("national server not healthy:\n%s", log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return done
	}
	var natLog1 syncBuffer
	natCtx, stopNat := context.WithCancel(context.Background())
	natDone := startNational(natCtx, &natLog1)

	// The two provinces, each with a one-village programme list.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bases := map[string]string{}
	logs := map[string]*syncBuffer{}
	provArgs := map[string][]string{}
	for p, c := range map[string]struct{ provinces, village string }{"33": {"jateng", v33}, "15": {"jambi", v15}} {
		prog := filepath.Join(dir, "programme-"+p+".csv")
		os.WriteFile(prog, []byte("code,year,isp,contract_mbps,remote_3t,extreme_poor,desa_digital\n"+c.village+",2024,Telkom Indonesia,50,false,false,false\n"), 0o600)
		addr := freeAddr(t)
		bases[p] = "http://" + addr
		logs[p] = &syncBuffer{}
		provArgs[p] = []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", ifx.NewDatabase(t),
			"--data-dir", t.TempDir(), "--provinces", c.provinces, "--programme", prog, "--grace", "1s", "--incident-startup-grace", "1s",
			"--figures-every", "3s", "--federate-to", natBase, "--federation-ca", caFile, "--federation-key", keys[p]}
	}
	jambiCtx, stopJambi := context.WithCancel(ctx)
	jambiDone := runServe(t, jambiCtx, provArgs["15"], adminEnv, logs["15"])
	jatengDone := runServe(t, ctx, provArgs["33"], adminEnv, logs["33"])
	// Registered after the data directories: the servers have stopped
	// writing into them before they are removed.
	t.Cleanup(func() { cancel(); <-jatengDone })
	villages := map[string]string{"33": v33, "15": v15}
	tokens := map[string]string{}
	for p, v := range villages {
		_, tokens[p] = enrollSigned(t, bases[p], v)
	}
	seq := uint64(1)
	report := func() {
		now := time.Now()
		for p, v := range villages {
			if code, b := call(t, "POST", bases[p]+"/api/v1/reports", tokens[p], alive(v, seq, now)); code != 200 {
				t.Fatalf("report %s: %d %s", v, code, b)
			}
		}
		seq += 2
	}
	type villagesView struct {
		Villages []federation.NationalVillage `json:"villages"`
	}
	type incidentsView struct {
		Incidents []federation.NationalIncident `json:"incidents"`
	}
	type provincesView struct {
		Provinces []federation.ProvinceState `json:"provinces"`
	}
	nationalStatus := func() map[string]jagadesa.Status {
		var vv villagesView
		get("/api/v1/national/villages", &vv)
		out := map[string]jagadesa.Status{}
		for _, v := range vv.Villages {
			out[v.Village] = v.Status
		}
		return out
	}
	waitFor := func(what string, within time.Duration, tick func(), ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > within {
				var pv provincesView
				get("/api/v1/national/provinces", &pv)
				t.Fatalf("%s: not within %v; provinces %+v\nnational log:\n%s\nJawa Tengah log:\n%s", what, within, pv.Provinces, natLog1.String(), logs["33"].String())
			}
			if tick != nil {
				tick()
			}
			time.Sleep(500 * time.Millisecond)
		}
		return time.Since(start)
	}

	// 1. Both villages report: up on the national map.
	d := waitFor("both villages up on the national view", 30*time.Second, report, func() bool {
		st := nationalStatus()
		return st[v33] == jagadesa.StatusUp && st[v15] == jagadesa.StatusUp
	})
	t.Logf("both villages up on the national view %v after the first reports", d.Round(time.Millisecond))

	// 2. Both fall silent: down, and an incident from each province.
	d = waitFor("an incident from each province", 30*time.Second, nil, func() bool {
		var iv incidentsView
		get("/api/v1/national/incidents?status=open", &iv)
		seen := map[string]bool{}
		for _, in := range iv.Incidents {
			if in.Kind == jagadesa.IncidentDown && (in.Village == v33 || in.Village == v15) {
				seen[in.Province] = true
			}
		}
		st := nationalStatus()
		return seen["33"] && seen["15"] && st[v33] == jagadesa.StatusDown && st[v15] == jagadesa.StatusDown
	})
	t.Logf("both silent villages down with an open incident on the national view %v after their last report", d.Round(time.Millisecond))
	var iv incidentsView
	get("/api/v1/national/incidents?province=15", &iv)
	for _, in := range iv.Incidents {
		if in.Province != "15" || !strings.HasPrefix(in.Village, "15.") || in.Evidence != nil {
			t.Fatalf("Jambi's incidents: %+v (no evidence is shared by default)", in)
		}
	}
	month := time.Now().In(sla.WIB).Format("2006-01")
	waitFor("monthly figures from both provinces", 30*time.Second, nil, func() bool {
		var mv struct {
			Provinces map[string]federation.MonthSummary `json:"provinces"`
		}
		get("/api/v1/national/months?kind=sla_month&month="+month, &mv)
		return mv.Provinces["33"].Villages == 1 && mv.Provinces["15"].Villages == 1
	})

	// 3. The national server goes away; meanwhile both villages come back
	// and their incidents resolve.
	stopNat()
	waitDone(t, "national server", natDone, 15*time.Second, &natLog1)
	cut := time.Now()
	for time.Since(cut) < 8*time.Second {
		report()
		time.Sleep(time.Second)
	}
	// Jambi's server restarts meanwhile: its unsent items wait on disk.
	stopJambi()
	waitDone(t, "Jambi's server", jambiDone, 15*time.Second, logs["15"])
	if !strings.Contains(logs["15"].String(), "federation: batch not delivered") {
		t.Fatalf("Jambi did not notice the national server was gone:\n%s", logs["15"].String())
	}
	logs["15"] = &syncBuffer{}
	jambiDone = runServe(t, ctx, provArgs["15"], adminEnv, logs["15"])
	t.Cleanup(func() { cancel(); <-jambiDone })
	if m := regexp.MustCompile(`federation: forwarding to the national server.* backlog=(\d+)`).FindStringSubmatch(logs["15"].String()); m == nil || m[1] == "0" {
		t.Fatalf("Jambi's server restarted without its backlog:\n%s", logs["15"].String())
	} else {
		t.Logf("Jambi's server restarted with %s items waiting", m[1])
	}
	for i := 0; i < 3; i++ {
		report()
		time.Sleep(time.Second)
	}
	for _, p := range []string{"33", "15"} {
		code, b := call(t, "GET", bases[p]+"/api/v1/incidents?status=open", admin, "")
		if code != 200 || strings.Contains(string(b), villages[p]) {
			t.Fatalf("province %s still has an open incident for its village: %d %s", p, code, b)
		}
	}

	// 4. The national server is back on the same data: the backlogs drain.
	var natLog2 syncBuffer
	natCtx2, stopNat2 := context.WithCancel(context.Background())
	defer func() { stopNat2(); <-natDone }()
	natDone = startNational(natCtx2, &natLog2)
	back := time.Now()
	d = waitFor("the national view caught up", 60*time.Second, report, func() bool {
		st := nationalStatus()
		var iv incidentsView
		get("/api/v1/national/incidents?status=resolved", &iv)
		resolved := map[string]bool{}
		for _, in := range iv.Incidents {
			resolved[in.Province] = resolved[in.Province] || in.Village == villages[in.Province]
		}
		return st[v33] == jagadesa.StatusUp && st[v15] == jagadesa.StatusUp && resolved["33"] && resolved["15"]
	})
	t.Logf("national view caught up %v after the national server came back (down %v)", d.Round(time.Millisecond), back.Sub(cut).Round(time.Second))
	var pv provincesView
	waitFor("both provinces drained", 30*time.Second, nil, func() bool {
		get("/api/v1/national/provinces", &pv)
		return len(pv.Provinces) == 2 && pv.Provinces[0].Backlog == 0 && pv.Provinces[1].Backlog == 0
	})
	for _, p := range pv.Provinces {
		// Every number from 1 to the last was stored: nothing lost on the way.
		if !p.Heard || p.Offline || p.Missing != 0 || p.Rejected != 0 || p.Dropped != 0 || p.Items == 0 || uint64(p.Items) != p.LastSeq {
			t.Errorf("province %s after the outage: %+v", p.Province, p)
		}
		t.Logf("province %s: %d items, %d duplicates, last number %d, lag of its last batch %.1f s", p.Province, p.Items, p.Duplicate, p.LastSeq, p.LagS)
	}

	// Each province's /metrics says its spool is empty and when the
	// national server last acked.
	for _, p := range []string{"33", "15"} {
		code, b := call(t, "GET", bases[p]+"/metrics", admin, "")
		if code != 200 || !strings.Contains(string(b), "jagadesa_federation_backlog_items 0") || strings.Contains(string(b), "jagadesa_federation_last_ok_timestamp_seconds 0\n") {
			t.Fatalf("province %s metrics: %d\n%s", p, code, regexp.MustCompile(`(?m)^jagadesa_federation.*$`).FindAllString(string(b), -1))
		}
	}

	// The national view is for signed-in staff only, and read-only.
	if code := func() int {
		resp, err := tlsClient.Get(natBase + "/api/v1/national/villages")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}(); code != http.StatusUnauthorized {
		t.Fatalf("national view without credentials: %d, want 401", code)
	}
	// A province that is not registered is refused.
	req, _ := http.NewRequest("POST", natBase+federation.Path, strings.NewReader(`{}`))
	req.Header.Set(federation.ProvinceHeader, "11")
	req.Header.Set(jagadesa.SignatureHeader, "AAAA")
	if resp, err := tlsClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a batch from an unregistered province: %v %v", resp, err)
	}
}
