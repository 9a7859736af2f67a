package influx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
)

// fuzzNow is the server clock the fuzzed reports are validated against.
var fuzzNow = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// Bits of FuzzAppendReport's sel: which records the report carries and a
// few choices inside them.
const (
	selICMP = 1 << iota
	selHeartbeat
	selDNS
	selHTTP
	selThroughput
	selOutage
	selEvent
	selAttrs
	selRTTs
	selFlag     // prev_clean, ok
	selUpload   // throughput direction
	selChoice1  // severity and outage cause: two bits
	selChoice2  //
	selNoRegion // empty regency
)

// FuzzAppendReport builds a report from fuzzed fields, keeps it only if
// Validate accepts it, encodes it and decodes the result with
// influxdata/line-protocol's decoder: every point must come back with the
// same measurement, tags, fields and timestamp. A record is refused (an
// error, the others still written) only when one of its tag values cannot
// be written unchanged; and InfluxDB 1.x/2.x's way of cutting a batch into
// lines must cut exactly at the ends of our points.
func FuzzAppendReport(f *testing.F) {
	const all = selICMP | selHeartbeat | selDNS | selHTTP | selThroughput | selOutage | selEvent | selAttrs
	f.Add(uint16(all), "p-1", "33.06", "jatengprov.go.id", "system", "wan", "probe_start", `said "hi"`, "a", "1", "NOERROR",
		10.0, 20.0, 30.0, int64(60_000), int64(4|3<<10), uint64(7))
	f.Add(uint16(all|selRTTs|selFlag|selUpload|selChoice1), "probe 1", "33.06", "dns server,1", "8.8.8.8:53", "eth0.2", "dns_hijack",
		"line\nbreak\ttab\r", "k=v", "x,y z", "boot id", 0.0, 0.5, 100000.0, int64(1), int64(3|3<<10), uint64(1))
	f.Add(uint16(selICMP|selEvent|selChoice2), `C:\probe`, "", `a\b`, `\\host\share`, "", `kind\`, `back\slash\`, `"`, `\"`, `\`,
		math.SmallestNonzeroFloat64, 1e-300, 599999.999, int64(-1), int64(1000), uint64(1<<53))
	f.Add(uint16(all|selChoice1|selChoice2), "Désa 村 🚀", "33.06", "a\\ \\=\"", "tab\there", "", "a=b,c d", "\xff\xfe", "\x00", "\u2028", "",
		-0.0, 100000.0, 1.7976931348623157e308, int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64))
	f.Add(uint16(selDNS|selHTTP|selNoRegion), "p", "33.01", "=", ",", " ", "#comment", "", "", "", "\x7f",
		1.0, 2.0, 3.0, int64(5*86400*1000), int64(404), uint64(1<<63))
	f.Fuzz(func(t *testing.T, sel uint16, probe, regency, target, resolver, iface, kind, msg, attrK, attrV, text string,
		a, b, c float64, n1, n2 int64, seq uint64) {
		r := fuzzReport(sel, probe, target, resolver, iface, kind, msg, attrK, attrV, text, a, b, c, n1, n2, seq)
		if r.Validate(fuzzNow) != nil {
			return
		}
		if sel&selNoRegion != 0 {
			regency = ""
		}
		checkRoundTrip(t, r, regency)
	})
}

// fuzzReport makes a report out of FuzzAppendReport's arguments.
func fuzzReport(sel uint16, probe, target, resolver, iface, kind, msg, attrK, attrV, text string,
	a, b, c float64, n1, n2 int64, seq uint64) *jagadesa.Report {
	nowMs := fuzzNow.UnixMilli()
	ts := nowMs - int64(uint64(n1)%uint64(jagadesa.MaxPast/time.Millisecond))
	r := &jagadesa.Report{Version: 1, Probe: probe, Village: "33.06.08.2005", SentAt: nowMs}
	add := func(s jagadesa.Sample) {
		s.Seq = seq + uint64(len(r.Samples))
		s.TimeMs = ts
		r.Samples = append(r.Samples, s)
	}
	flag := sel&selFlag != 0
	choice := int(sel/selChoice1) & 3
	if sel&selICMP != 0 {
		sent := 1 + int(uint64(n2)%1000)
		recv := int((uint64(n2) >> 10) % uint64(sent+1))
		m := []float64{a, b, c}
		slices.Sort(m)
		p := &jagadesa.ICMP{Sent: sent, Received: recv, MinMs: m[0], AvgMs: m[1], MaxMs: m[2], StddevMs: a, JitterMs: b}
		if sel&selRTTs != 0 {
			for i := range recv {
				p.RTTsMs = append(p.RTTsMs, []float64{a, b, c}[i%3])
			}
		}
		add(jagadesa.Sample{Kind: jagadesa.KindICMP, Target: target, ICMP: p})
	}
	if sel&selHeartbeat != 0 {
		add(jagadesa.Sample{Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: text, UptimeS: a,
			ProbeStartMs: n1, PrevClean: flag, SpoolBytes: n2, SpoolDropped: seq, IntervalS: b, ProbeVersion: iface}})
	}
	if sel&selDNS != 0 {
		var answers []string
		for _, s := range []string{attrK, attrV} {
			if s != "" {
				answers = append(answers, s)
			}
		}
		add(jagadesa.Sample{Kind: jagadesa.KindDNS, Target: target, DNS: &jagadesa.DNS{Resolver: resolver, OK: flag,
			RTTMs: c, RCode: text, Answers: answers, Error: msg}})
	}
	if sel&selHTTP != 0 {
		add(jagadesa.Sample{Kind: jagadesa.KindHTTP, Target: target, HTTP: &jagadesa.HTTP{OK: flag, StatusCode: int(uint64(n2) % 700),
			TTFBMs: a, TotalMs: b, CertExpiresMs: n1, Error: msg}})
	}
	if sel&selThroughput != 0 {
		dir := "download"
		if sel&selUpload != 0 {
			dir = "upload"
		}
		add(jagadesa.Sample{Kind: jagadesa.KindThroughput, Target: target, Throughput: &jagadesa.Throughput{Direction: dir,
			Bytes: n2, DurationMs: a, Mbps: b, OtherMbps: c, Interface: iface, Error: msg}})
	}
	if sel&selOutage != 0 {
		cause := []string{jagadesa.CauseLink, jagadesa.CausePower, jagadesa.CauseProbe, kind}[choice]
		start := ts - int64(uint64(n2)%uint64(2*jagadesa.MaxPast/time.Millisecond))
		add(jagadesa.Sample{Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: cause, StartMs: start, EndMs: ts, Detail: text}})
	}
	if sel&selEvent != 0 {
		ev := jagadesa.Event{Seq: seq + uint64(len(r.Samples)), TimeMs: ts, Kind: kind,
			Severity: []string{"info", "warning", "critical", "debug"}[choice], Message: msg}
		if sel&selAttrs != 0 {
			ev.Attrs = map[string]string{attrK: attrV, "target": target}
		}
		r.Events = append(r.Events, ev)
	}
	return r
}

// point is one decoded line-protocol point.
type point struct {
	meas   string
	tags   map[string]string
	fields map[string]any
	time   int64 // ns
}

func (p point) String() string {
	return fmt.Sprintf("%s %v %v %d", p.meas, p.tags, p.fields, p.time)
}

// checkRoundTrip encodes r and checks the result against what the schema
// says each record becomes.
func checkRoundTrip(t *testing.T, r *jagadesa.Report, regency string) {
	t.Helper()
	want, refused := expectPoints(r, regency)
	var e influx.Encoder
	buf, n, err := e.AppendReport(nil, r, regency)
	if refused != "" && err == nil {
		t.Fatalf("%s was encoded, want it refused\n%q", refused, buf)
	}
	if refused == "" && err != nil {
		t.Fatalf("a writable report was refused: %v", err)
	}
	if n != len(want) {
		t.Fatalf("AppendReport says %d points, want %d\n%q", n, len(want), buf)
	}
	got := decodePoints(t, buf)
	if len(got) != len(want) {
		t.Fatalf("decoded %d points, want %d\n%q", len(got), len(want), buf)
	}
	for i := range want {
		if !samePoint(got[i], want[i]) {
			t.Fatalf("point %d differs\n got: %v\nwant: %v\nline protocol: %q", i, got[i], want[i], buf)
		}
	}
	if cuts, ends := influxLineCuts(buf), lineEnds(buf); !slices.Equal(cuts, ends) {
		t.Fatalf("InfluxDB would cut the batch at %v, our points end at %v\n%q", cuts, ends, buf)
	}
	// Encoding again into the same buffer gives the same bytes.
	again, _, _ := e.AppendReport(buf[:0:0], r, regency)
	if string(again) != string(buf) {
		t.Fatalf("encoding is not deterministic\n%q\n%q", buf, again)
	}
}

// writableTag is the rule for tag values, stated apart from the encoder's
// own: no control characters, valid UTF-8, and no backslash before a
// comma, space or equals sign or at the end.
func writableTag(v string) bool {
	if !utf8.ValidString(v) || strings.HasSuffix(v, `\`) ||
		strings.Contains(v, `\,`) || strings.Contains(v, `\ `) || strings.Contains(v, `\=`) {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// expectPoints lists the points r should become, in order, and names the
// first record that should be refused ("" if none).
func expectPoints(r *jagadesa.Report, regency string) (want []point, refused string) {
	text := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	mk := func(where, meas string, seq uint64, ns int64, tags ...string) *point {
		p := &point{meas: meas, tags: map[string]string{}, fields: map[string]any{}, time: ns}
		ok := seq <= math.MaxInt64
		for i := 0; i < len(tags); i += 2 {
			if !writableTag(tags[i+1]) {
				ok = false
			}
			if tags[i+1] != "" {
				p.tags[tags[i]] = tags[i+1]
			}
		}
		if !ok {
			if refused == "" {
				refused = where
			}
			return nil
		}
		p.fields["seq"] = int64(seq)
		return p
	}
	for i := range r.Samples {
		s := &r.Samples[i]
		where := fmt.Sprintf("samples[%d]", i)
		ns := time.UnixMilli(s.TimeMs).UnixNano()
		var p *point
		switch s.Kind {
		case jagadesa.KindICMP:
			x := s.ICMP
			if p = mk(where, influx.MeasICMP, s.Seq, ns, "probe", r.Probe, "regency", regency, "target", s.Target, "village", r.Village); p == nil {
				continue
			}
			p.fields["sent"] = float64(x.Sent)
			p.fields["received"] = float64(x.Received)
			p.fields["loss_pct"] = x.LossPct()
			if x.Received > 0 {
				q := x.Quantiles()
				for k, v := range map[string]float64{"rtt_min_ms": x.MinMs, "rtt_p10_ms": q[0], "rtt_p25_ms": q[1], "rtt_avg_ms": x.AvgMs,
					"rtt_median_ms": q[2], "rtt_p75_ms": q[3], "rtt_p90_ms": q[4], "rtt_max_ms": x.MaxMs, "rtt_stddev_ms": x.StddevMs, "jitter_ms": x.JitterMs} {
					p.fields[k] = v
				}
			}
		case jagadesa.KindHeartbeat:
			h := s.Heartbeat
			if p = mk(where, influx.MeasHeartbeat, s.Seq, ns, "probe", r.Probe, "regency", regency, "village", r.Village); p == nil {
				continue
			}
			p.fields["boot_id"] = text(h.BootID)
			p.fields["interval_s"] = h.IntervalS
			p.fields["prev_clean"] = h.PrevClean
			p.fields["probe_start_s"] = float64(h.ProbeStartMs) / 1000
			p.fields["probe_version"] = text(h.ProbeVersion)
			p.fields["spool_bytes"] = float64(h.SpoolBytes)
			p.fields["spool_dropped"] = float64(h.SpoolDropped)
			p.fields["uptime_s"] = h.UptimeS
		case jagadesa.KindDNS:
			d := s.DNS
			if p = mk(where, influx.MeasDNS, s.Seq, ns, "probe", r.Probe, "regency", regency, "resolver", d.Resolver, "target", s.Target, "village", r.Village); p == nil {
				continue
			}
			p.fields["ok"] = b2f(d.OK)
			p.fields["rtt_ms"] = d.RTTMs
			p.fields["rcode"] = text(d.RCode)
			p.fields["answers"] = text(strings.Join(d.Answers, ","))
			if d.Error != "" {
				p.fields["error"] = text(d.Error)
			}
		case jagadesa.KindHTTP:
			h := s.HTTP
			if p = mk(where, influx.MeasHTTP, s.Seq, ns, "probe", r.Probe, "regency", regency, "target", s.Target, "village", r.Village); p == nil {
				continue
			}
			p.fields["ok"] = b2f(h.OK)
			p.fields["status_code"] = float64(h.StatusCode)
			p.fields["ttfb_ms"] = h.TTFBMs
			p.fields["total_ms"] = h.TotalMs
			if h.CertExpiresMs > 0 {
				p.fields["cert_expiry_days"] = float64(h.CertExpiresMs-s.TimeMs) / 86_400_000
			}
			if h.Error != "" {
				p.fields["error"] = text(h.Error)
			}
		case jagadesa.KindThroughput:
			x := s.Throughput
			if p = mk(where, influx.MeasThroughput, s.Seq, ns, "direction", x.Direction, "probe", r.Probe, "regency", regency, "village", r.Village); p == nil {
				continue
			}
			p.fields["bytes"] = float64(x.Bytes)
			p.fields["duration_ms"] = x.DurationMs
			p.fields["mbps"] = x.Mbps
			p.fields["other_mbps"] = x.OtherMbps
			if x.Interface != "" {
				p.fields["interface"] = text(x.Interface)
			}
			if x.Error != "" {
				p.fields["error"] = text(x.Error)
			}
		case jagadesa.KindOutage:
			o := s.Outage
			if p = mk(where, influx.MeasOutage, s.Seq, time.UnixMilli(o.StartMs).UnixNano(), "cause", o.Cause, "probe", r.Probe, "regency", regency, "village", r.Village); p == nil {
				continue
			}
			p.fields["duration_s"] = float64(o.EndMs-o.StartMs) / 1000
			p.fields["end_s"] = float64(o.EndMs) / 1000
			if o.Detail != "" {
				p.fields["detail"] = text(o.Detail)
			}
		default:
			continue
		}
		want = append(want, *p)
	}
	for i := range r.Events {
		ev := &r.Events[i]
		ns := time.UnixMilli(ev.TimeMs).UnixNano() + int64(ev.Seq%1_000_000)
		p := mk(fmt.Sprintf("events[%d]", i), influx.MeasEvent, ev.Seq, ns,
			"kind", ev.Kind, "probe", r.Probe, "regency", regency, "severity", ev.Severity, "village", r.Village)
		if p == nil {
			continue
		}
		p.fields["message"] = text(ev.Message)
		if len(ev.Attrs) > 0 {
			b, err := json.Marshal(ev.Attrs)
			if err != nil {
				panic(err)
			}
			p.fields["attrs"] = string(b)
		}
		want = append(want, *p)
	}
	return want, refused
}

// decodePoints reads every point of buf with the line-protocol decoder,
// failing the test on any syntax error or repeated tag or field.
func decodePoints(t *testing.T, buf []byte) []point {
	t.Helper()
	var out []point
	dec := lineprotocol.NewDecoderWithBytes(buf)
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			t.Fatalf("measurement of point %d: %v\n%q", len(out), err, buf)
		}
		p := point{meas: string(m), tags: map[string]string{}, fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("tag of point %d: %v\n%q", len(out), err, buf)
			}
			if k == nil {
				break
			}
			if _, dup := p.tags[string(k)]; dup {
				t.Fatalf("point %d has tag %s twice\n%q", len(out), k, buf)
			}
			p.tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("field of point %d: %v\n%q", len(out), err, buf)
			}
			if k == nil {
				break
			}
			if _, dup := p.fields[string(k)]; dup {
				t.Fatalf("point %d has field %s twice\n%q", len(out), k, buf)
			}
			p.fields[string(k)] = v.Interface()
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil || ts.IsZero() {
			t.Fatalf("time of point %d: %v (%v)\n%q", len(out), ts, err, buf)
		}
		p.time = ts.UnixNano()
		out = append(out, p)
	}
	if err := dec.Err(); err != nil {
		t.Fatalf("decoding: %v\n%q", err, buf)
	}
	return out
}

func samePoint(a, b point) bool {
	if a.meas != b.meas || a.time != b.time || len(a.tags) != len(b.tags) || len(a.fields) != len(b.fields) {
		return false
	}
	for k, v := range a.tags {
		if w, ok := b.tags[k]; !ok || v != w {
			return false
		}
	}
	for k, v := range a.fields {
		w, ok := b.fields[k]
		if !ok {
			return false
		}
		// Floats compare by value: the encoder writes the shortest form that
		// parses back to the same float64 (-0 and 0 are equal).
		if v != w {
			return false
		}
	}
	return true
}

// lineEnds returns the offset of every newline in buf.
func lineEnds(buf []byte) []int {
	var out []int
	for i, c := range buf {
		if c == '\n' {
			out = append(out, i)
		}
	}
	return out
}

// influxLineCuts returns where InfluxDB 1.x and 2.x end each line of a
// written batch, as their parser finds line ends before parsing a point: a
// backslash always takes the next byte with it (if two more bytes follow),
// and after the first space a double quote opens or closes a string when
// more equals signs than commas have been seen outside strings; a newline
// outside a string ends the line.
func influxLineCuts(buf []byte) []int {
	var out []int
	for start := 0; start < len(buf); {
		i, quoted, fields, equals, commas := start, false, false, 0, 0
		for ; i < len(buf); i++ {
			c := buf[i]
			if c == '\\' && i+2 < len(buf) {
				i++
				continue
			}
			if c == ' ' {
				fields = true
			}
			if fields {
				switch {
				case !quoted && c == '=':
					equals++
					continue
				case !quoted && c == ',':
					commas++
					continue
				case c == '"' && equals > commas:
					quoted = !quoted
					continue
				}
			}
			if c == '\n' && !quoted {
				break
			}
		}
		if i < len(buf) {
			out = append(out, i)
		}
		start = i + 1
	}
	return out
}

// TestAppendReportNastyStrings puts awkward strings in every tag and
// string field: each report must round-trip through the line-protocol
// decoder, or be refused exactly when a tag value cannot be written.
func TestAppendReportNastyStrings(t *testing.T) {
	for _, tc := range nastyStrings {
		t.Run(fmt.Sprintf("%q", tc.s), func(t *testing.T) {
			if writableTag(tc.s) != tc.tagOK {
				t.Fatalf("writableTag(%q) = %v, want %v", tc.s, !tc.tagOK, tc.tagOK)
			}
			// As a tag of every kind of point.
			r := nastyReport(tc.s, tc.s)
			_, refused := expectPoints(r, "33.06")
			if (refused == "") != tc.tagOK {
				t.Fatalf("refused %q, want refused: %v", refused, !tc.tagOK)
			}
			checkRoundTrip(t, r, "33.06")
			var e influx.Encoder
			if _, _, err := e.AppendReport(nil, r, "33.06"); !tc.tagOK && (err == nil || !strings.Contains(err.Error(), "cannot be written")) {
				t.Fatalf("error %v, want one saying the tag cannot be written", err)
			}
			// As text only: always written.
			r = nastyReport("t", tc.s)
			if _, refused := expectPoints(r, "33.06"); refused != "" {
				t.Fatalf("%s refused for text in fields only", refused)
			}
			checkRoundTrip(t, r, "33.06")
		})
	}
}

// nastyStrings are the strings TestAppendReportNastyStrings and
// TestNastyStringsInInfluxDB use, and whether they can be tag values.
var nastyStrings = []struct {
	s     string
	tagOK bool
}{
	{`plain`, true},
	{`with space`, true},
	{` leading and trailing `, true},
	{`comma,separated`, true},
	{`a=b`, true},
	{`=`, true},
	{`,`, true},
	{` `, true},
	{`say "hi"`, true},
	{`"`, true},
	{`a\b`, true},
	{`C:\Windows\System32`, true},
	{`\\server\share`, true},
	{`\"quoted\"`, true},
	{`\\a`, true},
	{`#not a comment`, true},
	{`Désa Kemuning 村 🚀 ⁠ zero-width`, true},
	{"\u00a0nbsp\u2028line sep", true},
	{`ends in backslash\`, false},
	{`\`, false},
	{`\\`, false},
	{`a\ b`, false},
	{`a\,b`, false},
	{`a\=b`, false},
	{`a\ \="`, false},
	{"new\nline", false},
	{"tab\tin", false},
	{"cr\rin", false},
	{"nul\x00in", false},
	{"del\x7fin", false},
	{"bad \xff utf-8", false},
}

// nastyReport carries tagText in every tag a probe controls and text in
// every free-text field, in one record of each kind.
func nastyReport(tagText, text string) *jagadesa.Report {
	return nastyReportAt(tagText, text, "33.06.08.2005", fuzzNow.Add(-time.Hour).UnixMilli())
}

func nastyReportAt(tagText, text, village string, ts int64) *jagadesa.Report {
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: village, Samples: []jagadesa.Sample{
		{Seq: 1, TimeMs: ts, Kind: jagadesa.KindICMP, Target: tagText, ICMP: &jagadesa.ICMP{Sent: 2, Received: 1, MinMs: 1, AvgMs: 1, MaxMs: 1}},
		{Seq: 2, TimeMs: ts, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: text, ProbeVersion: text, IntervalS: 60}},
		{Seq: 3, TimeMs: ts, Kind: jagadesa.KindDNS, Target: tagText, DNS: &jagadesa.DNS{Resolver: tagText, RTTMs: 5, RCode: text, Answers: []string{text, text}, Error: text}},
		{Seq: 4, TimeMs: ts, Kind: jagadesa.KindHTTP, Target: tagText, HTTP: &jagadesa.HTTP{StatusCode: 200, TTFBMs: 1, TotalMs: 2, Error: text}},
		{Seq: 5, TimeMs: ts, Kind: jagadesa.KindThroughput, Target: tagText, Throughput: &jagadesa.Throughput{Direction: "upload", Interface: text, Error: text}},
		{Seq: 6, TimeMs: ts, Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: jagadesa.CauseLink, StartMs: ts - 1000, EndMs: ts, Detail: text}},
	}, Events: []jagadesa.Event{
		{Seq: 7, TimeMs: ts, Kind: tagText, Severity: "warning", Message: text, Attrs: map[string]string{text: text}},
	}}
	return r
}

// TestNastyStringsInInfluxDB writes the nasty strings to a real InfluxDB
// 1.8, whose line-protocol parser is the one InfluxDB 2.x uses too, and
// reads them back: every tag comes back unchanged, every point is stored
// (none swallowed by its neighbour), and string fields come back as that
// parser unescapes them (only \\ and \"; a newline is stored as \n).
func TestNastyStringsInInfluxDB(t *testing.T) {
	s := newStore(t)
	ts := time.Now().Add(-time.Hour).UnixMilli()
	stored := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)
	type want struct{ tag, text string }
	byVillage := map[string]want{}
	points := 0
	for i, tc := range nastyStrings {
		village := fmt.Sprintf("33.06.08.%04d", 2000+i)
		tagText := tc.s
		if !tc.tagOK {
			tagText = "t"
		}
		n, err := s.WriteReport(context.Background(), nastyReportAt(tagText, tc.s, village, ts), "33.06")
		if err != nil {
			t.Fatalf("%q: %v", tc.s, err)
		}
		points += n
		byVillage[village] = want{tagText, stored.Replace(strings.ToValidUTF8(tc.s, "\uFFFD"))}
	}
	recs, err := s.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -30d)
  |> filter(fn: (r) => r._field == "seq") |> group() |> count()`, influx.FluxString(s.Bucket())))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0]["_value"] != int64(points) {
		t.Fatalf("stored points: %v, want %d", recs, points)
	}
	recs, err = s.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -30d)
  |> filter(fn: (r) => (r._measurement == "event" and r._field == "message") or (r._measurement == "dns" and r._field == "error"))`,
		influx.FluxString(s.Bucket())))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2*len(nastyStrings) {
		t.Fatalf("%d event messages and DNS errors read back, want %d", len(recs), 2*len(nastyStrings))
	}
	for _, rec := range recs {
		w := byVillage[rec["village"].(string)]
		var tags []string
		if rec["_measurement"] == "event" {
			tags = []string{"kind"}
		} else {
			tags = []string{"resolver", "target"}
		}
		for _, k := range tags {
			if rec[k] != w.tag {
				t.Errorf("%s %s: tag %s = %q, want %q", rec["_measurement"], rec["village"], k, rec[k], w.tag)
			}
		}
		if rec["_value"] != w.text {
			t.Errorf("%s %s: %s = %q, want %q", rec["_measurement"], rec["village"], rec["_field"], rec["_value"], w.text)
		}
	}
}
