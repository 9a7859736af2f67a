package webtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// TestLANSpeedTestInChromium is issue 14's villagers' speed test end to
// end. The real probe binary runs in a network namespace (its "router"),
// joined to the host by a veth pair: across it the probe reports to the
// real server (on the host's end) and serves its LAN page on its own end,
// a private 10.x address. Headless Chromium on the host is the villager's
// phone: it opens the page, presses "Mulai uji" and reads the verdict —
// first on the full veth ("ok"), then throttled by the browser to a weak
// Wi-Fi's 5 Mbit/s ("wifi", the probe's WAN figure of the same minute
// reused). A second phone is refused while a test runs. Both records reach
// the server's history and the village page.
func TestLANSpeedTestInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Debian's chromium is required for the browser tests (scripts/test.sh installs it): ", err)
	}
	shots := artifactsDir(t)
	ns := newLANNetns(t)
	ifx := influxtest.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The server, on the host's end of the pair.
	addr := net.JoinHostPort(ns.hostIP, freePort(t, ns.hostIP))
	base, srvLog := serveFor(t, addr, "--influx-url", ifx.URL,
		"--influx-bucket", ifx.NewDatabase(t), "--data-dir", t.TempDir(), "--provinces", "jateng")

	// The probe, enrolled with the key it will sign with, in the namespace.
	village := geo.KrandeganCode
	spool := t.TempDir()
	key, _, err := probe.LoadOrCreateKey(filepath.Join(spool, "probe.key"))
	if err != nil {
		t.Fatal(err)
	}
	code, body := post(base+"/api/v1/probes", admin, fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, jagadesa.FormatPublicKey(key.Public().(ed25519.PublicKey))))
	var enr struct{ Token string }
	if code != 201 || json.Unmarshal(body, &enr) != nil || enr.Token == "" {
		t.Fatalf("enroll: %d %s", code, body)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(enr.Token), 0o600)
	page := "http://" + net.JoinHostPort(ns.nsIP, "8099") + "/"
	probeLog := ns.startProbe(t, buildLANProbe(t), "--server", base, "--token-file", tokenFile, "--village", village,
		"--spool", spool, "--interval", "10s", "--count", "2", "--ping-interval", "100ms", "--target", ns.hostIP,
		"--dns-name", "localhost", "--dns-reference=", "--http-url", base+"/healthz", "--no-security", "--log-level", "debug",
		"--lan-speedtest-listen", net.JoinHostPort(ns.nsIP, "8099"))
	for i := 0; ; i++ {
		resp, err := http.Get(page)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			t.Fatalf("the probe's page %s did not come up: %v\nprobe log:\n%s", page, err, tail(probeLog.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The villager's phone.
	br := newSession(t, ctx, browser, shots, "lanspeed", srvLog)
	br.more = func() string { return "probe log:\n" + tail(probeLog.String()) + "\n" }
	bctx, shot, fail, poll := br.ctx, br.shot, br.fail, br.poll
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
		if err != nil {
			fail("read "+sel, err)
		}
		return v
	}
	// runTest presses the button and waits for the verdict.
	runTest := func(during func()) string {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Click("#mulai")); err != nil {
			fail("press Mulai uji", err)
		}
		if during != nil {
			during()
		}
		poll("the verdict", `!document.querySelector("#verdict").hidden || document.querySelector("#status").className === "err"`, 90*time.Second)
		if st := text("#status"); st != "Selesai. Terima kasih!" {
			fail("the test", fmt.Errorf("status %q", st))
		}
		for _, id := range []string{"#down", "#up", "#wan-down", "#wan-up"} {
			if v := text(id); !strings.HasSuffix(v, " Mbps") || v == "0.0 Mbps" {
				t.Errorf("%s shows %q, want a rate", id, v)
			}
		}
		if v := text("#rtt"); !strings.HasSuffix(v, " ms") {
			t.Errorf("#rtt shows %q", v)
		}
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#verdict").dataset.verdict`))
		if err != nil {
			fail("read the verdict", err)
		}
		return v
	}

	if err := chromedp.Do(bctx, chromedp.EmulateViewport(412, 860, chromedp.EmulateMobile), chromedp.Navigate(page)); err != nil {
		fail("open the page", err)
	}
	poll("the page", `!!document.querySelector("#mulai")`, 20*time.Second)
	if lang, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "id" {
		t.Errorf("page language %q, want id", lang)
	}
	if b := text("#mulai"); b != "Mulai uji" {
		t.Errorf("button %q", b)
	}

	// 1. The full veth: the phone gets what the link gives.
	if v := runTest(nil); v != jagadesa.LANVerdictOK {
		t.Errorf("verdict on the full link %q, want ok", v)
	}
	t.Logf("full link: rtt %s, phone %s / %s, WAN %s / %s, verdict %q: %s", text("#rtt"), text("#down"), text("#up"),
		text("#wan-down"), text("#wan-up"), text("#verdict-title"), text("#verdict-text"))
	wanFirst := text("#wan-down")
	shot("lanspeed-01-ok")

	// 2. A weak Wi-Fi: the browser holds the phone to 5 Mbit/s down and
	// 2 Mbit/s up, 20 ms. While it tests, a second phone is refused.
	if _, err := chromedp.Call(bctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Latency: 20, DownloadThroughput: 625_000, UploadThroughput: 250_000}}}); err != nil {
		fail("throttle the phone", err)
	}
	v := runTest(func() {
		poll("the download to start", `document.querySelector("#status").textContent.startsWith("Mengukur unduh")`, 30*time.Second)
		req, _ := http.NewRequest("POST", page+"start", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("second phone: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "Sedang ada uji lain") {
			t.Errorf("a second phone during a test: %d %s, want 429 with a message in Indonesian", resp.StatusCode, b)
		}
	})
	if v != jagadesa.LANVerdictWiFi {
		t.Errorf("verdict on a 5 Mbit/s phone %q, want wifi", v)
	}
	if d, err := strconv.ParseFloat(strings.TrimSuffix(text("#down"), " Mbps"), 64); err != nil || d < 2 || d > 6 {
		t.Errorf("throttled download %s, want about 5 Mbps", text("#down"))
	}
	if w := text("#wan-down"); w != wanFirst {
		t.Errorf("WAN figure %s, want the same minute's %s reused", w, wanFirst)
	}
	if vt := text("#verdict-title"); vt != "Wi-Fi lemah" {
		t.Errorf("verdict title %q", vt)
	}
	t.Logf("weak Wi-Fi: rtt %s, phone %s / %s, WAN %s / %s: %s", text("#rtt"), text("#down"), text("#up"), text("#wan-down"), text("#wan-up"), text("#verdict-text"))
	shot("lanspeed-02-wifi")

	// 3. Both tests reach the server: its history, then the village page.
	var hist struct {
		LAN []struct {
			jagadesa.LANSpeed
			T time.Time `json:"t"`
		} `json:"lan_speedtests"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/api/v1/villages/"+village+"/history?range=1h", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&hist)
			resp.Body.Close()
		}
		if len(hist.LAN) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(hist.LAN) != 2 {
		t.Fatalf("history lists %d villagers' tests, want 2: %+v\nprobe log:\n%s", len(hist.LAN), hist.LAN, tail(probeLog.String()))
	}
	for i, want := range []string{jagadesa.LANVerdictOK, jagadesa.LANVerdictWiFi} {
		l := hist.LAN[i]
		if l.Verdict != want || l.WANDownMbps == nil || l.WANUpMbps == nil || l.DownMbps <= 0 || l.RTTMs <= 0 {
			t.Errorf("stored test %d: %+v (verdict %s, want %s)", i, l, l.Verdict, want)
		}
	}
	if *hist.LAN[0].WANDownMbps != *hist.LAN[1].WANDownMbps {
		t.Errorf("the second test measured the WAN again (%v, %v): it should reuse the same minute's", *hist.LAN[0].WANDownMbps, *hist.LAN[1].WANDownMbps)
	}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/")); err != nil {
		fail("open the dashboard", err)
	}
	poll("the sign-in form", `!!document.querySelector("#login-token")`, 20*time.Second)
	if err := chromedp.Do(bctx, chromedp.SendKeys("#login-token", admin), chromedp.Click("#login-submit")); err != nil {
		fail("sign in", err)
	}
	poll("signed in", `document.body.dataset.page === "map"`, 60*time.Second)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/desa/"+village)); err != nil {
		fail("open the village", err)
	}
	poll("the villagers' tests", `document.querySelectorAll('[data-testid="lan-verdict"]').length === 2`, 30*time.Second)
	verdicts, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="lan-verdict"]')].map(e => e.textContent)`))
	if err != nil {
		fail("read the village page", err)
	}
	if strings.Join(verdicts, "|") != "Wi-Fi/LAN yang lemah|baik" {
		t.Errorf("village page verdicts %q, want the newest (weak Wi-Fi) first", verdicts)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`document.querySelector('[data-testid="lan-verdict"]').scrollIntoView({block: "center"})`)); err != nil {
		fail("scroll to the tests", err)
	}
	shot("lanspeed-03-village-page")

	// Nothing about the phone in the probe's log: its address appears only
	// where the probe names the server (the host's end, also the phone's).
	for _, line := range strings.Split(probeLog.String(), "\n") {
		if strings.Contains(line, "villager") && strings.Contains(line, ns.hostIP) {
			t.Errorf("the probe logged an address with a villager's test: %s", line)
		}
	}
}

// lanNetns is a network namespace for one test, joined to the host by a
// veth pair on a /30 of 10.254.0.0/16 (as e2e's newNetns).
type lanNetns struct {
	name         string
	hostIf, nsIf string
	hostIP, nsIP string
	ip           string
}

func newLANNetns(t *testing.T) *lanNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it makes a network namespace and a veth pair); run it as root, as CI does")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("the ip tool (iproute2) is needed to make a network namespace: %v", err)
	}
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	n := &lanNetns{name: "jagadesa-web-" + suffix, hostIf: "jwh" + suffix, nsIf: "jwn" + suffix, ip: ip}
	addrs, err := exec.Command(ip, "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v\n%s", err, addrs)
	}
	for {
		x, y := rand.IntN(256), 4*rand.IntN(64)
		if !strings.Contains(string(addrs), fmt.Sprintf(" 10.254.%d.", x)) {
			n.hostIP, n.nsIP = fmt.Sprintf("10.254.%d.%d", x, y+1), fmt.Sprintf("10.254.%d.%d", x, y+2)
			break
		}
	}
	t.Cleanup(func() {
		exec.Command(ip, "netns", "del", n.name).Run()
		exec.Command(ip, "link", "del", n.hostIf).Run()
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", n.name)
	run("link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", n.name)
	run("addr", "add", n.hostIP+"/30", "dev", n.hostIf)
	run("link", "set", n.hostIf, "up")
	run("-n", n.name, "link", "set", "lo", "up")
	run("-n", n.name, "addr", "add", n.nsIP+"/30", "dev", n.nsIf)
	run("-n", n.name, "link", "set", n.nsIf, "up")
	return n
}

// startProbe runs the probe binary inside the namespace until the test
// ends, and returns its log.
func (n *lanNetns) startProbe(t *testing.T, bin string, args ...string) *syncBuffer {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(n.ip, append([]string{"netns", "exec", n.name, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the probe: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("the probe did not stop on SIGTERM")
		}
	})
	return &log
}

// buildLANProbe builds the probe's binary into a temp dir.
func buildLANProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jagadesa-probe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/jagadesa/jagadesa/cmd/jagadesa-probe").CombinedOutput(); err != nil {
		t.Fatalf("go build the probe (needs the go tool on PATH): %v\n%s", err, out)
	}
	return bin
}

// freePort is a free TCP port on host.
func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
