package probecmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/probe"
)

// realistic is /etc/config/jagadesa as on a configured village router.
const realistic = "../../../probe/testdata/uci/jagadesa-realistic"

// shipped is the default the OpenWrt package installs.
const shipped = "../../../probe/openwrt/jagadesa.config"

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jagadesa")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("jdp_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	minimal := writeConfig(t, "config probe 'main'\n\toption server 'http://s'\n\toption village '33.06.08.2007'\n\toption token_file '"+tokenFile+"'\n")
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c probe.Config)
	}{
		{"every value from the realistic file", []string{"--config", realistic, "--token", "T"}, nil, func(t *testing.T, c probe.Config) {
			want := probe.Config{
				Server: "https://jagadesa.jatengprov.go.id", Token: "T", Village: "33.06.08.2007",
				Spool: "/overlay/jagadesa/spool", Interval: time.Minute,
				Targets: []string{"192.168.1.1", "jatengprov.go.id", "jagadesa.jatengprov.go.id"},
				Root:    "/", Count: 10, PingInterval: time.Second, Privileged: c.Privileged, SpoolMaxBytes: 4 << 20,
				Version: Version, DNSNames: []string{"jatengprov.go.id", "purworejokab.go.id"}, DNSReference: "8.8.8.8:53",
				HTTPURLs:        []string{"https://jatengprov.go.id/", "https://purworejokab.go.id/?q=a b"},
				SpeedtestBudget: 2048 << 20, WANInterface: "pppoe-wan", ThreatFeedInterval: time.Hour,
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("config\n got %+v\nwant %+v", c, want)
			}
		}},
		{"flags win over the file", []string{"--config", realistic, "--token", "T", "--interval", "30s", "--target", "10.0.0.1",
			"--spool", "/srv/spool", "--http-url", "http://x/", "--speedtest-budget", "0"}, nil, func(t *testing.T, c probe.Config) {
			if c.Interval != 30*time.Second || !reflect.DeepEqual(c.Targets, []string{"10.0.0.1"}) || c.Spool != "/srv/spool" ||
				!reflect.DeepEqual(c.HTTPURLs, []string{"http://x/"}) || c.SpeedtestBudget != 0 {
				t.Errorf("flags lost: %+v", c)
			}
			if c.Village != "33.06.08.2007" || len(c.DNSNames) != 2 {
				t.Errorf("the file's other values lost: %+v", c)
			}
		}},
		{"the environment wins over the file", []string{"--config", realistic}, map[string]string{
			"JAGADESA_INTERVAL": "2m", "JAGADESA_TARGETS": "a,b", "JAGADESA_TOKEN_FILE": tokenFile,
		}, func(t *testing.T, c probe.Config) {
			if c.Interval != 2*time.Minute || !reflect.DeepEqual(c.Targets, []string{"a", "b"}) || c.Token != "jdp_from_file" {
				t.Errorf("environment lost: %+v", c)
			}
			if c.WANInterface != "pppoe-wan" {
				t.Errorf("file lost: %+v", c)
			}
		}},
		{"JAGADESA_CONFIG names the file; token_file is read", nil, map[string]string{"JAGADESA_CONFIG": minimal}, func(t *testing.T, c probe.Config) {
			if c.Server != "http://s" || c.Token != "jdp_from_file" {
				t.Errorf("%+v", c)
			}
			if !reflect.DeepEqual(c.DNSNames, probe.DefaultDNSNames) || c.Spool != "/var/lib/jagadesa/spool" {
				t.Errorf("built-in defaults lost: %+v", c)
			}
		}},
		{"dns_reference 'none' turns the reference resolver off", []string{"--config",
			writeConfig(t, "config probe 'main'\n\toption dns_reference 'none'\n")}, nil, func(t *testing.T, c probe.Config) {
			if c.DNSReference != "" {
				t.Errorf("DNSReference %q", c.DNSReference)
			}
		}},
		{"--dns-reference beats dns_reference 'none'", []string{"--dns-reference", "1.1.1.1:53", "--config",
			writeConfig(t, "config probe 'main'\n\toption dns_reference 'none'\n")}, nil, func(t *testing.T, c probe.Config) {
			if c.DNSReference != "1.1.1.1:53" {
				t.Errorf("DNSReference %q", c.DNSReference)
			}
		}},
		{"JAGADESA_TOKEN beats the file's token_file", []string{"--config", minimal}, map[string]string{"JAGADESA_TOKEN": "env"}, func(t *testing.T, c probe.Config) {
			if c.Token != "env" {
				t.Errorf("token %q", c.Token)
			}
		}},
		{"--token-file beats the file's token", []string{"--config", writeConfig(t, "config probe 'main'\n\toption token 'file'\n"), "--token-file", tokenFile}, nil, func(t *testing.T, c probe.Config) {
			if c.Token != "jdp_from_file" {
				t.Errorf("token %q", c.Token)
			}
		}},
		{"an explicit --token beats the file's token_file", []string{"--config", minimal, "--token", "cli"}, nil, func(t *testing.T, c probe.Config) {
			if c.Token != "cli" {
				t.Errorf("token %q", c.Token)
			}
		}},
		{"the shipped default keeps the spool on flash", []string{"--config", shipped}, nil, func(t *testing.T, c probe.Config) {
			if c.Spool != "/overlay/jagadesa/spool" || c.Interval != time.Minute || c.SpeedtestBudget != 4096<<20 {
				t.Errorf("%+v", c)
			}
			if c.Server != "" || c.Token != "" || c.Village != "" {
				t.Errorf("the default is preset: %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _, err := configure(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		is         error
	}{
		{"disabled", "config probe 'main'\n\toption server 'http://s'\n\toption enabled '0'\n",
			[]string{"disabled by option enabled '0'", "(line 3)", "uci set jagadesa.main.enabled=1"}, ErrDisabled},
		{"disabled anonymous section", "config probe\n\toption enabled 'no'\n", []string{"jagadesa.@probe[0].enabled=1"}, ErrDisabled},
		{"bad enabled", "config probe 'main'\n\toption enabled 'maybe'\n", []string{":2: option enabled 'maybe'"}, nil},
		{"bad interval", "config probe 'main'\n\n\toption interval '5x'\n", []string{":3: option interval '5x'", "unknown unit"}, nil},
		{"bad count", "config probe 'main'\n\toption count 'ten'\n", []string{":2: option count 'ten'"}, nil},
		{"list for a single value", "config probe 'main'\n\tlist server 'http://a'\n", []string{":2: server is a single value"}, nil},
		{"no probe section", "config other 'x'\n", []string{"no `config probe` section"}, nil},
		{"syntax error", "config probe 'main'\n\toption server 'http://s\n", []string{":2: unterminated '"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			_, _, _, err := configure([]string{"--config", path}, func(string) string { return "" }, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, _, _, err := configure([]string{"--config", "/nonexistent/jagadesa"}, func(string) string { return "" }, io.Discard); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigFileWarnings(t *testing.T) {
	path := writeConfig(t, "config probe 'main'\n\toption server 'http://s'\n\toption intervall '5m'\nconfig probe 'second'\n")
	_, _, warnings, err := configure([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(warnings, "\n")
	for _, w := range []string{`unknown key "intervall" on line 3`, "only the first `config probe` section (line 1) is used; 1 more ignored"} {
		if !strings.Contains(got, w) {
			t.Errorf("warnings %q lack %q", got, w)
		}
	}
}

// TestRunDisabled is what an operator sees: a clear refusal, and --version
// still works.
func TestRunDisabled(t *testing.T) {
	path := writeConfig(t, "config probe 'main'\n\toption enabled '0'\n")
	err := Run(context.Background(), []string{"--config", path}, func(string) string { return "" }, io.Discard, io.Discard)
	if !errors.Is(err, ErrDisabled) {
		t.Fatalf("Run: %v", err)
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--config", path, "--version"}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "jagadesa-probe ") {
		t.Fatalf("--version: %v %q", err, out.String())
	}
}
