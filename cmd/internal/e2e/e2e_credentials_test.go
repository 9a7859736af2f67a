package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// A router enrolled the way a field technician does it, with a code typed
// on the router (jagadesa-probe enroll), reports with the key bound at
// enrollment; staff rotate its token from the server and the running probe
// takes the new one without a site visit, saving it in its token file;
// after that the old token is refused.
func TestEnrollWithCodeAndRotate(t *testing.T) {
	ifx := influxtest.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serverLog syncBuffer
	base, serverDone := startServer(t, ctx, ifx.URL, ifx.NewDatabase(t), &serverLog)
	defer func() { cancel(); <-serverDone }()
	village := geo.KemuningCode

	code, b := call(t, "POST", base+"/api/v1/enrollment-codes", admin, `{"village":"`+village+`"}`)
	var made struct{ Code string }
	if code != 201 || json.Unmarshal(b, &made) != nil || made.Code == "" {
		t.Fatalf("enrollment code: %d %s", code, b)
	}
	spool := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "etc", "jagadesa", "token")
	var out, errb bytes.Buffer
	noenv := func(string) string { return "" }
	if err := probecmd.Run(ctx, []string{"enroll", "--server", base, "--code", strings.ToLower(made.Code), "--spool", spool, "--token-file", tokenFile}, noenv, &out, &errb); err != nil {
		t.Fatalf("jagadesa-probe enroll: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "enrolled: probe p-") || !strings.Contains(out.String(), village) {
		t.Fatalf("enroll said %q", out.String())
	}
	first, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	oldToken := strings.TrimSpace(string(first))
	// The code is spent.
	errb.Reset()
	if err := probecmd.Run(ctx, []string{"enroll", "--server", base, "--code", made.Code, "--spool", t.TempDir(), "--token-file", filepath.Join(t.TempDir(), "t")}, noenv, &out, &errb); err == nil {
		t.Fatal("a spent code enrolled a second router")
	}

	pctx, pcancel := context.WithCancel(ctx)
	var probeLog syncBuffer
	probeDone := make(chan error, 1)
	go func() {
		probeDone <- probecmd.Run(pctx, []string{"--server", base, "--token-file", tokenFile, "--village", village, "--spool", spool,
			"--interval", "1s", "--target", "127.0.0.1", "--count", "2", "--ping-interval", "100ms",
			"--dns-name", "localhost", "--dns-reference=", "--http-url", base + "/healthz", "--speedtest-budget", "0", "--no-security"}, noenv, &probeLog, &probeLog)
	}()
	defer func() {
		pcancel()
		<-probeDone
	}()
	waitStatus(t, base+"/api/v1/villages/"+village, jagadesa.StatusUp, 30*time.Second, &probeLog, &serverLog)

	code, b = call(t, "GET", base+"/api/v1/probes", admin, "")
	var list struct{ Probes []jagadesa.Probe }
	json.Unmarshal(b, &list)
	id := ""
	for _, p := range list.Probes {
		if p.Village == village {
			id = p.ID
		}
	}
	if code != 200 || id == "" {
		t.Fatalf("probes: %d %s", code, b)
	}
	if code, b := call(t, "POST", base+"/api/v1/probes/"+id+"/rotate", admin, ""); code != 202 {
		t.Fatalf("rotate: %d %s", code, b)
	}
	var newToken string
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, _ := os.ReadFile(tokenFile)
		if tok := strings.TrimSpace(string(b)); tok != oldToken && tok != "" {
			newToken = tok
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not take a new token\n%s", probeLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Once the probe has used the new token, the old one is refused.
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, _ := call(t, "POST", base+"/api/v1/reports", oldToken, `{"v":1,"village":"`+village+`","samples":[]}`)
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old token still works: %d", code)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if newToken == oldToken || !strings.HasPrefix(newToken, "jdp_") {
		t.Errorf("new token %q", newToken)
	}
	// The probe goes on reporting with it.
	before := time.Now()
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, b := call(t, "GET", base+"/api/v1/villages/"+village, admin, "")
		var v struct {
			LastSeen *time.Time `json:"last_seen"`
		}
		json.Unmarshal(b, &v)
		if code == 200 && v.LastSeen != nil && v.LastSeen.After(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report after the rotation\n%s", probeLog.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	code, b = call(t, "GET", base+"/api/v1/audit", admin, "")
	if code != 200 || !strings.Contains(string(b), `"probe_token_rotated"`) || !strings.Contains(string(b), `"actor":"code:admin"`) {
		t.Errorf("audit: %d %.400s", code, b)
	}
}
