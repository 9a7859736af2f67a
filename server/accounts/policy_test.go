package accounts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// The places of the tests: two regencies of Jawa Tengah (33) and one of
// Jambi (15).
var (
	purworejo  = jagadesa.Village{Code: "33.06.08.2005", Name: "Kaliboto", DistrictCode: "33.06.08", RegencyCode: "33.06", Regency: "Purworejo"}
	kudus      = jagadesa.Village{Code: "33.19.01.2001", Name: "Jati Wetan", DistrictCode: "33.19.01", RegencyCode: "33.19", Regency: "Kudus"}
	kudus2     = jagadesa.Village{Code: "33.19.02.2003", Name: "Gondangmanis", DistrictCode: "33.19.02", RegencyCode: "33.19", Regency: "Kudus"}
	kotaJambi  = jagadesa.Village{Code: "15.71.01.1001", Name: "Legok", DistrictCode: "15.71.01", RegencyCode: "15.71", Regency: "Kota Jambi"}
	testVillas = [3]jagadesa.Village{purworejo, kudus, kotaJambi}
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func ptime(t time.Time) *time.Time { return &t }

// regionalIncident is an ISP outage across Purworejo and Kudus, routed to
// the province's team.
func regionalIncident() jagadesa.Incident {
	return jagadesa.Incident{
		ID: "inc-regional", Kind: jagadesa.IncidentRegional, Severity: jagadesa.SeverityCritical, State: jagadesa.StateAcknowledged,
		Title:    "Gangguan wilayah: 3 desa putus di ISP telkom",
		Villages: []string{purworejo.Code, kudus.Code, kudus2.Code},
		Village:  purworejo.Code, Regency: "33.06", District: "33.06.08", ISP: "telkom", CSIRT: "JatengProv-CSIRT",
		OpenedAt: t0, StartedAt: t0.Add(-time.Minute), AckedAt: ptime(t0.Add(5 * time.Minute)), AckedBy: "siti",
		Evidence: map[string]string{"group": "isp:telkom", "cause:" + purworejo.Code: "power", "cause:" + kudus.Code: "link"},
	}
}

// securityIncident is a compromise of one Purworejo router.
func securityIncident() jagadesa.Incident {
	return jagadesa.Incident{
		ID: "inc-security", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title:    "Insiden keamanan: kata sandi router berubah",
		Villages: []string{purworejo.Code}, Village: purworejo.Code, Regency: "33.06", District: "33.06.08",
		CSIRT: "PurworejoKab-CSIRT", Priority: true, Escalated: true, Stage: jagadesa.StageContainment, Assignee: "budi",
		OpenedAt: t0, StartedAt: t0, AckedAt: ptime(t0.Add(time.Minute)), AckedBy: "budi",
		Evidence: map[string]string{"event": "credential_changed"},
		Signals: []jagadesa.Signal{
			{Kind: "credential_changed", Severity: jagadesa.SeverityCritical, Count: 1, FirstSeen: t0, LastSeen: t0, Village: purworejo.Code, Attrs: map[string]string{"probe.file": "/etc/shadow"}},
			{Kind: "login_new_source", Severity: jagadesa.SeverityCritical, Source: "203.0.113.7", Count: 2, FirstSeen: t0, LastSeen: t0, Village: purworejo.Code},
		},
		SignalsDropped: 4,
	}
}

// campaignIncident is one attacking address seen at routers in both
// regencies.
func campaignIncident() jagadesa.Incident {
	return jagadesa.Incident{
		ID: "inc-campaign", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title:    "Serangan dari 198.51.100.9 ke 2 desa",
		Villages: []string{purworejo.Code, kudus.Code}, Village: purworejo.Code, Regency: "33.06", District: "33.06.08",
		CSIRT:    "JatengProv-CSIRT",
		OpenedAt: t0, StartedAt: t0,
		Evidence: map[string]string{"group": "source:198.51.100.9", "source": "198.51.100.9"},
		Signals: []jagadesa.Signal{
			{Kind: "login_failed_burst", Source: "198.51.100.9", Count: 40, Village: purworejo.Code},
			{Kind: "login_failed_burst", Source: "198.51.100.9", Count: 90, Village: kudus.Code},
			{Kind: "login_failed_burst", Source: "198.51.100.9", Count: 1}, // no village: cannot be placed
		},
	}
}

func jambiIncident() jagadesa.Incident {
	return jagadesa.Incident{
		ID: "inc-jambi", Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Villages: []string{kotaJambi.Code}, Village: kotaJambi.Code, Regency: "15.71", OpenedAt: t0,
		Evidence: map[string]string{"reason": "silent"},
	}
}

func mustPrincipal(t *testing.T, u jagadesa.User) Principal {
	t.Helper()
	p, err := NewPrincipal(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type testPrincipal struct {
	name string
	p    Principal
}

func testPrincipals(t *testing.T) []testPrincipal {
	return []testPrincipal{
		{"province-admin 33", mustPrincipal(t, jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"})},
		{"province-analyst 33", mustPrincipal(t, jagadesa.User{Username: "csirt.jateng", Role: jagadesa.RoleProvinceAnalyst, Province: "33"})},
		{"regency-analyst Purworejo", mustPrincipal(t, jagadesa.User{Username: "csirt.purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})},
		{"regency-analyst Kudus", mustPrincipal(t, jagadesa.User{Username: "csirt.kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.19"})},
		{"viewer 33", mustPrincipal(t, jagadesa.User{Username: "diskominfo.jateng", Role: jagadesa.RoleViewer, Province: "33"})},
		{"technician Purworejo", mustPrincipal(t, jagadesa.User{Username: "tek.purworejo", Role: jagadesa.RoleTechnician, Province: "33", Regency: "33.06"})},
		{"province-analyst Jambi", mustPrincipal(t, jagadesa.User{Username: "csirt.jambi", Role: jagadesa.RoleProvinceAnalyst, Province: "15"})},
		{"admin token", AdminPrincipal()},
		{"zero Principal", Principal{}},
	}
}

// TestPolicyMatrix walks every role over villages of Purworejo, Kudus and
// Jambi, and over the regional (Purworejo+Kudus), security (Purworejo) and
// Jambi incidents.
func TestPolicyMatrix(t *testing.T) {
	const T, F = true, false
	type row struct {
		see       [3]bool // Purworejo, Kudus, Jambi
		probes    [3]bool
		incident  [3]bool // regional, security, Jambi
		act       [3]bool
		users     bool
		directory bool
		evidence  bool
		reports   bool
	}
	want := map[string]row{
		"province-admin 33":         {see: [3]bool{T, T, F}, probes: [3]bool{T, T, F}, incident: [3]bool{T, T, F}, act: [3]bool{T, T, F}, users: T, directory: T, evidence: T, reports: T},
		"province-analyst 33":       {see: [3]bool{T, T, F}, incident: [3]bool{T, T, F}, act: [3]bool{T, T, F}, evidence: T, reports: T},
		"regency-analyst Purworejo": {see: [3]bool{T, F, F}, incident: [3]bool{T, T, F}, act: [3]bool{F, T, F}, evidence: T, reports: T},
		"regency-analyst Kudus":     {see: [3]bool{F, T, F}, incident: [3]bool{T, F, F}, evidence: T, reports: T},
		"viewer 33":                 {see: [3]bool{T, T, F}, incident: [3]bool{T, T, F}, reports: T},
		"technician Purworejo":      {see: [3]bool{T, F, F}, probes: [3]bool{T, F, F}, incident: [3]bool{T, T, F}},
		"province-analyst Jambi":    {see: [3]bool{F, F, T}, incident: [3]bool{F, F, T}, act: [3]bool{F, F, T}, evidence: T, reports: T},
		"admin token":               {see: [3]bool{T, T, T}, probes: [3]bool{T, T, T}, incident: [3]bool{T, T, T}, act: [3]bool{T, T, T}, users: T, directory: T, evidence: T, reports: T},
		"zero Principal":            {},
	}
	incidents := [3]jagadesa.Incident{regionalIncident(), securityIncident(), jambiIncident()}
	for _, tp := range testPrincipals(t) {
		t.Run(tp.name, func(t *testing.T) {
			w, ok := want[tp.name]
			if !ok {
				t.Fatal("no expectations")
			}
			p := tp.p
			var got row
			for i, v := range testVillas {
				got.see[i] = p.CanSeeVillage(v)
				got.probes[i] = p.CanManageProbes(v)
				if f := p.VillageFilter()(v.Code); f != got.see[i] {
					t.Errorf("VillageFilter(%s) = %v, CanSeeVillage = %v", v.Code, f, got.see[i])
				}
			}
			for i := range incidents {
				got.incident[i] = p.CanSeeIncident(&incidents[i])
				got.act[i] = p.CanActOnIncident(&incidents[i])
			}
			got.users, got.directory = p.CanManageUsers(), p.CanEditDirectory()
			got.evidence, got.reports = p.CanSeeSecurityEvidence(), p.CanReadReports()
			if got != w {
				t.Errorf("\ngot  %+v\nwant %+v", got, w)
			}
			if p.CanSeeIncident(nil) || p.CanActOnIncident(nil) {
				t.Error("a nil incident is visible or actionable")
			}
		})
	}
}

func TestVillageFilterLevels(t *testing.T) {
	ps := map[string]Principal{}
	for _, tp := range testPrincipals(t) {
		ps[tp.name] = tp.p
	}
	for _, tc := range []struct {
		who  string
		code string
		want bool
	}{
		{"regency-analyst Purworejo", "33.06.08.2005", true},
		{"regency-analyst Purworejo", "33.06.08", true}, // its kecamatan
		{"regency-analyst Purworejo", "33.06", true},    // its regency's aggregate
		{"regency-analyst Purworejo", "33", false},      // the province's aggregate counts other regencies
		{"regency-analyst Purworejo", "33.19.01.2001", false},
		{"regency-analyst Purworejo", "33.061", false}, // a prefix, not a code
		{"regency-analyst Purworejo", "33.06x", false},
		{"regency-analyst Purworejo", "", false},
		{"viewer 33", "33", true},
		{"viewer 33", "33.19", true},
		{"viewer 33", "3", false},
		{"viewer 33", "330", false},
		{"viewer 33", "15.71.01.1001", false},
		{"admin token", "15.71.01.1001", true},
		{"admin token", "", false},
		{"zero Principal", "33.06.08.2005", false},
	} {
		if got := ps[tc.who].VillageFilter()(tc.code); got != tc.want {
			t.Errorf("%s: VillageFilter()(%q) = %v, want %v", tc.who, tc.code, got, tc.want)
		}
	}
	// A registry entry whose regency contradicts its code is shown to
	// neither regency.
	odd := jagadesa.Village{Code: purworejo.Code, RegencyCode: "33.19"}
	if ps["regency-analyst Purworejo"].CanSeeVillage(odd) || ps["regency-analyst Kudus"].CanSeeVillage(odd) {
		t.Error("a village with a contradicting RegencyCode is visible")
	}
}

func TestCanManageUser(t *testing.T) {
	ps := map[string]Principal{}
	for _, tp := range testPrincipals(t) {
		ps[tp.name] = tp.p
	}
	jateng := jagadesa.User{Username: "csirt.kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.19"}
	jambi := jagadesa.User{Username: "csirt.jambi", Role: jagadesa.RoleProvinceAnalyst, Province: "15"}
	for _, tc := range []struct {
		who         string
		jateng, jmb bool
	}{
		{"province-admin 33", true, false},
		{"admin token", true, true},
		{"province-analyst 33", false, false},
		{"regency-analyst Kudus", false, false},
		{"viewer 33", false, false},
		{"zero Principal", false, false},
	} {
		if got := ps[tc.who].CanManageUser(jateng); got != tc.jateng {
			t.Errorf("%s manages a Jawa Tengah account: %v", tc.who, got)
		}
		if got := ps[tc.who].CanManageUser(jambi); got != tc.jmb {
			t.Errorf("%s manages a Jambi account: %v", tc.who, got)
		}
	}
	if ps["admin token"].CanManageUser(jagadesa.User{Username: "x"}) {
		t.Error("an account without a province is manageable")
	}
}

func TestRedactIncident(t *testing.T) {
	ps := map[string]Principal{}
	for _, tp := range testPrincipals(t) {
		ps[tp.name] = tp.p
	}
	// strippedSecurity is all a viewer or technician sees of a security
	// incident.
	strippedSecurity := func(in jagadesa.Incident) jagadesa.Incident {
		return jagadesa.Incident{ID: in.ID, Kind: in.Kind, State: in.State, Title: "Insiden keamanan",
			Villages: in.Villages, Village: in.Village, Regency: in.Regency, District: in.District,
			OpenedAt: in.OpenedAt, StartedAt: in.StartedAt, AckedAt: in.AckedAt, ResolvedAt: in.ResolvedAt, EndedAt: in.EndedAt}
	}
	regionalFor := func(villages []string, village, regency, district string, evidence map[string]string) jagadesa.Incident {
		in := regionalIncident()
		in.Villages, in.Village, in.Regency, in.District, in.Evidence = villages, village, regency, district, evidence
		return in
	}
	for _, tc := range []struct {
		who  string
		in   func() jagadesa.Incident
		want jagadesa.Incident
	}{
		// A province sees its regional incident whole.
		{"province-analyst 33", regionalIncident, regionalIncident()},
		{"admin token", regionalIncident, regionalIncident()},
		// A regency sees its own part of it.
		{"regency-analyst Purworejo", regionalIncident, regionalFor([]string{purworejo.Code}, purworejo.Code, "33.06", "33.06.08",
			map[string]string{"group": "isp:telkom", "cause:" + purworejo.Code: "power"})},
		{"regency-analyst Kudus", regionalIncident, regionalFor([]string{kudus.Code, kudus2.Code}, kudus.Code, "33.19", "33.19.01",
			map[string]string{"group": "isp:telkom", "cause:" + kudus.Code: "link"})},
		{"technician Purworejo", regionalIncident, regionalFor([]string{purworejo.Code}, purworejo.Code, "33.06", "33.06.08",
			map[string]string{"group": "isp:telkom", "cause:" + purworejo.Code: "power"})},
		// A viewer sees an outage whole: it carries no security evidence.
		{"viewer 33", regionalIncident, regionalIncident()},
		{"province-analyst Jambi", regionalIncident, jagadesa.Incident{}},

		// Analysts see a security incident whole; viewers and
		// technicians only that it exists, where and when.
		{"regency-analyst Purworejo", securityIncident, securityIncident()},
		{"province-analyst 33", securityIncident, securityIncident()},
		{"viewer 33", securityIncident, strippedSecurity(securityIncident())},
		{"technician Purworejo", securityIncident, strippedSecurity(securityIncident())},
		{"regency-analyst Kudus", securityIncident, jagadesa.Incident{}},
		{"zero Principal", securityIncident, jagadesa.Incident{}},

		// An attack across regencies: each regency sees its own
		// villages' signals, and the attacking address.
		{"province-analyst 33", campaignIncident, campaignIncident()},
		{"regency-analyst Kudus", campaignIncident, func() jagadesa.Incident {
			in := campaignIncident()
			in.Villages, in.Village, in.Regency, in.District = []string{kudus.Code}, kudus.Code, "33.19", "33.19.01"
			in.Signals = in.Signals[1:2]
			return in
		}()},
		{"viewer 33", campaignIncident, strippedSecurity(campaignIncident())},
	} {
		t.Run(tc.who+"/"+tc.in().ID, func(t *testing.T) {
			in := tc.in()
			got := ps[tc.who].RedactIncident(in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\ngot  %+v\nwant %+v", got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.in()) {
				t.Errorf("RedactIncident changed its argument: %+v", in)
			}
		})
	}
}

// TestRedactIncidentForViewersDropsSecurityEvidence covers an outage that
// carries security evidence: none does today, and none shall reach a
// viewer if one ever does.
func TestRedactIncidentForViewersDropsSecurityEvidence(t *testing.T) {
	in := regionalIncident()
	in.Evidence["source"], in.Evidence["event"] = "198.51.100.9", "login_new_source"
	in.Signals = []jagadesa.Signal{{Kind: "login_new_source", Village: purworejo.Code}}
	in.SignalsDropped = 2
	viewer := mustPrincipal(t, jagadesa.User{Username: "diskominfo.jateng", Role: jagadesa.RoleViewer, Province: "33"})
	got := viewer.RedactIncident(in)
	if got.Signals != nil || got.SignalsDropped != 0 || got.Evidence["source"] != "" || got.Evidence["event"] != "" {
		t.Errorf("a viewer sees security evidence: %+v", got)
	}
	if got.Evidence["cause:"+purworejo.Code] != "power" || got.Evidence["group"] != "isp:telkom" {
		t.Errorf("a viewer lost the outage's own evidence: %v", got.Evidence)
	}
	in.Evidence["group"] = "source:198.51.100.9"
	if g := viewer.RedactIncident(in).Evidence["group"]; g != "" {
		t.Errorf("a viewer sees the attack group %q", g)
	}
}

func TestRedactIncidentSharesNothing(t *testing.T) {
	for _, tp := range testPrincipals(t) {
		for _, mk := range []func() jagadesa.Incident{regionalIncident, securityIncident, campaignIncident} {
			in := mk()
			out := tp.p.RedactIncident(in)
			if len(out.Villages) > 0 {
				out.Villages[0] = "XX"
			}
			for k := range out.Evidence {
				out.Evidence[k] = "XX"
			}
			for i := range out.Signals {
				out.Signals[i].Kind = "XX"
				if out.Signals[i].Attrs != nil {
					out.Signals[i].Attrs["probe.file"] = "XX"
				}
			}
			for _, tp := range []*time.Time{out.AckedAt, out.ResolvedAt, out.EndedAt} {
				if tp != nil {
					*tp = time.Time{}
				}
			}
			if !reflect.DeepEqual(in, mk()) {
				t.Errorf("%s: changing RedactIncident(%s)'s result changed the incident", tp.name, in.ID)
			}
		}
	}
}

func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		who  string
		p    Principal
		want []string
	}{
		{"viewer", mustPrincipal(t, jagadesa.User{Username: "diskominfo.jateng", Role: jagadesa.RoleViewer, Province: "33"}),
			[]string{"viewer of province 33 may not manage users"}},
		{"regency analyst", mustPrincipal(t, jagadesa.User{Username: "csirt.purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"}),
			[]string{"regency-analyst of regency 33.06 may not manage users"}},
		{"admin token", AdminPrincipal(), []string{"admin token", "every province"}},
		{"zero", Principal{}, []string{"may not manage users"}},
	} {
		err := tc.p.Forbidden("manage users")
		var e *jagadesa.Error
		if !errors.As(err, &e) || e.Code != jagadesa.EForbidden {
			t.Errorf("%s: %#v, want an EForbidden *jagadesa.Error", tc.who, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(e.Message, w) {
				t.Errorf("%s: message %q lacks %q", tc.who, e.Message, w)
			}
		}
	}
}

func TestNewPrincipal(t *testing.T) {
	p, err := NewPrincipal(jagadesa.User{ID: 7, Username: "csirt.kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.19"})
	if err != nil || p.Username() != "csirt.kudus" || p.Role() != jagadesa.RoleRegencyAnalyst || p.String() != "regency-analyst of regency 33.19" {
		t.Fatalf("NewPrincipal = %v %v", p, err)
	}
	// A regency's Diskominfo: a viewer bound to its regency.
	v, err := NewPrincipal(jagadesa.User{Username: "diskominfo.kudus", Role: jagadesa.RoleViewer, Province: "33", Regency: "33.19"})
	if err != nil || !v.Covers("33.19.01.2001") || v.Covers("33.06.08.2005") || v.Area() != "33.19" || v.CanSeeSecurityEvidence() {
		t.Errorf("regency viewer: %v %v", v, err)
	}
	if AdminPrincipal().Username() != "admin" {
		t.Error("the admin token's principal is not named admin in the audit trail")
	}
	_, err = NewPrincipal(jagadesa.User{Username: "csirt.kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.19", Disabled: true})
	if jagadesa.ErrorCode(err) != jagadesa.EUnauthorized {
		t.Errorf("a disabled account: %v, want EUnauthorized", err)
	}
	for name, u := range map[string]jagadesa.User{
		"regional without regency":        {Username: "csirt.kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33"},
		"province analyst with a regency": {Username: "csirt.jateng", Role: jagadesa.RoleProvinceAnalyst, Province: "33", Regency: "33.19"},
		"regency outside province":        {Username: "tek", Role: jagadesa.RoleTechnician, Province: "33", Regency: "15.71"},
		"unknown role":                    {Username: "root", Role: "superuser", Province: "33"},
		"no province":                     {Username: "admin.x", Role: jagadesa.RoleProvinceAdmin},
	} {
		p, err := NewPrincipal(u)
		if err == nil || p.Role() != "" {
			t.Errorf("%s: NewPrincipal = %v, %v; want an error and the zero Principal", name, p, err)
			continue
		}
		// A damaged store is the server's fault: an internal error, logged.
		if c := jagadesa.ErrorCode(err); c != jagadesa.EInternal {
			t.Errorf("%s: code %s, want internal", name, c)
		}
	}
}
