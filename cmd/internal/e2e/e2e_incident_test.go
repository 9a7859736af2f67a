package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/notify"
)

const webhookSecret = "e2e-webhook-secret-0123456789"

// received is one signed notification the test's webhook receiver took in.
type received struct {
	at time.Time
	n  jagadesa.Notification
}

type receiver struct {
	mu  sync.Mutex
	got []received
	bad []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := notify.VerifyWebhook(webhookSecret, req.Header, body, now, time.Minute); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var n jagadesa.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got = append(r.got, received{now, n})
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) wait(t *testing.T, what string, within time.Duration, ok func([]received) bool) []received {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := r.all(); ok(got) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := r.all()
	var lines []string
	for _, g := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s %v", g.n.Event, g.n.Incident.Kind, g.n.Incident.CSIRT, g.n.Incident.Villages))
	}
	t.Fatalf("webhook: no %s within %s; got:\n%s\nrejected: %v", what, within, strings.Join(lines, "\n"), r.bad)
	return nil
}

func incidentEnv(k string) string {
	switch k {
	case "JAGADESA_ADMIN_TOKEN":
		return admin
	case "JAGADESA_WEBHOOK_SECRET":
		return webhookSecret
	}
	return ""
}

// alive is a report saying the village is fine, with a 2-second interval.
func alive(village string, seq uint64, at time.Time) string {
	r := jagadesa.Report{Version: jagadesa.WireVersion, Village: village, Samples: []jagadesa.Sample{
		{Seq: seq, TimeMs: at.UnixMilli(), Kind: jagadesa.KindICMP, Target: "gw",
			ICMP: &jagadesa.ICMP{Sent: 4, Received: 4, MinMs: 10, AvgMs: 11, MaxMs: 12, RTTsMs: []float64{10, 11, 11, 12}}},
		{Seq: seq + 1, TimeMs: at.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: "b", UptimeS: 100, IntervalS: 2}},
	}}
	b, _ := json.Marshal(r)
	return string(b)
}

// TestIncidentsEndToEnd: the real server with a webhook receiver that
// checks signatures. A lone silent village is one incident sent within 2 s
// of its deadline; six villages of one kecamatan cut at once are one
// regional incident and one notification, routed to the regency's CSIRT;
// incidents survive a restart and are acknowledged and resolved after it.
func TestIncidentsEndToEnd(t *testing.T) {
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	var kudus []string // six villages of Kec. 33.19.03, Kabupaten Kudus (a regency CSIRT in the demo directory)
	for _, v := range reg.Villages() {
		if v.DistrictCode == "33.19.03" && len(kudus) < 6 {
			kudus = append(kudus, v.Code)
		}
	}
	lone := geo.KemuningCode // Karanganyar: no regency CSIRT, so the province's

	addr, dataDir := freeAddr(t), t.TempDir()
	base := "http://" + addr
	args := []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket, "--data-dir", dataDir,
		"--grace", "1s", "--incident-startup-grace", "1s", "--webhook-url", hook.URL, "--dashboard-url", "https://jagadesa.example.go.id"}
	start := func(ctx context.Context, log *syncBuffer) chan error { return runServe(t, ctx, args, incidentEnv, log) }
	var log1 syncBuffer
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := start(ctx1, &log1)

	tokens := map[string]string{}
	for _, c := range append([]string{lone}, kudus...) {
		_, tokens[c] = enrollSigned(t, base, c)
	}
	seq := uint64(1)
	send := func(codes ...string) time.Time {
		now := time.Now()
		for _, c := range codes {
			if code, b := call(t, "POST", base+"/api/v1/reports", tokens[c], alive(c, seq, now)); code != 200 {
				t.Fatalf("report %s: %d %s", c, code, b)
			}
		}
		seq += 2
		return now
	}

	// 1. A lone village goes silent. Its deadline is its last report plus
	// its 2 s interval plus the 1 s grace.
	var last time.Time
	for i := 0; i < 3; i++ {
		last = send(append([]string{lone}, kudus...)...)
		time.Sleep(time.Second)
	}
	for i := 0; i < 3; i++ { // Kudus keeps reporting
		send(kudus...)
		time.Sleep(time.Second)
	}
	got := rec.wait(t, "the lone village's incident", 15*time.Second, func(g []received) bool { return len(g) >= 1 })
	first := got[0]
	deadline := last.Add(3 * time.Second)
	delay := first.at.Sub(deadline)
	t.Logf("lone village: notification %v after its deadline (interval + grace)", delay.Round(time.Millisecond))
	if first.n.Event != "opened" || first.n.Incident.Kind != jagadesa.IncidentDown || first.n.Incident.CSIRT != "JatengProv-CSIRT" ||
		first.n.Villages[0].Name != "Kemuning" || !strings.HasPrefix(first.n.URL, "https://jagadesa.example.go.id/") {
		t.Fatalf("first notification %+v", first.n)
	}
	if delay < 0 || delay > 2*time.Second {
		t.Fatalf("notification %v after the deadline, want within 2 s", delay)
	}

	// 2. The six Kudus villages lose power at once.
	send(kudus...)
	got = rec.wait(t, "the regional incident", 15*time.Second, func(g []received) bool {
		for _, x := range g {
			if x.n.Incident.Kind == jagadesa.IncidentRegional {
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second) // anything else would arrive now
	got = rec.all()
	var regional []received
	for _, x := range got[1:] {
		if x.n.Incident.Kind != jagadesa.IncidentRegional || x.n.Event != "opened" {
			t.Fatalf("besides the regional notification: %s %s %v", x.n.Event, x.n.Incident.Kind, x.n.Incident.Villages)
		}
		regional = append(regional, x)
	}
	if len(regional) != 1 || regional[0].n.Incident.CSIRT != "CSIRT Kabupaten Kudus" {
		t.Fatalf("%d regional notifications: %+v", len(regional), regional)
	}
	regionalID := regional[0].n.Incident.ID
	code, b := call(t, "GET", base+"/api/v1/incidents?status=open&kind=regional_outage", admin, "")
	var list struct {
		Incidents []jagadesa.Incident `json:"incidents"`
	}
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Incidents) != 1 || len(list.Incidents[0].Villages) != 6 {
		t.Fatalf("open regional incidents: %d %s", code, b)
	}

	// 3. Restart: the incidents are still there and can be handled.
	stop1()
	waitDone(t, "server", done1, 15*time.Second, &log1)
	var log2 syncBuffer
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	done2 := start(ctx2, &log2)
	defer func() { stop2(); waitDone(t, "server", done2, 15*time.Second, &log2) }()
	code, b = call(t, "GET", base+"/api/v1/incidents/"+regionalID, admin, "")
	var one struct {
		Incident jagadesa.Incident `json:"incident"`
		Audit    []struct{ Action string }
	}
	if code != 200 || json.Unmarshal(b, &one) != nil || one.Incident.State != jagadesa.StateOpen || len(one.Audit) == 0 {
		t.Fatalf("after restart: %d %s", code, b)
	}
	code, b = call(t, "POST", base+"/api/v1/incidents/"+regionalID+"/ack", admin, "")
	if code != 200 || !strings.Contains(string(b), `"status":"acknowledged"`) {
		t.Fatalf("ack: %d %s", code, b)
	}
	if code, b = call(t, "POST", base+"/api/v1/incidents/"+regionalID+"/ack", admin, ""); code != 409 {
		t.Fatalf("second ack: %d %s", code, b)
	}
	if code, b = call(t, "POST", base+"/api/v1/incidents/"+regionalID+"/notes", admin, `{"text":"PLN dihubungi: gardu Jati padam"}`); code != 201 {
		t.Fatalf("note: %d %s", code, b)
	}
	rec.wait(t, "the acknowledgement", 10*time.Second, func(g []received) bool {
		return g[len(g)-1].n.Event == "acknowledged" && g[len(g)-1].n.Incident.ID == regionalID
	})
	// The power returns: the village reports again and the incident closes.
	for i := 0; i < 2; i++ {
		send(kudus...)
		time.Sleep(1500 * time.Millisecond)
	}
	rec.wait(t, "the resolution", 10*time.Second, func(g []received) bool {
		for _, x := range g {
			if x.n.Event == "resolved" && x.n.Incident.ID == regionalID {
				return true
			}
		}
		return false
	})
	code, b = call(t, "GET", base+"/api/v1/incidents/"+regionalID, admin, "")
	if code != 200 || json.Unmarshal(b, &one) != nil || one.Incident.State != jagadesa.StateResolved {
		t.Fatalf("after recovery: %d %s", code, b)
	}
	var actions []string
	for _, a := range one.Audit {
		actions = append(actions, a.Action)
	}
	sort.Strings(actions)
	for _, want := range []string{"opened", "acknowledged", "note", "resolved"} {
		if i := sort.SearchStrings(actions, want); i == len(actions) || actions[i] != want {
			t.Fatalf("audit %v lacks %s", actions, want)
		}
	}
	// The report counts it, in CSV too.
	code, b = call(t, "GET", base+"/api/v1/reports/incidents?format=csv", admin, "")
	if code != 200 || !strings.Contains(string(b), "CSIRT Kabupaten Kudus,") || !strings.Contains(string(b), "JatengProv-CSIRT,") {
		t.Fatalf("report: %d %s", code, b)
	}
	if len(rec.bad) != 0 {
		t.Fatalf("webhook deliveries rejected: %v", rec.bad)
	}
}

// TestCompromisedVillageEndToEnd: the real probe program watching a fixture
// tree (--root) sees the root password change; the server turns the event
// into a security incident routed to the village's CSIRT, and the village
// shows as compromised on the API and the map until a person resolves it.
func TestCompromisedVillageEndToEnd(t *testing.T) {
	requireRoot(t, "the probe pings over a raw socket")
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/shadow", "root:$1$abc$def:19000:0:99999:7:::\n")
	write("etc/config/network", "config interface 'wan'\n")
	write("proc/net/tcp", "  sl  local_address rem_address   st tx_queue\n   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	base := "http://" + addr
	var srvLog syncBuffer
	runServe(t, ctx, []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket,
		"--data-dir", t.TempDir(), "--incident-startup-grace", "1s", "--webhook-url", hook.URL}, incidentEnv, &srvLog)
	village := geo.KrandeganCode // Purworejo: a regency CSIRT in the demo directory
	spool := t.TempDir()
	_, token := enroll(t, base, village, spool)
	args := append(probeArgs(base, village, spool, "127.0.0.1"), "--root", root)
	p := startProbe(ctx, args, token)
	defer p.stop(t)
	status := func() string {
		_, b := call(t, "GET", base+"/api/v1/villages/"+village, admin, "")
		var v struct{ Status string }
		json.Unmarshal(b, &v)
		return v.Status
	}
	deadline := time.Now().Add(15 * time.Second)
	for status() != "up" {
		if time.Now().After(deadline) {
			t.Fatalf("village never up: %s\n%s", status(), p.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // the baseline round is stored
	write("etc/shadow", "root:$1$xyz$intruder:19000:0:99999:7:::\n")
	got := rec.wait(t, "the security incident", 15*time.Second, func(g []received) bool {
		for _, x := range g {
			if x.n.Incident.Kind == jagadesa.IncidentSecurity {
				return true
			}
		}
		return false
	})
	var sec jagadesa.Notification
	for _, x := range got {
		if x.n.Incident.Kind == jagadesa.IncidentSecurity {
			sec = x.n
		}
	}
	if sec.Incident.CSIRT != "CSIRT Kabupaten Purworejo" || sec.Incident.Severity != jagadesa.SeverityCritical ||
		len(sec.Incident.Signals) == 0 || sec.Incident.Signals[0].Attrs["probe.path"] != "etc/shadow" {
		t.Fatalf("security notification %+v", sec.Incident)
	}
	if s := status(); s != "compromised" {
		t.Fatalf("village status %q, want compromised", s)
	}
	code, b := call(t, "GET", base+"/api/v1/map/villages.geojson?status=compromised", admin, "")
	if code != 200 || !strings.Contains(string(b), village) {
		t.Fatalf("map of compromised villages: %d %.300s", code, b)
	}
	if code, b := call(t, "POST", base+"/api/v1/incidents/"+sec.Incident.ID+"/resolve", admin, `{"comment":"password diganti, kunci diganti"}`); code != 200 {
		t.Fatalf("resolve: %d %s", code, b)
	}
	if s := status(); s != "up" {
		t.Fatalf("after resolution the village is %q", s)
	}
}
