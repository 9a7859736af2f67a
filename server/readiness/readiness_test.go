package readiness_test

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa/server/readiness"
)

func f(x float64) *float64 { return &x }
func n(x int) *int         { return &x }

// within0_1 checks a score to 0.1 point, as the village page shows it.
func within0_1(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is missing, want %.1f", name, want)
		return
	}
	if math.Abs(*got-want) > 0.05 {
		t.Errorf("%s = %.4f, want %.1f", name, *got, want)
	}
}

// The three villages below carry their real IDM 2024 scores (registry data);
// their link, use and governance figures are made up for the test.

// Krandegan (Wonogiri, 33.12.18.2006): every pillar present.
//
//	C: uptime 99.0   (99 − 90)/(99.5 − 90) = 9/9.5    → 94.737 × 0.35 = 33.158
//	   download 80   80/100                           → 80     × 0.30 = 24.000
//	   upload 40     40/100                           → 40     × 0.20 =  8.000
//	   latency 45    (150 − 45)/(150 − 20) = 105/130  → 80.769 × 0.10 =  8.077
//	   loss 0.5      (2 − 0.5)/(2 − 0) = 1.5/2        → 75     × 0.05 =  3.750
//	                                                              C = 76.985
//	U: devices 30    30/50                            → 60     × 0.4  = 24.000
//	   days 24 of 30 80 %                             → 80     × 0.3  = 24.000
//	   150 GB        150/200                          → 75     × 0.3  = 22.500
//	                                                              U = 70.500
//	V: IDM 0.8113    (0.8113 − 0.4907)/(1 − 0.4907) = 0.3206/0.5093 → V = 62.949 (maju)
//	G: website yes 100 × 0.3 = 30; app no 0; 2 services 2/5 = 40 × 0.4 = 16 → G = 46
//	Score = 0.4·76.985 + 0.2·70.5 + 0.2·62.949 + 0.2·46
//	      = 30.794 + 14.1 + 12.590 + 9.2 = 66.684 → 66.7
func TestCompleteVillage(t *testing.T) {
	r, err := readiness.Compute(readiness.Input{
		Village: "33.12.18.2006",
		Connectivity: readiness.Connectivity{
			UptimePct: f(99), DownloadMbps: f(80), UploadMbps: f(40), LatencyMs: f(45), LossPct: f(0.5),
		},
		Use:        readiness.Use{ActiveDevicesPerDay: f(30), DaysWithTraffic: n(24), Days: 30, GBPerMonth: f(150)},
		IDM:        f(0.8113),
		Governance: &readiness.Governance{Website: true, App: false, OnlineServices: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	within0_1(t, "connectivity", r.Pillars.Connectivity, 77.0)
	within0_1(t, "use", r.Pillars.Use, 70.5)
	within0_1(t, "village", r.Pillars.Village, 62.9)
	within0_1(t, "governance", r.Pillars.Governance, 46.0)
	within0_1(t, "score", r.Score, 66.7)
	within0_1(t, "partial score", r.PartialScore, 66.7)
	if !r.Complete || len(r.Missing) != 0 || r.WeightsUsed != readiness.PillarWeights {
		t.Errorf("complete %v missing %v weights used %+v", r.Complete, r.Missing, r.WeightsUsed)
	}
	if b := r.Detail[2].IDMBand; b == nil || b.Name != "maju" || b.LabelEN != "Advanced" {
		t.Errorf("IDM band %+v, want maju", b)
	}
	// Each component explains itself: latency 45 ms between 150 and 20.
	lat := r.Detail[0].Components[3]
	if lat.Key != "latency" || *lat.Raw != 45 || lat.Goalposts != (readiness.Goalposts{Worst: 150, Best: 20}) || lat.LabelID != "Latensi (median)" {
		t.Errorf("latency component %+v", lat)
	}
	within0_1(t, "latency sub-score", lat.Score, 80.8)
	days := r.Detail[1].Components[1]
	within0_1(t, "days with traffic raw %", days.Raw, 80.0)
}

// Kemuning (Karanganyar, 33.13.07.2005): staff have not entered governance.
// Every other value is beyond its best goalpost and clamps to 100.
//
//	C = 100 (uptime 99.9 > 99.5, 120/110 Mbps > 100, 12 ms < 20, loss 0)
//	U = 100 (80 devices > 50, 30 of 30 days, 260 GB > 200)
//	V: (0.8411 − 0.4907)/0.5093 = 0.3504/0.5093 → 68.800 (mandiri)
//	G missing → score null.
//	Partial = (0.4·100 + 0.2·100 + 0.2·68.800) / 0.8 = 73.760/0.8 = 92.200 → 92.2,
//	weights used 0.4/0.8 = 0.5, 0.25, 0.25, 0.
func TestMissingPillar(t *testing.T) {
	r, err := readiness.Compute(readiness.Input{
		Village: "33.13.07.2005",
		Connectivity: readiness.Connectivity{
			UptimePct: f(99.9), DownloadMbps: f(120), UploadMbps: f(110), LatencyMs: f(12), LossPct: f(0),
		},
		Use: readiness.Use{ActiveDevicesPerDay: f(80), DaysWithTraffic: n(30), Days: 30, GBPerMonth: f(260)},
		IDM: f(0.8411),
	})
	if err != nil {
		t.Fatal(err)
	}
	within0_1(t, "connectivity", r.Pillars.Connectivity, 100)
	within0_1(t, "use", r.Pillars.Use, 100)
	within0_1(t, "village", r.Pillars.Village, 68.8)
	if r.Score != nil || r.Complete || r.Pillars.Governance != nil || !slices.Equal(r.Missing, []string{"governance"}) {
		t.Errorf("score %v complete %v governance %v missing %v", r.Score, r.Complete, r.Pillars.Governance, r.Missing)
	}
	within0_1(t, "partial score", r.PartialScore, 92.2)
	if want := (readiness.Weights{Connectivity: 0.5, Use: 0.25, Village: 0.25}); r.WeightsUsed != want {
		t.Errorf("weights used %+v, want %+v", r.WeightsUsed, want)
	}
	if r.Weights != readiness.PillarWeights {
		t.Errorf("weights %+v", r.Weights)
	}
	if b := r.Detail[2].IDMBand; b == nil || b.Name != "mandiri" {
		t.Errorf("IDM band %+v, want mandiri", b)
	}
	// Missing, never zero, in the JSON too.
	b, _ := json.Marshal(r)
	for _, k := range []string{`"score":null`, `"governance":null`, `"complete":false`, `"connectivity":100`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
}

// Sangkanjaya (Tegal, 33.28.04.2008), a struggling village whose staff
// entered "no website, no app, no online services": governance is present
// and 0, which is different from missing.
//
//	C: uptime 88 < 90 → 0; download 15 → 15 × 0.3 = 4.5; upload 5 → 5 × 0.2 = 1;
//	   latency 180 > 150 → 0; loss 3.5 > 2 → 0                        C = 5.5
//	U: devices 4 → 4/50 = 8 × 0.4 = 3.2; 9 of 31 days = 29.032 % × 0.3 = 8.710;
//	   12 GB → 12/200 = 6 × 0.3 = 1.8                               U = 13.710
//	V: (0.5278 − 0.4907)/0.5093 = 0.0371/0.5093 → 7.285 (tertinggal)
//	G = 0
//	Score = 0.4·5.5 + 0.2·13.710 + 0.2·7.285 + 0.2·0 = 2.2 + 2.742 + 1.457 = 6.399 → 6.4
func TestStrugglingVillage(t *testing.T) {
	r, err := readiness.Compute(readiness.Input{
		Village: "33.28.04.2008",
		Connectivity: readiness.Connectivity{
			UptimePct: f(88), DownloadMbps: f(15), UploadMbps: f(5), LatencyMs: f(180), LossPct: f(3.5),
		},
		Use:        readiness.Use{ActiveDevicesPerDay: f(4), DaysWithTraffic: n(9), Days: 31, GBPerMonth: f(12)},
		IDM:        f(0.5278),
		Governance: &readiness.Governance{},
	})
	if err != nil {
		t.Fatal(err)
	}
	within0_1(t, "connectivity", r.Pillars.Connectivity, 5.5)
	within0_1(t, "use", r.Pillars.Use, 13.7)
	within0_1(t, "village", r.Pillars.Village, 7.3)
	within0_1(t, "governance", r.Pillars.Governance, 0)
	within0_1(t, "score", r.Score, 6.4)
	if b := r.Detail[2].IDMBand; b == nil || b.Name != "tertinggal" {
		t.Errorf("IDM band %+v, want tertinggal", b)
	}
}

// A pillar with one component missing is missing as a whole, and still
// explains the components it has.
func TestMissingComponent(t *testing.T) {
	r, err := readiness.Compute(readiness.Input{
		Connectivity: readiness.Connectivity{UptimePct: f(99.5), DownloadMbps: f(50), LatencyMs: f(20), LossPct: f(0)},
		IDM:          f(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Detail[0]
	if c.Score != nil || r.Pillars.Connectivity != nil || !slices.Equal(c.Missing, []string{"upload"}) {
		t.Fatalf("connectivity %+v", c)
	}
	within0_1(t, "download sub-score", c.Components[1].Score, 50)
	if c.Components[2].Raw != nil || c.Components[2].Score != nil {
		t.Errorf("upload %+v", c.Components[2])
	}
	if !slices.Equal(r.Missing, []string{"connectivity", "use", "governance"}) || r.Score != nil {
		t.Errorf("missing %v score %v", r.Missing, r.Score)
	}
	// Only V is present: the partial score is V itself, weight 1.
	within0_1(t, "partial", r.PartialScore, 100)
	if r.WeightsUsed.Village != 1 {
		t.Errorf("weights used %+v", r.WeightsUsed)
	}

	r, err = readiness.Compute(readiness.Input{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Score != nil || r.PartialScore != nil || len(r.Missing) != 4 || r.Detail[2].IDMBand != nil {
		t.Errorf("nothing known: %+v", r)
	}
}

func TestGoalposts(t *testing.T) {
	for _, c := range []struct {
		g    readiness.Goalposts
		x    float64
		want float64
	}{
		{readiness.Goalposts{Worst: 90, Best: 99.5}, 94.75, 50},
		{readiness.Goalposts{Worst: 90, Best: 99.5}, 89, 0},
		{readiness.Goalposts{Worst: 90, Best: 99.5}, 100, 100},
		{readiness.Goalposts{Worst: 150, Best: 20}, 85, 50},
		{readiness.Goalposts{Worst: 150, Best: 20}, 10, 100},
		{readiness.Goalposts{Worst: 2, Best: 0}, 0.5, 75},
		{readiness.Goalposts{Worst: 2, Best: 0}, 2.5, 0},
	} {
		if got := c.g.Score(c.x); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%+v.Score(%v) = %v, want %v", c.g, c.x, got, c.want)
		}
	}
}

func TestBandOf(t *testing.T) {
	for _, c := range []struct {
		idm  float64
		want string
	}{
		{0.30, "sangat tertinggal"}, {0.4907, "sangat tertinggal"}, {0.4908, "tertinggal"},
		{0.5989, "tertinggal"}, {0.5990, "berkembang"}, {0.7071, "berkembang"}, {0.7072, "berkembang"},
		{0.7073, "maju"}, {0.8154, "maju"}, {0.8155, "maju"}, {0.8156, "mandiri"}, {1, "mandiri"},
	} {
		if got := readiness.BandOf(c.idm).Name; got != c.want {
			t.Errorf("BandOf(%v) = %s, want %s", c.idm, got, c.want)
		}
	}
}

// TestBandsMatchPublishedStatus checks the bands against every status
// Kemendes published in IDM 2024 for the two provinces in the registry.
func TestBandsMatchPublishedStatus(t *testing.T) {
	for _, path := range []string{"../../geo/data/jateng/jateng-idm2024.csv", "../../geo/data/jambi/jambi-idm2024.csv"} {
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(file).ReadAll()
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		checked := 0
		for _, row := range rows[1:] {
			s := row[col["idm_2024"]]
			if s == "" {
				continue
			}
			idm, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := readiness.BandOf(idm).LabelID, row[col["status_idm_2024"]]; got != want {
				t.Errorf("%s IDM %s: band %s, published %s", row[col["code"]], s, got, want)
			}
			checked++
		}
		if checked < 1000 {
			t.Fatalf("%s: only %d villages checked", path, checked)
		}
	}
}

func TestValidate(t *testing.T) {
	_, err := readiness.Compute(readiness.Input{
		Connectivity: readiness.Connectivity{UptimePct: f(101), DownloadMbps: f(math.Inf(1)), LatencyMs: f(math.NaN())},
		Use:          readiness.Use{DaysWithTraffic: n(5)},
		IDM:          f(1.2),
		Governance:   &readiness.Governance{OnlineServices: -1},
	})
	if err == nil {
		t.Fatal("bad input accepted")
	}
	for _, want := range []string{"uptime_pct 101", "download_mbps +Inf", "latency_ms NaN", "days_with_traffic 5 of 0", "idm 1.2", "online_services -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
