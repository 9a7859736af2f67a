// Package readiness computes a village's digital-readiness index:
//
//	Readiness = 0.4·C + 0.2·U + 0.2·V + 0.2·G
//
// from four pillars (connectivity, use, village development, digital
// governance), each scored 0–100 against fixed goalposts so that months and
// villages compare. A pillar without data is missing, never zero; the index
// is only given when all four are present (see Result). It is pure and uses
// the standard library only; docs/readiness.md gives the sources and the
// reasons for every goalpost and weight.
package readiness

import (
	"errors"
	"fmt"
	"math"
)

// Goalposts are the values that score 0 (Worst) and 100 (Best); values
// beyond them are clamped. Worst > Best reverses the scale (latency, loss).
type Goalposts struct {
	Worst float64 `json:"worst"`
	Best  float64 `json:"best"`
}

// Score is 100 × clamp((x − Worst) / (Best − Worst), 0, 1).
func (g Goalposts) Score(x float64) float64 {
	s := (x - g.Worst) / (g.Best - g.Worst)
	return 100 * min(max(s, 0), 1)
}

// Pillar keys, as in the JSON.
const (
	PillarConnectivity = "connectivity"
	PillarUse          = "use"
	PillarVillage      = "village"
	PillarGovernance   = "governance"
)

// Weights of the four pillars.
type Weights struct {
	Connectivity float64 `json:"connectivity"`
	Use          float64 `json:"use"`
	Village      float64 `json:"village"`
	Governance   float64 `json:"governance"`
}

// PillarWeights are the index's weights. Connectivity weighs double: the
// programme buys links, and the links are what JagaDesa measures best.
var PillarWeights = Weights{Connectivity: 0.4, Use: 0.2, Village: 0.2, Governance: 0.2}

// component is the definition of one scored input.
type component struct {
	key, labelID, labelEN, unit string
	weight                      float64 // within the pillar; a pillar's sum to 1
	goal                        Goalposts
}

// Component definitions. Connectivity follows the planning notes exactly;
// the upload, use and governance goalposts and weights are this package's
// choices, defended in docs/readiness.md.
var (
	connectivityDefs = []component{
		{"uptime", "Ketersediaan layanan (uptime)", "Uptime", "pct", 0.35, Goalposts{90, 99.5}},
		{"download", "Kecepatan unduh", "Download speed", "mbps", 0.30, Goalposts{0, 100}},
		// Symmetric with download: the programme's links are dedicated
		// (1:1) lines contracted at one speed, and a village that uploads
		// (CCTV, SID data, video calls, selling online) needs it.
		{"upload", "Kecepatan unggah", "Upload speed", "mbps", 0.20, Goalposts{0, 100}},
		{"latency", "Latensi (median)", "Latency (median)", "ms", 0.10, Goalposts{150, 20}},
		{"loss", "Paket hilang", "Packet loss", "pct", 0.05, Goalposts{2, 0}},
	}
	useDefs = []component{
		{"active_devices", "Perangkat aktif per hari", "Active devices per day", "devices_per_day", 0.40, Goalposts{0, 50}},
		{"days_with_traffic", "Hari dengan trafik", "Days with traffic", "pct_of_days", 0.30, Goalposts{0, 100}},
		{"data_volume", "Volume data per bulan", "Data volume per month", "gb", 0.30, Goalposts{0, 200}},
	}
	villageDefs = []component{
		// From the top of "sangat tertinggal" (0) to a perfect IDM (100).
		{"idm", "Indeks Desa Membangun (IDM) 2024", "Village Development Index (IDM) 2024", "index", 1, Goalposts{0.4907, 1}},
	}
	governanceDefs = []component{
		{"website", "Situs web desa", "Village website", "bool", 0.30, Goalposts{0, 1}},
		{"app", "Aplikasi desa", "Village app", "bool", 0.30, Goalposts{0, 1}},
		{"online_services", "Layanan daring", "Online services", "count", 0.40, Goalposts{0, 5}},
	}
)

// Connectivity is the month's link measurements; nil fields are missing.
type Connectivity struct {
	UptimePct    *float64 // availability from the SLA month (0..100)
	DownloadMbps *float64 // mean of the month's router-side tests
	UploadMbps   *float64
	LatencyMs    *float64 // median RTT to the domestic reference
	LossPct      *float64
}

// Use is the month's router counters; nil fields are missing.
type Use struct {
	ActiveDevicesPerDay *float64 // mean distinct active devices per day
	DaysWithTraffic     *int
	Days                int // days of the month the counters cover; required with DaysWithTraffic
	GBPerMonth          *float64
}

// Governance is what staff entered about the village's digital services.
type Governance struct {
	Website bool // the village has a working website
	App     bool // the village has an app (or takes part in a shared one)
	// OnlineServices counts the services residents can complete online
	// (letters, permits, complaints); 5 or more scores full.
	OnlineServices int
}

// Input is everything one village's index is computed from.
type Input struct {
	Village      string
	Connectivity Connectivity
	Use          Use
	IDM          *float64    // IDM 2024 score, 0..1; nil for a kelurahan or an unknown village
	Governance   *Governance // nil: not entered yet
}

// Component is one scored input, with what a village page needs to explain
// it: the raw value, its goalposts and its sub-score.
type Component struct {
	Key       string    `json:"key"`
	LabelID   string    `json:"label_id"`
	LabelEN   string    `json:"label_en"`
	Unit      string    `json:"unit"`
	Weight    float64   `json:"weight"` // within its pillar
	Raw       *float64  `json:"raw"`    // nil: missing
	Goalposts Goalposts `json:"goalposts"`
	Score     *float64  `json:"score"` // 0–100; nil when Raw is
}

// Pillar is one pillar's score and its components. A pillar with any
// component missing has no score: re-weighting inside a pillar would turn
// "upload not measured" into "upload as good as the rest".
type Pillar struct {
	Key        string      `json:"key"`
	LabelID    string      `json:"label_id"`
	LabelEN    string      `json:"label_en"`
	Weight     float64     `json:"weight"`
	Score      *float64    `json:"score"`
	Missing    []string    `json:"missing"` // keys of missing components
	Components []Component `json:"components"`
	IDMBand    *Band       `json:"idm_band,omitempty"` // village pillar only
}

// Pillars holds each pillar's score, 0–100 or nil when missing. The JSON
// names are an external contract (/work/shared/CONTRACT.md).
type Pillars struct {
	Connectivity *float64 `json:"connectivity"`
	Use          *float64 `json:"use"`
	Village      *float64 `json:"village"`
	Governance   *float64 `json:"governance"`
}

// Result is a village's readiness.
//
// Score is the index with the fixed weights, and nil unless all four pillars
// are present (Complete): a number re-weighted over fewer pillars is a
// different index, and ranking it beside complete ones would put a village
// known only by its link above villages measured on everything.
// PartialScore is that re-weighted number over the present pillars, with
// WeightsUsed, for a village page to show as "partial"; it equals Score
// when Complete and is nil when no pillar is present.
type Result struct {
	Village      string   `json:"village,omitempty"`
	Score        *float64 `json:"score"`
	Complete     bool     `json:"complete"`
	PartialScore *float64 `json:"partial_score"`
	Weights      Weights  `json:"weights"`
	WeightsUsed  Weights  `json:"weights_used"`
	Pillars      Pillars  `json:"pillars"`
	Missing      []string `json:"missing"` // keys of missing pillars
	Detail       []Pillar `json:"detail"`  // connectivity, use, village, governance
}

// Compute scores one village.
func Compute(in Input) (Result, error) {
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	c, u := in.Connectivity, in.Use
	var daysPct *float64
	if u.DaysWithTraffic != nil {
		daysPct = ptr(100 * float64(*u.DaysWithTraffic) / float64(u.Days))
	}
	var website, app, services *float64
	if g := in.Governance; g != nil {
		website, app, services = ptr(b2f(g.Website)), ptr(b2f(g.App)), ptr(float64(g.OnlineServices))
	}

	w := PillarWeights
	pillars := []Pillar{
		pillar(PillarConnectivity, "Konektivitas", "Connectivity", w.Connectivity, connectivityDefs,
			c.UptimePct, c.DownloadMbps, c.UploadMbps, c.LatencyMs, c.LossPct),
		pillar(PillarUse, "Pemanfaatan", "Use", w.Use, useDefs,
			u.ActiveDevicesPerDay, daysPct, u.GBPerMonth),
		pillar(PillarVillage, "Perkembangan desa", "Village development", w.Village, villageDefs, in.IDM),
		pillar(PillarGovernance, "Tata kelola digital", "Digital governance", w.Governance, governanceDefs,
			website, app, services),
	}
	if in.IDM != nil {
		b := BandOf(*in.IDM)
		pillars[2].IDMBand = &b
	}

	r := Result{
		Village: in.Village,
		Weights: w,
		Pillars: Pillars{pillars[0].Score, pillars[1].Score, pillars[2].Score, pillars[3].Score},
		Missing: []string{},
		Detail:  pillars,
	}
	var sum, weight float64
	used := [4]float64{}
	for i, p := range pillars {
		if p.Score == nil {
			r.Missing = append(r.Missing, p.Key)
			continue
		}
		sum += p.Weight * *p.Score
		weight += p.Weight
		used[i] = p.Weight
	}
	if weight > 0 {
		r.PartialScore = ptr(sum / weight)
		r.WeightsUsed = Weights{used[0] / weight, used[1] / weight, used[2] / weight, used[3] / weight}
	}
	r.Complete = len(r.Missing) == 0
	if r.Complete {
		r.Score = ptr(sum)
	}
	return r, nil
}

// pillar scores the raw values against defs, in the same order.
func pillar(key, labelID, labelEN string, weight float64, defs []component, raws ...*float64) Pillar {
	p := Pillar{Key: key, LabelID: labelID, LabelEN: labelEN, Weight: weight, Missing: []string{}}
	var sum float64
	for i, d := range defs {
		comp := Component{Key: d.key, LabelID: d.labelID, LabelEN: d.labelEN, Unit: d.unit, Weight: d.weight, Goalposts: d.goal}
		if raw := raws[i]; raw != nil {
			comp.Raw = ptr(*raw)
			comp.Score = ptr(d.goal.Score(*raw))
			sum += d.weight * *comp.Score
		} else {
			p.Missing = append(p.Missing, d.key)
		}
		p.Components = append(p.Components, comp)
	}
	if len(p.Missing) == 0 {
		p.Score = &sum
	}
	return p
}

func (in Input) validate() error {
	var errs []error
	check := func(name string, v *float64, lo, hi float64) {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < lo || *v > hi) {
			errs = append(errs, fmt.Errorf("%s %v is outside %v..%v", name, *v, lo, hi))
		}
	}
	inf := math.Inf(1)
	c, u := in.Connectivity, in.Use
	check("uptime_pct", c.UptimePct, 0, 100)
	check("download_mbps", c.DownloadMbps, 0, inf)
	check("upload_mbps", c.UploadMbps, 0, inf)
	check("latency_ms", c.LatencyMs, 0, inf)
	check("loss_pct", c.LossPct, 0, 100)
	check("active_devices_per_day", u.ActiveDevicesPerDay, 0, inf)
	check("gb_per_month", u.GBPerMonth, 0, inf)
	check("idm", in.IDM, 0, 1)
	if d := u.DaysWithTraffic; d != nil && (u.Days < 1 || u.Days > 31 || *d < 0 || *d > u.Days) {
		errs = append(errs, fmt.Errorf("days_with_traffic %d of %d days", *d, u.Days))
	}
	if g := in.Governance; g != nil && g.OnlineServices < 0 {
		errs = append(errs, fmt.Errorf("online_services %d is negative", g.OnlineServices))
	}
	return errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
