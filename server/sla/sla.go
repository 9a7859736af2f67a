package sla

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Defaults and thresholds, from docs/sla.md.
const (
	// DefaultMbps is the contracted speed when the programme list has none.
	DefaultMbps = 100.0
	// DefaultTargetPct is the availability target when the contract has none.
	DefaultTargetPct = 98.0
	// MinCountedOutage: a link-down outage counts only when it lasts longer
	// than this, and then it counts whole (the usual contract clause). An
	// outage of exactly 5:00 does not count.
	MinCountedOutage = 5 * time.Minute
	// ThroughputPassShare of the contracted speed the month's mean download
	// must reach.
	ThroughputPassShare = 0.8
	// LatencyLimitMs is the hard limit on the month's median RTT to the
	// domestic reference (Permenkominfo 2/2013); LatencyTargetMs the target.
	LatencyLimitMs  = 150.0
	LatencyTargetMs = 50.0
	// LossLimitPct is the hard limit on the month's packet loss
	// (Permenkominfo 19/2010); LossTargetPct the target.
	LossLimitPct  = 2.0
	LossTargetPct = 1.0
	// RestoreTarget is the time to restore a counted outage should stay
	// within; outages longer than RestoreFlag are flagged (3×24 h, after
	// which consumer compensation rules apply).
	RestoreTarget = 24 * time.Hour
	RestoreFlag   = 72 * time.Hour
)

// ReportedTargetsPct are the availability tiers every result is also judged
// against, besides the contract's own target.
var ReportedTargetsPct = []float64{98, 99, 99.5}

// maxFeeIDR bounds a monthly fee: larger values are typing mistakes.
const maxFeeIDR = 1_000_000_000_000

// Village names the village link a result belongs to and the groups it is
// rolled up in.
type Village struct {
	Code   string `json:"village"` // Kemendagri code, e.g. 33.06.08.2007
	ISP    string `json:"isp,omitempty"`
	Cohort int    `json:"cohort,omitempty"` // programme year: 2022, 2023, 2024
	// Regency and Province default to the code's first two and first
	// segments (33.06 and 33).
	Regency  string `json:"regency"`
	Province string `json:"province"`
}

// Contract is what the ISP promised for this village link.
type Contract struct {
	// Mbps is the contracted download speed; 0 means DefaultMbps.
	Mbps float64
	// UploadMbps is the contracted upload speed when the contract names
	// one; 0 leaves upload reported but not judged.
	UploadMbps float64
	// TargetPct is the availability target; 0 means DefaultTargetPct.
	TargetPct float64
	// MonthlyFeeIDR is the monthly fee for this link in rupiah; 0 means
	// unknown, and restitution is then unknown too.
	MonthlyFeeIDR int64
}

// ThroughputTest is one speed test run on the router; either direction may
// be missing.
type ThroughputTest struct {
	T            time.Time
	DownloadMbps *float64
	UploadMbps   *float64
}

// Quality is the month's summary of the RTT samples to the domestic
// reference target; nil means no samples.
type Quality struct {
	MedianRTTMs *float64
	LossPct     *float64
}

// Input is everything one village's month is judged on.
type Input struct {
	Village Village
	// Month is any instant of the month, read in WIB.
	Month time.Time
	// Timeline may extend beyond the month: an outage crossing a month
	// boundary is judged on its whole length, so give it at least until
	// the outages touching the month have ended.
	Timeline     []Interval
	Maintenance  []Window
	ForceMajeure []Window
	Throughput   []ThroughputTest
	Quality      Quality
	Contract     Contract
}

// Verdict is how a village did on one parameter.
type Verdict string

// Verdicts.
const (
	Pass   Verdict = "pass"
	Fail   Verdict = "fail"
	NoData Verdict = "no_data"
)

// Status is a village's month over all parameters.
type Status string

// Statuses. Below wins over no data: a parameter known to fail is a failure
// whatever else is missing; all_met needs every parameter measured.
const (
	AllMet     Status = "all_met"
	Below      Status = "below"
	StatusNone Status = "no_data"
)

// Parameter names, in the order results and roll-ups list them.
const (
	ParamAvailability = "availability"
	ParamThroughput   = "throughput"
	ParamLatency      = "latency"
	ParamLoss         = "loss"
	ParamRestore      = "restore"
)

// Parameters lists every parameter a village must meet.
var Parameters = []string{ParamAvailability, ParamThroughput, ParamLatency, ParamLoss, ParamRestore}

// Excluded splits E by cause, in minutes.
type Excluded struct {
	PowerCutMin     float64 `json:"power_cut_min"`
	MaintenanceMin  float64 `json:"maintenance_min"`
	ForceMajeureMin float64 `json:"force_majeure_min"`
}

// Tier is the availability judged against one target.
type Tier struct {
	TargetPct float64 `json:"target_pct"`
	Met       *bool   `json:"met"` // nil without data
}

// Outage is one link-down or power-cut stretch touching the month. Start,
// End and Minutes are the whole outage, also when it crosses the month
// boundary; MinutesInMonth is this month's share.
type Outage struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Minutes        float64   `json:"minutes"`
	MinutesInMonth float64   `json:"minutes_in_month"`
	Cause          Cause     `json:"cause"` // link_down or power_cut
	// Counted: a link-down outage longer than MinCountedOutage.
	Counted bool `json:"counted"`
	// TimeToRestoreH is the outage's whole length in hours, for link-down
	// outages (a power cut is not the ISP's to restore). An outage still
	// going on at the end of the timeline is measured to its end: a lower
	// bound.
	TimeToRestoreH      *float64 `json:"time_to_restore_h"`
	RestoreWithinTarget *bool    `json:"restore_within_target"`
	RestoreFlagged      bool     `json:"restore_flagged"`
}

// SpeedStats summarises one direction of the month's speed tests.
type SpeedStats struct {
	Tests      int      `json:"tests"`
	MeanMbps   *float64 `json:"mean_mbps"`
	MedianMbps *float64 `json:"median_mbps"`
	P10Mbps    *float64 `json:"p10_mbps"`
}

// Throughput is the month's speed tests against the contract.
type Throughput struct {
	ContractedMbps       float64    `json:"contracted_mbps"`
	ThresholdMbps        float64    `json:"threshold_mbps"`
	ContractedUploadMbps float64    `json:"contracted_upload_mbps,omitempty"`
	UploadThresholdMbps  float64    `json:"upload_threshold_mbps,omitempty"`
	Download             SpeedStats `json:"download"`
	Upload               SpeedStats `json:"upload"`
}

// Limit is a measured value against its hard limit and its target.
type Limit struct {
	Value     *float64 `json:"value"`
	Limit     float64  `json:"limit"`
	Target    float64  `json:"target"`
	TargetMet *bool    `json:"target_met"`
}

// Result is one village link's month. The names availability_pct,
// downtime_min, excluded_min, total_min and throughput_verdict are an
// external contract (/work/shared/CONTRACT.md): keep them.
type Result struct {
	Village
	Month string    `json:"month"` // YYYY-MM, WIB
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`

	CalendarMin float64  `json:"calendar_min"` // minutes in the month
	TotalMin    float64  `json:"total_min"`    // T: calendar minus unknown
	UnknownMin  float64  `json:"unknown_min"`
	ExcludedMin float64  `json:"excluded_min"` // E
	Excluded    Excluded `json:"excluded"`
	DowntimeMin float64  `json:"downtime_min"` // D: counted link-down minutes
	// ShortOutageMin is link-down time in outages of 5 minutes or less:
	// not downtime under the contract, shown so nobody thinks it vanished.
	ShortOutageMin float64 `json:"short_outage_min"`

	AvailabilityPct       *float64 `json:"availability_pct"` // nil when T−E is 0
	AvailabilityTargetPct float64  `json:"availability_target_pct"`
	AvailabilityVerdict   Verdict  `json:"availability_verdict"`
	AvailabilityTiers     []Tier   `json:"availability_tiers"`
	Outages               []Outage `json:"outages"`

	ThroughputVerdict Verdict    `json:"throughput_verdict"`
	Throughput        Throughput `json:"throughput"`
	LatencyVerdict    Verdict    `json:"latency_verdict"`
	LatencyMs         Limit      `json:"latency_ms"`
	LossVerdict       Verdict    `json:"loss_verdict"`
	LossPct           Limit      `json:"loss_pct"`
	// RestoreVerdict passes when every counted outage was restored within
	// RestoreTarget; FlaggedOutages counts those over RestoreFlag.
	RestoreVerdict Verdict `json:"restore_verdict"`
	FlaggedOutages int     `json:"flagged_outages"`

	MonthlyFeeIDR  *int64 `json:"monthly_fee_idr"`
	RestitutionDue bool   `json:"restitution_due"`
	// RestitutionIDR = fee × D hours ÷ hours in the month, rounded half up
	// to whole rupiah, when availability is below the target; 0 when it
	// is not; nil when the fee or the availability is unknown.
	RestitutionIDR *int64 `json:"restitution_idr"`

	Status Status   `json:"status"`
	Failed []string `json:"failed"` // parameters with a fail verdict
}

// Verdicts returns the result's verdict per parameter, keyed by the names in
// Parameters.
func (r Result) Verdicts() map[string]Verdict {
	return map[string]Verdict{
		ParamAvailability: r.AvailabilityVerdict,
		ParamThroughput:   r.ThroughputVerdict,
		ParamLatency:      r.LatencyVerdict,
		ParamLoss:         r.LossVerdict,
		ParamRestore:      r.RestoreVerdict,
	}
}

// Compute judges one village link over one calendar month.
func Compute(in Input) (Result, error) {
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	start, end := MonthRange(in.Month)
	c := in.Contract
	if c.Mbps == 0 {
		c.Mbps = DefaultMbps
	}
	if c.TargetPct == 0 {
		c.TargetPct = DefaultTargetPct
	}
	r := Result{
		Village:               in.Village.withDefaults(),
		Month:                 monthLabel(start),
		From:                  start,
		To:                    end,
		CalendarMin:           end.Sub(start).Minutes(),
		AvailabilityTargetPct: c.TargetPct,
		Outages:               []Outage{},
		Failed:                []string{},
	}

	// The sweep covers the month and everything the inputs reach, so an
	// outage crossing the boundary is seen whole.
	from, to := start, end
	widen := func(s, e time.Time) {
		if s.Before(from) {
			from = s
		}
		if e.After(to) {
			to = e
		}
	}
	for _, iv := range in.Timeline {
		widen(iv.Start, iv.End)
	}
	for _, w := range in.Maintenance {
		widen(w.Start, w.End)
	}
	for _, w := range in.ForceMajeure {
		widen(w.Start, w.End)
	}

	var unknown, excluded, down, short time.Duration
	for _, ru := range resolve(from, to, in.Timeline, in.Maintenance, in.ForceMajeure) {
		inMonth := overlap(ru.start, ru.end, start, end)
		if inMonth == 0 {
			continue
		}
		switch ru.cause {
		case CauseUnknown:
			unknown += inMonth
		case CausePowerCut:
			excluded += inMonth
			r.Excluded.PowerCutMin += inMonth.Minutes()
		case CauseMaintenance:
			excluded += inMonth
			r.Excluded.MaintenanceMin += inMonth.Minutes()
		case CauseForceMajeure:
			excluded += inMonth
			r.Excluded.ForceMajeureMin += inMonth.Minutes()
		}
		if ru.cause != CauseLinkDown && ru.cause != CausePowerCut {
			continue
		}
		whole := ru.end.Sub(ru.start)
		o := Outage{
			Start:          ru.start,
			End:            ru.end,
			Minutes:        whole.Minutes(),
			MinutesInMonth: inMonth.Minutes(),
			Cause:          ru.cause,
		}
		if ru.cause == CauseLinkDown {
			o.Counted = whole > MinCountedOutage
			o.TimeToRestoreH = ptr(whole.Hours())
			o.RestoreWithinTarget = ptr(whole <= RestoreTarget)
			o.RestoreFlagged = whole > RestoreFlag
			if o.Counted {
				down += inMonth
			} else {
				short += inMonth
			}
		}
		r.Outages = append(r.Outages, o)
	}
	month := end.Sub(start)
	r.TotalMin = (month - unknown).Minutes()
	r.UnknownMin = unknown.Minutes()
	r.ExcludedMin = excluded.Minutes()
	r.DowntimeMin = down.Minutes()
	r.ShortOutageMin = short.Minutes()

	// A = (T − E − D) / (T − E), computed on durations so that per-minute
	// inputs give exact minute counts.
	judged := month - unknown - excluded
	r.AvailabilityVerdict = NoData
	r.RestoreVerdict = NoData
	if judged > 0 {
		a := 100 * float64(judged-down) / float64(judged)
		r.AvailabilityPct = &a
		r.AvailabilityVerdict = verdict(a >= c.TargetPct)
		r.RestoreVerdict = Pass
		for _, o := range r.Outages {
			if o.Counted && !*o.RestoreWithinTarget {
				r.RestoreVerdict = Fail
			}
			if o.Counted && o.RestoreFlagged {
				r.FlaggedOutages++
			}
		}
	}
	targets := append([]float64{c.TargetPct}, ReportedTargetsPct...)
	for i, t := range targets {
		if i > 0 && t == c.TargetPct {
			continue
		}
		tier := Tier{TargetPct: t}
		if r.AvailabilityPct != nil {
			tier.Met = ptr(*r.AvailabilityPct >= t)
		}
		r.AvailabilityTiers = append(r.AvailabilityTiers, tier)
	}

	r.Throughput, r.ThroughputVerdict = throughput(in.Throughput, start, end, c)
	r.LatencyMs, r.LatencyVerdict = limit(in.Quality.MedianRTTMs, LatencyLimitMs, LatencyTargetMs)
	r.LossPct, r.LossVerdict = limit(in.Quality.LossPct, LossLimitPct, LossTargetPct)

	r.RestitutionDue = r.AvailabilityVerdict == Fail
	if c.MonthlyFeeIDR > 0 {
		r.MonthlyFeeIDR = ptr(c.MonthlyFeeIDR)
		if r.AvailabilityPct != nil {
			var idr int64
			if r.RestitutionDue {
				idr = restitution(c.MonthlyFeeIDR, down, month)
			}
			r.RestitutionIDR = &idr
		}
	}

	r.Status = AllMet
	missing := false
	verdicts := r.Verdicts()
	for _, p := range Parameters {
		switch verdicts[p] {
		case Fail:
			r.Failed = append(r.Failed, p)
		case NoData:
			missing = true
		}
	}
	switch {
	case len(r.Failed) > 0:
		r.Status = Below
	case missing:
		r.Status = StatusNone
	}
	return r, nil
}

func verdict(ok bool) Verdict {
	if ok {
		return Pass
	}
	return Fail
}

// throughput judges the tests run in [start, end): the mean download must
// reach ThroughputPassShare of the contract (and the mean upload of the
// contracted upload, when the contract names one).
func throughput(tests []ThroughputTest, start, end time.Time, c Contract) (Throughput, Verdict) {
	t := Throughput{
		ContractedMbps: c.Mbps,
		ThresholdMbps:  ThroughputPassShare * c.Mbps,
	}
	if c.UploadMbps > 0 {
		t.ContractedUploadMbps = c.UploadMbps
		t.UploadThresholdMbps = ThroughputPassShare * c.UploadMbps
	}
	var down, up []float64
	for _, x := range tests {
		if x.T.Before(start) || !x.T.Before(end) {
			continue
		}
		if x.DownloadMbps != nil {
			down = append(down, *x.DownloadMbps)
		}
		if x.UploadMbps != nil {
			up = append(up, *x.UploadMbps)
		}
	}
	t.Download = speedStats(down)
	t.Upload = speedStats(up)
	if t.Download.MeanMbps == nil {
		return t, NoData
	}
	ok := *t.Download.MeanMbps >= t.ThresholdMbps
	if c.UploadMbps > 0 {
		if t.Upload.MeanMbps == nil {
			if ok {
				return t, NoData
			}
			return t, Fail
		}
		ok = ok && *t.Upload.MeanMbps >= t.UploadThresholdMbps
	}
	return t, verdict(ok)
}

func speedStats(xs []float64) SpeedStats {
	s := SpeedStats{Tests: len(xs)}
	if len(xs) > 0 {
		s.MeanMbps = ptr(mean(xs))
		s.MedianMbps = ptr(quantile(xs, 0.5))
		s.P10Mbps = ptr(quantile(xs, 0.1))
	}
	return s
}

// limit judges a value where lower is better: pass at or under the hard
// limit.
func limit(v *float64, hard, target float64) (Limit, Verdict) {
	l := Limit{Limit: hard, Target: target}
	if v == nil {
		return l, NoData
	}
	l.Value = ptr(*v)
	l.TargetMet = ptr(*v <= target)
	return l, verdict(*v <= hard)
}

// restitution is fee × down ÷ month, rounded half up to whole rupiah, in
// exact integer arithmetic on nanoseconds.
func restitution(fee int64, down, month time.Duration) int64 {
	num := new(big.Int).Mul(big.NewInt(fee), big.NewInt(int64(down)))
	num.Mul(num, big.NewInt(2))
	num.Add(num, big.NewInt(int64(month)))
	den := big.NewInt(2 * int64(month))
	return num.Quo(num, den).Int64()
}

func (v Village) withDefaults() Village {
	parts := strings.Split(v.Code, ".")
	if v.Province == "" {
		v.Province = parts[0]
	}
	if v.Regency == "" && len(parts) >= 2 {
		v.Regency = parts[0] + "." + parts[1]
	}
	return v
}

func (in Input) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if in.Village.Code == "" {
		bad("village: code is required")
	}
	if in.Month.IsZero() {
		bad("month is required")
	}
	for i, iv := range in.Timeline {
		if !iv.State.valid() {
			bad("timeline[%d]: unknown state %q", i, iv.State)
		}
		if !iv.End.After(iv.Start) {
			bad("timeline[%d]: end %s is not after start %s", i, iv.End, iv.Start)
		}
	}
	windows := func(name string, ws []Window) {
		for i, w := range ws {
			if !w.End.After(w.Start) {
				bad("%s[%d]: end %s is not after start %s", name, i, w.End, w.Start)
			}
		}
	}
	windows("maintenance", in.Maintenance)
	windows("force_majeure", in.ForceMajeure)
	for i, t := range in.Throughput {
		if v := t.DownloadMbps; v != nil && (!finite(*v) || *v < 0) {
			bad("throughput[%d]: download %v Mbps", i, *v)
		}
		if v := t.UploadMbps; v != nil && (!finite(*v) || *v < 0) {
			bad("throughput[%d]: upload %v Mbps", i, *v)
		}
	}
	if v := in.Quality.MedianRTTMs; v != nil && (!finite(*v) || *v < 0) {
		bad("quality: median RTT %v ms", *v)
	}
	if v := in.Quality.LossPct; v != nil && (!finite(*v) || *v < 0 || *v > 100) {
		bad("quality: loss %v%%", *v)
	}
	c := in.Contract
	if !finite(c.Mbps) || c.Mbps < 0 {
		bad("contract: %v Mbps", c.Mbps)
	}
	if !finite(c.UploadMbps) || c.UploadMbps < 0 {
		bad("contract: upload %v Mbps", c.UploadMbps)
	}
	if !finite(c.TargetPct) || c.TargetPct < 0 || c.TargetPct > 100 {
		bad("contract: target %v%% is outside 0..100", c.TargetPct)
	}
	if c.MonthlyFeeIDR < 0 || c.MonthlyFeeIDR > maxFeeIDR {
		bad("contract: monthly fee %d IDR", c.MonthlyFeeIDR)
	}
	return errors.Join(errs...)
}
