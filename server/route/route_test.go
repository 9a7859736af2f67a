package route_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/route"
)

func TestDemoDirectoryRoutesEveryVillage(t *testing.T) {
	d, err := route.Demo()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	regencyTeams := map[string]bool{}
	for _, tm := range d.Teams {
		for _, r := range tm.Regencies {
			regencyTeams[r] = true
		}
	}
	if len(regencyTeams) != 21 {
		t.Fatalf("%d Jawa Tengah regencies with their own CSIRT, want 21", len(regencyTeams))
	}
	counts := map[string]int{}
	for _, v := range reg.Villages() {
		owner, prov, err := d.Route(v)
		if err != nil {
			t.Fatalf("%s: %v", v.Code, err)
		}
		counts[owner.Name]++
		switch {
		case strings.HasPrefix(v.Code, "15."):
			if owner.Name != "JambiProv-CSIRT" || prov != owner {
				t.Fatalf("Jambi village %s → %s", v.Code, owner.Name)
			}
		case regencyTeams[v.RegencyCode]:
			if owner == prov || prov.Name != "JatengProv-CSIRT" || !strings.Contains(owner.Name, strings.TrimPrefix(strings.TrimPrefix(v.Regency, "Kabupaten "), "Kota ")) {
				t.Fatalf("%s (%s) → %s / %s", v.Code, v.Regency, owner.Name, prov.Name)
			}
		default:
			if owner.Name != "JatengProv-CSIRT" {
				t.Fatalf("%s (%s, no regency CSIRT) → %s", v.Code, v.Regency, owner.Name)
			}
		}
	}
	// The demo's two named villages: Purworejo has a team, Karanganyar not.
	k, _ := reg.Village(geo.KrandeganCode)
	if o, _, _ := d.Route(k); o.Name != "CSIRT Kabupaten Purworejo" {
		t.Fatalf("Krandegan → %s", o.Name)
	}
	k, _ = reg.Village(geo.KemuningCode)
	if o, _, _ := d.Route(k); o.Name != "JatengProv-CSIRT" {
		t.Fatalf("Kemuning → %s", o.Name)
	}
}

// Adding a regency's new CSIRT is one entry in the file.
func TestNewRegencyTeamIsOneEntry(t *testing.T) {
	base := string(route.DemoYAML())
	v := jagadesa.Village{Code: "33.13.07.2005", RegencyCode: "33.13", Regency: "Kabupaten Karanganyar"}
	d, _ := route.Parse([]byte(base))
	if o, _, _ := d.Route(v); o.ID != "jatengprov" {
		t.Fatalf("before: %s", o.ID)
	}
	added := strings.Replace(base, "teams:\n", "teams:\n  - {id: kab-karanganyar, name: CSIRT Kabupaten Karanganyar, province: \"33\", regencies: [\"33.13\"]}\n", 1)
	d, err := route.Parse([]byte(added))
	if err != nil {
		t.Fatal(err)
	}
	o, p, _ := d.Route(v)
	if o.ID != "kab-karanganyar" || p.ID != "jatengprov" {
		t.Fatalf("after: %s / %s", o.ID, p.ID)
	}
	if got := d.EscalationDelay(o, p, false); got != 30*time.Minute {
		t.Fatalf("default escalation %v", got)
	}
	if got := d.EscalationDelay(o, p, true); got != 15*time.Minute {
		t.Fatalf("priority escalation %v", got)
	}
	if got := d.EscalationDelay(p, p, true); got != 0 {
		t.Fatalf("province team escalates to itself: %v", got)
	}
}

func TestDirectoryErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":       {"teams:\n  - {id: a, name: A, province: \"33\", regencise: [\"33.01\"]}\n", "regencise"},
		"regency twice":     {"teams:\n  - {id: p, name: P, province: \"33\"}\n  - {id: a, name: A, province: \"33\", regencies: [\"33.01\"]}\n  - {id: b, name: B, province: \"33\", regencies: [\"33.01\"]}\n", "already belongs to team a"},
		"no province team":  {"teams:\n  - {id: a, name: A, province: \"33\", regencies: [\"33.01\"]}\n", "no provincial team"},
		"bad regency":       {"teams:\n  - {id: p, name: P, province: \"33\"}\n  - {id: a, name: A, province: \"33\", regencies: [\"15.01\"]}\n", "in province 33"},
		"bad clock":         {"teams:\n  - {id: p, name: P, province: \"33\"}\nmaintenance:\n  - {name: m, start: \"25:00\", end: \"02:00\"}\n", "start"},
		"bad day":           {"teams:\n  - {id: p, name: P, province: \"33\"}\nmaintenance:\n  - {name: m, days: [funday], start: \"01:00\", end: \"02:00\"}\n", "funday"},
		"silence backwards": {"teams:\n  - {id: p, name: P, province: \"33\"}\nsilences:\n  - {from: 2026-11-22T10:00:00Z, until: 2026-11-22T09:00:00Z, match: {}}\n", "silences[0]"},
	} {
		_, err := route.Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestMaintenanceCrossingMidnight(t *testing.T) {
	d, err := route.Parse([]byte(`teams:
  - {id: p, name: P, province: "33"}
maintenance:
  - {name: sabtu malam, match: {isp: Jatengnet}, days: [sat], start: "23:00", end: "02:00", timezone: Asia/Jakarta}
`))
	if err != nil {
		t.Fatal(err)
	}
	wib := time.FixedZone("WIB", 7*3600)
	s := route.Subject{Village: jagadesa.Village{Code: "33.01.01.2001", RegencyCode: "33.01"}, ISP: "jatengnet", Kind: jagadesa.IncidentDown}
	// 2026-11-21 is a Saturday.
	for at, want := range map[time.Time]bool{
		time.Date(2026, 11, 21, 22, 59, 0, 0, wib): false,
		time.Date(2026, 11, 21, 23, 0, 0, 0, wib):  true,
		time.Date(2026, 11, 22, 1, 59, 0, 0, wib):  true, // Sunday morning, the Saturday window
		time.Date(2026, 11, 22, 2, 0, 0, 0, wib):   false,
		time.Date(2026, 11, 22, 23, 30, 0, 0, wib): false, // Sunday evening: no window starts on Sunday
		time.Date(2026, 11, 21, 0, 30, 0, 0, wib):  false, // Saturday morning: Friday had no window
	} {
		if got, why := d.Muted(s, at); got != want {
			t.Errorf("%v: muted %v (%s), want %v", at, got, why, want)
		}
	}
	other := s
	other.ISP = "Telkom Indonesia"
	if got, _ := d.Muted(other, time.Date(2026, 11, 21, 23, 30, 0, 0, wib)); got {
		t.Error("maintenance of one ISP muted another")
	}
}
