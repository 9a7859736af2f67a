//go:build linux

package e2e

// Fault tests on the real processes (issue 11, item 6; docs/reliability.md):
// fifty real probe processes report to `jagadesa serve`, itself a child
// process, and InfluxDB or the server is SIGKILLed under that load and
// started again. Every record each probe's spool ever handed out must then
// be in InfluxDB exactly once; after the server's restart the live state of
// every village must be back within 10 s, and no incident may be opened, nor
// any notification sent, twice.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

const (
	faultProbes   = 50
	faultInterval = time.Second // the probes' --interval
	// influxdDown is how long InfluxDB stays dead.
	influxdDown = 30 * time.Second
	// liveWithin is how soon after the server's restart every village's
	// live state must be right again.
	liveWithin = 10 * time.Second
	// serverGrace is the server test's --grace. A second or two would do on
	// an idle machine, but the tests share two cores with other packages'
	// tests, and a pause of a few seconds in ingest would take reporting
	// villages down and open incidents that are no part of the test.
	serverGrace = 5 * time.Second
)

// faultVillages is the fleet: three villages of Kec. Jati (33.19.03,
// Kabupaten Kudus, which has a CSIRT of its own in the demo directory) and
// Krandegan (Purworejo), which the server test silences, and 46 others, the
// first villages of Kabupaten Cilacap to Banyumas (33.01–33.05), that go on
// reporting.
func faultVillages(t *testing.T) (all, kudus []string, lone string) {
	t.Helper()
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	vs := slices.Clone(reg.Villages())
	sort.Slice(vs, func(i, j int) bool { return vs[i].Code < vs[j].Code })
	lone = geo.KrandeganCode
	perRegency := map[string]int{}
	var others []string
	for _, v := range vs {
		switch {
		case v.DistrictCode == "33.19.03" && len(kudus) < 3:
			kudus = append(kudus, v.Code)
		case v.RegencyCode >= "33.01" && v.RegencyCode <= "33.05" && perRegency[v.RegencyCode] < 10 && len(others) < faultProbes-4:
			perRegency[v.RegencyCode]++
			others = append(others, v.Code)
		}
	}
	all = append(append(append(all, kudus...), lone), others...)
	if len(kudus) != 3 || len(all) != faultProbes {
		t.Fatalf("registry gave %d Kudus villages and %d in all", len(kudus), len(all))
	}
	return all, kudus, lone
}

// httpTarget is what the probes' HTTP check requests each round: a local
// page, so no round waits on the internet or on the server under test.
func httpTarget(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(s.Close)
	return s.URL
}

// beatsBetween counts, per probe id, the heartbeats stored whose round
// ended in [from, to).
func beatsBetween(t *testing.T, store *influx.Store, bucket string, from, to time.Time) map[string]int64 {
	t.Helper()
	recs, err := store.Query(t.Context(), fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "heartbeat" and r._field == "seq")
  |> group(columns: ["probe"]) |> count()`, influx.FluxString(bucket), from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatalf("count heartbeats: %v", err)
	}
	out := map[string]int64{}
	for _, r := range recs {
		p, _ := r["probe"].(string)
		out[p], _ = r["_value"].(int64)
	}
	return out
}

// TestFaultInfluxdKilled: influxd is SIGKILLed under the load of 50 probe
// processes and stays dead for 30 s while they go on measuring (the server
// answers 503, the probes spool), then starts again on the same data and
// port. Once the spools have drained, InfluxDB must hold every record the
// probes' spools handed out, each exactly once — those acknowledged just
// before the kill (influxd's WAL), those of the 30 s, those after.
func TestFaultInfluxdKilled(t *testing.T) {
	requireRoot(t, "the probes ping 127.0.0.1 over raw sockets")
	ifx := startOwnInfluxd(t)
	bucket := ifx.createDatabase("fault")
	serverBin, probeBin := buildJagadesa(t), buildProbe(t)
	addr := freeAddr(t)
	base := "http://" + addr
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	var srvLog syncBuffer
	srv := startServeProc(t, serverBin, []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket,
		"--data-dir", t.TempDir(), "--grace", serverGrace.String(), "--incident-startup-grace", "1s", "--webhook-url", hook.URL}, &srvLog)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	villages, _, _ := faultVillages(t)
	f := newFaultFleet(t, probeBin, base, httpTarget(t), villages)
	waitFleetUp(t, f, 30*time.Second, &srvLog)
	time.Sleep(3 * time.Second) // a few rounds of load with InfluxDB up

	pre := len(listIncidents(t, base))
	killedAt := time.Now()
	ifx.kill()
	t.Logf("influxd SIGKILLed at %s under the load of %d probes", killedAt.Format("15:04:05.000"), len(f.probes))
	// Halfway through: the server says it is unavailable, and the villages
	// look as the server sees them with nothing stored.
	time.Sleep(influxdDown / 2)
	if code, b := call(t, "GET", base+"/healthz", "", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with InfluxDB dead: %d %s, want 503", code, b)
	}
	if vs, ok := listVillages(t, base); ok {
		t.Logf("%s into the outage the fleet shows %s", time.Since(killedAt).Round(time.Second), statusCounts(vs, f))
	}
	time.Sleep(time.Until(killedAt.Add(influxdDown)))
	restartAt := time.Now()
	ifx.start()
	upAt := time.Now()
	t.Logf("influxd dead %s; started again on the same data, answering after %s", restartAt.Sub(killedAt).Round(time.Millisecond), upAt.Sub(restartAt).Round(time.Millisecond))

	// The spools drain: every probe's records are stored without a hole up
	// to a heartbeat measured after influxd came back.
	deadline := upAt.Add(90 * time.Second)
	var why string
	for {
		pr, err := queryProgress(store, bucket)
		ok := false
		if err == nil {
			ok, why = pr.caughtUp(f, upAt)
		} else {
			why = err.Error()
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Log(lastLines(srvLog.String(), 30))
			t.Fatalf("the spools did not drain within %s of influxd's return: %s", deadline.Sub(upAt), why)
		}
		time.Sleep(500 * time.Millisecond)
	}
	drain := time.Since(upAt)
	refused := f.logCount("server answered 503")
	t.Logf("spools drained %s after influxd answered again (%s after the kill); the probes logged %d uploads answered 503", drain.Round(100*time.Millisecond), time.Since(killedAt).Round(100*time.Millisecond), refused)
	if refused == 0 {
		t.Errorf("no probe was answered 503 while InfluxDB was dead")
	}

	// What the CSIRTs were told: the server stores nothing while InfluxDB is
	// dead, so its live status, and its incidents, see silent villages.
	// Reported, not judged (docs/reliability.md); but nothing twice.
	deadline = time.Now().Add(30 * time.Second)
	for stillOpen := -1; stillOpen != 0 && time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		stillOpen = 0
		for _, in := range listIncidents(t, base) {
			if in.State != jagadesa.StateResolved {
				stillOpen++
			}
		}
	}
	time.Sleep(time.Second) // notifications on their way arrive
	count, lines := notificationsOnce(t, rec)
	events := map[string]int{}
	for k, n := range count {
		events[k.event] += n
	}
	incs := listIncidents(t, base)
	kinds := map[jagadesa.IncidentKind]int{}
	for _, in := range incs {
		kinds[in.Kind]++
	}
	t.Logf("incidents: %d before the kill, %v after it; notifications %v", pre, kinds, events)
	if t.Failed() {
		t.Logf("notifications received:\n\t%s", strings.Join(lines, "\n\t"))
	}
	f.stop(f.probes...)
	total := checkAllDelivered(t, f, store, bucket)

	// The probes went on measuring while InfluxDB was dead: a heartbeat a
	// round, stored. Fifty probes on two loaded cores skip some 1 s
	// rounds, so half of them is the floor; that every record sent is
	// stored once is checked above, exactly.
	beats := beatsBetween(t, store, bucket, killedAt, restartAt)
	want := int64(0.5 * restartAt.Sub(killedAt).Seconds() / faultInterval.Seconds())
	var sum, minBeats int64 = 0, 1 << 62
	for _, p := range f.probes {
		n := beats[p.id]
		sum += n
		minBeats = min(minBeats, n)
		if n < want {
			t.Errorf("probe %s: %d heartbeats stored from the %s InfluxDB was dead, want at least %d", p.village, n, restartAt.Sub(killedAt).Round(time.Second), want)
		}
	}

	t.Logf("RESULT influxd-kill: probes=%d records=%d down=%s drain=%s heartbeats_during_outage=%d (min %d per probe) uploads_503=%d incidents=%d notifications=%v",
		len(f.probes), total, restartAt.Sub(killedAt).Round(time.Millisecond), drain.Round(100*time.Millisecond), sum, minBeats, refused, len(incs), events)
	if err := srv.proc.term(15 * time.Second); err != nil {
		t.Errorf("server did not stop cleanly: %v\n%s", err, lastLines(srvLog.String(), 20))
	}
}

func listIncidents(t *testing.T, base string) []jagadesa.Incident {
	t.Helper()
	code, b := call(t, "GET", base+"/api/v1/incidents?limit=1000", admin, "")
	var l struct {
		Incidents []jagadesa.Incident `json:"incidents"`
	}
	if code != 200 || json.Unmarshal(b, &l) != nil {
		t.Fatalf("incidents: %d %s", code, b)
	}
	return l.Incidents
}

// incidentKey is what makes two incidents the same problem: the group of a
// regional one, else its village and kind (the manager's own keys).
func incidentKey(in jagadesa.Incident) string {
	if g := in.Evidence["group"]; g != "" {
		return g
	}
	return in.Village + "|" + string(in.Kind)
}

func describe(in jagadesa.Incident) string {
	s := fmt.Sprintf("%s %s %s %v opened %s", in.ID, in.Kind, in.State, in.Villages, in.OpenedAt.Format("15:04:05.000"))
	if in.ResolvedAt != nil {
		s += " resolved " + in.ResolvedAt.Format("15:04:05.000")
	}
	if in.MergedInto != "" {
		s += " merged into " + in.MergedInto
	}
	return s
}

// TestFaultServerKilled: with 50 probe processes reporting and four villages
// silent (three of one kecamatan: one regional incident; one alone: a
// village incident), both incidents opened and notified, `jagadesa serve` is
// SIGKILLed and started again on the same data. Then:
//   - within 10 s every village's live state is right again: the 46
//     reporting villages up with a report from after the kill, the four
//     silent ones down;
//   - the two incidents stay open, unduplicated, while their villages stay
//     silent — watched until well past the time at which the status engine
//     would judge a restored village by its default 60 s interval — and are
//     resolved once when the probes come back;
//   - no notification (incident and event) reaches the webhook twice;
//   - no record of any probe is lost or stored twice.
func TestFaultServerKilled(t *testing.T) {
	requireRoot(t, "the probes ping 127.0.0.1 over raw sockets")
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	serverBin, probeBin := buildJagadesa(t), buildProbe(t)
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	addr, dataDir := freeAddr(t), t.TempDir()
	base := "http://" + addr
	args := []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket, "--data-dir", dataDir,
		"--grace", serverGrace.String(), "--incident-startup-grace", "1s", "--webhook-url", hook.URL}
	var log1, log2 syncBuffer
	srv := startServeProc(t, serverBin, args, &log1)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	villages, kudus, lone := faultVillages(t)
	f := newFaultFleet(t, probeBin, base, httpTarget(t), villages)
	waitFleetUp(t, f, 30*time.Second, &log1)
	time.Sleep(2 * time.Second)

	// The outage: four probes stop.
	silentCodes := append(slices.Clone(kudus), lone)
	var silent []*faultProbe
	for _, c := range silentCodes {
		silent = append(silent, f.byVillage(c))
	}
	silentAt := time.Now()
	f.stop(silent...)
	opened := func(g []received, kind jagadesa.IncidentKind, villages []string) *jagadesa.Incident {
		for _, x := range g {
			if x.n.Event == "opened" && x.n.Incident.Kind == kind && slices.Equal(x.n.Incident.Villages, villages) {
				return &x.n.Incident
			}
		}
		return nil
	}
	rec.wait(t, "the regional and the village incident opened", 20*time.Second, func(g []received) bool {
		return opened(g, jagadesa.IncidentRegional, kudus) != nil && opened(g, jagadesa.IncidentDown, []string{lone}) != nil
	})
	time.Sleep(1500 * time.Millisecond) // whatever else the server has to say about them now
	g := rec.all()
	regional, village := opened(g, jagadesa.IncidentRegional, kudus), opened(g, jagadesa.IncidentDown, []string{lone})
	before := listIncidents(t, base)
	for _, in := range before {
		t.Logf("before the kill: %s", describe(in))
	}
	t.Logf("%d notifications before the kill: regional %s, village %s", len(g), regional.ID, village.ID)

	// The kill, and at once the restart on the same data.
	killedAt := time.Now()
	if err := srv.proc.kill(); err != nil {
		t.Fatalf("SIGKILL the server: %v", err)
	}
	srv = startServeProc(t, serverBin, args, &log2)
	listening := time.Since(killedAt)

	// Live state: measured every 100 ms from the restart.
	isSilent := func(code string) bool { return slices.Contains(silentCodes, code) }
	var liveAt, silentDownAt time.Duration // since the kill; 0: not yet
	var lastView map[string]faultVillage
	for time.Since(killedAt) < 30*time.Second && (liveAt == 0 || silentDownAt == 0) {
		vs, ok := listVillages(t, base)
		if ok {
			lastView = vs
			fresh, down := 0, 0
			for _, p := range f.probes {
				v := vs[p.village]
				switch {
				case isSilent(p.village) && v.Status == jagadesa.StatusDown:
					down++
				case !isSilent(p.village) && v.Status == jagadesa.StatusUp && v.LastSeen != nil && v.LastSeen.After(killedAt):
					fresh++
				}
			}
			if liveAt == 0 && fresh == len(f.probes)-len(silent) {
				liveAt = time.Since(killedAt)
			}
			if silentDownAt == 0 && down == len(silent) {
				silentDownAt = time.Since(killedAt)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("server answering %s after the kill; %d reporting villages up with a report from after the kill %s after it; the %d silent ones down %s after it",
		listening.Round(time.Millisecond), len(f.probes)-len(silent), fmtSince(liveAt), len(silent), fmtSince(silentDownAt))
	if liveAt == 0 || liveAt > liveWithin {
		t.Errorf("reporting villages: live state not back within %s of the restart (%s)", liveWithin, fmtSince(liveAt))
	}
	if silentDownAt == 0 || silentDownAt > liveWithin {
		var shown []string
		for _, c := range silentCodes {
			v := lastView[c]
			shown = append(shown, fmt.Sprintf("%s %s (last seen %s)", c, v.Status, fmtTime(v.LastSeen)))
		}
		t.Errorf("silent villages not shown down within %s of the restart: %s (silent since %s)", liveWithin, strings.Join(shown, "; "), silentAt.Format("15:04:05.000"))
	}

	// The watch: the silent villages stay silent until a restored village
	// judged by the status engine's default interval (60 s) plus the grace
	// would have gone down again; their incidents must stay open and no
	// other may open for them.
	watchUntil := silentAt.Add(60*time.Second + serverGrace + 4*time.Second)
	var firstClosed, firstNew, firstUp string
	for time.Now().Before(watchUntil) {
		now := time.Since(killedAt).Round(100 * time.Millisecond)
		for _, in := range listIncidents(t, base) {
			if (in.ID == regional.ID || in.ID == village.ID) && in.State != jagadesa.StateOpen && firstClosed == "" {
				at := now
				if in.ResolvedAt != nil {
					at = in.ResolvedAt.Sub(killedAt).Round(100 * time.Millisecond)
				}
				firstClosed = fmt.Sprintf("%s after the kill: %s", at, describe(in))
			}
			if in.OpenedAt.After(killedAt) && firstNew == "" {
				for _, c := range in.Villages {
					if isSilent(c) {
						firstNew = fmt.Sprintf("%s after the kill: %s", in.OpenedAt.Sub(killedAt).Round(100*time.Millisecond), describe(in))
					}
				}
			}
		}
		if vs, ok := listVillages(t, base); ok && firstUp == "" {
			for _, c := range silentCodes {
				if vs[c].Status != jagadesa.StatusDown {
					firstUp = fmt.Sprintf("%s after the kill %s was still shown %s, last seen %s", now, c, vs[c].Status, fmtTime(vs[c].LastSeen))
				}
			}
		}
		time.Sleep(time.Second)
	}
	if firstClosed != "" {
		t.Errorf("an incident open before the kill was closed while its villages were still silent: %s", firstClosed)
	}
	if firstNew != "" {
		t.Errorf("a new incident was opened after the restart for villages whose incident was already open: %s", firstNew)
	}
	if firstUp != "" {
		t.Errorf("a silent village was not shown down after the restart: %s", firstUp)
	}

	// The silent probes come back; their incidents resolve.
	backAt := time.Now()
	for _, p := range silent {
		f.start(p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		open := 0
		for _, in := range listIncidents(t, base) {
			if in.State == jagadesa.StateOpen || in.State == jagadesa.StateAcknowledged {
				for _, c := range in.Villages {
					if isSilent(c) {
						open++
						break
					}
				}
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d incidents of the silent villages still open 30 s after their probes came back\n%s", open, lastLines(log2.String(), 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the silent villages' incidents resolved %s after their probes came back", time.Since(backAt).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // notifications on their way arrive

	// Notifications: none twice.
	all := rec.all()
	count, lines := notificationsOnce(t, rec)
	for _, id := range []string{regional.ID, village.ID} {
		if count[sent{id, "opened"}] != 1 || count[sent{id, "resolved"}] != 1 {
			t.Errorf("incident %s: %d opened and %d resolved notifications, want one each", id, count[sent{id, "opened"}], count[sent{id, "resolved"}])
		}
	}

	// Incidents: none opened twice. Two incidents of one key may not be open
	// at once, and a silent village's outage, which spanned the restart, is
	// one incident of each key.
	incs := listIncidents(t, base)
	byKey := map[string][]jagadesa.Incident{}
	for _, in := range incs {
		byKey[incidentKey(in)] = append(byKey[incidentKey(in)], in)
	}
	for key, ins := range byKey {
		sort.Slice(ins, func(i, j int) bool { return ins[i].OpenedAt.Before(ins[j].OpenedAt) })
		episode := 0
		for i, in := range ins {
			if i > 0 && (ins[i-1].ResolvedAt == nil || ins[i-1].ResolvedAt.After(in.OpenedAt)) {
				t.Errorf("incident %s opened while %s of the same problem (%s) was open", describe(in), describe(ins[i-1]), key)
			}
			for _, c := range in.Villages {
				if isSilent(c) && !in.OpenedAt.Before(silentAt) && in.OpenedAt.Before(backAt) {
					episode++
					break
				}
			}
		}
		if episode > 1 {
			var ds []string
			for _, in := range ins {
				ds = append(ds, describe(in))
			}
			t.Errorf("%s: %d incidents for one outage of silent villages:\n\t%s", key, episode, strings.Join(ds, "\n\t"))
		}
	}
	if t.Failed() {
		t.Logf("notifications received:\n\t%s", strings.Join(lines, "\n\t"))
		t.Logf("the restarted server's log, last lines:\n%s", lastLines(log2.String(), 40))
	}

	// Data: nothing lost, nothing twice, across the kill.
	f.stop(f.probes...)
	total := checkAllDelivered(t, f, store, bucket)
	replayed := f.logCount("server already had part of the batch")
	t.Logf("RESULT server-kill: probes=%d records=%d answering=%s live=%s silent_down=%s notifications=%d incidents=%d batches_already_stored=%d",
		len(f.probes), total, listening.Round(time.Millisecond), fmtSince(liveAt), fmtSince(silentDownAt), len(all), len(incs), replayed)
	if err := srv.proc.term(15 * time.Second); err != nil {
		t.Errorf("server did not stop cleanly: %v\n%s", err, lastLines(log2.String(), 20))
	}
}

// sent is one notification: an incident and an event.
type sent struct{ id, event string }

// notificationsOnce fails the test for every notification the webhook
// received more than once (reminders, which repeat by design, aside) or
// refused, and returns how many of each it received, and a line for each.
func notificationsOnce(t *testing.T, rec *receiver) (map[sent]int, []string) {
	t.Helper()
	count := map[sent]int{}
	var lines []string
	for _, x := range rec.all() {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %v", x.at.Format("15:04:05.000"), x.n.Event, x.n.Incident.ID, x.n.Incident.Kind, x.n.Incident.Villages))
		if x.n.Event != "reminder" {
			count[sent{x.n.Incident.ID, x.n.Event}]++
		}
	}
	for k, n := range count {
		if n > 1 {
			t.Errorf("notification %s of incident %s delivered %d times", k.event, k.id, n)
		}
	}
	rec.mu.Lock()
	if len(rec.bad) > 0 {
		t.Errorf("webhook deliveries refused: %v", rec.bad)
	}
	rec.mu.Unlock()
	return count, lines
}

func fmtSince(d time.Duration) string {
	if d == 0 {
		return "never (within the wait)"
	}
	return d.Round(100 * time.Millisecond).String()
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format("15:04:05.000")
}
