package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

// Without measurements every minute is unknown: the API says so (no
// availability, no data) rather than inventing a figure; windows staff
// enter are validated, bounded to the jurisdiction, and audited.
func TestSLAAPIWithoutData(t *testing.T) {
	e, person := personEnv(t)
	admin := person(jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"})
	viewer := person(jagadesa.User{Username: "diskominfo", Role: jagadesa.RoleViewer, Province: "33"})
	tech := person(jagadesa.User{Username: "tek", Role: jagadesa.RoleTechnician, Province: "33", Regency: "33.06"})

	code, b := e.do("GET", "/api/v1/sla/villages/"+villageA+"?month=2026-11", viewer, nil, "")
	if code != 200 {
		t.Fatalf("village SLA: %d %s", code, b)
	}
	var v struct {
		Availability *float64 `json:"availability_pct"`
		Total        float64  `json:"total_min"`
		Verdict      string   `json:"throughput_verdict"`
		Result       struct{ Status string }
	}
	json.Unmarshal(b, &v)
	if v.Availability != nil || v.Total != 0 || v.Verdict != "no_data" || v.Result.Status != "no_data" {
		t.Errorf("a month without data: %s", b)
	}
	if code, _ := e.do("GET", "/api/v1/sla/villages/"+villageA, tech, nil, ""); code != 403 {
		t.Errorf("a technician read SLA reports: %d", code)
	}
	code, b = e.do("GET", "/api/v1/sla/isps?month=2026-11", viewer, nil, "")
	var g struct {
		Groups []struct {
			Key                      string
			Villages, AllMet, NoData int
			AllMetField              int      `json:"all_met"`
			NoDataField              int      `json:"no_data"`
			Share                    *float64 `json:"share_all_met_pct"`
		}
		Counted int `json:"villages_counted"`
	}
	json.Unmarshal(b, &g)
	sum := 0
	for _, x := range g.Groups {
		sum += x.Villages
		if x.NoDataField != x.Villages || x.AllMetField != 0 || x.Share != nil {
			t.Errorf("ISP %s without data: %+v", x.Key, x)
		}
	}
	if code != 200 || len(g.Groups) < 2 || sum != g.Counted || g.Counted < 500 {
		t.Errorf("ISP table: %d %d groups, %d of %d villages", code, len(g.Groups), sum, g.Counted)
	}
	if code, _ := e.do("GET", "/api/v1/sla/groups?by=planet", viewer, nil, ""); code != 400 {
		t.Errorf("by=planet: %d", code)
	}
	// Windows.
	w := `{"kind":"maintenance","start":"2026-11-10T01:00:00+07:00","end":"2026-11-10T03:00:00+07:00","isp":"Telkom Indonesia","reason":"Pengumuman pemeliharaan no. 12/2026"}`
	if code, _ := e.do("POST", "/api/v1/maintenance", viewer, nil, w); code != 403 {
		t.Errorf("a viewer entered a window: %d", code)
	}
	if code, b := e.do("POST", "/api/v1/maintenance", admin, nil, `{"kind":"maintenance","start":"2026-11-10T01:00:00+07:00","end":"2026-11-01T03:00:00+07:00","reason":""}`); code != 400 || !strings.Contains(string(b), "reason") || !strings.Contains(string(b), "end") {
		t.Errorf("a bad window: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/api/v1/maintenance", admin, nil, `{"kind":"force_majeure","start":"2026-11-10T01:00:00+07:00","end":"2026-11-11T01:00:00+07:00","regencies":["15.09"],"reason":"banjir"}`); code != 403 {
		t.Errorf("a Jawa Tengah admin entered a Jambi window: %d", code)
	}
	if code, b := e.do("POST", "/api/v1/maintenance", admin, nil, w); code != 201 {
		t.Fatalf("window: %d %s", code, b)
	}
	code, b = e.do("GET", "/api/v1/maintenance?month=2026-11", viewer, nil, "")
	if code != 200 || !strings.Contains(string(b), "Pengumuman pemeliharaan") {
		t.Errorf("windows: %d %s", code, b)
	}
	if ev := findAudit(e.auditLog(admin, "month=2026-12"), "window_add", ""); ev == nil && findAudit(e.auditLog(admin, ""), "window_add", "") == nil {
		t.Error("window not audited")
	}
}
