package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	techPub, _, _ := ed25519.GenerateKey(nil)
	if code, b := e.do("POST", "/api/v1/probes", tech, nil, `{"village":"`+villageB+`","public_key":"`+jagadesa.FormatPublicKey(techPub)+`"}`); code != 201 {
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

// A person signs in with a username and password; the session survives a
// restart of the server and holds the person's jurisdiction; changes made
// with it need this site's Origin; five wrong passwords lock the account;
// signing out ends the session.
func TestPasswordSignIn(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	var deps server.Deps
	e := newEnv(t, reg, func(d *server.Deps) {
		d.Accounts = d.Probes.(*sqlite.DB)
		deps = *d
	})
	db := deps.Probes.(*sqlite.DB)
	ctx := context.Background()
	hash, err := accounts.HashPassword("kata sandi panjang sekali")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"}, hash); err != nil {
		t.Fatal(err)
	}
	signIn := func(base, user, pw string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", base+"/api/v1/session", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "jagadesa_session" {
				return resp, ck.Value
			}
		}
		return resp, ""
	}
	with := func(base, method, path, cookie, origin, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: "jagadesa_session", Value: cookie})
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	resp, cookie := signIn(e.url, "CSIRT-Purworejo", "kata sandi panjang sekali")
	if resp.StatusCode != 204 || !strings.HasPrefix(cookie, "jds_") {
		t.Fatalf("sign-in: %d cookie %q", resp.StatusCode, cookie)
	}
	if code := with(e.url, "GET", "/api/v1/villages/"+villageA, cookie, "", ""); code != 200 {
		t.Fatalf("own village with the session: %d", code)
	}
	if code := with(e.url, "GET", "/api/v1/villages/"+villageB, cookie, "", ""); code != 403 {
		t.Fatalf("another regency's village with the session: %d", code)
	}
	// A restart signs nobody out: a new server over the same database.
	restarted := httptest.NewServer(server.NewServer(deps))
	defer restarted.Close()
	if code := with(restarted.URL, "GET", "/api/v1/villages/"+villageA, cookie, "", ""); code != 200 {
		t.Fatalf("the session after a restart: %d", code)
	}
	// CSRF: a change riding on the cookie from another origin, or not JSON.
	u, _ := url.Parse(e.url)
	if code := with(e.url, "POST", "/api/v1/probes", cookie, "https://evil.example", `{"village":"`+villageA+`"}`); code != 403 {
		t.Fatalf("a cross-site change with the cookie: %d", code)
	}
	if code := with(e.url, "POST", "/api/v1/probes", cookie, "", `{"village":"`+villageA+`"}`); code != 403 {
		t.Fatalf("a change with the cookie and no Origin: %d", code)
	}
	if code := with(e.url, "POST", "/api/v1/incidents/JD-NONE/ack", cookie, "http://"+u.Host, ""); code == 403 {
		t.Fatalf("a same-origin change was refused as CSRF")
	}
	// Sign-out ends the session, on every server.
	if code := with(e.url, "DELETE", "/api/v1/session", cookie, "http://"+u.Host, ""); code != 204 {
		t.Fatalf("sign-out: %d", code)
	}
	if code := with(restarted.URL, "GET", "/api/v1/villages/"+villageA, cookie, "", ""); code != 401 {
		t.Fatalf("the session after sign-out: %d", code)
	}
	// Lockout: five wrong passwords, then even the right one waits.
	for i := range 5 {
		if resp, _ := signIn(restarted.URL, "csirt-purworejo", "salah"); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	resp, _ = signIn(restarted.URL, "csirt-purworejo", "kata sandi panjang sekali")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a locked account: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := signIn(restarted.URL, "nobody", "kata sandi panjang sekali"); resp.StatusCode != 401 {
		t.Fatalf("an unknown user: %d", resp.StatusCode)
	}
}

// Behind a TLS-terminating proxy the operator names, the session cookie is
// Secure and HSTS is sent; the same header from anyone else changes
// nothing.
func TestTrustedProxySecureCookie(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		proxies []string
		secure  bool
	}{{nil, false}, {[]string{"10.9.9.9"}, false}, {[]string{"127.0.0.1/8"}, true}} {
		e := newEnv(t, reg, func(d *server.Deps) { d.TrustedProxies = tt.proxies })
		req, _ := http.NewRequest("POST", e.url+"/api/v1/session", strings.NewReader(`{"token":"`+adminToken+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var secure bool
		for _, ck := range resp.Cookies() {
			secure = secure || ck.Name == "jagadesa_session" && ck.Secure
		}
		if resp.StatusCode != 204 || secure != tt.secure || (resp.Header.Get("Strict-Transport-Security") != "") != tt.secure {
			t.Errorf("proxies %v: %d, Secure %v, HSTS %q; want Secure and HSTS %v", tt.proxies, resp.StatusCode, secure, resp.Header.Get("Strict-Transport-Security"), tt.secure)
		}
	}
}
