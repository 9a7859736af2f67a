package probe

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
	"github.com/jagadesa/jagadesa/probe/feedmatch"
)

// ThreatWatcher matches the router's traffic against the server's threat
// feed (GET /api/v1/threatfeed) and reports hits as events. Everything is
// read under Root, so tests (and chrooted installs) can point it at a
// fixture tree:
//
//   - conntrack: proc/net/nf_conntrack, or proc/net/ip_conntrack on old
//     kernels; neither present (no conntrack module) turns this part off
//     silently. A listed address as the original destination is a LAN host
//     connecting out (critical); as the original source, a listed address
//     connecting in (warning: scanning is common).
//   - DNS: dnsmasq's query log lines ("dnsmasq[N]: query[A] name from
//     host") in tmp/dnsmasq.log, var/log/dnsmasq.log, tmp/log/messages,
//     var/log/messages and var/log/syslog, read on from a remembered offset
//     so each line is seen once. A file that got shorter, or whose first
//     bytes changed (rotated), is read again from its start; one file
//     reached under two names (/var is a link to /tmp on OpenWrt) is read
//     once. A new file is read from its start, at most MaxLogBytes a round.
//     The queries are only logged when dnsmasq runs with log-queries
//     (uci set dhcp.@dnsmasq[0].logqueries=1).
//
// The same (direction, indicator, host) raises one event per 24 hours. A
// round reports at most MaxEvents hits, critical ones first; the rest are
// counted in one threat_summary event and are not raised again for 24
// hours either. What the watcher remembers (log offsets, raised hits) is
// one JSON file, StateFile, written like every other state file of the
// probe so that a power cut leaves the old or the new version.
//
// SetFeed and the read-only methods may be called from any goroutine;
// Collect must not run concurrently with itself.
type ThreatWatcher struct {
	Root      string // file-system root (default /)
	StateFile string // e.g. <spool>/threatwatch.json; "" keeps the state in memory only
	Now       func() time.Time
	// MaxEvents caps the events of one Collect (default 50), the summary
	// event aside.
	MaxEvents int
	// MaxLogBytes caps what one Collect reads of each log (default 4 MiB).
	MaxLogBytes int64

	mu    sync.Mutex // guards feed, m, stats and err
	feed  *jagadesa.ThreatFeed
	m     *feedmatch.Matcher
	stats ThreatStats
	err   error

	state     threatState
	loaded    bool
	lastSaved []byte
}

// ThreatStats counts what the watcher has looked at since it started.
type ThreatStats struct {
	Rounds      uint64 // Collect calls with a feed
	Connections uint64 // conntrack entries examined
	Queries     uint64 // DNS query lines examined
	Hits        uint64 // matches, before de-duplication
	Events      uint64 // threat_ip and threat_domain events returned
	Suppressed  uint64 // hits counted in a summary instead
}

// threatState is the JSON of StateFile.
type threatState struct {
	V int `json:"v"` // 1
	// LogOffsets: per log file (path under Root), where reading goes on.
	LogOffsets map[string]threatLogPos `json:"log_offsets"`
	// Raised: "direction indicator host" → Unix ms of its last event.
	Raised map[string]int64 `json:"raised"`
}

type threatLogPos struct {
	Offset  int64  `json:"offset"`
	HeadLen int    `json:"head_len"` // bytes the fingerprint covers
	Head    string `json:"head"`     // hex SHA-256 of the file's first head_len bytes
}

// Event kinds and attribute values of the threat watcher.
const (
	KindThreatIP      = "threat_ip"
	KindThreatDomain  = "threat_domain"
	KindThreatSummary = "threat_summary"

	threatDedupWindow = 24 * time.Hour
	threatMaxEvents   = 50
	threatMaxLogRead  = 4 << 20
	threatHeadBytes   = 256
	threatMaxRaised   = 20000 // bounds the state file: about 1 MB
)

var (
	conntrackFiles   = []string{"proc/net/nf_conntrack", "proc/net/ip_conntrack"}
	threatDNSLogFile = []string{"tmp/dnsmasq.log", "var/log/dnsmasq.log", "tmp/log/messages", "var/log/messages", "var/log/syslog"}
)

func (w *ThreatWatcher) now() time.Time { return clock(w.Now) }

func (w *ThreatWatcher) path(rel string) string { return underRoot(w.Root, rel) }

// SetFeed validates and compiles f and makes it the feed Collect matches
// against. nil turns matching off. On error the previous feed stays.
func (w *ThreatWatcher) SetFeed(f *jagadesa.ThreatFeed) error {
	if f == nil {
		w.mu.Lock()
		w.feed, w.m = nil, nil
		w.mu.Unlock()
		return nil
	}
	if err := f.Validate(); err != nil {
		return err
	}
	m, err := feedmatch.Compile(f)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.feed, w.m = f, m
	w.mu.Unlock()
	return nil
}

// Feed is the current feed, nil without one. It must not be modified.
func (w *ThreatWatcher) Feed() *jagadesa.ThreatFeed {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.feed
}

// ETag is the entity tag of the current feed, for If-None-Match ("" without
// a feed).
func (w *ThreatWatcher) ETag() string {
	if f := w.Feed(); f != nil {
		return `"` + f.Version + `"`
	}
	return ""
}

// Stats returns the counters.
func (w *ThreatWatcher) Stats() ThreatStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Err is what went wrong in the last Collect (unreadable files, a state
// file that could not be read or written), nil when nothing did.
func (w *ThreatWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// LoadFeed reads a feed saved by SaveFeed and makes it current. A missing
// file is an error that matches fs.ErrNotExist.
func (w *ThreatWatcher) LoadFeed(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("threat feed: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, jagadesa.MaxFeedBytes+1))
	if err != nil {
		return fmt.Errorf("threat feed %s: %w", path, err)
	}
	if len(b) > jagadesa.MaxFeedBytes {
		return fmt.Errorf("threat feed %s: over %d bytes", path, jagadesa.MaxFeedBytes)
	}
	var f jagadesa.ThreatFeed
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("threat feed %s: %w", path, err)
	}
	if err := w.SetFeed(&f); err != nil {
		return fmt.Errorf("threat feed %s: %w", path, err)
	}
	return nil
}

// SaveFeed writes the current feed to path, power-cut safe (temporary
// file, fsync, rename, fsync of the directory).
func (w *ThreatWatcher) SaveFeed(path string) error {
	f := w.Feed()
	if f == nil {
		return errors.New("threat feed: none to save")
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, b, 0o600)
}

// threatHit is one match before de-duplication.
type threatHit struct {
	kind, severity string
	dir            string // out, in or dns
	indicator      string // the feed entry
	source         string // the listed remote address (threat_ip)
	host           string // the village side
	proto, port    string
	ctState        string
	domain, qtype  string
}

func (h *threatHit) key() string { return h.dir + " " + h.indicator + " " + h.host }

// Collect examines conntrack and the new DNS log lines and returns the
// events to report. Without a feed it does nothing, and leaves the logs
// unread.
func (w *ThreatWatcher) Collect() []jagadesa.Event {
	w.mu.Lock()
	m, feed := w.m, w.feed
	w.mu.Unlock()
	if m == nil {
		return nil
	}
	var errs []error
	if !w.loaded {
		w.loaded = true
		if err := w.loadState(); err != nil {
			errs = append(errs, err)
		}
	}
	if w.state.LogOffsets == nil {
		w.state.LogOffsets = map[string]threatLogPos{}
	}
	if w.state.Raised == nil {
		w.state.Raised = map[string]int64{}
	}
	w.state.V = 1
	now := w.now()
	nowMs := now.UnixMilli()
	for k, t := range w.state.Raised {
		if nowMs-t >= threatDedupWindow.Milliseconds() || t > nowMs+threatDedupWindow.Milliseconds() {
			delete(w.state.Raised, k) // expired, or from a clock that was far ahead
		}
	}

	var st ThreatStats
	st.Rounds = 1
	hits, err := w.conntrack(m, &st)
	if err != nil {
		errs = append(errs, err)
	}
	dns, err := w.dnsLogs(m, &st)
	if err != nil {
		errs = append(errs, err)
	}
	hits = append(hits, dns...)
	st.Hits = uint64(len(hits))

	// One event per key within the window, critical first.
	var fresh []threatHit
	for _, h := range hits {
		k := h.key()
		if _, done := w.state.Raised[k]; done {
			continue
		}
		w.state.Raised[k] = nowMs
		fresh = append(fresh, h)
	}
	slices.SortStableFunc(fresh, func(a, b threatHit) int {
		return severityRank(b.severity) - severityRank(a.severity)
	})
	limit := w.MaxEvents
	if limit <= 0 {
		limit = threatMaxEvents
	}
	var events []jagadesa.Event
	for i := range fresh[:min(limit, len(fresh))] {
		events = append(events, fresh[i].event(nowMs, feed.Version))
	}
	if rest := fresh[min(limit, len(fresh)):]; len(rest) > 0 {
		events = append(events, threatSummary(rest, nowMs, feed.Version))
		st.Suppressed = uint64(len(rest))
	}
	st.Events = uint64(min(limit, len(fresh)))
	w.pruneRaised()

	if err := w.saveState(); err != nil {
		errs = append(errs, err)
	}
	w.mu.Lock()
	w.stats.Rounds += st.Rounds
	w.stats.Connections += st.Connections
	w.stats.Queries += st.Queries
	w.stats.Hits += st.Hits
	w.stats.Events += st.Events
	w.stats.Suppressed += st.Suppressed
	w.err = errors.Join(errs...)
	w.mu.Unlock()
	return events
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 2
	case "warning":
		return 1
	}
	return 0
}

func (h *threatHit) event(nowMs int64, version string) jagadesa.Event {
	attrs := map[string]string{"indicator": h.indicator, "direction": h.dir, "feed_version": version}
	for k, v := range map[string]string{"source": h.source, "host": h.host, "proto": h.proto, "port": h.port,
		"state": h.ctState, "domain": h.domain, "qtype": h.qtype} {
		if v != "" {
			attrs[k] = v
		}
	}
	host := h.host
	if host == "" {
		host = "a host"
	}
	listed := "listed in the threat feed"
	var msg string
	switch h.dir {
	case "out":
		if h.indicator != h.source {
			listed += " as " + h.indicator
		}
		msg = fmt.Sprintf("%s connected to %s (%s), %s", host, h.source, protoPort(h.proto, h.port), listed)
	case "in":
		if h.indicator != h.source {
			listed += " as " + h.indicator
		}
		msg = fmt.Sprintf("%s, %s, connected in to %s (%s)", h.source, listed, host, protoPort(h.proto, h.port))
	default:
		if h.indicator != h.domain {
			listed += " under " + h.indicator
		}
		msg = fmt.Sprintf("%s looked up %s, %s", host, h.domain, listed)
	}
	return jagadesa.Event{TimeMs: nowMs, Kind: h.kind, Severity: h.severity, Message: msg, Attrs: attrs}
}

func protoPort(proto, port string) string {
	if port == "" {
		return proto
	}
	return proto + "/" + port
}

func threatSummary(rest []threatHit, nowMs int64, version string) jagadesa.Event {
	crit, warn := 0, 0
	var sample []string
	seen := map[string]bool{}
	for _, h := range rest {
		if h.severity == "critical" {
			crit++
		} else {
			warn++
		}
		if !seen[h.indicator] && len(sample) < 10 {
			seen[h.indicator] = true
			sample = append(sample, h.indicator)
		}
	}
	sev := "warning"
	if crit > 0 {
		sev = "critical"
	}
	return jagadesa.Event{TimeMs: nowMs, Kind: KindThreatSummary, Severity: sev,
		Message: fmt.Sprintf("%d more threat-feed hits this round (%d critical, %d warning), not reported one by one", len(rest), crit, warn),
		Attrs: map[string]string{
			"count": fmt.Sprint(len(rest)), "critical": fmt.Sprint(crit), "warning": fmt.Sprint(warn),
			"indicators": strings.Join(sample, " "), "feed_version": version,
		}}
}

// pruneRaised keeps the newest threatMaxRaised keys.
func (w *ThreatWatcher) pruneRaised() {
	if len(w.state.Raised) <= threatMaxRaised {
		return
	}
	type kt struct {
		k string
		t int64
	}
	all := make([]kt, 0, len(w.state.Raised))
	for k, t := range w.state.Raised {
		all = append(all, kt{k, t})
	}
	slices.SortFunc(all, func(a, b kt) int {
		if c := cmp.Compare(b.t, a.t); c != 0 {
			return c
		}
		return strings.Compare(a.k, b.k)
	})
	for _, e := range all[threatMaxRaised:] {
		delete(w.state.Raised, e.k)
	}
}

func (w *ThreatWatcher) loadState() error {
	if w.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(w.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("threat watch state: %w", err)
	}
	var s threatState
	if err := json.Unmarshal(b, &s); err != nil {
		// Start afresh: logs are read again and hits raised again, once.
		return fmt.Errorf("threat watch state %s damaged, starting afresh: %w", w.StateFile, err)
	}
	w.state = s
	w.lastSaved = b
	return nil
}

func (w *ThreatWatcher) saveState() error {
	if w.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(w.state)
	if err != nil {
		return err
	}
	if bytes.Equal(b, w.lastSaved) {
		return nil // spare the flash
	}
	if err := fsutil.WriteFileAtomic(w.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("threat watch state: %w", err)
	}
	w.lastSaved = b
	return nil
}

// conntrack matches the connection-tracking table.
func (w *ThreatWatcher) conntrack(m *feedmatch.Matcher, st *ThreatStats) ([]threatHit, error) {
	var fh *os.File
	for _, rel := range conntrackFiles {
		f, err := os.Open(w.path(rel))
		if err == nil {
			fh = f
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("conntrack: %w", err)
		}
	}
	if fh == nil {
		return nil, nil // no conntrack on this router
	}
	defer fh.Close()
	var hits []threatHit
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		c, ok := parseConntrack(sc.Text())
		if !ok {
			continue
		}
		st.Connections++
		if ind, ok := m.MatchIP(c.dst); ok {
			hits = append(hits, threatHit{kind: KindThreatIP, severity: "critical", dir: "out", indicator: ind,
				source: c.dst.String(), host: c.src.String(), proto: c.proto, port: c.dport, ctState: c.state})
		}
		if ind, ok := m.MatchIP(c.src); ok {
			host := c.dst
			if c.replySrc.IsValid() && c.replySrc != c.dst {
				host = c.replySrc // forwarded in to a LAN host
			}
			hits = append(hits, threatHit{kind: KindThreatIP, severity: "warning", dir: "in", indicator: ind,
				source: c.src.String(), host: host.String(), proto: c.proto, port: c.dport, ctState: c.state})
		}
	}
	if err := sc.Err(); err != nil {
		return hits, fmt.Errorf("conntrack: %w", err)
	}
	return hits, nil
}

// ctEntry is the part of a conntrack line the watcher uses.
type ctEntry struct {
	proto, state string
	src, dst     netip.Addr // original direction
	dport        string     // original direction
	replySrc     netip.Addr // who answers: differs from dst when DNAT forwarded it
}

// parseConntrack reads one line of nf_conntrack
//
//	ipv4     2 tcp      6 431999 ESTABLISHED src=192.168.1.23 dst=203.0.113.9 sport=51234 dport=443 src=203.0.113.9 dst=100.64.1.2 sport=443 dport=51234 [ASSURED] mark=0 zone=0 use=2
//
// or of the older ip_conntrack, which lacks the leading "ipv4 2". The first
// src=/dst= pair is the original direction, the second the reply; the
// state word is there for TCP (and SCTP, DCCP) only.
func parseConntrack(line string) (ctEntry, bool) {
	var c ctEntry
	n, srcs, dsts := 0, 0, 0
	l3 := false
	for rest := line; ; n++ {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		tok := rest
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			tok, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		k, v, isKV := strings.Cut(tok, "=")
		if !isKV {
			switch {
			case n == 0 && (tok == "ipv4" || tok == "ipv6"):
				l3 = true
			case (l3 && n == 2) || (!l3 && n == 0):
				c.proto = tok
			case srcs == 0 && isStateWord(tok):
				c.state = tok
			}
			continue
		}
		switch k {
		case "src":
			a, err := netip.ParseAddr(v)
			if err != nil {
				return c, false
			}
			if srcs == 0 {
				c.src = a
			} else if srcs == 1 {
				c.replySrc = a
			}
			srcs++
		case "dst":
			a, err := netip.ParseAddr(v)
			if err != nil {
				return c, false
			}
			if dsts == 0 {
				c.dst = a
			}
			dsts++
		case "dport":
			if c.dport == "" && len(v) <= 5 {
				c.dport = v
			}
		}
	}
	if !c.src.IsValid() || !c.dst.IsValid() || c.proto == "" || len(c.proto) > 16 {
		return c, false
	}
	return c, true
}

// isStateWord: a conntrack state such as ESTABLISHED or TIME_WAIT.
func isStateWord(s string) bool {
	if len(s) < 4 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// dnsLogs reads the new lines of every dnsmasq log there is.
func (w *ThreatWatcher) dnsLogs(m *feedmatch.Matcher, st *ThreatStats) ([]threatHit, error) {
	var hits []threatHit
	var errs []error
	var seen []os.FileInfo
	for _, rel := range threatDNSLogFile {
		fh, err := os.Open(w.path(rel))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		fi, err := fh.Stat()
		if err != nil || !fi.Mode().IsRegular() || slices.ContainsFunc(seen, func(o os.FileInfo) bool { return os.SameFile(o, fi) }) {
			fh.Close()
			continue
		}
		seen = append(seen, fi)
		h, err := w.readLog(fh, fi.Size(), rel, m, st)
		fh.Close()
		hits = append(hits, h...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
		}
	}
	return hits, errors.Join(errs...)
}

// logHead fingerprints the first n bytes of a file.
func logHead(fh *os.File, n int) (string, error) {
	buf := make([]byte, n)
	if _, err := fh.ReadAt(buf, 0); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:8]), nil
}

func (w *ThreatWatcher) readLog(fh *os.File, size int64, rel string, m *feedmatch.Matcher, st *ThreatStats) ([]threatHit, error) {
	pos := w.state.LogOffsets[rel]
	if size < pos.Offset {
		pos = threatLogPos{} // truncated or replaced by a shorter file
	} else if pos.HeadLen > 0 {
		if h, err := logHead(fh, pos.HeadLen); err != nil || h != pos.Head {
			pos = threatLogPos{} // rotated: a different file under the old name
		}
	}
	budget := w.MaxLogBytes
	if budget <= 0 {
		budget = threatMaxLogRead
	}
	if _, err := fh.Seek(pos.Offset, io.SeekStart); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(io.LimitReader(fh, budget), 16<<10)
	var hits []threatHit
	var read int64
	var rerr error
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An absurdly long line: skip it whole.
			read += int64(len(line))
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				read += int64(len(line))
			}
			if err == nil {
				pos.Offset += read
			}
			read = 0
			if err != nil {
				break
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = err
			}
			// A partial last line is read next time, whole; a budget that
			// ends mid-line the same.
			break
		}
		pos.Offset += int64(len(line))
		if !bytes.Contains(line, []byte(" query[")) {
			continue
		}
		qtype, name, host, ok := parseDNSQuery(string(line[:len(line)-1]))
		if !ok {
			continue
		}
		st.Queries++
		if ind, ok := m.MatchDomain(name); ok {
			hits = append(hits, threatHit{kind: KindThreatDomain, severity: "critical", dir: "dns", indicator: ind,
				host: host, domain: strings.ToLower(strings.TrimSuffix(name, ".")), qtype: qtype})
		}
	}
	if n := int(min(size, threatHeadBytes)); n > 0 && pos.Offset > 0 && n != pos.HeadLen {
		if h, err := logHead(fh, n); err == nil {
			pos.HeadLen, pos.Head = n, h
		}
	}
	w.state.LogOffsets[rel] = pos
	return hits, rerr
}

// parseDNSQuery reads a dnsmasq query line, as written to its own log
// file, through syslog, or with log-queries=extra:
//
//	Nov 22 10:01:02 dnsmasq[1234]: query[A] evil.example from 192.168.1.23
//	Sun Nov 22 10:01:02 2026 daemon.info dnsmasq[1234]: query[AAAA] evil.example from fd00::23
//	Nov 22 10:01:02 dnsmasq[1234]: 17 192.168.1.23/51234 query[A] evil.example from 192.168.1.23
//
// Forwarded, reply and cached lines are not queries.
func parseDNSQuery(line string) (qtype, name, host string, ok bool) {
	i := strings.Index(line, "dnsmasq")
	if i < 0 {
		return "", "", "", false
	}
	rest := line[i+len("dnsmasq"):]
	if !strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, ":") {
		return "", "", "", false // dnsmasq-dhcp and the like
	}
	j := strings.Index(rest, " query[")
	if j < 0 {
		return "", "", "", false
	}
	rest = rest[j+len(" query["):]
	qtype, rest, ok = strings.Cut(rest, "] ")
	if !ok || qtype == "" || len(qtype) > 16 {
		return "", "", "", false
	}
	name, rest, ok = strings.Cut(rest, " from ")
	if !ok || name == "" || len(name) > 254 || strings.ContainsAny(name, " \t") || !printableASCII(name) {
		return "", "", "", false
	}
	rest = strings.TrimSpace(rest)
	if a, err := netip.ParseAddr(rest); err == nil {
		host = a.WithZone("").String()
	}
	return qtype, name, host, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// FetchThreatFeed asks the server for its threat feed:
// GET <server>/api/v1/threatfeed with the probe's token and, when etag is
// set, If-None-Match. An unchanged feed (304) returns (nil, etag, nil). A
// new one is read up to jagadesa.MaxFeedBytes and validated before it is
// returned with its ETag (the quoted version when the server sent none).
func FetchThreatFeed(ctx context.Context, client Doer, server, token, etag string) (feed *jagadesa.ThreatFeed, newETag string, err error) {
	if client == nil {
		client, _ = newHTTPClient(nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/api/v1/threatfeed", nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", HTTPUserAgent)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("threat feed: %w", err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, "", fmt.Errorf("threat feed: server answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jagadesa.MaxFeedBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("threat feed: %w", err)
	}
	if len(b) > jagadesa.MaxFeedBytes {
		return nil, "", fmt.Errorf("threat feed: body over %d bytes", jagadesa.MaxFeedBytes)
	}
	var f jagadesa.ThreatFeed
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("threat feed: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	newETag = resp.Header.Get("ETag")
	if newETag == "" {
		newETag = `"` + f.Version + `"`
	}
	return &f, newETag, nil
}
