package route_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/route"
)

// FuzzParseDirectory feeds arbitrary files to the CSIRT directory parser.
// It must not panic or hang. A directory it accepts must route every
// village of every province it names to a team that covers it, with a
// provincial team of the same province to escalate to, and answering
// Muted, EscalationDelay and the lookups must not panic either.
func FuzzParseDirectory(f *testing.F) {
	f.Add(route.DemoYAML())
	for _, s := range []string{
		"",
		"teams: []\n",
		"teams:\n  - {id: p, name: P, province: \"33\"}\n  - {id: r, name: R, province: \"33\", regencies: [\"33.06\"], escalate_after: 10m}\n",
		"teams:\n  - id: p\n    name: P\n    province: \"33\"\n    channels:\n      webhooks: [{url: \"https://example.org/hook\", secret: s}]\n      telegram: [{chat_id: \"-100123\"}, {chat_id: \"@csirt\"}]\n      email: [csirt@example.org]\n      alertmanager: [\"http://am:9093\"]\n",
		"teams:\n  - {id: p, name: P, province: \"33\"}\nsilences:\n  - match: {regencies: [\"33.06\"], isp: Telkom, kinds: [village_down]}\n    from: 2026-01-01T00:00:00Z\n    until: 2026-01-02T00:00:00Z\n    comment: upgrade\n",
		"teams:\n  - {id: p, name: P, province: \"33\"}\nmaintenance:\n  - name: night\n    match: {villages: [\"33.06.08.2005\"]}\n    days: [sat, Sun]\n    start: \"23:00\"\n    end: \"02:00\"\n    timezone: Asia/Makassar\n",
		"teams:\n  - {id: p, name: P, province: \"33\", regencise: [\"33.06\"]}\n",
		"teams:\n  - {id: r, name: R, province: \"33\", regencies: [\"34.06\", \"33.6\", \"33.06\", \"33.06\"]}\n",
		"teams:\n  - {id: p, name: P, province: \"33\", escalate_after: -5m}\n  - {id: p, name: Q, province: \"3a\"}\n",
		"maintenance:\n  - {name: m, start: \"24:00\", end: \"25:61\", timezone: \"../../etc/passwd\", days: [someday]}\n",
		"teams: &a [*a]\n",
		"a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nteams: [*b, *b]\n",
		"teams:\n  - id: [1, 2]\n    name: {x: y}\n    province: 33\n",
		"%YAML 1.2\n---\nteams: !!binary aGVsbG8=\n",
		"teams:\n- id: p\n  name: P\n  province: \"33\"\n  escalate_after: 9999999999999999h\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 { // a directory is a few kilobytes
			return
		}
		d, err := route.Parse(data)
		if err != nil {
			if d != nil {
				t.Fatal("a directory returned with an error")
			}
			return
		}
		checkDirectory(t, d)
	})
}

func checkDirectory(t *testing.T, d *route.Directory) {
	t.Helper()
	provinces := map[string]*route.Team{}
	for i := range d.Teams {
		tm := &d.Teams[i]
		if tm.ID == "" || tm.Name == "" || len(tm.Province) != 2 || tm.EscalateAfter < 0 {
			t.Fatalf("team %+v accepted", *tm)
		}
		if got, ok := d.Team(tm.ID); !ok || got != tm {
			t.Fatalf("Team(%q) = %v, %v", tm.ID, got, ok)
		}
		if got, ok := d.TeamByName(tm.Name); !ok || got.Name != tm.Name {
			t.Fatalf("TeamByName(%q) = %v, %v", tm.Name, got, ok)
		}
		if len(tm.Regencies) == 0 {
			provinces[tm.Province] = tm
		}
	}
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	route1 := func(regency string) {
		v := jagadesa.Village{Code: regency + ".08.2005", RegencyCode: regency, DistrictCode: regency + ".08", Regency: "R"}
		owner, prov, err := d.Route(v)
		if err != nil {
			t.Fatalf("village of %s not routed: %v", regency, err)
		}
		if prov != provinces[regency[:2]] || prov.Province != regency[:2] || len(prov.Regencies) != 0 {
			t.Fatalf("village of %s escalates to %+v", regency, *prov)
		}
		if owner != prov && (owner.Province != regency[:2] || !slices.Contains(owner.Regencies, regency)) {
			t.Fatalf("village of %s owned by %+v", regency, *owner)
		}
		for _, priority := range []bool{false, true} {
			if delay := d.EscalationDelay(owner, prov, priority); delay < 0 || (owner == prov) != (delay == 0) {
				t.Fatalf("escalation delay %v for %s → %s", delay, owner.ID, prov.ID)
			}
		}
		for _, kind := range []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentDegraded} {
			for h := range 48 {
				d.Muted(route.Subject{Village: v, ISP: "Telkom", Kind: kind}, now.Add(time.Duration(h)*30*time.Minute))
			}
		}
	}
	for i := range d.Teams {
		for _, r := range d.Teams[i].Regencies {
			route1(r)
		}
	}
	for p := range provinces {
		route1(p + ".99")
	}
	// A village of a province no team covers is an error, not a panic.
	if _, ok := provinces["00"]; !ok {
		if _, _, err := d.Route(jagadesa.Village{Code: "00.00.00.0000", RegencyCode: "00.00"}); err == nil {
			t.Fatal("a village of province 00 was routed")
		}
	}
	d.Route(jagadesa.Village{})
}
