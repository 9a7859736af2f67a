package e2e

import (
	"context"
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
