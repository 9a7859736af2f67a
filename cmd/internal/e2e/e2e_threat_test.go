package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// The whole security path with the threat feed: the server serves the
// operator's example feed; the real probe, reading a fixture root, fetches
// it, signs every batch with the key it made on first start, and sees a
// LAN host connect to a listed command-and-control address in conntrack;
// the server raises a security incident routed to the regency's CSIRT,
// exports it as STIX, and every batch it stored verifies with
// `jagadesa verify` against the key the probe registered.
func TestThreatFeedHitEndToEnd(t *testing.T) {
	requireRoot(t, "the probe pings over a raw socket")
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	root := t.TempDir()
	conntrack := filepath.Join(root, "proc/net/nf_conntrack")
	os.MkdirAll(filepath.Dir(conntrack), 0o755)
	benign := "ipv4     2 tcp      6 431999 ESTABLISHED src=192.168.1.23 dst=192.0.2.10 sport=51234 dport=443 src=192.0.2.10 dst=100.64.1.2 sport=443 dport=51234 [ASSURED] mark=0 zone=0 use=2\n"
	os.WriteFile(conntrack, []byte(benign), 0o644)
	feed, err := filepath.Abs("../../../server/threatfeed/example-feed.txt")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	base := "http://" + addr
	dataDir := t.TempDir()
	var srvLog syncBuffer
	runServe(t, ctx, []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket,
		"--data-dir", dataDir, "--incident-startup-grace", "1s", "--webhook-url", hook.URL, "--threat-feed", feed,
		"--probe-key-tofu"}, incidentEnv, &srvLog)
	village := geo.KrandeganCode
	probeID, token := enrollKeyless(t, base, village) // no key: the probe registers its own (--probe-key-tofu)
	args := append(probeArgs(base, village, t.TempDir(), "127.0.0.1"), "--root", root)
	p := startProbe(ctx, args, token) // stopped below, or by cancel on failure
	startedAt := time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.log.String(), "threat feed updated") || !strings.Contains(p.log.String(), "probe key registered") {
		if time.Now().After(deadline) {
			t.Fatalf("probe never fetched the feed and registered its key:\n%s", p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An infected PC at the village office calls its command-and-control
	// server (198.51.100.23 is in the example feed).
	hit := "ipv4     2 tcp      6 431999 ESTABLISHED src=192.168.1.77 dst=198.51.100.23 sport=40000 dport=443 src=198.51.100.23 dst=100.64.1.2 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
	os.WriteFile(conntrack, []byte(benign+hit), 0o644)
	got := rec.wait(t, "the threat-feed incident", 20*time.Second, func(g []received) bool {
		for _, x := range g {
			if x.n.Incident.Kind == jagadesa.IncidentSecurity && threatSignal(x.n.Incident) != nil {
				return true
			}
		}
		return false
	})
	var sec jagadesa.Incident
	for _, x := range got {
		if threatSignal(x.n.Incident) != nil {
			sec = x.n.Incident
		}
	}
	sig := threatSignal(sec)
	if sec.CSIRT != "CSIRT Kabupaten Purworejo" || sec.Severity != jagadesa.SeverityCritical || sig.Attrs["probe.indicator"] != "198.51.100.23" || sig.Attrs["probe.host"] != "192.168.1.77" || sig.Source != "198.51.100.23" {
		t.Fatalf("threat incident %+v", sec)
	}

	// The STIX export carries it: the indicator and its sighting at the
	// village.
	code, b := call(t, "GET", base+"/api/v1/reports/security.stix", admin, "")
	var bundle struct {
		Type    string `json:"type"`
		Objects []map[string]any
	}
	if code != 200 || json.Unmarshal(b, &bundle) != nil || bundle.Type != "bundle" {
		t.Fatalf("STIX export: %d %.300s", code, b)
	}
	// 198.51.100.23 is a documentation address, not globally routable:
	// the incident and the village are shared, the address is not.
	var pattern, incident, location bool
	for _, o := range bundle.Objects {
		switch o["type"] {
		case "indicator":
			pattern = pattern || strings.Contains(o["pattern"].(string), "198.51.100.23")
		case "incident":
			incident = true
		case "location":
			location = location || strings.Contains(o["name"].(string), "Krandegan")
		}
	}
	if pattern || !incident || !location {
		t.Fatalf("STIX bundle: indicator for a non-routable address %v, incident %v, Krandegan's location %v: %.600s", pattern, incident, location, b)
	}

	// Every batch the server stored is the probe's, signed.
	time.Sleep(time.Until(startedAt.Add(5 * time.Second))) // a few rounds
	p.stop(t)
	var out, errb bytes.Buffer
	if err := jagadesacmd.Run(context.Background(), []string{"verify", "--data-dir", dataDir}, adminEnv, nil, &out, &errb); err != nil {
		t.Fatalf("verify: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), " 0 failed") || strings.HasPrefix(out.String(), "0 batches") {
		t.Fatalf("verify: %s", out.String())
	}
	code, b = call(t, "GET", base+"/api/v1/probes/"+probeID+"/key", admin, "")
	if code != 200 || !strings.Contains(string(b), `"registered_by":"probe"`) {
		t.Fatalf("probe key: %d %s", code, b)
	}
	files, _ := filepath.Glob(filepath.Join(dataDir, "evidence", "*", "*.jsonl.gz"))
	var size int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			size += fi.Size()
		}
	}
	t.Logf("%s; %d bytes of evidence on disk", strings.TrimSpace(out.String()), size)
}

// threatSignal is the incident's threat-feed signal, if it has one.
func threatSignal(in jagadesa.Incident) *jagadesa.Signal {
	for i := range in.Signals {
		if in.Signals[i].Kind == "threat_ip" {
			return &in.Signals[i]
		}
	}
	return nil
}
