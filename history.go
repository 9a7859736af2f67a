package jagadesa

import "time"

// History is what is stored about one village over a time range, already
// reduced to what a village page draws: latency spread per target and
// window, outages, events and speed tests. Storage backends return it; the
// server adds what only live status knows (the current outage).
type History struct {
	Village string                 `json:"village"`
	From    time.Time              `json:"from"`
	To      time.Time              `json:"to"`
	StepS   int                    `json:"step_s"`
	Targets []string               `json:"targets"`
	RTT     map[string][]RTTWindow `json:"rtt"` // by target, in time order
	// Heartbeats counts the probe's heartbeats per step (same length and
	// order as the steps from From): zero means the probe was silent.
	Heartbeats []int            `json:"-"`
	Uptime     []UptimeStep     `json:"uptime"`
	Outages    []OutageSpan     `json:"outages"`
	Events     []EventRecord    `json:"events"`
	Throughput []ThroughputTest `json:"throughput"`
	// LANSpeed are villagers' own speed tests from the probe's page.
	LANSpeed []LANSpeedTest `json:"lan_speedtests"`
}

// LANSpeedTest is one villager's test as the village page lists it.
type LANSpeedTest struct {
	T time.Time `json:"t"`
	LANSpeed
}

// RTTWindow is the SmokePing-style spread of one target over one window:
// the median of the rounds' medians, the mean of their percentiles, the
// extremes, and the mean loss. Nil fields mean no reply in the window.
type RTTWindow struct {
	T       time.Time `json:"t"` // end of the window
	Median  *float64  `json:"median"`
	P10     *float64  `json:"p10"`
	P25     *float64  `json:"p25"`
	P75     *float64  `json:"p75"`
	P90     *float64  `json:"p90"`
	Min     *float64  `json:"min"`
	Max     *float64  `json:"max"`
	LossPct *float64  `json:"loss_pct"`
}

// Uptime states of one step of a village's timeline.
const (
	UptimeUp       = "up"
	UptimeDegraded = "degraded"
	UptimeDown     = "down"  // link cut (or cut now, cause not yet known)
	UptimePower    = "power" // power cut at the site
	UptimeProbe    = "probe" // the probe failed; the link's state is unknown
	UptimeNoData   = "nodata"
)

// UptimeStep is one step of the uptime strip.
type UptimeStep struct {
	T     time.Time `json:"t"` // start of the step
	State string    `json:"state"`
}

// OutageSpan is one outage as the probe reported it afterwards, or the
// current one (End nil, Cause "unknown") while the village is down.
type OutageSpan struct {
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end"`
	Cause     string     `json:"cause"` // link, power, probe, unknown
	DurationS float64    `json:"duration_s"`
	Detail    string     `json:"detail,omitempty"`
}

// EventRecord is one stored probe event.
type EventRecord struct {
	T        time.Time `json:"t"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
}

// ThroughputTest is one speed test, both directions when both ran.
type ThroughputTest struct {
	T            time.Time `json:"t"`
	DownloadMbps *float64  `json:"download_mbps"`
	UploadMbps   *float64  `json:"upload_mbps"`
}
