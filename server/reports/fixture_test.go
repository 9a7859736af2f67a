package reports

import (
	"fmt"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/sla"
)

// generatedAt is the fixtures' generation time: 1 December 2026, 08:00 WIB.
var generatedAt = time.Date(2026, 12, 1, 8, 0, 0, 0, sla.WIB)

func fp(x float64) *float64 { return &x }

var fixtureRegencies = []struct{ code, name string }{
	{"33.06", "Purworejo"}, {"33.13", "Karanganyar"}, {"33.01", "Cilacap"},
}

var fixtureNames = []string{"Krandegan", "Kemuning", "Sumberejo", "Karangsari", "Tegalrejo", "Ngargoyoso",
	"Banyuurip", "Sidomulyo", "Wonosari", "Gunungsari", "Kalirejo"}

// slaFixture computes n villages' November 2026 with server/sla itself,
// so the report is fed what production feeds it. Village i has one link
// cut of (i·97 mod 1400) minutes, download tests at 100 − 12·(i mod 5) Mbps
// (none when i is a multiple of 9), and an unknown fee when i mod 4 is 3.
func slaFixture(t testing.TB, n int) SLAInput {
	t.Helper()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, sla.WIB)
	end := start.AddDate(0, 1, 0)
	isps := []string{"Telkom Indonesia", "Lintasarta", "Icon+", ""}
	in := SLAInput{
		Lang: ID, Month: "2026-11", Province: "Jawa Tengah", GeneratedAt: generatedAt,
		VillageNames: map[string]string{}, RegencyNames: map[string]string{},
	}
	for _, r := range fixtureRegencies {
		in.RegencyNames[r.code] = r.name
	}
	for i := range n {
		reg := fixtureRegencies[i%len(fixtureRegencies)]
		code := fmt.Sprintf("%s.%02d.20%02d", reg.code, i%7+1, i)
		in.VillageNames[code] = fixtureNames[i%len(fixtureNames)]
		timeline := []sla.Interval{{Start: start, End: end, State: sla.StateUp}}
		if down := time.Duration(i*97%1400) * time.Minute; down > 0 {
			cut := start.AddDate(0, 0, 4).Add(10 * time.Hour)
			timeline = append(timeline, sla.Interval{Start: cut, End: cut.Add(down), State: sla.StateLinkDown})
		}
		var tests []sla.ThroughputTest
		if i%9 != 0 {
			for d := 3; d < 30; d += 7 {
				tests = append(tests, sla.ThroughputTest{T: start.AddDate(0, 0, d), DownloadMbps: fp(100 - 12*float64(i%5))})
			}
		}
		fee := int64(5_000_000)
		if i%4 == 3 {
			fee = 0
		}
		r, err := sla.Compute(sla.Input{
			Village:    sla.Village{Code: code, ISP: isps[i%len(isps)], Regency: reg.code},
			Month:      start,
			Timeline:   timeline,
			Throughput: tests,
			Quality:    sla.Quality{MedianRTTMs: fp(30 + float64(i)), LossPct: fp(0.5)},
			Contract:   sla.Contract{MonthlyFeeIDR: fee},
		})
		if err != nil {
			t.Fatal(err)
		}
		in.Villages = append(in.Villages, r)
	}
	var err error
	if in.ByISP, err = sla.Rollup(in.Villages, sla.ByISP); err != nil {
		t.Fatal(err)
	}
	if in.ByRegency, err = sla.Rollup(in.Villages, sla.ByRegency); err != nil {
		t.Fatal(err)
	}
	return in
}

// readinessFixture scores n villages with server/readiness. Every fifth
// village has no governance entered and every seventh no IDM, so those
// are incomplete.
func readinessFixture(t testing.TB, n int) ReadinessInput {
	t.Helper()
	in := ReadinessInput{
		Lang: ID, Month: "2026-11", Province: "Jawa Tengah", GeneratedAt: generatedAt,
		Regencies: map[string]string{}, VillageNames: map[string]string{},
	}
	for i := range n {
		reg := fixtureRegencies[i%len(fixtureRegencies)]
		code := fmt.Sprintf("%s.%02d.20%02d", reg.code, i%7+1, i)
		in.Regencies[code] = reg.name
		in.VillageNames[code] = fixtureNames[i%len(fixtureNames)]
		days := 20 + i%11
		rin := readiness.Input{
			Village: code,
			Connectivity: readiness.Connectivity{UptimePct: fp(90 + float64(i%10)), DownloadMbps: fp(float64(10 + i*7%90)),
				UploadMbps: fp(float64(5 + i*5%60)), LatencyMs: fp(float64(25 + i%100)), LossPct: fp(float64(i%3) * 0.5)},
			Use: readiness.Use{ActiveDevicesPerDay: fp(float64(i * 3 % 60)), DaysWithTraffic: &days, Days: 30, GBPerMonth: fp(float64(i * 11 % 250))},
		}
		if i%7 != 0 {
			rin.IDM = fp(0.55 + float64(i%40)/100)
		}
		if i%5 != 0 {
			rin.Governance = &readiness.Governance{Website: i%2 == 0, App: i%3 == 0, OnlineServices: i % 6}
		}
		r, err := readiness.Compute(rin)
		if err != nil {
			t.Fatal(err)
		}
		in.Results = append(in.Results, r)
	}
	return in
}
