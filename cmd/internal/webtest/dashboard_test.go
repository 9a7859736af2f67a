// Package webtest drives the real dashboard in Debian's headless Chromium:
// the server's real program (`jagadesa serve`) on loopback with a real
// InfluxDB, the simulated fleet reporting through the real probe sender, and
// a browser that signs in, finds the fleet on the map, opens a village and a
// regency, and switches language. Screenshots are saved for people to look
// at (JAGADESA_ARTIFACTS, default a temporary directory, named in the log).
package webtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/internal/syncbuf"

	"github.com/chromedp/chromedp"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

const admin = "webtest-admin-token-0123456789"

// syncBuffer is the shared concurrent-safe test log sink.
type syncBuffer = syncbuf.Buffer

func getenv(k string) string {
	if k == "JAGADESA_ADMIN_TOKEN" {
		return admin
	}
	return ""
}

// ChromiumFlags are the flags that make MapLibre's WebGL work in headless
// Chromium on a machine without a GPU: SwiftShader, Chromium's software GL.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
	chromedp.Flag("use-angle", "swiftshader"),
	chromedp.Flag("enable-unsafe-swiftshader", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("no-default-browser-check", true),
	chromedp.Flag("lang", "id-ID"),
	chromedp.WindowSize(1280, 800),
}

func artifactsDir(t *testing.T) string {
	dir := os.Getenv("JAGADESA_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// byStatus reads the live status counts of the monitored villages.
func byStatus(base string) (map[string]int, error) {
	req, _ := http.NewRequest("GET", base+"/api/v1/villages", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		ByStatus map[string]int `json:"by_status"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return body.ByStatus, json.Unmarshal(b, &body)
}

func TestDashboardInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is required for the browser tests (scripts/test.sh installs it): ", err)
	}
	shots := artifactsDir(t)
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	var simLog syncBuffer
	base, srvLog := serveFor(t, addr, "--influx-url", ifx.URL,
		"--influx-bucket", bucket, "--data-dir", t.TempDir(), "--provinces", "jateng,jambi", "--incident-startup-grace", "1s")

	// The whole programme fleet, reporting every 10 s through the real
	// sender and spool, so the map shows the demo's picture.
	simDone := make(chan error, 1)
	// The fleet writes its spools under a TempDir: it must have stopped
	// before the test's cleanup removes them.
	defer func() {
		cancel()
		select {
		case <-simDone:
		case <-time.After(15 * time.Second):
			t.Error("simulated fleet did not stop")
		}
	}()
	go func() {
		simDone <- jagadesacmd.Run(ctx, []string{"sim", "--server", base, "--villages", "599", "--interval", "10s",
			"--dir", t.TempDir()}, getenv, nil, &simLog, &simLog)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		counts, err := byStatus(base)
		if err == nil && counts["up"]+counts["degraded"] >= 500 {
			t.Logf("fleet live: %v", counts)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet did not come up: %v %v\nsim:\n%s", counts, err, tail(simLog.String()))
		}
		select {
		case err := <-simDone:
			t.Fatalf("sim exited: %v\n%s", err, tail(simLog.String()))
		case <-time.After(time.Second):
		}
	}

	br := newSession(t, ctx, browser, shots, "dashboard", srvLog)
	bctx, shot, fail, eval, poll := br.ctx, br.shot, br.fail, br.eval, br.poll

	// 1. An anonymous visit lands on the sign-in form; signing in brings the map.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		fail("open the dashboard", err)
	}
	if lang := eval(`document.documentElement.lang`); lang != "id" {
		t.Fatalf("page language %v, want id", lang)
	}
	poll("the sign-in form", `document.body.dataset.page === "login" && !!document.querySelector("#login-token")`, 20*time.Second)
	shot("01-login")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys("#login-token", admin),
		chromedp.Click("#login-submit"),
	); err != nil {
		fail("sign in", err)
	}
	poll("the map to draw the fleet", `document.body.dataset.page === "map" && window.jagadesa && window.jagadesa.ready === true && window.jagadesa.renderedVillages() > 100`, 60*time.Second)
	rendered := eval(`window.jagadesa.renderedVillages()`).(float64)
	t.Logf("%v village features rendered", rendered)
	// The credit line of the village data is on the map.
	credit := eval(`(document.querySelector('[data-testid="attribution"]') || {}).textContent || ""`).(string)
	if !strings.Contains(credit, "cahyadsn") {
		t.Fatalf("data credit line missing from the map: %q", credit)
	}
	shot("02-map-id")

	// 2. The language switch turns the page English and back, without reload.
	before := eval(`document.body.innerText`).(string)
	if err := chromedp.Do(bctx, chromedp.Click("#lang-switch")); err != nil {
		fail("switch language", err)
	}
	poll("English", `document.documentElement.lang === "en"`, 5*time.Second)
	after := eval(`document.body.innerText`).(string)
	if before == after || !strings.Contains(after, "Down") || strings.Contains(after, "Putus") {
		t.Fatalf("switching to English did not translate the page:\nbefore: %.300q\nafter: %.300q", before, after)
	}
	shot("03-map-en")
	if err := chromedp.Do(bctx, chromedp.Click("#lang-switch")); err != nil {
		fail("switch language back", err)
	}
	poll("Indonesian again", `document.documentElement.lang === "id" && document.body.innerText.includes("Putus")`, 5*time.Second)

	// 3. Search finds Krandegan by name.
	if err := chromedp.Do(bctx, chromedp.SendKeys("#search", "Krandegan")); err != nil {
		fail("type in search", err)
	}
	poll("Krandegan in the search results", fmt.Sprintf(`!!document.querySelector('#search-results li[data-code="%s"]')`, geo.KrandeganCode), 10*time.Second)
	shot("04-search")

	// 4. Clicking a village on the map opens its popup, whose link opens the
	// village page. Krandegan is in the programme, so it is drawn.
	if err := chromedp.Do(bctx, chromedp.Click(fmt.Sprintf(`#search-results li[data-code="%s"]`, geo.KrandeganCode))); err != nil {
		fail("choose the search result", err)
	}
	poll("the map to settle on Krandegan", fmt.Sprintf(`window.jagadesa.villageScreenPoint(%q) !== null && window.jagadesa.map.isMoving() === false`, geo.KrandeganCode), 20*time.Second)
	if err := chromedp.Do(bctx, chromedp.Sleep(500*time.Millisecond)); err != nil {
		fail("wait", err)
	}
	pt, ok := eval(fmt.Sprintf(`window.jagadesa.villageScreenPoint(%q)`, geo.KrandeganCode)).([]any)
	if !ok || len(pt) != 2 {
		t.Fatalf("screen point of Krandegan: %v", pt)
	}
	if err := chromedp.Do(bctx, chromedp.MouseClickXY(pt[0].(float64), pt[1].(float64))); err != nil {
		fail("click Krandegan on the map", err)
	}
	poll("the popup", `!!document.querySelector('a[data-testid="popup-village-link"]')`, 10*time.Second)
	shot("05-popup")
	if err := chromedp.Do(bctx, chromedp.Click(`a[data-testid="popup-village-link"]`)); err != nil {
		fail("follow the popup link", err)
	}
	poll("the village page", `document.body.dataset.page === "village" && !!document.querySelector('[data-testid="village-title"]')`, 15*time.Second)
	title := eval(`document.querySelector('[data-testid="village-title"]').textContent`).(string)
	if !strings.Contains(title, "Krandegan") || !strings.Contains(eval(`location.pathname`).(string), geo.KrandeganCode) {
		t.Fatalf("village page title %q at %v", title, eval(`location.pathname`))
	}
	poll("the village's history", `document.querySelector("section.village").dataset.loaded === "true" && !!document.querySelector('[data-testid="latency-chart"] canvas') && document.querySelectorAll('[data-testid="uptime-strip"] span').length > 200`, 15*time.Second)
	status := eval(`document.querySelector('[data-testid="village-status"]').textContent`).(string)
	if !strings.Contains(status, "Normal") && !strings.Contains(status, "Terganggu") {
		t.Fatalf("Krandegan's status badge %q, want Normal or Terganggu (it reports)", status)
	}
	shot("06-village")

	// 5. The regency page.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/kabupaten/33.06")); err != nil {
		fail("open the regency page", err)
	}
	poll("the regency page", `document.body.dataset.page === "regency" && (document.querySelector('[data-testid="regency-title"]') || {}).textContent === "Kabupaten Purworejo"`, 15*time.Second)
	shot("07-regency")

	// 6. The incident queue: a Jambi village (Kemantan, drawn at its
	// kecamatan's point) reports once with a 2 s interval, then goes silent.
	kemantan := "15.09.02.2018"
	token := enroll(t, base, kemantan)
	now := time.Now()
	report := fmt.Sprintf(`{"v":1,"village":%q,"samples":[{"seq":1,"t":%d,"kind":"heartbeat","heartbeat":{"boot_id":"b","uptime_s":100,"interval_s":2}}]}`, kemantan, now.UnixMilli())
	if code, body := post(base+"/api/v1/reports", token, report); code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/insiden")); err != nil {
		fail("open the incident queue", err)
	}
	poll("Kemantan's incident in the queue", `document.body.dataset.page === "incidents" && document.body.innerText.includes("Kemantan") && !!document.querySelector('button[data-testid="ack"]')`, 60*time.Second)
	shot("09-incidents")
	// The STIX export link downloads a bundle with the browser's session.
	if txt := eval(`document.querySelector("#stix-export").textContent`); txt != "Ekspor insiden keamanan (STIX 2.1)" {
		t.Fatalf("STIX export link %q", txt)
	}
	eval(`(() => { window.__stix = null; fetch(document.querySelector("#stix-export").href).then(async r => { window.__stix = {status: r.status, type: r.headers.get("content-type") || "", body: await r.json()} }); return true })()`)
	poll("the STIX export", `window.__stix !== null && window.__stix.status === 200 && window.__stix.type.startsWith("application/stix+json") && window.__stix.body.type === "bundle"`, 10*time.Second)
	// Fleet villages may have incidents too (short link cuts): act on Kemantan's row.
	const row = `[...document.querySelectorAll("section.incidents tbody tr")].find(r => r.innerText.includes("Kemantan"))`
	eval(row + `.querySelector('button[data-testid="ack"]').click(), true`)
	poll("the incident acknowledged", row+`.querySelector('[data-testid="incident-state"]').textContent === "Ditangani"`, 10*time.Second)
	eval(row + `.querySelector("a[data-link]").click(), true`)
	poll("the incident page", `document.body.dataset.page === "incident" && document.querySelector('[data-testid="incident-title"]').textContent.includes("Kemantan")`, 10*time.Second)
	if err := chromedp.Do(bctx, chromedp.SendKeys("#note-text", "Operator desa dihubungi lewat telepon"), chromedp.Click("#note-submit")); err != nil {
		fail("add a note", err)
	}
	poll("the note and its audit entry", `document.body.innerText.includes("Operator desa dihubungi lewat telepon") && document.body.innerText.includes("acknowledged")`, 10*time.Second)
	shot("10-incident")

	// 7. Jambi loads too: its villages render when the map is moved there.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		fail("back to the map", err)
	}
	poll("the map", `window.jagadesa && window.jagadesa.ready === true`, 60*time.Second)
	eval(`(() => { const s = document.querySelector("#f-province"); s.value = "jambi"; s.dispatchEvent(new Event("change")); return true })()`)
	poll("Jambi villages", `window.jagadesa.map.isMoving() === false && window.jagadesa.map.loaded() && window.jagadesa.map.queryRenderedFeatures({layers: ['villages']}).some(f => String(f.properties.code).startsWith("15."))`, 30*time.Second)
	if credit := eval(`document.querySelector('[data-testid="attribution"]').textContent`).(string); !strings.HasPrefix(credit, "Jambi") {
		t.Fatalf("credit line after switching to Jambi: %q", credit)
	}
	shot("08-jambi")
}

// signers hold the keys bound at enrollment; post signs reports with them.
var signers sync.Map // token → ed25519.PrivateKey

func enroll(t *testing.T, base, village string) string {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	code, body := post(base+"/api/v1/probes", admin, fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, jagadesa.FormatPublicKey(pub)))
	var r struct{ Token string }
	if code != 201 || json.Unmarshal(body, &r) != nil || r.Token == "" {
		t.Fatalf("enroll %s: %d %s", village, code, body)
	}
	signers.Store(r.Token, key)
	return r.Token
}

func post(url, token, body string) (int, []byte) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if k, ok := signers.Load(token); ok && strings.HasSuffix(url, "/api/v1/reports") {
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k.(ed25519.PrivateKey), []byte(body)))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
