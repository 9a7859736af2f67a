package webtest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/federation"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// TestNationalPageInChromium: a national server (--federation-peers) with
// Jawa Tengah and Jambi forwarding through the real Forwarder, and Aceh
// registered but never heard from. The national page lists the three
// provinces, Aceh offline; the incidents of both provinces; and the
// villages that are not up.
func TestNationalPageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is required for the browser tests (scripts/test.sh installs it): ", err)
	}
	shots := artifactsDir(t)
	ifx := influxtest.Get(t)
	dir := t.TempDir()
	keys := map[string]ed25519.PrivateKey{}
	var peers strings.Builder
	for _, p := range []string{"33", "15", "11"} {
		k, err := federation.LoadOrCreateKey(filepath.Join(dir, p+".key"))
		if err != nil {
			t.Fatal(err)
		}
		keys[p] = k
		fmt.Fprintf(&peers, "%s %s\n", p, jagadesa.FormatPublicKey(k.Public().(ed25519.PublicKey)))
	}
	peersFile := filepath.Join(dir, "peers.txt")
	os.WriteFile(peersFile, []byte(peers.String()), 0o600)
	addr := freeAddr(t)
	base, srvLog := serveFor(t, addr, "--influx-url", ifx.URL, "--influx-bucket", ifx.NewDatabase(t), "--data-dir", t.TempDir(),
		"--provinces", "jateng,jambi", "--federation-peers", peersFile)

	now := time.Now().Add(-time.Minute)
	for p, village := range map[string]string{"33": "33.06.08.2005", "15": "15.01.01.2001"} {
		f, err := federation.Open(federation.Config{URL: base, Province: p, Key: keys[p], Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		items := []federation.Item{
			{Kind: federation.KindVillageStatus, VillageStatus: &federation.VillageStatus{Village: village, Status: jagadesa.StatusDown, Since: now, Cause: "silent"}},
			federation.IncidentSummary(&jagadesa.Incident{ID: "inc-" + p, Village: village, Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityWarning,
				State: jagadesa.StateOpen, OpenedAt: now, CSIRT: "CSIRT " + p}, false),
		}
		if _, err := f.EnqueueAll(items); err != nil {
			t.Fatal(err)
		}
		if n, err := f.SendOnce(context.Background()); err != nil || n != 2 {
			t.Fatalf("province %s: sent %d, %v", p, n, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	br := newSession(t, ctx, browser, shots, "national", srvLog)
	if err := chromedp.Do(br.ctx, chromedp.Navigate(base+"/nasional")); err != nil {
		br.fail("open the national page", err)
	}
	br.poll("the sign-in form", `document.body.dataset.page === "login" && !!document.querySelector("#login-token")`, 20*time.Second)
	br.do("sign in", chromedp.SendKeys("#login-token", admin), chromedp.Click("#login-submit"))
	br.poll("the national page", `document.body.dataset.page === "national" && document.querySelector("section.national")?.dataset.loaded === "true"`, 20*time.Second)
	br.poll("the national link in the menu", `!!document.querySelector("#nav-national")`, 5*time.Second)
	text := br.eval(`document.querySelector("section.national").innerText`).(string)
	for _, want := range []string{"33.06.08.2005", "15.01.01.2001", "CSIRT 33", "CSIRT 15"} {
		if !strings.Contains(text, want) {
			t.Errorf("the national page does not show %q:\n%s", want, text)
		}
	}
	offline := br.eval(`[...document.querySelectorAll("section.national tbody tr")].filter((r) => r.querySelector("[data-offline]")).map((r) => r.cells[0].innerText + ":" + r.querySelector("[data-offline]").dataset.offline).join(",")`).(string)
	if want := "11:true,15 Jambi:false,33 Jawa Tengah:false"; offline != want {
		t.Errorf("provinces and whether offline: %q, want %q", offline, want)
	}
	br.poll("the national map to draw both provinces' villages", `window.jagadesa.nationalRendered && window.jagadesa.nationalRendered() === 2`, 20*time.Second)
	br.shot("national")
}
