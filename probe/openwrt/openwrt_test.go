package openwrt

import (
	"os/exec"
	"strings"
	"testing"
)

// stubs stand in for OpenWrt's /lib/functions.sh and procd.sh: config_*
// read CFG_<section>_<option> variables, procd_* and logger print what
// they were asked, so the init script's own logic runs under a POSIX sh.
const stubs = `
config_load() { [ "$1" = jagadesa ] || echo "config_load $1"; }
config_foreach() { for s in $SECTIONS; do "$1" "$s"; done; }
config_get() { eval "$1=\"\${CFG_$2_$3-$4}\""; }
config_get_bool() {
	config_get "$@"
	eval "case \"\$$1\" in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
}
logger() { echo "logger $*"; }
procd_open_instance() { echo "open"; }
procd_set_param() { echo "param $*"; }
procd_close_instance() { echo "close"; }
procd_add_reload_trigger() { echo "trigger $*"; }
`

func TestInitScript(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("no sh to run the init script with")
	}
	tests := []struct {
		name     string
		vars     string
		want     []string
		wantNot  []string
		wantFail bool
	}{
		{"configured", `SECTIONS=main CFG_main_server=https://s CFG_main_village=33.06.08.2007 CFG_main_token=jdp_x`,
			[]string{"open", "param command /usr/bin/jagadesa-probe --config /etc/config/jagadesa", "param file /etc/config/jagadesa",
				"param respawn 3600 5 0", "param stdout 1", "param stderr 1", "close", "trigger jagadesa"}, nil, false},
		{"token in a file, anonymous section", `SECTIONS=cfg01 CFG_cfg01_server=https://s CFG_cfg01_village=33.06.08.2007 CFG_cfg01_token_file=/etc/jagadesa/token`,
			[]string{"open", "close"}, nil, false},
		{"disabled", `SECTIONS=main CFG_main_enabled=0 CFG_main_server=https://s CFG_main_village=33.06.08.2007 CFG_main_token=jdp_x`,
			[]string{"disabled in /etc/config/jagadesa"}, []string{"open"}, false},
		{"not configured (as installed)", `SECTIONS=main CFG_main_enabled=1`,
			[]string{"not configured: set server, village and token"}, []string{"open"}, false},
		{"no probe section", `SECTIONS=`, []string{"no 'config probe' section"}, []string{"open"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := tt.vars + "\n" + stubs + "\n. ./jagadesa.init\nstart_service; rc=$?\nservice_triggers\nexit $rc\n"
			out, err := exec.Command("sh", "-c", script).CombinedOutput()
			if (err != nil) != tt.wantFail {
				t.Errorf("exit: %v (want failure: %v)\n%s", err, tt.wantFail, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(out), w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestScriptsParse runs sh -n over every shell script the package ships.
func TestScriptsParse(t *testing.T) {
	for _, f := range []string{"jagadesa.init", "postinst", "prerm"} {
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
