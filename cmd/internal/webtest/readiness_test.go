package webtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe/sim"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// TestReadinessAndReportsInChromium backfills this month (rounds, speed
// tests and the routers' usage) for the
// province's named desa digital through the real ingest path, then, as a
// province admin in Chromium: finds Krandegan and Kemuning in the
// readiness ranking, reads Krandegan's readiness section pillar by pillar,
// opens the SLA report, prints it to PDF from the browser and downloads
// the server's PDF; both PDFs are rendered to images (pdftoppm) for
// people to look at.
func TestReadinessAndReportsInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is required for the browser tests (scripts/test.sh installs it): ", err)
	}
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Fatal("poppler-utils is required to render the PDFs (scripts/test.sh installs it): ", err)
	}
	shots := artifactsDir(t)
	ifx := influxtest.Get(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb strings.Builder
	if err := jagadesacmd.Run(ctx, []string{"user", "add", "--data-dir", data, "--username", "admin.jateng", "--role", "province-admin", "--province", "33"},
		getenv, strings.NewReader("dua kata sandi panjang\n"), &out, &errb); err != nil {
		t.Fatalf("user add: %v %s", err, errb.String())
	}
	addr := freeAddr(t)
	base, srvLog := serveFor(t, addr, "--influx-url", ifx.URL, "--keep-admin-token",
		"--influx-bucket", ifx.NewDatabase(t), "--data-dir", data, "--provinces", "jateng",
		"--max-record-age", "1200h", "--probe-records-per-minute", "100000000")
	// This month so far, for the two named desa digital: Kemuning with a
	// two-hour cut.
	wib := time.FixedZone("WIB", 7*3600)
	now := time.Now().Truncate(time.Minute)
	w := now.In(wib)
	from := time.Date(w.Year(), w.Month(), 1, 0, 0, 0, 0, wib).Add(-time.Hour)
	if now.Sub(from) > 72*time.Hour { // keep the run short: the last three days
		from = now.Add(-72 * time.Hour)
	}
	if _, err := sim.Backfill(ctx, sim.BackfillConfig{Server: base, AdminToken: admin, Villages: []string{geo.KrandeganCode, geo.KemuningCode},
		From: from, To: now, Seed: 3, SpeedTestEvery: 3 * time.Hour,
		Schedule: []sim.Period{{Village: geo.KemuningCode, Kind: sim.PeriodLinkCut, Start: now.Add(-30 * time.Hour), End: now.Add(-28 * time.Hour)}}}); err != nil {
		t.Fatalf("backfill: %v\n%s", err, tail(srvLog.String()))
	}
	if code, b := post(base+"/api/v1/rollups/reroll", admin, fmt.Sprintf(`{"from":%q,"to":%q}`, from.Format(time.RFC3339), now.Format(time.RFC3339))); code != 200 {
		t.Fatalf("reroll: %d %s", code, b)
	}
	for _, g := range []struct{ code, body string }{
		{geo.KrandeganCode, `{"website":true,"app":true,"online_services":3,"note":"krandegan.desa.id"}`},
		{geo.KemuningCode, `{"website":true,"app":false,"online_services":1}`},
	} {
		req, _ := http.NewRequest("PUT", base+"/api/v1/governance/"+g.code, strings.NewReader(g.body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("governance %s: %v %v", g.code, err, resp)
		}
		resp.Body.Close()
	}

	br := newSession(t, ctx, browser, shots, "readiness", srvLog)
	bctx, shot, fail, eval, poll := br.ctx, br.shot, br.fail, br.eval, br.poll
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/login")); err != nil {
		fail("open sign-in", err)
	}
	poll("the sign-in form", `!!document.querySelector("#login-username")`, 20*time.Second)
	if err := chromedp.Do(bctx, chromedp.SendKeys("#login-username", "admin.jateng"), chromedp.SendKeys("#login-token", "dua kata sandi panjang"),
		chromedp.Click("#login-submit")); err != nil {
		fail("sign in", err)
	}
	poll("signed in", `(document.querySelector("#who") || {}).textContent?.startsWith("admin.jateng")`, 20*time.Second)

	// 1. The ranking, filtered to desa digital: Krandegan and Kemuning,
	// both with a complete score (the backfill's routers reported usage).
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/kesiapan?flag=digital")); err != nil {
		fail("open the ranking", err)
	}
	poll("the ranking", fmt.Sprintf(`document.body.dataset.page === "readiness" && !!document.querySelector('a[data-code="%s"]') && !!document.querySelector('a[data-code="%s"]')`, geo.KrandeganCode, geo.KemuningCode), 30*time.Second)
	rowText := func(code string) string {
		return eval(fmt.Sprintf(`document.querySelector('a[data-code="%s"]').closest("tr").innerText`, code)).(string)
	}
	for _, code := range []string{geo.KrandeganCode, geo.KemuningCode} {
		if r := rowText(code); strings.Contains(r, "sebagian") || !strings.Contains(r, "Desa digital") {
			t.Errorf("ranking row of %s: %q", code, r)
		}
	}
	// Krandegan (a better governance entry, no cut) ranks above Kemuning.
	order := eval(`[...document.querySelectorAll("section.ranking tbody a[data-code]")].map(a => a.dataset.code)`).([]any)
	if len(order) < 2 || order[0] != geo.KrandeganCode {
		t.Errorf("ranking order %v", order)
	}
	shot("r01-ranking")

	// 2. Krandegan's readiness section explains each pillar.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/desa/"+geo.KrandeganCode)); err != nil {
		fail("open Krandegan", err)
	}
	poll("the readiness section", `!!document.querySelector('[data-testid="pillar-governance"]') && !!document.querySelector('[data-testid="pillar-connectivity"]')`, 30*time.Second)
	if g := eval(`document.querySelector('[data-testid="pillar-governance"]').textContent`).(string); g != "84" {
		t.Errorf("governance pillar shows %q, want 84 (30 + 30 + 40 × 3/5)", g)
	}
	if c := eval(`document.querySelector('[data-testid="pillar-connectivity"]').textContent`).(string); c == "Belum ada data" || c == "" {
		t.Errorf("connectivity pillar %q after three days of measurements", c)
	}
	if u := eval(`document.querySelector('[data-testid="pillar-use"]').textContent`).(string); u == "Belum ada data" || u == "" {
		t.Errorf("use pillar %q after three days of usage records", u)
	}
	if sc := eval(`document.querySelector('[data-testid="readiness-score"]').textContent`).(string); strings.Contains(sc, "sebagian") || sc == "–" {
		t.Errorf("Krandegan's score %q, want complete", sc)
	}
	if eval(`!!document.querySelector('[data-testid="readiness-missing"]')`).(bool) {
		t.Error("a missing-pillars line for a village with every pillar")
	}
	eval(`document.querySelector('[data-testid="readiness"]').scrollIntoView(), true`)
	shot("r02-village-readiness")

	// 3. The SLA report as a page, printed to PDF by the browser.
	month := now.In(wib).Format("2006-01")
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/laporan?kind=sla&month="+month)); err != nil {
		fail("open the report", err)
	}
	poll("the report page", `(document.querySelector("section.report") || {dataset: {}}).dataset.loaded === "true" && document.querySelectorAll("table.report-table").length >= 2`, 30*time.Second)
	if title := eval(`document.querySelector('[data-testid="report-title"]').textContent`).(string); !strings.Contains(title, "SLA") {
		t.Errorf("report title %q", title)
	}
	shot("r03-report-page")
	printed, err := chromedp.Run(bctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFLandscape(), chromedp.PDFPrintBackground()))
	if err != nil {
		fail("print the report", err)
	}
	// And the server's own PDF of the same report.
	req, _ := http.NewRequest("GET", base+"/api/v1/reports/monthly/sla?format=pdf&month="+month, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	serverPDF, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name, pdf := range map[string][]byte{"r04-report-printed": printed, "r05-report-server": serverPDF} {
		if !strings.HasPrefix(string(pdf), "%PDF-") {
			t.Fatalf("%s is not a PDF: %.40q", name, pdf)
		}
		path := filepath.Join(shots, name+".pdf")
		if err := os.WriteFile(path, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", path, filepath.Join(shots, name)).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm %s: %v %s", name, err, out)
		}
		text, err := exec.Command("pdftotext", "-f", "1", "-l", "1", path, "-").Output()
		if err != nil || !strings.Contains(string(text), "SLA") {
			t.Errorf("%s page 1 text: %v %.300s", name, err, text)
		}
	}
}
