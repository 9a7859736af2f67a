package influx

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/jagadesa/jagadesa"
)

// Measurement names; docs/schema.md describes their tags and fields.
const (
	MeasICMP       = "icmp"
	MeasHeartbeat  = "heartbeat"
	MeasEvent      = "event"
	MeasDNS        = "dns"
	MeasHTTP       = "http"
	MeasThroughput = "throughput"
	MeasUsage      = "usage"
	MeasLANSpeed   = "lan_speedtest"
	MeasOutage     = "outage"
)

// Encoder turns validated reports into line protocol. It reuses its buffer,
// so one Encoder serves one goroutine at a time.
//
// Every point it writes reads back unchanged, both with the
// influxdata/line-protocol/v2 decoder and with the parser of InfluxDB 1.x
// and 2.x: tag values escape commas, spaces and equals signs; string fields
// escape backslashes, quotes, newlines, carriage returns and tabs, so the
// only newline in the output ends a point. (InfluxDB 1.x and 2.x unescape
// only \\ and \" in strings: a message's newline is stored there as the
// two characters \n.) A tag value line protocol cannot carry unchanged is
// refused, not altered; see tagProblem.
type Encoder struct {
	enc lineprotocol.Encoder
	err error // first record refused
}

// tag is one tag of a point. Tags are passed in key order, as line protocol
// wants them.
type tag struct{ key, value string }

// AppendReport encodes every record of r, tagged with its village, regency
// and probe, and returns the buffer and the number of points. The report
// must have passed Validate: the encoder trusts its numbers. A record it
// still cannot write (a tag value tagProblem refuses, a seq beyond int64)
// is left out and the error names the first such record; the others are
// in the buffer.
//
// Every point's timestamp comes from the probe, so writing the same report
// twice overwrites the same points: retries are idempotent. Events get the
// sequence number added as nanoseconds so two events of one kind in the same
// millisecond do not overwrite each other.
func (e *Encoder) AppendReport(buf []byte, r *jagadesa.Report, regency string) ([]byte, int, error) {
	e.enc.SetBuffer(buf)
	e.enc.SetPrecision(lineprotocol.Nanosecond)
	// Keys are our constants and tag values are checked by begin: skip the
	// encoder's own checks.
	e.enc.SetLax(true)
	e.err = nil
	n := 0
	for i := range r.Samples {
		s := &r.Samples[i]
		if s.Seq > math.MaxInt64 {
			e.refuse("samples", i, fmt.Errorf("seq %d does not fit an integer field", s.Seq))
			continue
		}
		t := time.UnixMilli(s.TimeMs)
		var err error
		switch s.Kind {
		case jagadesa.KindICMP:
			err = e.icmp(r, regency, s, t)
		case jagadesa.KindHeartbeat:
			err = e.heartbeat(r, regency, s, t)
		case jagadesa.KindDNS:
			err = e.dns(r, regency, s, t)
		case jagadesa.KindHTTP:
			err = e.http(r, regency, s, t)
		case jagadesa.KindThroughput:
			err = e.throughput(r, regency, s, t)
		case jagadesa.KindOutage:
			err = e.outage(r, regency, s)
		case jagadesa.KindUsage:
			err = e.usage(r, regency, s, t)
		case jagadesa.KindLANSpeed:
			err = e.lanSpeed(r, regency, s, t)
		default:
			continue
		}
		if err != nil {
			e.refuse("samples", i, err)
			continue
		}
		n++
	}
	for i := range r.Events {
		ev := &r.Events[i]
		if ev.Seq > math.MaxInt64 {
			e.refuse("events", i, fmt.Errorf("seq %d does not fit an integer field", ev.Seq))
			continue
		}
		if err := e.begin(MeasEvent, tag{"kind", ev.Kind}, tag{"probe", r.Probe}, tag{"regency", regency},
			tag{"severity", ev.Severity}, tag{"village", r.Village}); err != nil {
			e.refuse("events", i, err)
			continue
		}
		e.enc.AddField("message", str(ev.Message))
		if len(ev.Attrs) > 0 {
			e.enc.AddField("attrs", str(attrsString(ev.Attrs)))
		}
		e.enc.AddField("seq", lineprotocol.IntValue(int64(ev.Seq)))
		e.enc.EndLine(time.UnixMilli(ev.TimeMs).Add(time.Duration(ev.Seq % 1_000_000)))
		n++
	}
	out := e.enc.Bytes()
	err := e.err
	if err == nil {
		err = e.enc.Err()
	}
	e.enc.ClearErr()
	e.err = nil
	return out, n, err
}

// refuse keeps the first record that cannot be encoded; the others are
// still written, but AppendReport returns the error.
func (e *Encoder) refuse(list string, i int, err error) {
	if e.err == nil {
		e.err = fmt.Errorf("%s[%d]: %w", list, i, err)
	}
}

// begin starts a point of measurement m with its tags, leaving out tags
// with an empty value (line protocol has no empty tag values; InfluxDB
// reads a missing tag as empty). When a tag value cannot be written it
// writes nothing and says why.
func (e *Encoder) begin(m string, tags ...tag) error {
	for _, t := range tags {
		if why := tagProblem(t.value); why != "" {
			return fmt.Errorf("tag %s=%q cannot be written as line protocol: %s", t.key, t.value, why)
		}
	}
	e.enc.StartLine(m)
	for _, t := range tags {
		if t.value != "" {
			e.enc.AddTag(t.key, t.value)
		}
	}
	return nil
}

// tagProblem says why v cannot be a tag value, or returns "" when it can.
//
// Line protocol escapes a tag value's commas, spaces and equals signs with
// a backslash and has no escape for the backslash itself. A backslash at
// the end of a value would escape the separator written after it, so that
// value cannot be written at all. One before a comma, space or equals sign
// reads back correctly on its own, but InfluxDB 1.x and 2.x cut a batch
// into lines by pairing every backslash with the byte after it, and that
// pairing then swallows the escape: with a double quote further on, the
// line's end is taken for part of a quoted string and the next point (in a
// batch, perhaps another report's) is joined to it, failing both. Control
// characters and invalid UTF-8 are not allowed at all.
func tagProblem(v string) string {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20 || c == 0x7f:
			return "control character"
		case c == '\\' && (i+1 == len(v) || v[i+1] == ',' || v[i+1] == ' ' || v[i+1] == '='):
			return "backslash before a comma, space or equals sign, or at the end"
		}
	}
	if !utf8.ValidString(v) {
		return "invalid UTF-8"
	}
	return ""
}

func (e *Encoder) icmp(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	p := s.ICMP
	if err := e.begin(MeasICMP, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"target", s.Target}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("sent", flt(float64(p.Sent)))
	e.enc.AddField("received", flt(float64(p.Received)))
	e.enc.AddField("loss_pct", flt(p.LossPct()))
	// With nothing received there are no RTTs; leaving the fields out keeps
	// means and medians honest instead of dragging them to zero.
	if p.Received > 0 {
		q := p.Quantiles()
		e.enc.AddField("rtt_min_ms", flt(p.MinMs))
		e.enc.AddField("rtt_p10_ms", flt(q[0]))
		e.enc.AddField("rtt_p25_ms", flt(q[1]))
		e.enc.AddField("rtt_avg_ms", flt(p.AvgMs))
		e.enc.AddField("rtt_median_ms", flt(q[2]))
		e.enc.AddField("rtt_p75_ms", flt(q[3]))
		e.enc.AddField("rtt_p90_ms", flt(q[4]))
		e.enc.AddField("rtt_max_ms", flt(p.MaxMs))
		e.enc.AddField("rtt_stddev_ms", flt(p.StddevMs))
		e.enc.AddField("jitter_ms", flt(p.JitterMs))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

func (e *Encoder) heartbeat(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	h := s.Heartbeat
	if err := e.begin(MeasHeartbeat, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("boot_id", str(h.BootID))
	e.enc.AddField("interval_s", flt(h.IntervalS))
	e.enc.AddField("prev_clean", lineprotocol.BoolValue(h.PrevClean))
	e.enc.AddField("probe_start_s", flt(float64(h.ProbeStartMs)/1000))
	e.enc.AddField("probe_version", str(h.ProbeVersion))
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.AddField("spool_bytes", flt(float64(h.SpoolBytes)))
	e.enc.AddField("spool_dropped", flt(float64(h.SpoolDropped)))
	e.enc.AddField("uptime_s", flt(h.UptimeS))
	e.enc.EndLine(t)
	return nil
}

func (e *Encoder) dns(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	d := s.DNS
	if err := e.begin(MeasDNS, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"resolver", d.Resolver},
		tag{"target", s.Target}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("ok", flt(b2f(d.OK)))
	e.enc.AddField("rtt_ms", flt(d.RTTMs))
	e.enc.AddField("rcode", str(d.RCode))
	e.enc.AddField("answers", str(strings.Join(d.Answers, ",")))
	if d.Error != "" {
		e.enc.AddField("error", str(d.Error))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

func (e *Encoder) http(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	h := s.HTTP
	if err := e.begin(MeasHTTP, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"target", s.Target}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("ok", flt(b2f(h.OK)))
	e.enc.AddField("status_code", flt(float64(h.StatusCode)))
	e.enc.AddField("ttfb_ms", flt(h.TTFBMs))
	e.enc.AddField("total_ms", flt(h.TotalMs))
	if h.CertExpiresMs > 0 {
		e.enc.AddField("cert_expiry_days", flt(float64(h.CertExpiresMs-s.TimeMs)/float64(24*time.Hour/time.Millisecond)))
	}
	if h.Error != "" {
		e.enc.AddField("error", str(h.Error))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

func (e *Encoder) throughput(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	x := s.Throughput
	if err := e.begin(MeasThroughput, tag{"direction", x.Direction}, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("bytes", flt(float64(x.Bytes)))
	e.enc.AddField("duration_ms", flt(x.DurationMs))
	e.enc.AddField("mbps", flt(x.Mbps))
	e.enc.AddField("other_mbps", flt(x.OtherMbps))
	if x.Interface != "" {
		e.enc.AddField("interface", str(x.Interface))
	}
	if x.Error != "" {
		e.enc.AddField("error", str(x.Error))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

// usage points carry the router's counters as they were: the rollups turn
// them into devices a day, days with traffic and bytes a month.
func (e *Encoder) usage(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	u := s.Usage
	if err := e.begin(MeasUsage, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("active_devices", flt(float64(u.ActiveDevices)))
	e.enc.AddField("wan_rx_bytes", flt(float64(u.WANRxBytes)))
	e.enc.AddField("wan_tx_bytes", flt(float64(u.WANTxBytes)))
	if u.Interface != "" {
		e.enc.AddField("interface", str(u.Interface))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

// lanSpeed points are villagers' own tests from the probe's page.
func (e *Encoder) lanSpeed(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) error {
	l := s.LANSpeed
	if err := e.begin(MeasLANSpeed, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"verdict", l.Verdict}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("down_mbps", flt(l.DownMbps))
	e.enc.AddField("up_mbps", flt(l.UpMbps))
	e.enc.AddField("rtt_ms", flt(l.RTTMs))
	if l.WANDownMbps != nil {
		e.enc.AddField("wan_down_mbps", flt(*l.WANDownMbps))
	}
	if l.WANUpMbps != nil {
		e.enc.AddField("wan_up_mbps", flt(*l.WANUpMbps))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
	return nil
}

// outage points sit at the outage's start, so a timeline shows them where
// they began; the same outage reported twice overwrites itself.
func (e *Encoder) outage(r *jagadesa.Report, regency string, s *jagadesa.Sample) error {
	o := s.Outage
	if err := e.begin(MeasOutage, tag{"cause", o.Cause}, tag{"probe", r.Probe}, tag{"regency", regency}, tag{"village", r.Village}); err != nil {
		return err
	}
	e.enc.AddField("duration_s", flt(float64(o.EndMs-o.StartMs)/1000))
	e.enc.AddField("end_s", flt(float64(o.EndMs)/1000))
	if o.Detail != "" {
		e.enc.AddField("detail", str(o.Detail))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(time.UnixMilli(o.StartMs))
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// flt never fails for validated input (finite numbers); a NaN that slipped
// through becomes 0 and the encoder's error is not raised for it.
func flt(v float64) lineprotocol.Value {
	x, ok := lineprotocol.FloatValue(v)
	if !ok {
		x, _ = lineprotocol.FloatValue(0)
	}
	return x
}

// str makes a string field. Free text is only length-checked, so it may
// hold invalid UTF-8, which line protocol cannot carry: such bytes become
// U+FFFD and the rest of the text is kept.
func str(s string) lineprotocol.Value {
	v, ok := lineprotocol.StringValue(s)
	if !ok {
		v, _ = lineprotocol.StringValue(strings.ToValidUTF8(s, "\uFFFD"))
	}
	return v
}

// attrsString renders attributes as a JSON object; encoding/json sorts the
// keys, so the same event always encodes to the same bytes.
func attrsString(m map[string]string) string {
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}
