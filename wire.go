package jagadesa

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// WireVersion is the version of the report format a probe posts to
// POST /api/v1/reports. docs/api.md documents it field by field.
const WireVersion = 1

// Wire limits. The server rejects reports beyond them; the probe never builds
// one that large.
const (
	MaxRecordsPerReport = 10000              // samples + events in one batch
	MaxRTTsPerSample    = 1000               // raw RTTs kept per ICMP round
	MaxTextLen          = 1024               // free text (event messages, targets)
	MaxPast             = 7 * 24 * time.Hour // oldest timestamp the server accepts
	MaxFuture           = 5 * time.Minute    // clock skew the server tolerates
)

// Kinds of sample.
const (
	KindICMP       = "icmp"
	KindHeartbeat  = "heartbeat"
	KindDNS        = "dns"
	KindHTTP       = "http"
	KindThroughput = "throughput"
	KindOutage     = "outage"
	KindUsage      = "usage"
	KindLANSpeed   = "lan_speedtest"
)

// Causes of an outage the probe records.
const (
	CauseLink  = "link"  // probe alive, upstream unreachable
	CausePower = "power" // host restarted after an unclean stop
	CauseProbe = "probe" // the probe process died but the host stayed up
)

// Report is one batch a probe uploads. Records carry their own sequence
// numbers, increasing per probe, so the server can tell a retried batch
// (same numbers, written again with the same timestamps: idempotent) from a
// gap (numbers missing).
type Report struct {
	Version int    `json:"v"`
	Probe   string `json:"probe"`
	Village string `json:"village"`
	SentAt  int64  `json:"sent_ms"` // probe clock when the batch was sent, Unix ms
	// Stream names the probe's sequence of record numbers: a random id made
	// with its spool. A probe whose spool was wiped starts a new stream, so
	// its numbers starting again at 1 are not taken for a replay.
	Stream  string   `json:"stream,omitempty"`
	Samples []Sample `json:"samples,omitempty"`
	Events  []Event  `json:"events,omitempty"`
}

// Sample is one measurement. Exactly one of the kind-specific parts is set,
// the one named by Kind.
type Sample struct {
	Seq        uint64      `json:"seq"`
	TimeMs     int64       `json:"t"` // Unix ms, UTC
	Kind       string      `json:"kind"`
	Target     string      `json:"target,omitempty"`
	ICMP       *ICMP       `json:"icmp,omitempty"`
	Heartbeat  *Heartbeat  `json:"heartbeat,omitempty"`
	DNS        *DNS        `json:"dns,omitempty"`
	HTTP       *HTTP       `json:"http,omitempty"`
	Throughput *Throughput `json:"throughput,omitempty"`
	Outage     *Outage     `json:"outage,omitempty"`
	Usage      *Usage      `json:"usage,omitempty"`
	LANSpeed   *LANSpeed   `json:"lan_speedtest,omitempty"`
}

// Time returns the sample's timestamp.
func (s *Sample) Time() time.Time { return time.UnixMilli(s.TimeMs).UTC() }

// ICMP is one ping round to one target. RTTs are in milliseconds.
type ICMP struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	MinMs    float64   `json:"min_ms"`
	AvgMs    float64   `json:"avg_ms"`
	MaxMs    float64   `json:"max_ms"`
	StddevMs float64   `json:"stddev_ms"`
	JitterMs float64   `json:"jitter_ms"` // RFC 3550 interarrival jitter over the round
	RTTsMs   []float64 `json:"rtts_ms,omitempty"`
}

// LossPct is the share of packets lost in percent.
func (p *ICMP) LossPct() float64 {
	if p.Sent == 0 {
		return 0
	}
	return 100 * float64(p.Sent-p.Received) / float64(p.Sent)
}

// MedianMs is the median of the raw RTTs, or the average when none were kept.
func (p *ICMP) MedianMs() float64 { return p.Quantiles()[2] }

// Quantiles returns the 10th, 25th, 50th, 75th and 90th percentiles of the
// raw RTTs (linear interpolation between closest ranks), the spread a
// SmokePing-style chart draws. Without raw RTTs every value is the average.
func (p *ICMP) Quantiles() [5]float64 {
	if len(p.RTTsMs) == 0 {
		return [5]float64{p.AvgMs, p.AvgMs, p.AvgMs, p.AvgMs, p.AvgMs}
	}
	var small [64]float64 // a usual round fits: no allocation on the ingest path
	s := append(small[:0], p.RTTsMs...)
	slices.Sort(s)
	var out [5]float64
	for i, q := range [5]float64{0.10, 0.25, 0.50, 0.75, 0.90} {
		pos := q * float64(len(s)-1)
		lo := int(pos)
		hi := min(lo+1, len(s)-1)
		out[i] = s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
	}
	return out
}

// Heartbeat says the probe is alive, and how long it has been.
type Heartbeat struct {
	BootID       string  `json:"boot_id"`
	UptimeS      float64 `json:"uptime_s"`       // host uptime
	ProbeStartMs int64   `json:"probe_start_ms"` // when this probe process started
	PrevClean    bool    `json:"prev_clean"`     // previous probe run ended cleanly
	SpoolBytes   int64   `json:"spool_bytes"`    // backlog waiting on disk
	SpoolDropped uint64  `json:"spool_dropped"`  // records dropped for space, ever
	Rejected     uint64  `json:"rejected"`       // records the server refused, since the probe started
	IntervalS    float64 `json:"interval_s"`     // the probe's measurement interval
	ProbeVersion string  `json:"probe_version"`
	// Mode is where the probe runs: ModeRouter (the village's router) or
	// ModeAppliance (a box on the LAN beside an ISP-managed CPE).
	Mode string `json:"mode,omitempty"`
	// Cannot lists the collectors this site cannot run (e.g. "usage",
	// "conntrack", "listening_ports"): what the village page says the
	// probe cannot see, instead of a warning every round.
	Cannot []string `json:"cannot,omitempty"`
}

// Probe deployment modes (Heartbeat.Mode, jagadesa-probe --mode).
const (
	ModeRouter    = "router"
	ModeAppliance = "appliance"
)

// MaxCannot bounds Heartbeat.Cannot.
const MaxCannot = 24

// DNS is one lookup of Target (a name) through one resolver.
type DNS struct {
	Resolver string   `json:"resolver"` // "system" (the router's configured resolver) or host:port
	OK       bool     `json:"ok"`
	RTTMs    float64  `json:"rtt_ms"`
	RCode    string   `json:"rcode,omitempty"` // NOERROR, NXDOMAIN, SERVFAIL, timeout ...
	Answers  []string `json:"answers,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// HTTP is one request to Target (a URL).
type HTTP struct {
	OK            bool    `json:"ok"` // a response with status < 400 arrived
	StatusCode    int     `json:"status_code,omitempty"`
	TTFBMs        float64 `json:"ttfb_ms"`
	TotalMs       float64 `json:"total_ms"`
	CertExpiresMs int64   `json:"cert_expires_ms,omitempty"` // leaf certificate's NotAfter, Unix ms; 0 without TLS
	Error         string  `json:"error,omitempty"`
}

// Throughput is one bounded transfer against the server's speed-test
// endpoint. Target names the endpoint.
type Throughput struct {
	Direction  string  `json:"direction"` // download or upload
	Bytes      int64   `json:"bytes"`
	DurationMs float64 `json:"duration_ms"`
	Mbps       float64 `json:"mbps"`
	// OtherMbps is the rest of the WAN interface's traffic in the same
	// direction during the test (from its byte counters), so a busy village
	// is not mistaken for an under-delivering ISP.
	OtherMbps float64 `json:"other_mbps"`
	Interface string  `json:"interface,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// Outage is a period the probe knows the village was cut off, recorded
// once it is over.
// Usage is how the village uses its link, read from the router cheaply
// (issue 13, the readiness index's use pillar): the devices holding a DHCP
// lease now, and the WAN interface's byte counters since boot.
type Usage struct {
	ActiveDevices int    `json:"active_devices"`
	WANRxBytes    uint64 `json:"wan_rx_bytes"`
	WANTxBytes    uint64 `json:"wan_tx_bytes"`
	Interface     string `json:"interface,omitempty"`
}

// LANSpeed is a speed test a villager ran on a phone against the probe's
// page on the village LAN, beside the probe's own WAN result of the same
// minute, so the village operator can tell weak Wi-Fi from a weak ISP
// link. It holds no personal data: no address, no device, no name.
type LANSpeed struct {
	DownMbps float64 `json:"down_mbps"` // probe → phone
	UpMbps   float64 `json:"up_mbps"`   // phone → probe
	RTTMs    float64 `json:"rtt_ms"`    // phone ↔ probe, median
	// WANDownMbps and WANUpMbps are the probe's WAN test of the same
	// minute (nil: none ran).
	WANDownMbps *float64 `json:"wan_down_mbps,omitempty"`
	WANUpMbps   *float64 `json:"wan_up_mbps,omitempty"`
	// Verdict: LANVerdictWiFi (the phone got much less than the WAN gives),
	// LANVerdictISP (the WAN itself is below the contract's 80 %),
	// LANVerdictOK, or LANVerdictUnknown (no WAN figure).
	Verdict string `json:"verdict"`
}

// LAN speed-test verdicts.
const (
	LANVerdictWiFi    = "wifi"
	LANVerdictISP     = "isp"
	LANVerdictOK      = "ok"
	LANVerdictUnknown = "unknown"
)

func (l *LANSpeed) validate(p Problems, f string) {
	ok := func(x float64, hi float64) bool { return !math.IsNaN(x) && x >= 0 && x <= hi }
	if !ok(l.DownMbps, 100000) || !ok(l.UpMbps, 100000) {
		p.add(f+".down_mbps", "0 to 100000 Mbps")
	}
	if !ok(l.RTTMs, 60000) {
		p.add(f+".rtt_ms", "0 to 60000 ms")
	}
	for _, w := range []*float64{l.WANDownMbps, l.WANUpMbps} {
		if w != nil && !ok(*w, 100000) {
			p.add(f+".wan_down_mbps", "0 to 100000 Mbps")
		}
	}
	switch l.Verdict {
	case LANVerdictWiFi, LANVerdictISP, LANVerdictOK, LANVerdictUnknown:
	default:
		p.add(f+".verdict", "wifi, isp, ok or unknown")
	}
}

// MaxActiveDevices bounds Usage.ActiveDevices: a village LAN, not a city.
const MaxActiveDevices = 65535

func (u *Usage) validate(p Problems, f string) {
	if u.ActiveDevices < 0 || u.ActiveDevices > MaxActiveDevices {
		p.add(f+".active_devices", "0 to %d", MaxActiveDevices)
	}
	if u.WANRxBytes > 1<<62 || u.WANTxBytes > 1<<62 {
		p.add(f+".wan_rx_bytes", "a byte counter, below 2^62")
	}
	if len(u.Interface) > 32 || !tagValue(u.Interface) {
		p.add(f+".interface", "at most 32 printable characters")
	}
}

type Outage struct {
	Cause   string `json:"cause"` // link, power or probe
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	Detail  string `json:"detail,omitempty"`
}

// Event is something that happened, rather than something measured.
type Event struct {
	Seq      uint64            `json:"seq"`
	TimeMs   int64             `json:"t"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"` // info, warning, critical
	Message  string            `json:"message,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

// EventGroup is the events of one batch that share kind, severity and
// source, folded into one: the latest of them (whose Seq is the group's
// highest), how many there were, and when the first happened. The server
// hands security events on in this form, so a flood of one kind of event
// costs what one costs.
type EventGroup struct {
	Event
	Count   int   `json:"count"`
	FirstMs int64 `json:"first_ms"`
}

// GroupEvents folds events by kind, severity and source address, in the
// order each group first appears.
func GroupEvents(events []Event) []EventGroup {
	var out []EventGroup
	index := map[[3]string]int{}
	for _, e := range events {
		k := [3]string{e.Kind, e.Severity, e.Attrs["source"]}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, EventGroup{Event: e, Count: 1, FirstMs: e.TimeMs})
			continue
		}
		g := &out[i]
		g.Count++
		g.FirstMs = min(g.FirstMs, e.TimeMs)
		seq := max(g.Seq, e.Seq)
		if e.TimeMs >= g.TimeMs {
			g.Event = e
		}
		g.Seq = seq
	}
	return out
}

// Problems maps a field path (samples[3].icmp.received) to what is wrong
// with it. It is the "problems" object of an API error.
type Problems map[string]string

func (p Problems) add(field, format string, args ...any) {
	if len(p) >= 50 { // enough to fix the sender; bounded so a bad batch stays cheap
		p["..."] = "more problems not listed"
		return
	}
	p[field] = fmt.Sprintf(format, args...)
}

// MaxSeq is the highest record number a probe may use: 2^53, the largest
// integer every JSON reader carries exactly.
const MaxSeq = 1 << 53

// Limits on a probe's distinct tag values: each distinct target, resolver
// or event kind is a new series in InfluxDB, so a probe may not invent them
// without end.
const (
	MaxTargetsPerProbe    = 64
	MaxResolversPerProbe  = 16
	MaxEventKindsPerProbe = 64
)

// Rejection is the server's verdict on one record it refused: the record's
// sequence number and what is wrong with it, by field.
type Rejection struct {
	Seq      uint64   `json:"seq"`
	Problems Problems `json:"problems"`
}

// BatchResult is the server's answer to an accepted batch. Records listed
// in Rejected were refused (the probe drops them and counts them); every
// other record of the batch is stored.
type BatchResult struct {
	Accepted int         `json:"accepted"` // records stored
	Points   int         `json:"points"`   // points written to InfluxDB
	MaxSeq   uint64      `json:"max_seq"`  // highest sequence number of the batch
	Rejected []Rejection `json:"rejected,omitempty"`
	// RotateToken asks the probe to fetch a new token now
	// (POST /api/v1/probes/token): staff requested a rotation.
	RotateToken bool `json:"rotate_token,omitempty"`
}

// ValidStream reports whether s may name a stream: 1 to 64 of
// [A-Za-z0-9._-], or empty for probes older than streams.
func ValidStream(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks a whole report as the server receives it: its header and
// every record. now is the server's clock. It returns nil when the report
// is acceptable. The server itself uses ValidateHeader and Split, so that
// one bad record does not sink the others.
func (r *Report) Validate(now time.Time) Problems {
	p := r.ValidateHeader()
	if p != nil {
		return p
	}
	p = Problems{}
	oldest, newest := timeBounds(now)
	for i := range r.Samples {
		r.Samples[i].check(p, "samples["+itoa(i)+"]", oldest, newest)
	}
	for i := range r.Events {
		r.Events[i].check(p, "events["+itoa(i)+"]", oldest, newest)
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// ValidateHeader checks what concerns the whole report: version, probe,
// village, stream and the number of records. A report failing it is
// refused whole.
func (r *Report) ValidateHeader() Problems {
	p := Problems{}
	if r.Version != WireVersion {
		p.add("v", "unsupported wire version %d (this server speaks %d)", r.Version, WireVersion)
		return p
	}
	if r.Probe == "" || len(r.Probe) > 64 || !tagValue(r.Probe) {
		p.add("probe", "required, at most 64 printable characters")
	}
	if !ValidVillageCode(r.Village) {
		p.add("village", "must be a Kemendagri village code like 33.06.08.2005")
	}
	if !ValidStream(r.Stream) {
		p.add("stream", "at most 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
	}
	n := len(r.Samples) + len(r.Events)
	if n == 0 {
		p.add("samples", "a report needs at least one sample or event")
	}
	if n > MaxRecordsPerReport {
		p.add("samples", "%d records, at most %d per report", n, MaxRecordsPerReport)
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// Split removes the records that fail validation from the report and
// returns why each was refused, in the order they came. A sequence number
// seen twice in one report refuses the later record.
func (r *Report) Split(now time.Time) []Rejection { return r.SplitWithin(now, MaxPast) }

// SplitWithin is Split accepting records as old as maxPast: a server
// taking a backfill of weeks of history (jagadesa serve
// --max-record-age) says how far back it takes them.
func (r *Report) SplitWithin(now time.Time, maxPast time.Duration) []Rejection {
	if maxPast <= 0 {
		maxPast = MaxPast
	}
	oldest, newest := now.Add(-maxPast).UnixMilli(), now.Add(MaxFuture).UnixMilli()
	seen := make(map[uint64]struct{}, len(r.Samples)+len(r.Events))
	dup := func(p Problems, f string, seq uint64) {
		if _, ok := seen[seq]; ok {
			p.add(f+".seq", "sequence number %d appears twice in this report", seq)
		}
		seen[seq] = struct{}{}
	}
	return r.Refuse(func(f string, s *Sample, p Problems) {
		s.check(p, f, oldest, newest)
		dup(p, f, s.Seq)
	}, func(f string, e *Event, p Problems) {
		e.check(p, f, oldest, newest)
		dup(p, f, e.Seq)
	})
}

// Refuse removes from the report every record for which its check adds a
// problem, and returns the refusals in the order the records came. f is the
// record's field path, samples[i] or events[i].
func (r *Report) Refuse(sample func(f string, s *Sample, p Problems), event func(f string, e *Event, p Problems)) []Rejection {
	var out []Rejection
	r.Samples, out = refuse(r.Samples, "samples", out, func(f string, s *Sample, p Problems) uint64 { sample(f, s, p); return s.Seq })
	r.Events, out = refuse(r.Events, "events", out, func(f string, e *Event, p Problems) uint64 { event(f, e, p); return e.Seq })
	return out
}

func refuse[T any](recs []T, name string, out []Rejection, check func(f string, rec *T, p Problems) uint64) ([]T, []Rejection) {
	kept := recs[:0]
	for i := range recs {
		p := Problems{}
		if seq := check(name+"["+itoa(i)+"]", &recs[i], p); len(p) > 0 {
			out = append(out, Rejection{Seq: seq, Problems: p})
			continue
		}
		kept = append(kept, recs[i])
	}
	clear(recs[len(kept):])
	return kept, out
}

func timeBounds(now time.Time) (oldest, newest int64) {
	return now.Add(-MaxPast).UnixMilli(), now.Add(MaxFuture).UnixMilli()
}

func checkSeq(p Problems, f string, seq uint64) {
	if seq == 0 || seq > MaxSeq {
		p.add(f+".seq", "must be 1..2^53")
	}
}

func checkTime(p Problems, field string, ms, oldest, newest int64) {
	switch {
	case ms < oldest:
		p.add(field, "timestamp %s is more than 7 days old", time.UnixMilli(ms).UTC().Format(time.RFC3339))
	case ms > newest:
		p.add(field, "timestamp %s is more than 5 minutes in the future (check the probe's clock)", time.UnixMilli(ms).UTC().Format(time.RFC3339))
	}
}

// tagValue reports whether s can be an InfluxDB tag value as the probe
// sends it: printable, and with no backslash at its end or before a space,
// comma or equals sign. Line protocol reads those as escapes, and InfluxDB's
// line splitter then merges the point with the next one.
func tagValue(s string) bool {
	if !printable(s) || strings.HasSuffix(s, "\\") {
		return false
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\\' && (s[i+1] == ' ' || s[i+1] == ',' || s[i+1] == '=') {
			return false
		}
	}
	return true
}

func (s *Sample) check(p Problems, f string, oldest, newest int64) {
	checkSeq(p, f, s.Seq)
	checkTime(p, f+".t", s.TimeMs, oldest, newest)
	if len(s.Target) > MaxTextLen || !tagValue(s.Target) {
		p.add(f+".target", "at most %d printable characters, no backslash at the end or before a space, comma or '='", MaxTextLen)
	}
	switch s.Kind {
	case KindICMP:
		if s.Target == "" {
			p.add(f+".target", "required for icmp")
		}
		if s.ICMP == nil {
			p.add(f+".icmp", "required for kind icmp")
			return
		}
		s.ICMP.validate(p, f+".icmp")
	case KindHeartbeat:
		if s.Heartbeat == nil {
			p.add(f+".heartbeat", "required for kind heartbeat")
			return
		}
		s.Heartbeat.validate(p, f+".heartbeat")
	case KindDNS:
		if s.Target == "" {
			p.add(f+".target", "required for dns")
		}
		if s.DNS == nil {
			p.add(f+".dns", "required for kind dns")
			return
		}
		s.DNS.validate(p, f+".dns")
	case KindHTTP:
		if s.Target == "" {
			p.add(f+".target", "required for http")
		}
		if s.HTTP == nil {
			p.add(f+".http", "required for kind http")
			return
		}
		s.HTTP.validate(p, f+".http")
	case KindThroughput:
		if s.Throughput == nil {
			p.add(f+".throughput", "required for kind throughput")
			return
		}
		s.Throughput.validate(p, f+".throughput")
	case KindOutage:
		if s.Outage == nil {
			p.add(f+".outage", "required for kind outage")
			return
		}
		s.Outage.validate(p, f+".outage", oldest, newest)
	case KindUsage:
		if s.Usage == nil {
			p.add(f+".usage", "required for kind usage")
			return
		}
		s.Usage.validate(p, f+".usage")
	case KindLANSpeed:
		if s.LANSpeed == nil {
			p.add(f+".lan_speedtest", "required for kind lan_speedtest")
			return
		}
		s.LANSpeed.validate(p, f+".lan_speedtest")
	default:
		p.add(f+".kind", "unknown kind %q", s.Kind)
	}
}

func (e *Event) check(p Problems, f string, oldest, newest int64) {
	checkSeq(p, f, e.Seq)
	checkTime(p, f+".t", e.TimeMs, oldest, newest)
	if e.Kind == "" || len(e.Kind) > 64 || !tagValue(e.Kind) {
		p.add(f+".kind", "required, at most 64 printable characters, not ending in a backslash")
	}
	switch e.Severity {
	case "info", "warning", "critical":
	default:
		p.add(f+".severity", "must be info, warning or critical")
	}
	if len(e.Message) > MaxTextLen {
		p.add(f+".message", "at most %d characters", MaxTextLen)
	}
	if len(e.Attrs) > 32 {
		p.add(f+".attrs", "at most 32 attributes")
	}
	for k, v := range e.Attrs {
		if len(k) > 64 || len(v) > MaxTextLen {
			p.add(f+".attrs", "keys at most 64, values at most %d characters", MaxTextLen)
			break
		}
	}
}

func (m *ICMP) validate(p Problems, f string) {
	if m.Sent < 1 || m.Sent > MaxRTTsPerSample {
		p.add(f+".sent", "must be 1..%d", MaxRTTsPerSample)
	}
	if m.Received < 0 || m.Received > m.Sent {
		p.add(f+".received", "must be 0..sent")
	}
	for name, v := range map[string]float64{"min_ms": m.MinMs, "avg_ms": m.AvgMs, "max_ms": m.MaxMs, "stddev_ms": m.StddevMs, "jitter_ms": m.JitterMs} {
		if !finiteMs(v) {
			p.add(f+"."+name, "must be a finite number of milliseconds, 0..600000")
		}
	}
	if m.Received > 0 && !(m.MinMs <= m.AvgMs && m.AvgMs <= m.MaxMs) {
		p.add(f+".avg_ms", "must satisfy min_ms <= avg_ms <= max_ms")
	}
	if len(m.RTTsMs) > 0 && len(m.RTTsMs) != m.Received {
		p.add(f+".rtts_ms", "has %d values for %d packets received", len(m.RTTsMs), m.Received)
	}
	for _, v := range m.RTTsMs {
		if !finiteMs(v) {
			p.add(f+".rtts_ms", "every RTT must be a finite number of milliseconds, 0..600000")
			break
		}
	}
}

func (h *Heartbeat) validate(p Problems, f string) {
	if len(h.BootID) > 64 || !printable(h.BootID) {
		p.add(f+".boot_id", "at most 64 printable characters")
	}
	if math.IsNaN(h.UptimeS) || h.UptimeS < 0 || h.UptimeS > 100*365*86400 {
		p.add(f+".uptime_s", "must be a finite number of seconds >= 0")
	}
	if math.IsNaN(h.IntervalS) || h.IntervalS < 0 || h.IntervalS > 86400 {
		p.add(f+".interval_s", "must be 0..86400 seconds")
	}
	if h.SpoolBytes < 0 {
		p.add(f+".spool_bytes", "must be >= 0")
	}
	if len(h.ProbeVersion) > 64 || !printable(h.ProbeVersion) {
		p.add(f+".probe_version", "at most 64 printable characters")
	}
	switch h.Mode {
	case "", ModeRouter, ModeAppliance:
	default:
		p.add(f+".mode", "router or appliance")
	}
	if len(h.Cannot) > MaxCannot {
		p.add(f+".cannot", "at most %d collectors", MaxCannot)
	}
	for _, c := range h.Cannot {
		if c == "" || len(c) > 32 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			p.add(f+".cannot", "collector names of a-z, 0-9 and _, at most 32 each")
			break
		}
	}
}

func (d *DNS) validate(p Problems, f string) {
	if d.Resolver == "" || len(d.Resolver) > 256 || !tagValue(d.Resolver) {
		p.add(f+".resolver", "required, at most 256 printable characters, not ending in a backslash")
	}
	if !finiteMs(d.RTTMs) {
		p.add(f+".rtt_ms", "must be a finite number of milliseconds, 0..600000")
	}
	if len(d.RCode) > 32 || !printable(d.RCode) {
		p.add(f+".rcode", "at most 32 printable characters")
	}
	if len(d.Answers) > 32 {
		p.add(f+".answers", "at most 32 answers")
	}
	for _, a := range d.Answers {
		if len(a) > 256 || !printable(a) {
			p.add(f+".answers", "each at most 256 printable characters")
			break
		}
	}
	if len(d.Error) > MaxTextLen {
		p.add(f+".error", "at most %d characters", MaxTextLen)
	}
}

func (h *HTTP) validate(p Problems, f string) {
	if h.StatusCode != 0 && (h.StatusCode < 100 || h.StatusCode > 599) {
		p.add(f+".status_code", "must be 100..599 or absent")
	}
	if !finiteMs(h.TTFBMs) {
		p.add(f+".ttfb_ms", "must be a finite number of milliseconds, 0..600000")
	}
	if !finiteMs(h.TotalMs) {
		p.add(f+".total_ms", "must be a finite number of milliseconds, 0..600000")
	}
	if h.CertExpiresMs < 0 {
		p.add(f+".cert_expires_ms", "must be a Unix time in ms or absent")
	}
	if len(h.Error) > MaxTextLen {
		p.add(f+".error", "at most %d characters", MaxTextLen)
	}
}

func (t *Throughput) validate(p Problems, f string) {
	if t.Direction != "download" && t.Direction != "upload" {
		p.add(f+".direction", "must be download or upload")
	}
	if t.Bytes < 0 || t.Bytes > 100<<30 {
		p.add(f+".bytes", "must be 0..100 GiB")
	}
	if !finiteMs(t.DurationMs) {
		p.add(f+".duration_ms", "must be a finite number of milliseconds, 0..600000")
	}
	for name, v := range map[string]float64{"mbps": t.Mbps, "other_mbps": t.OtherMbps} {
		if math.IsNaN(v) || v < 0 || v > 100000 {
			p.add(f+"."+name, "must be 0..100000 Mbit/s")
		}
	}
	if len(t.Interface) > 64 || !printable(t.Interface) {
		p.add(f+".interface", "at most 64 printable characters")
	}
	if len(t.Error) > MaxTextLen {
		p.add(f+".error", "at most %d characters", MaxTextLen)
	}
}

func (o *Outage) validate(p Problems, f string, oldest, newest int64) {
	switch o.Cause {
	case CauseLink, CausePower, CauseProbe:
	default:
		p.add(f+".cause", "must be link, power or probe")
	}
	if o.StartMs < oldest-int64(MaxPast/time.Millisecond) || o.StartMs > newest {
		p.add(f+".start_ms", "out of range")
	}
	if o.EndMs < o.StartMs || o.EndMs > newest {
		p.add(f+".end_ms", "must be at or after start_ms and not in the future")
	}
	if len(o.Detail) > MaxTextLen || !printable(o.Detail) {
		p.add(f+".detail", "at most %d printable characters", MaxTextLen)
	}
}

func finiteMs(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 600000 }

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\uFFFD' })
}

func itoa(i int) string { return fmt.Sprint(i) }

// SeqRange returns the lowest and highest record numbers in the report
// (0, 0 when it has none).
func (r *Report) SeqRange() (lo, hi uint64) {
	first := true
	see := func(q uint64) {
		if first || q < lo {
			lo = q
		}
		hi = max(hi, q)
		first = false
	}
	for i := range r.Samples {
		see(r.Samples[i].Seq)
	}
	for i := range r.Events {
		see(r.Events[i].Seq)
	}
	return lo, hi
}
