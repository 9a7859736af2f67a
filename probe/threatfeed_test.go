package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/threatfeed"
)

// twFeed is the example feed shipped for operators.
func twFeed(t testing.TB) *jagadesa.ThreatFeed {
	t.Helper()
	f, err := threatfeed.Load("../server/threatfeed/example-feed.txt")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// twRoot copies a fixture tree (testdata/threatfeed/<name>) to a temporary
// root the test may change; "" is an empty root.
func twRoot(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if name != "" {
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata/threatfeed", name))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type twClock struct{ t time.Time }

func (c *twClock) now() time.Time { return c.t }

func newTW(t *testing.T, root string) (*ThreatWatcher, *twClock) {
	t.Helper()
	clk := &twClock{time.Date(2026, 11, 22, 10, 5, 0, 0, time.FixedZone("WIB", 7*3600))}
	w := &ThreatWatcher{Root: root, StateFile: filepath.Join(t.TempDir(), "threatwatch.json"), Now: clk.now}
	if err := w.SetFeed(twFeed(t)); err != nil {
		t.Fatal(err)
	}
	return w, clk
}

// twKey summarises an event for comparison.
func twKey(e jagadesa.Event) string {
	return e.Kind + " " + e.Severity + " " + e.Attrs["direction"] + " " + e.Attrs["indicator"] + " " + e.Attrs["host"]
}

func twKeys(evs []jagadesa.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = twKey(e)
	}
	return out
}

func twAppend(t *testing.T, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// twFixtureEvents are the events of one Collect over the "root" fixture.
var twFixtureEvents = []string{
	// conntrack, critical: a LAN host connecting out
	"threat_ip critical out 203.0.113.9 192.168.1.23",
	"threat_ip critical out 203.0.113.128/25 192.168.1.40", // twice in the table, once here
	"threat_ip critical out 198.51.100.23 192.168.1.50",
	"threat_ip critical out 192.0.2.66 192.168.1.23",
	"threat_ip critical out 2001:db8:bad::/48 fd00::23",
	// DNS, critical
	"threat_domain critical dns evil.example 192.168.1.23", // also queried as EVIL.example: once
	"threat_domain critical dns malware-c2.example 192.168.1.40",
	"threat_domain critical dns phish-login.invalid fd00::23",
	"threat_domain critical dns update-check.example 192.168.1.60",
	"threat_domain critical dns malware-c2.example 192.168.1.61",
	// conntrack, warning: a listed address connecting in
	"threat_ip warning in 203.0.113.128/25 100.64.1.2",
	"threat_ip warning in 203.0.113.9 192.168.1.10", // forwarded to a LAN host
}

func TestThreatWatcherFixture(t *testing.T) {
	w, _ := newTW(t, twRoot(t, "root"))
	evs := w.Collect()
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	if got := twKeys(evs); !slices.Equal(got, twFixtureEvents) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(twFixtureEvents, "\n"))
	}
	// The non-hits: a LAN-only connection, neighbours of listed addresses,
	// lookalike names.
	for _, e := range evs {
		b, _ := json.Marshal(e)
		for _, no := range []string{"192.168.1.1\"", "203.0.113.10", "198.51.100.24", "198.51.100.99", "notevil", "evil.example.com", "www.example.com", "invalid.example.net", "in-addr.arpa", "ff02"} {
			if strings.Contains(string(b), no) {
				t.Errorf("event mentions %s: %s", no, b)
			}
		}
	}
	// One event in full.
	e := evs[0]
	want := map[string]string{"indicator": "203.0.113.9", "source": "203.0.113.9", "host": "192.168.1.23", "proto": "tcp",
		"port": "443", "state": "ESTABLISHED", "direction": "out", "feed_version": w.Feed().Version}
	if !maps.Equal(e.Attrs, want) {
		t.Errorf("attrs %v, want %v", e.Attrs, want)
	}
	if e.Message != "192.168.1.23 connected to 203.0.113.9 (tcp/443), listed in the threat feed" {
		t.Errorf("message %q", e.Message)
	}
	if e.TimeMs != time.Date(2026, 11, 22, 3, 5, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("time %d", e.TimeMs)
	}
	byKey := map[string]jagadesa.Event{}
	for _, e := range evs {
		byKey[twKey(e)] = e
	}
	if e := byKey["threat_ip critical out 203.0.113.128/25 192.168.1.40"]; e.Attrs["source"] != "203.0.113.200" || e.Attrs["state"] != "SYN_SENT" ||
		!strings.Contains(e.Message, "listed in the threat feed as 203.0.113.128/25") {
		t.Errorf("prefix hit: %+v", e)
	}
	if e := byKey["threat_ip critical out 192.0.2.66 192.168.1.23"]; e.Attrs["proto"] != "icmp" || e.Attrs["port"] != "" {
		t.Errorf("icmp hit: %+v", e)
	}
	if e := byKey["threat_ip critical out 198.51.100.23 192.168.1.50"]; e.Attrs["proto"] != "udp" || e.Attrs["port"] != "123" || e.Attrs["state"] != "" {
		t.Errorf("udp hit: %+v", e)
	}
	if e := byKey["threat_ip warning in 203.0.113.9 192.168.1.10"]; e.Attrs["source"] != "203.0.113.9" || e.Attrs["port"] != "8080" {
		t.Errorf("inbound hit: %+v", e)
	}
	if e := byKey["threat_ip critical out 2001:db8:bad::/48 fd00::23"]; e.Attrs["source"] != "2001:db8:bad::1" {
		t.Errorf("IPv6 hit: %+v", e)
	}
	if e := byKey["threat_domain critical dns malware-c2.example 192.168.1.40"]; e.Attrs["domain"] != "cdn.malware-c2.example" || e.Attrs["qtype"] != "AAAA" ||
		e.Attrs["source"] != "" || e.Message != "192.168.1.40 looked up cdn.malware-c2.example, listed in the threat feed under malware-c2.example" {
		t.Errorf("domain hit: %+v", e)
	}
	if e := byKey["threat_domain critical dns phish-login.invalid fd00::23"]; e.Attrs["domain"] != "phish-login.invalid" {
		t.Errorf("upper-case query: %+v", e)
	}
	// The events pass the server's validation.
	r := jagadesa.Report{Version: jagadesa.WireVersion, Probe: "p1", Village: "33.06.08.2005", SentAt: evs[0].TimeMs, Events: evs}
	for i := range r.Events {
		r.Events[i].Seq = uint64(i + 1)
	}
	if p := r.Validate(time.UnixMilli(evs[0].TimeMs)); p != nil {
		t.Errorf("server would reject: %v", p)
	}
	st := w.Stats()
	if st.Connections != 14 || st.Queries != 11 || st.Hits != 14 || st.Events != 12 || st.Suppressed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestThreatWatcherDedup(t *testing.T) {
	w, clk := newTW(t, twRoot(t, "root"))
	if n := len(w.Collect()); n != len(twFixtureEvents) {
		t.Fatalf("first round: %d events", n)
	}
	// The connections are still there a round later: nothing new.
	clk.t = clk.t.Add(time.Minute)
	if evs := w.Collect(); len(evs) != 0 {
		t.Fatalf("second round raised again: %v", twKeys(evs))
	}
	// 23 h later, still within the day.
	clk.t = clk.t.Add(23 * time.Hour)
	if evs := w.Collect(); len(evs) != 0 {
		t.Fatalf("within 24 h: %v", twKeys(evs))
	}
	// After 24 h the live connections are raised again; the DNS lines were
	// read once and are not.
	clk.t = clk.t.Add(2 * time.Hour)
	evs := w.Collect()
	var want []string
	for _, k := range twFixtureEvents {
		if strings.HasPrefix(k, "threat_ip") {
			want = append(want, k)
		}
	}
	if got := twKeys(evs); !slices.Equal(got, want) {
		t.Fatalf("after 24 h:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestThreatWatcherLogOffsets(t *testing.T) {
	root := twRoot(t, "root")
	w, clk := newTW(t, root)
	w.Collect()
	log := filepath.Join(root, "tmp/dnsmasq.log")
	step := func(name string, want ...string) {
		t.Helper()
		clk.t = clk.t.Add(time.Minute)
		var got []string
		for _, e := range w.Collect() {
			if e.Kind == KindThreatDomain {
				got = append(got, e.Attrs["indicator"]+" "+e.Attrs["host"])
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", name, got, want)
		}
	}
	step("nothing new")
	twAppend(t, log, "Nov 22 10:06:00 dnsmasq[1234]: query[A] www.evil.example from 192.168.1.70\n")
	step("one new line", "evil.example 192.168.1.70")
	// A line being written is left for the next round.
	twAppend(t, log, "Nov 22 10:07:00 dnsmasq[1234]: query[A] evil.example from 192.168.1.")
	step("partial line")
	twAppend(t, log, "71\n")
	step("completed line", "evil.example 192.168.1.71")
	// Truncated (logrotate copytruncate, or a restarted dnsmasq): the new
	// content is read from its start.
	if err := os.WriteFile(log, []byte("Nov 22 10:08:00 dnsmasq[1234]: query[A] evil.example from 192.168.1.72\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	step("truncated", "evil.example 192.168.1.72")
	// Rotated to a different file that is already longer than the old
	// offset: its first bytes differ, so it is read from its start too
	// (the hit is on its first line, before the old offset).
	var sb strings.Builder
	sb.WriteString("Nov 22 10:09:00 dnsmasq[1234]: query[A] evil.example from 192.168.1.73\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&sb, "Nov 22 10:09:%02d dnsmasq[1234]: query[A] www.example.com from 192.168.1.%d\n", i, 100+i)
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	step("rotated", "evil.example 192.168.1.73")
	step("rotated, nothing new")
	// A file that appears later is read from its start.
	os.MkdirAll(filepath.Join(root, "var/log"), 0o755)
	twAppend(t, filepath.Join(root, "var/log/syslog"), "Nov 22 10:10:00 gw dnsmasq[1234]: query[A] evil.example from 192.168.1.74\n")
	step("new file", "evil.example 192.168.1.74")
	// A tight read budget still gets through a backlog, a few lines a round.
	w.MaxLogBytes = 200
	for i := 0; i < 5; i++ {
		twAppend(t, log, fmt.Sprintf("Nov 22 10:11:00 dnsmasq[1234]: query[A] evil.example from 192.168.2.%d\n", i))
	}
	var got []string
	for r := 0; r < 10 && len(got) < 5; r++ {
		clk.t = clk.t.Add(time.Minute)
		for _, e := range w.Collect() {
			got = append(got, e.Attrs["host"])
		}
	}
	if !slices.Equal(got, []string{"192.168.2.0", "192.168.2.1", "192.168.2.2", "192.168.2.3", "192.168.2.4"}) {
		t.Fatalf("backlog under a budget: %q", got)
	}
}

func TestThreatWatcherSameFileOnce(t *testing.T) {
	root := twRoot(t, "root")
	// OpenWrt: /var is a link to /tmp, so var/log/messages is tmp/log/messages.
	if err := os.Symlink("tmp", filepath.Join(root, "var")); err != nil {
		t.Fatal(err)
	}
	w, _ := newTW(t, root)
	if n := len(w.Collect()); n != len(twFixtureEvents) {
		t.Fatalf("%d events", n)
	}
	if q := w.Stats().Queries; q != 11 {
		t.Fatalf("%d query lines examined, want 11 (each file once)", q)
	}
}

func TestThreatWatcherStateReload(t *testing.T) {
	root := twRoot(t, "root")
	w, clk := newTW(t, root)
	if n := len(w.Collect()); n != len(twFixtureEvents) {
		t.Fatalf("%d events", n)
	}
	b, err := os.ReadFile(w.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	var st threatState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.V != 1 || len(st.Raised) != len(twFixtureEvents) || st.LogOffsets["tmp/dnsmasq.log"].Offset == 0 || st.LogOffsets["tmp/log/messages"].HeadLen == 0 {
		t.Fatalf("state file: %s", b)
	}
	if _, ok := st.Raised["out 203.0.113.9 192.168.1.23"]; !ok {
		t.Fatalf("raised keys: %v", st.Raised)
	}
	if _, err := os.Stat(w.StateFile + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("temporary state file left behind")
	}
	// The probe restarts: a new watcher on the same state.
	w2 := &ThreatWatcher{Root: root, StateFile: w.StateFile, Now: clk.now}
	if err := w2.SetFeed(twFeed(t)); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(5 * time.Minute)
	if evs := w2.Collect(); len(evs) != 0 {
		t.Fatalf("after a restart: %v", twKeys(evs))
	}
	twAppend(t, filepath.Join(root, "tmp/log/messages"), "Sun Nov 22 10:12:00 2026 daemon.info dnsmasq[1234]: query[A] evil.example from 192.168.1.80\n")
	if evs := w2.Collect(); len(evs) != 1 || evs[0].Attrs["host"] != "192.168.1.80" {
		t.Fatalf("after a restart, a new line: %v", twKeys(evs))
	}
	// A damaged state file is said so, and relearnt.
	if err := os.WriteFile(w.StateFile, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	w3 := &ThreatWatcher{Root: root, StateFile: w.StateFile, Now: clk.now}
	w3.SetFeed(twFeed(t))
	if evs := w3.Collect(); len(evs) == 0 || w3.Err() == nil {
		t.Fatalf("damaged state: %d events, err %v", len(evs), w3.Err())
	}
	if evs := w3.Collect(); len(evs) != 0 || w3.Err() != nil {
		t.Fatalf("after relearning: %d events, err %v", len(evs), w3.Err())
	}
}

func TestThreatWatcherFeedPersist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "threatfeed.json")
	w := &ThreatWatcher{}
	if err := w.SaveFeed(path); err == nil {
		t.Fatal("saved a feed it does not have")
	}
	if w.ETag() != "" {
		t.Error("ETag without a feed")
	}
	if err := w.LoadFeed(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	feed := twFeed(t)
	if err := w.SetFeed(feed); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveFeed(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("temporary file left behind")
	}
	w2 := &ThreatWatcher{}
	if err := w2.LoadFeed(path); err != nil {
		t.Fatal(err)
	}
	if w2.Feed().Version != feed.Version || w2.ETag() != `"`+feed.Version+`"` || !slices.Equal(w2.Feed().Domains, feed.Domains) {
		t.Fatalf("reloaded %+v", w2.Feed())
	}
	// A damaged or tampered file is refused and the current feed stays.
	for name, content := range map[string]string{
		"truncated": `{"version":"`,
		"tampered":  strings.Replace(string(mustJSON(t, feed)), "evil.example", "good.example", 1),
		"private":   string(mustJSON(t, &jagadesa.ThreatFeed{Version: (&jagadesa.ThreatFeed{IPs: []string{"192.168.1.1"}}).ComputeVersion(), IPs: []string{"192.168.1.1"}})),
	} {
		bad := filepath.Join(dir, name+".json")
		os.WriteFile(bad, []byte(content), 0o600)
		if err := w2.LoadFeed(bad); err == nil {
			t.Errorf("%s feed loaded", name)
		}
		if w2.Feed().Version != feed.Version {
			t.Errorf("%s feed replaced the good one", name)
		}
	}
	if err := w2.SetFeed(nil); err != nil || w2.Feed() != nil || w2.Collect() != nil {
		t.Error("SetFeed(nil) did not turn matching off")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestThreatWatcherQuietWithoutConntrack(t *testing.T) {
	w, _ := newTW(t, twRoot(t, ""))
	if evs := w.Collect(); len(evs) != 0 {
		t.Fatalf("empty root: %v", twKeys(evs))
	}
	if err := w.Err(); err != nil {
		t.Fatalf("empty root: %v", err)
	}
	if st := w.Stats(); st.Rounds != 1 || st.Connections != 0 || st.Queries != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Old kernels: ip_conntrack, without the leading "ipv4 2".
	w, _ = newTW(t, twRoot(t, "root-ipconntrack"))
	evs := w.Collect()
	if got := twKeys(evs); !slices.Equal(got, []string{"threat_ip critical out 203.0.113.9 192.168.1.23"}) || w.Err() != nil {
		t.Fatalf("ip_conntrack: %v %v", got, w.Err())
	}
	if evs[0].Attrs["proto"] != "tcp" || evs[0].Attrs["port"] != "443" || evs[0].Attrs["state"] != "ESTABLISHED" {
		t.Errorf("ip_conntrack attrs %v", evs[0].Attrs)
	}
	if w.Stats().Connections != 2 {
		t.Errorf("ip_conntrack stats %+v", w.Stats())
	}
}

func TestThreatWatcherWithoutFeed(t *testing.T) {
	root := twRoot(t, "root")
	state := filepath.Join(t.TempDir(), "threatwatch.json")
	w := &ThreatWatcher{Root: root, StateFile: state}
	if evs := w.Collect(); evs != nil {
		t.Fatalf("no feed: %v", twKeys(evs))
	}
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Error("state written without a feed")
	}
	// The logs were left unread: once the feed arrives, their hits count.
	w.SetFeed(twFeed(t))
	if n := len(w.Collect()); n != len(twFixtureEvents) {
		t.Fatalf("%d events once the feed arrived", n)
	}
}

func TestThreatWatcherCap(t *testing.T) {
	root := twRoot(t, "")
	var sb strings.Builder
	// 80 listed-address scans forwarded in to distinct LAN hosts (warning),
	// then 70 LAN hosts connecting out (critical).
	for i := 0; i < 80; i++ {
		fmt.Fprintf(&sb, "ipv4     2 tcp      6 100 ESTABLISHED src=203.0.113.9 dst=100.64.1.2 sport=%d dport=8080 src=192.168.3.%d dst=203.0.113.9 sport=80 dport=%d [ASSURED] mark=0 zone=0 use=2\n", 40000+i, i+1, 40000+i)
	}
	for i := 0; i < 70; i++ {
		fmt.Fprintf(&sb, "ipv4     2 tcp      6 100 ESTABLISHED src=192.168.1.%d dst=198.51.100.23 sport=5%04d dport=443 src=198.51.100.23 dst=100.64.1.2 sport=443 dport=5%04d [ASSURED] mark=0 zone=0 use=2\n", i+1, i, i)
	}
	os.MkdirAll(filepath.Join(root, "proc/net"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "proc/net/nf_conntrack"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w, clk := newTW(t, root)
	evs := w.Collect()
	if len(evs) != 51 {
		t.Fatalf("%d events, want 50 and a summary", len(evs))
	}
	for _, e := range evs[:50] {
		if e.Severity != "critical" || e.Attrs["direction"] != "out" {
			t.Fatalf("critical hits must come first: %s", twKey(e))
		}
	}
	s := evs[50]
	if s.Kind != KindThreatSummary || s.Severity != "critical" || s.Attrs["count"] != "100" || s.Attrs["critical"] != "20" ||
		s.Attrs["warning"] != "80" || s.Attrs["indicators"] != "198.51.100.23 203.0.113.9" {
		t.Fatalf("summary %+v", s)
	}
	if st := w.Stats(); st.Events != 50 || st.Suppressed != 100 || st.Hits != 150 {
		t.Fatalf("stats %+v", st)
	}
	// What was summed up is not raised again the next round.
	clk.t = clk.t.Add(time.Minute)
	if evs := w.Collect(); len(evs) != 0 {
		t.Fatalf("next round: %d events", len(evs))
	}
}

func TestParseConntrack(t *testing.T) {
	for _, tc := range []struct {
		line                      string
		proto, state, src, dst, p string
		replySrc                  string
		ok                        bool
	}{
		{"ipv4     2 tcp      6 431999 ESTABLISHED src=192.168.1.23 dst=203.0.113.9 sport=51234 dport=443 src=203.0.113.9 dst=100.64.1.2 sport=443 dport=51234 [ASSURED] mark=0 zone=0 use=2",
			"tcp", "ESTABLISHED", "192.168.1.23", "203.0.113.9", "443", "203.0.113.9", true},
		{"ipv4     2 udp      17 29 src=192.168.1.23 dst=192.168.1.1 sport=5353 dport=53 [UNREPLIED] src=192.168.1.1 dst=192.168.1.23 sport=53 dport=5353 mark=0 zone=0 use=2",
			"udp", "", "192.168.1.23", "192.168.1.1", "53", "192.168.1.1", true},
		{"ipv6     10 tcp      6 60 TIME_WAIT src=fd00:0000:0000:0000:0000:0000:0000:0023 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=1 dport=80 src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=fd00:0000:0000:0000:0000:0000:0000:0023 sport=80 dport=1 mark=0 zone=0 use=2",
			"tcp", "TIME_WAIT", "fd00::23", "2001:db8::1", "80", "2001:db8::1", true},
		{"tcp      6 431999 ESTABLISHED src=192.168.1.23 dst=203.0.113.9 sport=51234 dport=443 src=203.0.113.9 dst=100.64.1.2 sport=443 dport=51234 [ASSURED] use=1",
			"tcp", "ESTABLISHED", "192.168.1.23", "203.0.113.9", "443", "203.0.113.9", true},
		{"ipv4     2 icmp     1 29 src=192.168.1.23 dst=192.0.2.66 type=8 code=0 id=4242 src=192.0.2.66 dst=100.64.1.2 type=0 code=0 id=4242 mark=0 zone=0 use=2",
			"icmp", "", "192.168.1.23", "192.0.2.66", "", "192.0.2.66", true},
		{"ipv4     2 tcp      6 86 SYN_RECV src=203.0.113.9 dst=100.64.1.2 sport=60001 dport=8080 src=192.168.1.10 dst=203.0.113.9 sport=80 dport=60001 mark=0 zone=0 use=2",
			"tcp", "SYN_RECV", "203.0.113.9", "100.64.1.2", "8080", "192.168.1.10", true},
		{"", "", "", "", "", "", "", false},
		{"ipv4     2 tcp      6 86 SYN_RECV src=203.0.113.999 dst=100.64.1.2", "", "", "", "", "", "", false},
		{"ipv4     2 tcp      6 86 SYN_RECV dport=22", "", "", "", "", "", "", false},
	} {
		c, ok := parseConntrack(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok %v", tc.line, ok)
			continue
		}
		if !ok {
			continue
		}
		if c.proto != tc.proto || c.state != tc.state || c.src.String() != tc.src || c.dst.String() != tc.dst || c.dport != tc.p || c.replySrc.String() != tc.replySrc {
			t.Errorf("%q: %+v", tc.line, c)
		}
	}
}

func TestParseDNSQuery(t *testing.T) {
	for _, tc := range []struct {
		line, qtype, name, host string
		ok                      bool
	}{
		{"Nov 22 10:01:02 dnsmasq[1234]: query[A] evil.example from 192.168.1.23", "A", "evil.example", "192.168.1.23", true},
		{"Sun Nov 22 10:01:02 2026 daemon.info dnsmasq[1234]: query[AAAA] Evil.Example. from fd00::23", "AAAA", "Evil.Example.", "fd00::23", true},
		{"Nov 22 10:01:02 dnsmasq[1234]: 17 192.168.1.23/51234 query[HTTPS] evil.example from 192.168.1.23", "HTTPS", "evil.example", "192.168.1.23", true},
		{"Nov 22 10:01:02 dnsmasq[1234]: query[type=65] evil.example from 192.168.1.23", "type=65", "evil.example", "192.168.1.23", true},
		{"Nov 22 10:01:02 gw dnsmasq: query[A] evil.example from 192.168.1.23", "A", "evil.example", "192.168.1.23", true},
		{"Nov 22 10:01:02 dnsmasq[1234]: query[A] evil.example from somewhere", "A", "evil.example", "", true},
		{"Nov 22 10:01:02 dnsmasq[1234]: forwarded evil.example to 198.51.100.53", "", "", "", false},
		{"Nov 22 10:01:02 dnsmasq[1234]: reply evil.example is 203.0.113.9", "", "", "", false},
		{"Nov 22 10:01:02 dnsmasq-dhcp[1234]: query[A] evil.example from 192.168.1.23", "", "", "", false},
		{"Nov 22 10:01:02 kernel: query[A] evil.example from 192.168.1.23", "", "", "", false},
		{"Nov 22 10:01:02 dnsmasq[1234]: query[A] evil\x01.example from 192.168.1.23", "", "", "", false},
	} {
		q, n, h, ok := parseDNSQuery(tc.line)
		if q != tc.qtype || n != tc.name || h != tc.host || ok != tc.ok {
			t.Errorf("%q: %q %q %q %v", tc.line, q, n, h, ok)
		}
	}
}

func TestFetchThreatFeed(t *testing.T) {
	feed := twFeed(t)
	body, etag, err := threatfeed.Encode(feed)
	if err != nil {
		t.Fatal(err)
	}
	var mode atomic.Value
	mode.Store("ok")
	var gotAuth, gotINM, gotPath atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		gotINM.Store(r.Header.Get("If-None-Match"))
		gotPath.Store(r.Method + " " + r.URL.Path)
		switch mode.Load().(string) {
		case "ok":
			if threatfeed.NotModified(r.Header.Get("If-None-Match"), etag) {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
			w.Write(body)
		case "noetag":
			w.Write(body)
		case "unauthorized":
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		case "huge":
			w.Write([]byte(`{"version":"`))
			w.Write([]byte(strings.Repeat("a", jagadesa.MaxFeedBytes)))
		case "tampered":
			w.Write([]byte(strings.Replace(string(body), "evil.example", "good.example", 1)))
		case "garbage":
			w.Write([]byte("<html>proxy login</html>"))
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	f, tag, err := FetchThreatFeed(ctx, srv.Client(), srv.URL+"/", "tok123", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != feed.Version || tag != etag {
		t.Fatalf("got version %s etag %s", f.Version, tag)
	}
	if gotAuth.Load() != "Bearer tok123" || gotINM.Load() != "" || gotPath.Load() != "GET /api/v1/threatfeed" {
		t.Errorf("request: %v %v %v", gotAuth.Load(), gotINM.Load(), gotPath.Load())
	}
	// Unchanged: 304, nothing to decode.
	f, tag, err = FetchThreatFeed(ctx, srv.Client(), srv.URL, "tok123", etag)
	if err != nil || f != nil || tag != etag {
		t.Fatalf("304: %v %q %v", f, tag, err)
	}
	if gotINM.Load() != etag {
		t.Errorf("If-None-Match %v", gotINM.Load())
	}
	// A changed feed: the server's new one comes back.
	f, tag, err = FetchThreatFeed(ctx, srv.Client(), srv.URL, "tok123", `"0000"`)
	if err != nil || f == nil || tag != etag {
		t.Fatalf("changed: %v %q %v", f, tag, err)
	}
	mode.Store("noetag")
	if _, tag, err = FetchThreatFeed(ctx, srv.Client(), srv.URL, "tok123", ""); err != nil || tag != `"`+feed.Version+`"` {
		t.Fatalf("no ETag header: %q %v", tag, err)
	}
	for m, want := range map[string]string{"unauthorized": "401", "huge": "over 16777216 bytes", "tampered": "does not match the content", "garbage": "invalid character"} {
		mode.Store(m)
		f, _, err := FetchThreatFeed(ctx, srv.Client(), srv.URL, "tok123", "")
		if err == nil || f != nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", m, err, want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := FetchThreatFeed(cctx, srv.Client(), srv.URL, "tok123", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestThreatWatcherFalseAlarms runs a simulated day of a village's normal
// traffic past the example feed and expects not one event. The traffic is
// deterministic (seeded) and uses only the village's own networks and
// documentation space outside the feed, including deliberate near misses:
// the neighbours of listed addresses, the address just below a listed
// prefix, and names that contain a listed name without being under it.
func TestThreatWatcherFalseAlarms(t *testing.T) {
	root := twRoot(t, "")
	for _, d := range []string{"proc/net", "tmp/log"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	w, clk := newTW(t, root)
	clk.t = time.Date(2026, 11, 22, 0, 0, 0, 0, time.FixedZone("WIB", 7*3600))
	r := rand.New(rand.NewPCG(20261122, 1))

	// Ordinary destinations: documentation space minus the feed's entries
	// (192.0.2.66, 198.51.100.23, 198.51.100.200, 203.0.113.9,
	// 203.0.113.128/25, 2001:db8::dead:beef, 2001:db8:bad::/48).
	listed4 := map[string]bool{"192.0.2.66": true, "198.51.100.23": true, "198.51.100.200": true, "203.0.113.9": true}
	var dst4 []string
	for _, net := range []string{"192.0.2", "198.51.100", "203.0.113"} {
		for i := 1; i < 255; i++ {
			a := fmt.Sprintf("%s.%d", net, i)
			if listed4[a] || (net == "203.0.113" && i >= 128) {
				continue
			}
			dst4 = append(dst4, a)
		}
	}
	nearMiss4 := []string{"192.0.2.65", "192.0.2.67", "198.51.100.22", "198.51.100.24", "198.51.100.199", "198.51.100.201", "203.0.113.8", "203.0.113.10", "203.0.113.127"}
	dst6 := func() string {
		if r.IntN(10) == 0 {
			return []string{"2001:0db8:0bae:0000:0000:0000:0000:0001", "2001:0db8:0bac:ffff:ffff:ffff:ffff:ffff", "2001:0db8:0000:0000:0000:0000:dead:bef0", "2001:0db8:0000:0000:0000:0000:dead:beee"}[r.IntN(4)]
		}
		hi := r.IntN(0x10000)
		if hi == 0xbad {
			hi = 0xbae
		}
		return fmt.Sprintf("2001:0db8:%04x:%04x:0000:0000:%04x:%04x", hi, r.IntN(0x10000), r.IntN(0x10000), r.IntN(0x10000))
	}
	pick4 := func() string {
		if r.IntN(8) == 0 {
			return nearMiss4[r.IntN(len(nearMiss4))]
		}
		return dst4[r.IntN(len(dst4))]
	}
	lan4 := func() string { return fmt.Sprintf("192.168.1.%d", 2+r.IntN(60)) }
	lan6 := func() string { return fmt.Sprintf("fd00:0000:0000:0000:0000:0000:0000:%04x", 2+r.IntN(60)) }
	const wan = "100.64.1.2"
	tcpStates := []string{"ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "TIME_WAIT", "SYN_SENT", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK"}

	names := []string{"www.example.com", "mail.example.org", "api.example.net", "cdn.example.com", "time.example.org",
		"updates.example.net", "id.example.com", "video.example.net", "news.example.org", "portal.desa.example",
		"sipd.kab.example", "pajak.example", "bank.example.com", "chat.example.net", "maps.example.org",
		// near misses of the feed's names
		"notevil.example", "evil.example.com", "evil-example.com", "evilexample", "evil.examples",
		"malware-c2.example.org", "my-malware-c2.example", "malware-c2-example.net", "phish-login.invalid.example",
		"xupdate-check.example", "update-check.example.net", "update-check.examplee"}
	qtypes := []string{"A", "A", "A", "AAAA", "AAAA", "HTTPS", "PTR", "TXT", "MX", "SRV"}

	var longLived []string
	var nConn, nQueries, nNearIP, nNearName int
	log := filepath.Join(root, "tmp/dnsmasq.log")
	syslog := filepath.Join(root, "tmp/log/messages")
	const rounds = 288 // a day at one round every 5 minutes
	for round := 0; round < rounds; round++ {
		clk.t = clk.t.Add(5 * time.Minute)
		var sb strings.Builder
		// Long-lived connections stay in the table round after round.
		if len(longLived) < 40 || r.IntN(4) == 0 {
			longLived = append(longLived, fmt.Sprintf("ipv4     2 tcp      6 431999 ESTABLISHED src=%[1]s dst=%[2]s sport=%[3]d dport=443 src=%[2]s dst=%[4]s sport=443 dport=%[3]d [ASSURED] mark=0 zone=0 use=2\n", lan4(), pick4(), 30000+r.IntN(30000), wan))
		}
		if len(longLived) > 60 {
			longLived = longLived[1:]
		}
		for _, l := range longLived {
			sb.WriteString(l)
			nConn++
		}
		n := 150 + r.IntN(150)
		for i := 0; i < n; i++ {
			nConn++
			sport := 1024 + r.IntN(64000)
			switch k := r.IntN(20); {
			case k < 9: // LAN host out to the Internet, TCP
				d := pick4()
				if slices.Contains(nearMiss4, d) {
					nNearIP++
				}
				port := []int{443, 443, 443, 80, 8080, 5222, 993}[r.IntN(7)]
				fmt.Fprintf(&sb, "ipv4     2 tcp      6 %[1]d %[2]s src=%[3]s dst=%[4]s sport=%[5]d dport=%[6]d src=%[4]s dst=%[7]s sport=%[6]d dport=%[5]d [ASSURED] mark=0 zone=0 use=2\n",
					r.IntN(432000), tcpStates[r.IntN(len(tcpStates))], lan4(), d, sport, port, wan)
			case k < 12: // UDP: QUIC, NTP
				fmt.Fprintf(&sb, "ipv4     2 udp      17 %[1]d src=%[2]s dst=%[3]s sport=%[4]d dport=%[5]d src=%[3]s dst=%[6]s sport=%[5]d dport=%[4]d [ASSURED] mark=0 zone=0 use=2\n",
					r.IntN(180), lan4(), pick4(), sport, []int{443, 123, 3478}[r.IntN(3)], wan)
			case k < 14: // DNS to the router: LAN only
				h := lan4()
				fmt.Fprintf(&sb, "ipv4     2 udp      17 %d src=%s dst=192.168.1.1 sport=%d dport=53 src=192.168.1.1 dst=%[2]s sport=53 dport=%[3]d mark=0 zone=0 use=2\n", r.IntN(30), h, sport)
			case k < 16: // IPv6 out
				d := dst6()
				fmt.Fprintf(&sb, "ipv6     10 tcp      6 %d ESTABLISHED src=%s dst=%s sport=%d dport=443 src=%[3]s dst=%[2]s sport=443 dport=%[4]d [ASSURED] mark=0 zone=0 use=2\n", r.IntN(432000), lan6(), d, sport)
			case k < 17: // ICMP
				fmt.Fprintf(&sb, "ipv4     2 icmp     1 29 src=%[1]s dst=%[2]s type=8 code=0 id=%[3]d src=%[2]s dst=%[4]s type=0 code=0 id=%[3]d mark=0 zone=0 use=2\n", lan4(), pick4(), r.IntN(65536), wan)
			case k < 19: // scanning noise from unlisted addresses, in to the WAN
				fmt.Fprintf(&sb, "ipv4     2 tcp      6 %d SYN_RECV src=%s dst=%s sport=%d dport=%d src=%[3]s dst=%[2]s sport=%[5]d dport=%[4]d mark=0 zone=0 use=2\n",
					r.IntN(120), pick4(), wan, sport, []int{22, 23, 80, 8291, 7547}[r.IntN(5)])
			default: // multicast discovery on the LAN
				fmt.Fprintf(&sb, "ipv4     2 udp      17 %d src=%s dst=239.255.255.250 sport=%d dport=1900 [UNREPLIED] src=239.255.255.250 dst=%[2]s sport=1900 dport=%[3]d mark=0 zone=0 use=2\n", r.IntN(30), lan4(), sport)
			}
		}
		if err := os.WriteFile(filepath.Join(root, "proc/net/nf_conntrack"), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		// DNS queries in dnsmasq's log, with its other lines, and some
		// through syslog.
		var lb, sl strings.Builder
		ts := clk.t.Format("Jan _2 15:04:05")
		q := 40 + r.IntN(40)
		for i := 0; i < q; i++ {
			nQueries++
			name := names[r.IntN(len(names))]
			if r.IntN(3) == 0 {
				name = fmt.Sprintf("s%d.%s", r.IntN(1000), name)
			}
			if r.IntN(20) == 0 {
				name = strings.ToUpper(name[:1]) + name[1:] + "."
			}
			if strings.Contains(strings.ToLower(name), "evil") || strings.Contains(name, "c2") || strings.Contains(name, "phish") || strings.Contains(name, "update-check") {
				nNearName++
			}
			host := lan4()
			if r.IntN(5) == 0 {
				host = fmt.Sprintf("fd00::%x", 2+r.IntN(60))
			}
			qt := qtypes[r.IntN(len(qtypes))]
			if r.IntN(6) == 0 {
				fmt.Fprintf(&sl, "Sun %s 2026 daemon.info dnsmasq[1234]: query[%s] %s from %s\n", ts, qt, name, host)
				fmt.Fprintf(&sl, "Sun %s 2026 daemon.info dnsmasq[1234]: cached %s is %s\n", ts, name, pick4())
				continue
			}
			fmt.Fprintf(&lb, "%s dnsmasq[1234]: query[%s] %s from %s\n", ts, qt, name, host)
			fmt.Fprintf(&lb, "%s dnsmasq[1234]: forwarded %s to 198.51.100.53\n", ts, name)
			fmt.Fprintf(&lb, "%s dnsmasq[1234]: reply %s is %s\n", ts, name, pick4())
		}
		fmt.Fprintf(&sl, "Sun %s 2026 daemon.info dnsmasq-dhcp[1234]: DHCPACK(br-lan) %s aa:bb:cc:dd:ee:%02x\n", ts, lan4(), r.IntN(256))
		if round == rounds/2 { // midday rotation of dnsmasq's log
			os.Rename(log, log+".1")
		}
		twAppend(t, log, lb.String())
		twAppend(t, syslog, sl.String())

		if evs := w.Collect(); len(evs) != 0 {
			t.Fatalf("round %d: false alarm: %v", round, twKeys(evs))
		}
		if err := w.Err(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	st := w.Stats()
	t.Logf("false-alarm run: %d rounds (a day at 5 min), %d conntrack entries and %d DNS queries examined; near misses: %d connections out to a neighbour of a listed address, %d queries for lookalike names; %d hits, %d events",
		st.Rounds, st.Connections, st.Queries, nNearIP, nNearName, st.Hits, st.Events)
	// Everything generated was examined: the zero is not from reading nothing.
	if st.Rounds != rounds || st.Connections != uint64(nConn) || st.Queries != uint64(nQueries) {
		t.Fatalf("examined %+v, generated %d connections and %d queries", st, nConn, nQueries)
	}
	if st.Hits != 0 || st.Events != 0 {
		t.Fatalf("hits %d, events %d", st.Hits, st.Events)
	}
	// And the same set-up does raise an alarm for a real hit.
	twAppend(t, log, "Nov 22 23:59:00 dnsmasq[1234]: query[A] beacon.malware-c2.example from 192.168.1.5\n")
	twAppend(t, filepath.Join(root, "proc/net/nf_conntrack"), "ipv4     2 tcp      6 431999 ESTABLISHED src=192.168.1.5 dst=203.0.113.140 sport=40000 dport=443 src=203.0.113.140 dst=100.64.1.2 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2\n")
	clk.t = clk.t.Add(5 * time.Minute)
	if got := twKeys(w.Collect()); !slices.Equal(got, []string{"threat_ip critical out 203.0.113.128/25 192.168.1.5", "threat_domain critical dns malware-c2.example 192.168.1.5"}) {
		t.Fatalf("the control hit: %v", got)
	}
}
