package jagadesacmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func noenv(string) string { return "" }

func TestCommands(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" means success
		stdout  string
	}{
		{"version", []string{"version"}, "", "jagadesa dev"},
		{"no command", nil, "no command", ""},
		{"unknown command", []string{"frobnicate"}, "unknown command", ""},
		{"serve needs an admin token", []string{"serve", "--data-dir", "x"}, "admin token", ""},
		{"serve reports every problem", []string{"serve", "--listen", "", "--influx-url", "", "--influx-bucket", ""}, "--influx-bucket is required", ""},
		{"serve rejects a negative evidence retention", []string{"serve", "--admin-token", "0123456789abcdef", "--evidence-days", "-1"}, "--evidence-days", ""},
		{"serve rejects an idle timeout of 0", []string{"serve", "--admin-token", "0123456789abcdef", "--idle-timeout", "0s"}, "--idle-timeout", ""},
		{"serve rejects a bad evidence replica name", []string{"serve", "--admin-token", "0123456789abcdef", "--evidence-replica", "../a"}, "--evidence-replica", ""},
		{"serve rejects bad log level", []string{"serve", "--admin-token", "0123456789abcdef", "--log-level", "loud"}, "log-level", ""},
		{"sim needs an admin token", []string{"sim"}, "admin-token", ""},
		{"bench needs a mode", []string{"bench"}, "usage", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Run(context.Background(), tt.args, noenv, nil, &out, &errb)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Fatalf("stdout %q lacks %q", out.String(), tt.stdout)
			}
		})
	}
}

func TestServeTakesSettingsFromEnvironment(t *testing.T) {
	// With everything from JAGADESA_* but an unreadable programme file, serve
	// must get as far as the programme list: proof the environment was read.
	env := map[string]string{
		"JAGADESA_ADMIN_TOKEN": "0123456789abcdef",
		"JAGADESA_DATA_DIR":    t.TempDir(),
		"JAGADESA_PROGRAMME":   "/nonexistent/programme.csv",
	}
	err := Run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/programme.csv") {
		t.Fatalf("error %v, want the programme file named", err)
	}
}
