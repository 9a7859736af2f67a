package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

type readinessAnswer struct {
	Score        *float64 `json:"score"`
	PartialScore *float64 `json:"partial_score"`
	Complete     bool
	Pillars      map[string]*float64
	Missing      []string
	Governance   *jagadesa.Governance
}

// The readiness index on the API: the village pillar from IDM 2024, the
// governance pillar from what a province admin entered (by hand or by
// import, all rows or none), missing pillars shown as null, and the
// ranking finding the province's named desa digital.
func TestReadinessAPI(t *testing.T) {
	e, person := personEnv(t)
	admin := person(jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"})
	viewer := person(jagadesa.User{Username: "diskominfo", Role: jagadesa.RoleViewer, Province: "33"})
	purworejo := person(jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})

	get := func(tok, code string) readinessAnswer {
		t.Helper()
		c, b := e.do("GET", "/api/v1/readiness/villages/"+code, tok, nil, "")
		if c != 200 {
			t.Fatalf("readiness %s: %d %s", code, c, b)
		}
		var r readinessAnswer
		json.Unmarshal(b, &r)
		return r
	}
	r := get(viewer, villageA)
	if r.Score != nil || r.Complete || r.Pillars["village"] == nil || r.Pillars["governance"] != nil || r.Pillars["connectivity"] != nil {
		t.Fatalf("before any entry: %+v", r)
	}
	// Krandegan's IDM 2024 is 0.8919 (mandiri): (0.8919 − 0.4907)/0.5093 = 0.4012/0.5093 → 78.8.
	if v := *r.Pillars["village"]; v < 78.7 || v > 78.85 {
		t.Errorf("Krandegan's village pillar %.2f, want 78.8", v)
	}
	if code, _ := e.do("PUT", "/api/v1/governance/"+villageA, viewer, nil, `{"website":true,"app":true,"online_services":3}`); code != 403 {
		t.Errorf("a viewer entered governance: %d", code)
	}
	if code, b := e.do("PUT", "/api/v1/governance/"+villageA, admin, nil, `{"website":true,"app":false,"online_services":99}`); code != 400 || !strings.Contains(string(b), "online_services") {
		t.Errorf("99 online services: %d %s", code, b)
	}
	if code, b := e.do("PUT", "/api/v1/governance/"+villageA, admin, nil, `{"website":true,"app":true,"online_services":3,"note":"krandegan.desa.id"}`); code != 200 {
		t.Fatalf("governance: %d %s", code, b)
	}
	r = get(viewer, villageA)
	// Website 30 + app 30 + 40 × 3/5 = 84.
	if r.Pillars["governance"] == nil || *r.Pillars["governance"] != 84 || r.Governance == nil || r.Governance.UpdatedBy != "admin.jateng" {
		t.Errorf("after entry: %+v", r)
	}
	if r.Score != nil || r.PartialScore == nil {
		t.Errorf("connectivity and use are missing, so the score must be null with a partial score: %+v", r)
	}
	// Import: one bad line and nothing changes; a good file, all rows.
	bad := "village,website,app,online_services\n" + villageB + ",ya,tidak,2\n33.13.07.2001,mungkin,ya,1\n"
	if code, b := e.do("POST", "/api/v1/governance/import", admin, map[string]string{"Content-Type": "text/csv"}, bad); code != 400 || !strings.Contains(string(b), "line 3") {
		t.Fatalf("bad import: %d %s", code, b)
	}
	if code, _ := e.do("GET", "/api/v1/governance/"+villageB, admin, nil, ""); code != 404 {
		t.Errorf("a refused import changed something: %d", code)
	}
	good := "village,website,app,online_services,note\n" + villageB + ",ya,tidak,2,kemuning.desa.id\n"
	if code, b := e.do("POST", "/api/v1/governance/import", admin, map[string]string{"Content-Type": "text/csv"}, good); code != 200 {
		t.Fatalf("import: %d %s", code, b)
	}
	if g := get(admin, villageB); g.Pillars["governance"] == nil || *g.Pillars["governance"] != 46 { // 30 + 40 × 2/5
		t.Errorf("imported governance: %+v", g)
	}
	// The ranking: the province's desa digital include Krandegan and
	// Kemuning; Purworejo's analyst sees only Purworejo.
	code, b := e.do("GET", "/api/v1/readiness?flag=digital&limit=2000", viewer, nil, "")
	if code != 200 || !strings.Contains(string(b), geo.KrandeganCode) || !strings.Contains(string(b), geo.KemuningCode) {
		t.Fatalf("desa digital ranking: %d %.400s", code, b)
	}
	var rk struct {
		Villages []struct {
			Code        string
			RegencyCode string `json:"regency_code"`
			Rank        int
		}
	}
	code, b = e.do("GET", "/api/v1/readiness?limit=20000", purworejo, nil, "")
	json.Unmarshal(b, &rk)
	if code != 200 || len(rk.Villages) == 0 {
		t.Fatalf("Purworejo ranking: %d %.300s", code, b)
	}
	for i, v := range rk.Villages {
		if v.RegencyCode != "33.06" || v.Rank != i+1 {
			t.Fatalf("Purworejo's ranking holds %+v at %d", v, i)
		}
	}
	if code, _ := e.do("GET", "/api/v1/readiness/villages/"+villageB, purworejo, nil, ""); code != 404 {
		t.Errorf("Purworejo's analyst read Karanganyar's readiness: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/readiness?flag=rich", viewer, nil, ""); code != 400 {
		t.Errorf("unknown flag: %d", code)
	}
	code, b = e.do("GET", "/api/v1/readiness?format=csv&regency=33.06", viewer, nil, "")
	if code != 200 || !strings.HasPrefix(string(b), "peringkat,kode,desa") {
		t.Errorf("csv: %d %.100s", code, b)
	}
}
