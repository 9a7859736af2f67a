package probecmd

import (
	"bytes"
	"strings"
	"testing"
)

// TestLANSpeedtestSettings: the villagers' speed-test page is configured by
// flag, environment or UCI option, and only ever on a LAN address.
func TestLANSpeedtestSettings(t *testing.T) {
	base := []string{"--server", "http://s", "--village", "33.06.08.2007", "--token", "t"}
	none := func(string) string { return "" }
	cfg, _, _, err := configure(base, none, &bytes.Buffer{})
	if err != nil || cfg.LANSpeedListen != "" || cfg.LANSpeedDailyBytes != 0 || cfg.LANSpeedContractMbps != 0 {
		t.Fatalf("by default the page is off and the probe's defaults apply: %+v %v", cfg, err)
	}
	cfg, _, _, err = configure(append(base, "--lan-speedtest-listen", "192.168.1.1:8099", "--lan-speedtest-daily-bytes", "500000000",
		"--lan-speedtest-contract-mbps", "50"), none, &bytes.Buffer{})
	if err != nil || cfg.LANSpeedListen != "192.168.1.1:8099" || cfg.LANSpeedDailyBytes != 500_000_000 || cfg.LANSpeedContractMbps != 50 {
		t.Fatalf("flags: %+v %v", cfg, err)
	}
	file := writeConfig(t, "config probe 'main'\n\toption server 'http://s'\n\toption village '33.06.08.2007'\n\toption token 't'\n"+
		"\toption lan_speedtest_listen '192.168.1.1:8099'\n\toption lan_speedtest_daily_mb '1000'\n\toption lan_speedtest_contract_mbps '30'\n")
	cfg, _, warnings, err := configure([]string{"--config", file}, none, &bytes.Buffer{})
	if err != nil || len(warnings) > 0 || cfg.LANSpeedListen != "192.168.1.1:8099" || cfg.LANSpeedDailyBytes != 1000<<20 || cfg.LANSpeedContractMbps != 30 {
		t.Fatalf("UCI options: %+v %v %v", cfg, warnings, err)
	}
	env := func(k string) string { return map[string]string{"JAGADESA_LAN_SPEEDTEST_LISTEN": "10.0.0.1:8099"}[k] }
	if cfg, _, _, err = configure(base, env, &bytes.Buffer{}); err != nil || cfg.LANSpeedListen != "10.0.0.1:8099" {
		t.Fatalf("environment: %+v %v", cfg, err)
	}
	for _, bad := range []string{"0.0.0.0:8099", ":8099", "203.0.113.1:8099", "router.lan:8099"} {
		_, _, _, err := configure(append(base, "--lan-speedtest-listen", bad), none, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--lan-speedtest-listen") {
			t.Errorf("--lan-speedtest-listen %s: %v", bad, err)
		}
	}
}
