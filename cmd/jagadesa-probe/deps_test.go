package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProbeStaysSmall keeps the router binary free of the server's heavy
// dependencies: every one of them would cost flash on a village router.
func TestProbeStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/prometheus-community/pro-bing") {
		t.Fatal("go list output does not look like this binary's dependencies (no pro-bing)")
	}
	for _, banned := range []string{"github.com/gin-gonic/gin", "github.com/influxdata/influxdb-client-go", "github.com/paulmach/orb", "modernc.org/sqlite", "github.com/prometheus/client_golang"} {
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, banned) {
				t.Errorf("the probe imports %s", d)
			}
		}
	}
}
