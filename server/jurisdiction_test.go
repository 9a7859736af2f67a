package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// A person's API token sees only that person's jurisdiction, through the
// same rules on every endpoint: a Purworejo regency analyst gets
// Purworejo's villages, regency, map features and tiles, and nothing of
// Karanganyar; a viewer gets no security export; a technician of
// Karanganyar may enroll a probe there and not in Purworejo.
func TestJurisdictionByPersonToken(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	var db *sqlite.DB
	e := newEnv(t, reg, func(d *server.Deps) {
		db = d.Probes.(*sqlite.DB)
		d.Accounts, d.IncidentStore = db, db
		dir, err := route.Demo()
		if err != nil {
			t.Fatal(err)
		}
		mgr := incident.New(incident.Config{}, d.Logger, db, dir, reg, d.Programme, nopSender{})
		d.Incidents = mgr
	})
	ctx := context.Background()
	token := func(u jagadesa.User) string {
		if _, err := db.CreateUser(ctx, u, "$argon2id$unused"); err != nil {
			t.Fatal(err)
		}
		tok, hash := accounts.NewToken(accounts.PrefixUserToken)
		if _, err := db.CreateUserToken(ctx, u.Username, "test", hash); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	purworejo := token(jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})
	viewer := token(jagadesa.User{Username: "diskominfo", Role: jagadesa.RoleViewer, Province: "33"})
	tech := token(jagadesa.User{Username: "tek-karanganyar", Role: jagadesa.RoleTechnician, Province: "33", Regency: "33.13"})
	jambi := token(jagadesa.User{Username: "csirt-jambi", Role: jagadesa.RoleProvinceAnalyst, Province: "15"})

	// The villages list.
	code, b := e.do("GET", "/api/v1/villages?scope=all", purworejo, nil, "")
	var list struct {
		Villages []struct{ Code string }
	}
	if json.Unmarshal(b, &list); code != 200 || len(list.Villages) == 0 {
		t.Fatalf("villages: %d %.200s", code, b)
	}
	for _, v := range list.Villages {
		if !strings.HasPrefix(v.Code, "33.06.") {
			t.Fatalf("a Purworejo analyst sees %s", v.Code)
		}
	}
	if code, b := e.do("GET", "/api/v1/villages?scope=all", jambi, nil, ""); code != 200 || strings.Contains(string(b), `"code":"33.`) {
		t.Fatalf("a Jambi analyst sees Jawa Tengah: %d %.200s", code, b)
	}
	// One village, its history and its regency: in or out.
	for path, want := range map[string]int{
		"/api/v1/villages/" + villageA:                 200,
		"/api/v1/villages/" + villageB:                 403,
		"/api/v1/villages/" + villageB + "/history":    403,
		"/api/v1/regencies/33.06":                      200,
		"/api/v1/regencies/33.13":                      403,
		"/api/v1/reports/security.stix":                200,
		"/api/v1/map/villages.geojson?province=jateng": 200,
	} {
		if code, b := e.do("GET", path, purworejo, nil, ""); code != want {
			t.Errorf("%s: %d, want %d: %.200s", path, code, want, b)
		}
	}
	// The map: features only of Purworejo.
	_, b = e.do("GET", "/api/v1/map/villages.geojson", purworejo, nil, "")
	if strings.Contains(string(b), `"33.13.`) || !strings.Contains(string(b), villageA) {
		t.Fatalf("map features outside the jurisdiction, or Krandegan missing")
	}
	// A viewer: maps yes, security evidence no.
	if code, _ := e.do("GET", "/api/v1/reports/security.stix", viewer, nil, ""); code != 403 {
		t.Fatalf("a viewer exported security evidence: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/villages/"+villageB, viewer, nil, ""); code != 200 {
		t.Fatalf("a province viewer cannot see a village of the province: %d", code)
	}
	// Administration: not for analysts; technicians only in their regency.
	if code, _ := e.do("GET", "/api/v1/probes/"+e.probeA+"/key", purworejo, nil, ""); code != 403 {
		t.Fatalf("an analyst reached the key admin: %d", code)
	}
	if code, b := e.do("POST", "/api/v1/probes", tech, nil, `{"village":"`+villageB+`"}`); code != 201 {
		t.Fatalf("a technician could not enroll in their regency: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/api/v1/probes", tech, nil, `{"village":"`+villageA+`"}`); code != 403 {
		t.Fatalf("a technician enrolled outside their regency: %d", code)
	}
	if code, _ := e.do("DELETE", "/api/v1/probes/"+e.probeA, tech, nil, ""); code != 403 {
		t.Fatalf("a technician revoked a probe outside their regency: %d", code)
	}
	// Incidents: a Kudus outage is not Purworejo's to see or act on.
	now := time.Now().UTC()
	kudus := &jagadesa.Incident{ID: "JD-TEST-KUDUS", Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title: "Desa putus", Villages: []string{"33.19.03.2001"}, Village: "33.19.03.2001", Regency: "33.19", CSIRT: "CSIRT Kabupaten Kudus",
		Stage: jagadesa.StageIdentification, OpenedAt: now, StartedAt: now}
	if err := db.CreateIncident(ctx, kudus, jagadesa.AuditEntry{IncidentID: kudus.ID, At: now, By: "system", Action: "opened"}); err != nil {
		t.Fatal(err)
	}
	if code, b := e.do("GET", "/api/v1/incidents", purworejo, nil, ""); code != 200 || strings.Contains(string(b), kudus.ID) {
		t.Fatalf("a Purworejo analyst lists Kudus's incident: %d %.200s", code, b)
	}
	if code, _ := e.do("GET", "/api/v1/incidents/"+kudus.ID, purworejo, nil, ""); code != 403 {
		t.Fatalf("a Purworejo analyst opened Kudus's incident: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/incidents/"+kudus.ID+"/ack", purworejo, nil, ""); code != 403 {
		t.Fatalf("a Purworejo analyst acknowledged Kudus's incident: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/incidents/"+kudus.ID+"/ack", viewer, nil, ""); code != 403 {
		t.Fatalf("a viewer acknowledged an incident: %d", code)
	}
	if code, b := e.do("POST", "/api/v1/incidents/"+kudus.ID+"/ack", adminToken, nil, ""); code != 200 {
		t.Fatalf("the admin token could not acknowledge: %d %s", code, b)
	}

	// A disabled account's token stops at once.
	if err := db.DisableUser(ctx, "csirt-purworejo"); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do("GET", "/api/v1/villages", purworejo, nil, ""); code != 401 {
		t.Fatalf("a disabled account's token still works: %d", code)
	}
}

type nopSender struct{}

func (nopSender) Send(*route.Team, jagadesa.Notification) {}
