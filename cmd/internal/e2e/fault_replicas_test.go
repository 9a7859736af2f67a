//go:build linux

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/pgtest"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// Two `jagadesa serve` replicas share one PostgreSQL and one InfluxDB.
// Probes reach either; both know every village. The leader alone runs the
// detector: a village falling silent is one incident, notified once. The
// leader is then killed (SIGKILL) while probes keep reporting, failing
// over to the other replica as they would behind the proxy: the other
// takes the lease within 30 s, no report is refused, and when the village
// comes back its incident is resolved — the same incident, opened once,
// resolved once, with no notification sent twice.
func TestReplicasHandOverLeadership(t *testing.T) {
	pg := pgtest.Start(t)
	metaURL := pg.NewDatabase(t)
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	bin := buildJagadesa(t)
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()

	v1, v2, v3 := "33.06.08.2001", "33.06.08.2005", "33.06.08.2007"
	prog := filepath.Join(t.TempDir(), "programme.csv")
	csv := "code,year,isp,contract_mbps,remote_3t,extreme_poor,desa_digital\n"
	for _, v := range []string{v1, v2, v3} {
		csv += v + ",2024,Telkom Indonesia,50,false,false,false\n"
	}
	if err := os.WriteFile(prog, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	evidenceRoot := t.TempDir()
	start := func(name string) (*serveProc, string) {
		addr := freeAddr(t)
		args := []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket,
			"--data-dir", t.TempDir(), "--metadata-url", metaURL, "--programme", prog, "--grace", "1s",
			"--evidence-dir", evidenceRoot, "--evidence-replica", "replica-" + name,
			"--incident-startup-grace", "1s", "--leader-check", "1s", "--webhook-url", hook.URL}
		return startServeProc(t, bin, args, &syncBuffer{}), "http://" + addr
	}
	a, baseA := start("a")
	waitFor(t, "replica a leads", 15*time.Second, func() bool { return strings.Contains(a.log.String(), "leader: running") })
	b, baseB := start("b")
	replicas := []string{baseA, baseB}
	t.Cleanup(func() {
		if t.Failed() { // what each replica said, for the next person to read
			t.Logf("replica a:\n%s\nreplica b:\n%s", a.log.String(), b.log.String())
		}
	})

	// One probe per village, enrolled through either replica.
	tokens := map[string]string{}
	_, tokens[v1] = enrollSigned(t, baseA, v1)
	_, tokens[v2] = enrollSigned(t, baseB, v2)
	_, tokens[v3] = enrollSigned(t, baseA, v3)

	// The fleet: every village reports every 500 ms, v1 to a, v2 to b, v3
	// to each in turn; a probe whose replica does not answer sends to the
	// other one (the proxy's proxy_next_upstream). silent stops v3.
	var silent atomic.Bool
	var refused, failedOver atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		seq := map[string]uint64{v1: 1, v2: 1, v3: 1}
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			for i, v := range []string{v1, v2, v3} {
				if v == v3 && silent.Load() {
					continue
				}
				first := i % 2
				if v == v3 {
					first = n % 2
				}
				body := alive(v, seq[v], time.Now())
				code, msg := call(t, "POST", replicas[first]+"/api/v1/reports", tokens[v], body)
				if code == 0 { // that replica is gone
					failedOver.Add(1)
					code, msg = call(t, "POST", replicas[1-first]+"/api/v1/reports", tokens[v], body)
				}
				if code != 200 {
					refused.Add(1)
					t.Logf("report %s: %d %s", v, code, msg)
				}
				seq[v] += 2
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	// Each replica knows every village, whichever replica it reports to.
	for _, base := range replicas {
		waitFor(t, base+" sees all three villages up", 20*time.Second, func() bool {
			for _, v := range []string{v1, v2, v3} {
				if st := villageStatus(t, base, v); st != jagadesa.StatusUp {
					return false
				}
			}
			return true
		})
	}
	if strings.Contains(b.log.String(), "leader: running") {
		t.Fatalf("both replicas lead:\n%s", b.log.String())
	}

	// v3 falls silent: one incident, one notification, from the leader.
	silent.Store(true)
	var incident string
	waitFor(t, "v3's incident notified", 20*time.Second, func() bool {
		for _, r := range rec.all() {
			if r.n.Event == "opened" && len(r.n.Villages) > 0 && r.n.Villages[0].Code == v3 {
				incident = r.n.Incident.ID
				return true
			}
		}
		return false
	})

	// The leader dies under load; b takes over.
	killed := time.Now()
	if err := a.proc.kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b takes the lease", 30*time.Second, func() bool { return strings.Contains(b.log.String(), "leader: running") })
	took := time.Since(killed)
	t.Logf("replica b took over %v after the leader was killed", took.Round(time.Millisecond))

	// v3 comes back: b resolves the incident a opened.
	time.Sleep(2 * time.Second) // past b's reload, with v3 still silent: no second incident
	silent.Store(false)
	waitFor(t, "v3's incident resolved", 20*time.Second, func() bool {
		for _, r := range rec.all() {
			if r.n.Event == "resolved" && r.n.Incident.ID == incident {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // anything sent twice would have arrived
	events := map[string]int{}
	for _, r := range rec.all() {
		events[r.n.Incident.ID+" "+r.n.Event]++
		if r.n.Incident.ID != incident {
			t.Errorf("a notification for another incident: %+v", r.n)
		}
	}
	if events[incident+" opened"] != 1 || events[incident+" resolved"] != 1 {
		t.Fatalf("notifications per incident and event: %v", events)
	}
	code, body := call(t, "GET", baseB+"/api/v1/incidents?village="+v3, admin, "")
	var list struct {
		Incidents []jagadesa.Incident `json:"incidents"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("incidents: %d %s", code, body)
	}
	n := 0
	for _, in := range list.Incidents {
		if strings.Contains(strings.Join(in.Villages, " ")+" "+in.Village, v3) {
			n++
			if in.ID != incident || in.State != jagadesa.StateResolved {
				t.Fatalf("v3's incident %+v", in)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d incidents for v3, want the one:\n%s", n, body)
	}
	if refused.Load() != 0 {
		t.Fatalf("%d reports refused", refused.Load())
	}
	if failedOver.Load() == 0 {
		t.Fatal("no report had to fail over: the leader was not killed under load")
	}
	// The replicas kept their evidence on one volume, each in its own
	// directory: an archive over it holds what either accepted, the
	// killed replica's batches included, every one verified by its key.
	shared := &evidence.Archive{Shared: evidenceRoot}
	perReplica := map[string]int{}
	for _, v := range []string{v1, v2, v3} {
		files, err := shared.Files(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			err := evidence.ReadFile(f, func(r *evidence.Record) error {
				perReplica[filepath.Base(filepath.Dir(filepath.Dir(f)))]++
				if r.Village != v {
					return fmt.Errorf("a batch of %s in %s's file", r.Village, v)
				}
				return nil
			})
			if err != nil && !errors.Is(err, evidence.ErrTorn) {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
	if perReplica["replica-a"] == 0 || perReplica["replica-b"] == 0 {
		t.Fatalf("evidence batches per replica %v: want both", perReplica)
	}
	t.Logf("%d reports failed over to b; none refused; evidence batches per replica %v", failedOver.Load(), perReplica)
}

// villageStatus is a village's status on one replica.
func villageStatus(t *testing.T, base, village string) jagadesa.Status {
	code, b := call(t, "GET", base+"/api/v1/villages/"+village, admin, "")
	var v struct {
		Status jagadesa.Status `json:"status"`
	}
	if code != 200 || json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Status
}

// waitFor polls cond every 100 ms until it holds, or fails the test.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
