package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// The admin token bootstraps the first province admin, made with the CLI
// on the server host; once that account exists the token is off, unless
// kept on purpose with --keep-admin-token.
func TestAdminTokenOffOnceAProvinceAdminExists(t *testing.T) {
	ifx := influxtest.Get(t)
	dataDir := t.TempDir()
	var out, errb syncBuffer
	if err := jagadesacmd.Run(context.Background(), []string{"user", "add", "--data-dir", dataDir, "--username", "admin.jateng",
		"--role", "province-admin", "--province", "33"}, adminEnv, strings.NewReader("correct horse battery staple\n"), &out, &errb); err != nil {
		t.Fatalf("user add: %v\n%s", err, errb.String())
	}
	for _, keep := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		addr := freeAddr(t)
		args := []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", ifx.NewDatabase(t), "--data-dir", dataDir}
		if keep {
			args = append(args, "--keep-admin-token")
		}
		var log syncBuffer
		done := make(chan error, 1)
		go func() { done <- jagadesacmd.Run(ctx, args, adminEnv, nil, &log, &log) }()
		base := "http://" + addr
		for i := 0; ; i++ {
			if code, _ := call(t, "GET", base+"/healthz", "", ""); code == 200 {
				break
			}
			if i > 100 {
				t.Fatalf("server not healthy:\n%s", log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		code, _ := call(t, "GET", base+"/api/v1/villages", admin, "")
		if want := map[bool]int{false: 401, true: 200}[keep]; code != want {
			t.Fatalf("keep=%v: the admin token got %d, want %d\n%s", keep, code, want, log.String())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
	}
}

// The first province admin may come from a one-time bootstrap variable:
// made once, then the variable is ignored with a warning; the admin token
// is off from then on.
func TestBootstrapAdminFromEnvironment(t *testing.T) {
	ifx := influxtest.Get(t)
	dataDir := t.TempDir()
	env := func(k string) string {
		switch k {
		case "JAGADESA_BOOTSTRAP_ADMIN":
			return "Admin.Jambi@15"
		case "JAGADESA_BOOTSTRAP_PASSWORD":
			return "batang hari mengalir jauh"
		}
		return adminEnv(k)
	}
	for run := 0; run < 2; run++ {
		ctx, cancel := context.WithCancel(context.Background())
		addr := freeAddr(t)
		var log syncBuffer
		done := runServe(t, ctx, []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", ifx.NewDatabase(t), "--data-dir", dataDir}, env, &log)
		base := "http://" + addr
		if code, _ := call(t, "GET", base+"/api/v1/villages", admin, ""); code != 401 {
			t.Errorf("run %d: the admin token works beside a province admin: %d", run, code)
		}
		req, _ := http.NewRequest("POST", base+"/api/v1/session", strings.NewReader(`{"username":"admin.jambi","password":"batang hari mengalir jauh"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("run %d: sign-in as the bootstrapped admin: %v %v\n%s", run, err, resp, log.String())
		}
		resp.Body.Close()
		want := map[int]string{0: "first province admin made from JAGADESA_BOOTSTRAP_ADMIN", 1: "JAGADESA_BOOTSTRAP_ADMIN ignored"}[run]
		if !strings.Contains(log.String(), want) {
			t.Errorf("run %d: the log lacks %q:\n%s", run, want, log.String())
		}
		cancel()
		<-done
	}
}
