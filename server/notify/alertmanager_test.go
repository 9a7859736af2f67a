package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jagadesa/jagadesa"
)

// alertmanagerBinary finds a real Alertmanager: $JAGADESA_ALERTMANAGER,
// Debian's prometheus-alertmanager, or alertmanager on PATH. Its absence
// fails the test: CI must install it.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JAGADESA_ALERTMANAGER"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Alertmanager binary: install it (Debian: apt-get install -y prometheus-alertmanager) or set JAGADESA_ALERTMANAGER")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs Alertmanager on loopback with one route to
// receiverURL (resolved alerts included), no clustering, and state in a
// temp dir. It returns the base URL once /-/ready answers.
func startAlertmanager(t *testing.T, receiverURL string) string {
	t.Helper()
	bin := alertmanagerBinary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: jagadesa-test
  group_by: [incident_id]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: jagadesa-test
    webhook_configs:
      - url: %q
        send_resolved: true
`, receiverURL)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("alertmanager exited before ready: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready within 20 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// amWebhook is the body Alertmanager's webhook receiver posts.
type amWebhook struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
	} `json:"alerts"`
}

func TestAlertmanagerReal(t *testing.T) {
	var mu sync.Mutex
	var delivered []amWebhook
	got := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m amWebhook
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("alertmanager webhook body: %v\n%s", err, body)
		}
		mu.Lock()
		delivered = append(delivered, m)
		mu.Unlock()
		got <- struct{}{}
	}))
	defer hook.Close()
	base := startAlertmanager(t, hook.URL+"/am")

	// Real timestamps: Alertmanager resolves alerts whose endsAt is past
	// and ignores the ones that ended long ago.
	now := time.Now().UTC().Truncate(time.Second)
	opened := krandegan("opened")
	opened.Incident.StartedAt = now.Add(-3 * time.Minute)
	opened.Incident.OpenedAt = now.Add(-time.Minute)
	opened.At = now
	d := New(Settings{}, nil, WithRetry(fastRetry))
	team := jagadesa.Channels{Alertmanager: []string{base}}
	d.Send(team, opened)

	wait := func(what string, status string) amWebhook {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case <-got:
				mu.Lock()
				last := delivered[len(delivered)-1]
				mu.Unlock()
				if last.Status == status {
					return last
				}
			case <-deadline:
				t.Fatalf("alertmanager never delivered the %s alert", what)
			}
		}
	}
	firing := wait("firing", "firing")
	if len(firing.Alerts) != 1 {
		t.Fatalf("%d alerts in the firing notification, want 1", len(firing.Alerts))
	}
	a := firing.Alerts[0]
	for k, want := range map[string]string{
		"alertname": "JagaDesaVillageDown", "incident_id": "inc-20260303-0001", "kind": "village_down",
		"severity": "critical", "csirt": "CSIRT Kabupaten Purworejo", "regency": "33.06",
		"village": "33.06.08.2007", "priority": "true",
	} {
		if a.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], want)
		}
	}
	for k, want := range map[string]string{
		"summary":       "Desa Krandegan putus",
		"villages":      "Krandegan",
		"dashboard_url": "https://jagadesa.example/incidents/inc-20260303-0001",
	} {
		if a.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], want)
		}
	}
	if !strings.Contains(a.Annotations["description"], "Desa Krandegan (Kec. Bayan, Kabupaten Purworejo) putus sejak") {
		t.Errorf("description = %q", a.Annotations["description"])
	}
	if !a.StartsAt.Equal(opened.Incident.StartedAt) {
		t.Errorf("startsAt = %s, want the incident's start %s", a.StartsAt, opened.Incident.StartedAt)
	}

	// The API agrees.
	alerts := getAlerts(t, base)
	if len(alerts) != 1 || alerts[0].Labels["incident_id"] != "inc-20260303-0001" || alerts[0].Status.State != "active" {
		t.Fatalf("GET /api/v2/alerts after opened: %+v", alerts)
	}
	if alerts[0].GeneratorURL != "https://jagadesa.example/incidents/inc-20260303-0001" {
		t.Errorf("generatorURL = %q", alerts[0].GeneratorURL)
	}

	resolved := opened
	resolved.Event = "resolved"
	end := now.Add(time.Second)
	resolved.Incident.State = jagadesa.StateResolved
	resolved.Incident.ResolvedAt, resolved.Incident.EndedAt, resolved.At = &end, &end, end
	time.Sleep(time.Until(end) + 100*time.Millisecond) // endsAt must be past for Alertmanager to resolve
	d.Send(team, resolved)
	closeNow(t, d)

	res := wait("resolved", "resolved")
	if len(res.Alerts) != 1 || res.Alerts[0].Labels["incident_id"] != "inc-20260303-0001" || !res.Alerts[0].EndsAt.Equal(end) {
		t.Fatalf("resolved notification: %+v", res)
	}
	for _, al := range getAlerts(t, base) {
		if al.Labels["incident_id"] == "inc-20260303-0001" && al.Status.State == "active" {
			t.Fatalf("alert still active after resolved: %+v", al)
		}
	}
}

type apiAlert struct {
	Labels       map[string]string `json:"labels"`
	GeneratorURL string            `json:"generatorURL"`
	EndsAt       time.Time         `json:"endsAt"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

func getAlerts(t *testing.T, base string) []apiAlert {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v2/alerts", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []apiAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAlertFor(t *testing.T) {
	for kind, name := range map[jagadesa.IncidentKind]string{
		jagadesa.IncidentDown: "JagaDesaVillageDown", jagadesa.IncidentPowerCut: "JagaDesaPowerCut",
		jagadesa.IncidentProbeFault: "JagaDesaProbeFault", jagadesa.IncidentDegraded: "JagaDesaDegraded",
		jagadesa.IncidentSLABreach: "JagaDesaSLABreach", jagadesa.IncidentRegional: "JagaDesaRegionalOutage",
		jagadesa.IncidentSecurity: "JagaDesaSecurity",
	} {
		n := krandegan("opened")
		n.Incident.Kind = kind
		if got := alertFor(n, "").Labels["alertname"]; got != name {
			t.Errorf("%s → %s, want %s", kind, got, name)
		}
	}
	open := alertFor(krandegan("acknowledged"), "")
	if open.EndsAt != nil {
		t.Errorf("an acknowledged (still open) incident has endsAt %s", open.EndsAt)
	}
	if open.Annotations["acknowledged_by"] != "budi@purworejokab.go.id" {
		t.Errorf("annotations %v", open.Annotations)
	}
	// Labels identify the alert in Alertmanager: they must not change as
	// the incident moves on, or it would become a second alert.
	a, b := alertFor(krandegan("opened"), ""), alertFor(krandegan("escalated"), "")
	if fmt.Sprint(a.Labels) != fmt.Sprint(b.Labels) {
		t.Errorf("labels changed between opened and escalated: %v vs %v", a.Labels, b.Labels)
	}
	n := krandegan("opened")
	n.URL = ""
	if got := alertFor(n, "https://dash.example/").GeneratorURL; got != "https://dash.example/incidents/inc-20260303-0001" {
		t.Errorf("generatorURL from the dashboard base = %q", got)
	}
}

// TestAlertmanagerRefresh: an open incident is re-posted until it is
// resolved, so Alertmanager's resolve_timeout never closes it early.
func TestAlertmanagerRefresh(t *testing.T) {
	var mu sync.Mutex
	var posts []amAlert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		var as []amAlert
		if err := json.NewDecoder(r.Body).Decode(&as); err != nil || len(as) != 1 {
			t.Errorf("body: %v, %d alerts", err, len(as))
		}
		mu.Lock()
		posts = append(posts, as...)
		mu.Unlock()
	}))
	defer srv.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(posts)
	}
	d := New(Settings{}, nil, WithAlertmanagerRefresh(50*time.Millisecond))
	team := jagadesa.Channels{Alertmanager: []string{srv.URL}}
	d.Send(team, krandegan("opened"))
	waitFor(t, "three refreshes", 5*time.Second, func() bool { return count() >= 4 })
	d.Send(team, krandegan("resolved"))
	waitFor(t, "the resolved post", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return posts[len(posts)-1].EndsAt != nil
	})
	n := count()
	time.Sleep(300 * time.Millisecond) // six refresh periods
	if count() != n {
		t.Fatalf("still refreshing after resolved: %d posts, then %d", n, count())
	}
	closeNow(t, d)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range posts[:len(posts)-1] {
		if p.EndsAt != nil || p.Labels["incident_id"] != "inc-20260303-0001" {
			t.Fatalf("refresh post %+v", p)
		}
	}
	if sent := testutil.ToFloat64(d.sent.WithLabelValues(ChannelAlertmanager)); sent != 2 {
		t.Fatalf("sent = %v, want 2 (refreshes are not notifications)", sent)
	}
}
