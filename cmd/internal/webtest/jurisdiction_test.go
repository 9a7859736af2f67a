package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// TestJurisdictionInChromium signs in as people, not as the admin token:
// Purworejo's regency analyst sees only Kabupaten Purworejo on the map, in
// the queue and in the exports, is refused (403) on a Kudus incident and is
// offered no action there; a Diskominfo viewer sees no security evidence
// and is offered no action at all.
func TestJurisdictionInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is required for the browser tests (scripts/test.sh installs it): ", err)
	}
	shots := artifactsDir(t)
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	var kudus string // a real village of Kabupaten Kudus (33.19)
	for _, v := range reg.Villages() {
		if v.RegencyCode == "33.19" {
			kudus = v.Code
			break
		}
	}
	if kudus == "" {
		t.Fatal("no Kudus village in the registry")
	}
	krandegan := geo.KrandeganCode // Kabupaten Purworejo (33.06)

	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// People, made on the server host before it starts.
	for _, u := range [][]string{
		{"csirt.purworejo", "regency-analyst", "--regency", "33.06"},
		{"diskominfo.jateng", "viewer", "--province", "33"},
		{"admin.jateng", "province-admin", "--province", "33"},
	} {
		var out, errb strings.Builder
		args := append([]string{"user", "add", "--data-dir", data, "--username", u[0], "--role", u[1]}, u[2:]...)
		if err := jagadesacmd.Run(ctx, args, getenv, strings.NewReader("dua kata sandi panjang\n"), &out, &errb); err != nil {
			t.Fatalf("user add %s: %v %s", u[0], err, errb.String())
		}
	}
	addr := freeAddr(t)
	// The admin token stays on for the test's own set-up calls.
	base, srvLog := serveFor(t, addr, "--influx-url", ifx.URL, "--keep-admin-token",
		"--influx-bucket", bucket, "--data-dir", data, "--provinces", "jateng", "--incident-startup-grace", "1s")
	// A village of each regency reports once on a 2 s interval and goes
	// silent: an outage incident each. Krandegan also reports a DNS
	// hijack: a security incident with evidence.
	now := time.Now()
	for _, v := range []string{krandegan, kudus} {
		tok := enroll(t, base, v)
		rep := fmt.Sprintf(`{"v":1,"village":%q,"samples":[{"seq":1,"t":%d,"kind":"heartbeat","heartbeat":{"boot_id":"b","uptime_s":100,"interval_s":2}}]`, v, now.UnixMilli())
		if v == krandegan {
			rep += fmt.Sprintf(`,"events":[{"seq":2,"t":%d,"kind":"dns_hijack","severity":"critical","message":"resolver answers 203.0.113.66 for the canary","attrs":{"resolver":"192.168.1.1","answer":"203.0.113.66"}}]`, now.UnixMilli())
		}
		if code, body := post(base+"/api/v1/reports", tok, rep+"}"); code != 200 {
			t.Fatalf("report %s: %d %s", v, code, body)
		}
	}
	// Wait, as the admin token, for both outages and the security incident.
	type inc struct {
		ID, Kind, Village string
		Villages          []string
	}
	var kudusInc, krandeganInc, securityInc string
	for deadline := time.Now().Add(60 * time.Second); ; {
		req, _ := http.NewRequest("GET", base+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var r struct{ Incidents []inc }
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			json.Unmarshal(b, &r)
			for _, i := range r.Incidents {
				switch {
				case i.Kind == "security" && i.Village == krandegan:
					securityInc = i.ID
				case i.Kind != "security" && i.Village == kudus:
					kudusInc = i.ID
				case i.Kind != "security" && i.Village == krandegan:
					krandeganInc = i.ID
				}
			}
		}
		if kudusInc != "" && krandeganInc != "" && securityInc != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents did not open (kudus %q, krandegan %q, security %q)\n%s", kudusInc, krandeganInc, securityInc, tail(srvLog.String()))
		}
		time.Sleep(time.Second)
	}

	br := newSession(t, ctx, browser, shots, "jurisdiction", srvLog)
	bctx, shot, fail, eval, poll := br.ctx, br.shot, br.fail, br.eval, br.poll
	// fetchJS fetches a path with the browser's session and leaves
	// {status, text} in window.__r.
	fetchJS := func(method, path string) (int, string) {
		t.Helper()
		eval(fmt.Sprintf(`(() => { window.__r = null; fetch(%q, {method: %q, headers: {"Content-Type": "application/json"}}).then(async r => { window.__r = {status: r.status, text: await r.text()} }); return true })()`, path, method))
		poll("fetch "+path, `window.__r !== null`, 10*time.Second)
		r := eval(`window.__r`).(map[string]any)
		return int(r["status"].(float64)), r["text"].(string)
	}
	signIn := func(user string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(base+"/login")); err != nil {
			fail("open sign-in", err)
		}
		poll("the sign-in form", `document.body.dataset.page === "login" && !!document.querySelector("#login-username")`, 20*time.Second)
		if err := chromedp.Do(bctx, chromedp.SendKeys("#login-username", user), chromedp.SendKeys("#login-token", "dua kata sandi panjang"),
			chromedp.Click("#login-submit")); err != nil {
			fail("sign in as "+user, err)
		}
		poll("signed in as "+user, fmt.Sprintf(`(document.querySelector("#who") || {}).textContent?.startsWith(%q)`, user), 20*time.Second)
	}

	// --- Purworejo's regency analyst.
	signIn("csirt.purworejo")
	poll("the map", `document.body.dataset.page === "map" && window.jagadesa && window.jagadesa.ready === true && window.jagadesa.renderedVillages() > 0`, 60*time.Second)
	// Every village the map draws is Purworejo's; and the map's own data.
	codes := eval(`window.jagadesa.map.queryRenderedFeatures({layers: ['villages']}).map(f => String(f.properties.code))`).([]any)
	if len(codes) == 0 {
		t.Fatal("the map draws no village for Purworejo's analyst")
	}
	for _, c := range codes {
		if !strings.HasPrefix(c.(string), "33.06.") {
			t.Fatalf("Purworejo's analyst sees village %v on the map", c)
		}
	}
	code, body := fetchJS("GET", "/api/v1/map/villages.geojson")
	var fc struct {
		Features []struct{ Properties map[string]any } `json:"features"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &fc) != nil || len(fc.Features) == 0 {
		t.Fatalf("villages.geojson: %d %.200s", code, body)
	}
	for _, f := range fc.Features {
		if c, _ := f.Properties["code"].(string); !strings.HasPrefix(c, "33.06.") {
			t.Fatalf("villages.geojson holds %v", f.Properties["code"])
		}
	}
	code, body = fetchJS("GET", "/api/v1/map/regencies.geojson")
	if code != 200 || json.Unmarshal([]byte(body), &fc) != nil || len(fc.Features) != 1 || fc.Features[0].Properties["code"] != "33.06" {
		t.Fatalf("regencies.geojson for Purworejo's analyst: %d %.300s", code, body)
	}
	if nav := eval(`document.querySelector("#nav").innerText`).(string); strings.Contains(nav, "null") {
		t.Errorf("the menu reads %q", nav)
	}
	if eval(`!!document.querySelector("#nav-admin")`).(bool) || !eval(`!!document.querySelector("#nav-audit")`).(bool) {
		t.Error("an analyst's menu: no audit link, or an admin link")
	}
	shot("j01-purworejo-map")
	// The queue: Krandegan's incidents, nothing of Kudus.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden")); err != nil {
		fail("open the queue", err)
	}
	poll("Krandegan's incident in the queue", `document.body.dataset.page === "incidents" && document.body.innerText.includes("Krandegan") && !!document.querySelector('button[data-testid="ack"]')`, 30*time.Second)
	kudusName := func() string { v, _ := reg.Village(kudus); return v.Name }()
	if txt := eval(`document.querySelector("section.incidents").innerText`).(string); strings.Contains(txt, kudusName) || strings.Contains(txt, "Kudus") {
		t.Fatalf("Kudus in Purworejo's queue:\n%s", txt)
	}
	shot("j02-purworejo-queue")
	// Exports: the incident report, the audit trail and the STIX bundle
	// hold only Purworejo.
	for _, p := range []string{"/api/v1/reports/incidents?format=csv", "/api/v1/audit?format=csv", "/api/v1/reports/security.stix", "/api/v1/incidents?limit=1000"} {
		code, body := fetchJS("GET", p)
		if code != 200 {
			t.Fatalf("%s: %d %.200s", p, code, body)
		}
		if strings.Contains(body, kudus) || strings.Contains(body, kudusInc) || strings.Contains(body, "Kudus") {
			t.Fatalf("%s shows Kudus to Purworejo's analyst:\n%.600s", p, body)
		}
	}
	if code, body := fetchJS("GET", "/api/v1/incidents?limit=1000"); !strings.Contains(body, krandeganInc) || code != 200 {
		t.Fatalf("Purworejo's own incident missing from its list: %d", code)
	}
	// Acting on Kudus's incident: 403 from the API, and the page offers nothing.
	if code, body := fetchJS("POST", "/api/v1/incidents/"+kudusInc+"/ack"); code != 403 {
		t.Fatalf("ack of a Kudus incident by Purworejo's analyst: %d %s", code, body)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden/"+kudusInc)); err != nil {
		fail("open the Kudus incident", err)
	}
	poll("the refusal", `document.body.dataset.page === "error"`, 15*time.Second)
	if eval(`!!document.querySelector('button[data-testid="ack"]') || !!document.querySelector("#note-submit")`).(bool) {
		t.Fatal("the page offers an action on Kudus's incident")
	}
	shot("j03-kudus-refused")
	// Its own incident: offered, and taken.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden/"+krandeganInc)); err != nil {
		fail("open Krandegan's incident", err)
	}
	poll("Krandegan's incident page with actions", `document.body.dataset.page === "incident" && !!document.querySelector('button[data-testid="ack"]')`, 15*time.Second)
	if err := chromedp.Do(bctx, chromedp.Click(`button[data-testid="ack"]`)); err != nil {
		fail("acknowledge", err)
	}
	poll("acknowledged", `document.querySelector('[data-testid="incident-state"]').textContent === "Ditangani"`, 10*time.Second)
	// The audit page names the analyst and the action.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/audit")); err != nil {
		fail("open the audit page", err)
	}
	poll("the audit trail", `document.body.dataset.page === "audit" && document.body.innerText.includes("Insiden diakui") && document.body.innerText.includes("csirt.purworejo")`, 15*time.Second)
	shot("j04-purworejo-audit")
	eval(`document.querySelector("#logout").click(), true`)
	poll("signed out", `document.body.dataset.page === "login"`, 10*time.Second)

	// --- The province's Diskominfo viewer.
	signIn("diskominfo.jateng")
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden")); err != nil {
		fail("open the queue as a viewer", err)
	}
	poll("the viewer's queue", `document.body.dataset.page === "incidents" && document.body.innerText.includes("Krandegan") && document.body.innerText.includes(`+fmt.Sprintf("%q", kudusName)+`)`, 30*time.Second)
	if eval(`!!document.querySelector('button[data-testid="ack"]') || !!document.querySelector("#stix-export") || !!document.querySelector("#nav-audit")`).(bool) {
		t.Fatal("a viewer is offered an action, the STIX export or the audit trail")
	}
	if code, _ := fetchJS("GET", "/api/v1/reports/security.stix"); code != 403 {
		t.Fatalf("a viewer downloaded the STIX bundle: %d", code)
	}
	code, body = fetchJS("GET", "/api/v1/incidents/"+securityInc)
	if code != 200 || strings.Contains(body, "203.0.113.66") || strings.Contains(body, "dns_hijack") || strings.Contains(body, "resolver") {
		t.Fatalf("a viewer sees security evidence: %d %s", code, body)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden/"+securityInc)); err != nil {
		fail("open the security incident as a viewer", err)
	}
	poll("the redacted security incident", `document.body.dataset.page === "incident" && !!document.querySelector("#view-only")`, 15*time.Second)
	if txt := eval(`document.body.innerText`).(string); strings.Contains(txt, "203.0.113.66") || strings.Contains(txt, "192.168.1.1") {
		t.Fatalf("the viewer's page shows security evidence:\n%s", txt)
	}
	shot("j05-viewer-security")
	eval(`document.querySelector("#logout").click(), true`)
	poll("signed out", `document.body.dataset.page === "login"`, 10*time.Second)

	// --- The province admin's page: accounts, probes, an enrollment code.
	signIn("admin.jateng")
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/admin")); err != nil {
		fail("open the admin page", err)
	}
	poll("the admin page", `document.body.dataset.page === "admin" && document.body.innerText.includes("csirt.purworejo") && document.body.innerText.includes("Krandegan")`, 15*time.Second)
	eval(`document.querySelector("#nu-role").value = "technician", true`)
	if err := chromedp.Do(bctx, chromedp.SendKeys("#nu-username", "tek.kudus"),
		chromedp.SendKeys("#nu-regency", "33.19"), chromedp.SendKeys("#nu-password", "kata sandi teknisi kudus"),
		chromedp.Click(`#add-user button[type="submit"]`)); err != nil {
		fail("add an account", err)
	}
	poll("the new account listed", `document.body.innerText.includes("tek.kudus") && document.body.innerText.includes("teknisi lapangan")`, 10*time.Second)
	if err := chromedp.Do(bctx, chromedp.SendKeys("#code-village", kudus), chromedp.Click(`#make-code button[type="submit"]`)); err != nil {
		fail("make an enrollment code", err)
	}
	poll("the code shown once", `/^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{2}$/.test((document.querySelector("#enroll-code") || {}).textContent || "")`, 10*time.Second)
	shot("j06-admin")
	code, body = fetchJS("GET", "/api/v1/audit")
	if code != 200 || !strings.Contains(body, `"action":"user_add","object":"tek.kudus"`) || !strings.Contains(body, `"enroll_code_create"`) {
		t.Fatalf("the admin's changes are not in the audit trail: %d %.500s", code, body)
	}
}
