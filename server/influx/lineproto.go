package influx

import (
	"encoding/json"
	"strings"
	"time"

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
	MeasOutage     = "outage"
)

// Encoder turns validated reports into line protocol. It reuses its buffer,
// so one Encoder serves one goroutine at a time.
type Encoder struct {
	enc lineprotocol.Encoder
}

// AppendReport encodes every record of r, tagged with its village, regency
// and probe, and returns the buffer and the number of points. The report
// must have passed Validate: the encoder trusts its numbers.
//
// Every point's timestamp comes from the probe, so writing the same report
// twice overwrites the same points: retries are idempotent. Events get the
// sequence number added as nanoseconds so two events of one kind in the same
// millisecond do not overwrite each other.
func (e *Encoder) AppendReport(buf []byte, r *jagadesa.Report, regency string) ([]byte, int, error) {
	e.enc.SetBuffer(buf)
	e.enc.SetPrecision(lineprotocol.Nanosecond)
	// Keys are our constants and values passed Validate: skip re-checking.
	e.enc.SetLax(true)
	n := 0
	for i := range r.Samples {
		s := &r.Samples[i]
		t := time.UnixMilli(s.TimeMs)
		switch s.Kind {
		case jagadesa.KindICMP:
			e.icmp(r, regency, s, t)
		case jagadesa.KindHeartbeat:
			e.heartbeat(r, regency, s, t)
		case jagadesa.KindDNS:
			e.dns(r, regency, s, t)
		case jagadesa.KindHTTP:
			e.http(r, regency, s, t)
		case jagadesa.KindThroughput:
			e.throughput(r, regency, s, t)
		case jagadesa.KindOutage:
			e.outage(r, regency, s)
		default:
			continue
		}
		n++
	}
	for i := range r.Events {
		ev := &r.Events[i]
		e.enc.StartLine(MeasEvent)
		e.enc.AddTag("kind", ev.Kind)
		e.enc.AddTag("probe", r.Probe)
		e.enc.AddTag("regency", regency)
		e.enc.AddTag("severity", ev.Severity)
		e.enc.AddTag("village", r.Village)
		e.enc.AddField("message", str(ev.Message))
		if len(ev.Attrs) > 0 {
			e.enc.AddField("attrs", str(attrsString(ev.Attrs)))
		}
		e.enc.AddField("seq", lineprotocol.IntValue(int64(ev.Seq)))
		e.enc.EndLine(time.UnixMilli(ev.TimeMs).Add(time.Duration(ev.Seq % 1_000_000)))
		n++
	}
	out := e.enc.Bytes()
	err := e.enc.Err()
	e.enc.ClearErr()
	return out, n, err
}

func (e *Encoder) icmp(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) {
	p := s.ICMP
	e.enc.StartLine(MeasICMP)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("target", s.Target)
	e.enc.AddTag("village", r.Village)
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
}

func (e *Encoder) heartbeat(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) {
	h := s.Heartbeat
	e.enc.StartLine(MeasHeartbeat)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("village", r.Village)
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
}

func (e *Encoder) dns(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) {
	d := s.DNS
	e.enc.StartLine(MeasDNS)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("resolver", d.Resolver)
	e.enc.AddTag("target", s.Target)
	e.enc.AddTag("village", r.Village)
	e.enc.AddField("ok", flt(b2f(d.OK)))
	e.enc.AddField("rtt_ms", flt(d.RTTMs))
	e.enc.AddField("rcode", str(d.RCode))
	e.enc.AddField("answers", str(strings.Join(d.Answers, ",")))
	if d.Error != "" {
		e.enc.AddField("error", str(d.Error))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(t)
}

func (e *Encoder) http(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) {
	h := s.HTTP
	e.enc.StartLine(MeasHTTP)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("target", s.Target)
	e.enc.AddTag("village", r.Village)
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
}

func (e *Encoder) throughput(r *jagadesa.Report, regency string, s *jagadesa.Sample, t time.Time) {
	x := s.Throughput
	e.enc.StartLine(MeasThroughput)
	e.enc.AddTag("direction", x.Direction)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("village", r.Village)
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
}

// outage points sit at the outage's start, so a timeline shows them where
// they began; the same outage reported twice overwrites itself.
func (e *Encoder) outage(r *jagadesa.Report, regency string, s *jagadesa.Sample) {
	o := s.Outage
	e.enc.StartLine(MeasOutage)
	e.enc.AddTag("cause", o.Cause)
	e.enc.AddTag("probe", r.Probe)
	e.enc.AddTag("regency", regency)
	e.enc.AddTag("village", r.Village)
	e.enc.AddField("duration_s", flt(float64(o.EndMs-o.StartMs)/1000))
	e.enc.AddField("end_s", flt(float64(o.EndMs)/1000))
	if o.Detail != "" {
		e.enc.AddField("detail", str(o.Detail))
	}
	e.enc.AddField("seq", lineprotocol.IntValue(int64(s.Seq)))
	e.enc.EndLine(time.UnixMilli(o.StartMs))
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

func str(s string) lineprotocol.Value {
	v, ok := lineprotocol.StringValue(s)
	if !ok { // invalid UTF-8: keep the point, lose the text
		v, _ = lineprotocol.StringValue("")
	}
	return v
}

// attrsString renders attributes as a JSON object; encoding/json sorts the
// keys, so the same event always encodes to the same bytes.
func attrsString(m map[string]string) string {
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}
