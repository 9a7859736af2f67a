package probecmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestProbeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // all must appear in the error
	}{
		{"nothing given", nil, nil, []string{"--server is required", "token is required", "--village"}},
		{"bad server and village", []string{"--server", "ftp://x", "--token", "t", "--village", "33.6.8.7", "--target", "127.0.0.1"}, nil,
			[]string{"http:// or https://", "Kemendagri village code"}},
		{"round longer than interval", []string{"--server", "http://x", "--token", "t", "--village", "33.06.08.2007", "--target", "a",
			"--interval", "5s", "--count", "10", "--ping-interval", "1s"}, nil, []string{"must fit inside --interval"}},
		{"settings from the environment", []string{"--interval", "0s"}, map[string]string{
			"JAGADESA_SERVER": "http://x", "JAGADESA_TOKEN": "t", "JAGADESA_VILLAGE": "33.06.08.2007", "JAGADESA_TARGETS": "a,b",
		}, []string{"--interval 0s must be between"}},
		{"missing token file", []string{"--token-file", "/nonexistent/token"}, nil, []string{"--token-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), append(tt.args, "--spool", t.TempDir()), func(k string) string { return tt.env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Only the problems named: a valid environment setting must not be reported.
			if tt.env != nil && strings.Contains(err.Error(), "--server is required") {
				t.Errorf("JAGADESA_SERVER was ignored: %v", err)
			}
		})
	}
}

func TestProbeVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--version"}, func(string) string { return "" }, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "jagadesa-probe dev" {
		t.Fatalf("version output %q", out.String())
	}
}

func TestDNSAllowFlag(t *testing.T) {
	cfg, _, _, err := parseFlags([]string{"--dns-allow", "203.0.113.0/24, 192.0.2.1", "--dns-allow", "2001:db8::53"},
		func(k string) string { return map[string]string{"JAGADESA_DNS_ALLOW": "198.51.100.1"}[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.DNSAllow, " ") != "198.51.100.1 203.0.113.0/24 192.0.2.1 2001:db8::53" {
		t.Fatalf("DNSAllow %q", cfg.DNSAllow)
	}
	if _, _, _, err := parseFlags([]string{"--dns-allow", "resolver.example"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "neither an address nor a CIDR") {
		t.Fatalf("bad resolver: %v", err)
	}
}

func TestDNSCanaryFlag(t *testing.T) {
	env := func(k string) string { return map[string]string{"JAGADESA_DNS_CANARIES": "jatengprov.go.id"}[k] }
	cfg, _, _, err := configure([]string{"--server", "http://s", "--village", "33.06.08.2007", "--token", "t"}, env, &bytes.Buffer{})
	if err != nil || strings.Join(cfg.DNSCanaries, " ") != "jatengprov.go.id" {
		t.Fatalf("from the environment: %q %v", cfg.DNSCanaries, err)
	}
	cfg, _, _, err = configure([]string{"--server", "http://s", "--village", "33.06.08.2007", "--token", "t", "--dns-canary", "a.go.id", "--dns-canary", "b.go.id"}, env, &bytes.Buffer{})
	if err != nil || strings.Join(cfg.DNSCanaries, " ") != "a.go.id b.go.id" {
		t.Fatalf("flags win: %q %v", cfg.DNSCanaries, err)
	}
}
