package probe

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseUCIFiles reads fixture files the way they appear on routers.
func TestParseUCIFiles(t *testing.T) {
	type want struct {
		section string // section name, or "@type[i]" for an anonymous one
		typ     string
		line    int
		options map[string]string
		lists   map[string][]string
		lines   map[string]int // KeyLine of some keys
	}
	tests := []struct {
		file     string
		pkg      string
		sections int
		want     []want
	}{
		{"testdata/uci/jagadesa-realistic", "", 1, []want{{
			section: "main", typ: "probe", line: 4,
			options: map[string]string{
				"enabled": "1", "server": "https://jagadesa.jatengprov.go.id", "village": "33.06.08.2007",
				"token_file": "/etc/jagadesa/token", "spool": "/overlay/jagadesa/spool", "spool_max_bytes": "4194304",
				"interval": "60s", "speedtest_budget_mb": "2048", "wan_iface": "pppoe-wan", "log_level": "info",
			},
			lists: map[string][]string{
				"target":   {"192.168.1.1", "jatengprov.go.id", "jagadesa.jatengprov.go.id"},
				"dns_name": {"jatengprov.go.id", "purworejokab.go.id"},
				"http_url": {"https://jatengprov.go.id/", "https://purworejokab.go.id/?q=a b"},
			},
			lines: map[string]int{"enabled": 5, "target": 14, "wan_iface": 20},
		}}},
		{"testdata/uci/quoting", "quoting", 2, []want{
			{
				section: "q", typ: "test", line: 3,
				options: map[string]string{
					"single":    "its joined",
					"double":    "tab\tand \"quotes\" and \\ backslash",
					"bare":      "plain word",
					"mixed":     "prefix middle",
					"hash":      "a # is data inside quotes",
					"cut":       "bare",
					"multi":     "first line\nsecond line",
					"continued": "one two",
					"replaced":  "new",
					"merged":    "yes",
				},
				lists: map[string][]string{"tolist": {"first", "second", ""}, "abbreviated": {"x"}},
				lines: map[string]int{"multi": 10, "continued": 12, "replaced": 16, "merged": 21, "empty": 3},
			},
			{section: "@test[1]", typ: "test", line: 22, options: map[string]string{"anonymous": "1"}, lists: map[string][]string{}},
		}},
		{"testdata/uci/network", "", 5, []want{
			{section: "@device[0]", typ: "device", line: 11,
				options: map[string]string{"name": "br-lan", "type": "bridge"},
				lists:   map[string][]string{"ports": {"lan1", "lan2", "lan3"}}},
			{section: "wan", typ: "interface", line: 25,
				options: map[string]string{"device": "wan", "proto": "pppoe", "username": "desa@telkom.net", "password": "rahasia", "ipv6": "auto"},
				lists:   map[string][]string{}},
		}},
		{"testdata/uci/crlf", "", 1, []want{
			{section: "main", typ: "probe", line: 1,
				options: map[string]string{"village": "33.06.08.2007"},
				lists:   map[string][]string{"target": {"10.0.0.1"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			u, err := ReadUCIFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if u.Package != tt.pkg {
				t.Errorf("package %q, want %q", u.Package, tt.pkg)
			}
			if len(u.Sections) != tt.sections {
				t.Errorf("%d sections, want %d", len(u.Sections), tt.sections)
			}
			for _, w := range tt.want {
				s := findSection(u, w.section)
				if s == nil {
					t.Errorf("no section %s", w.section)
					continue
				}
				if s.Type != w.typ || s.Line != w.line {
					t.Errorf("%s: type %q line %d, want %q line %d", w.section, s.Type, s.Line, w.typ, w.line)
				}
				if !reflect.DeepEqual(s.Options, w.options) {
					t.Errorf("%s options:\n got %q\nwant %q", w.section, s.Options, w.options)
				}
				if !reflect.DeepEqual(s.Lists, w.lists) {
					t.Errorf("%s lists:\n got %q\nwant %q", w.section, s.Lists, w.lists)
				}
				for k, n := range w.lines {
					if got := s.KeyLine(k); got != n {
						t.Errorf("%s: KeyLine(%s) = %d, want %d", w.section, k, got, n)
					}
				}
			}
		})
	}
}

// findSection finds "name" or the i-th section of a type, written "@type[i]".
func findSection(u *UCI, ref string) *UCISection {
	if typ, idx, ok := strings.Cut(strings.TrimPrefix(ref, "@"), "["); ok && strings.HasPrefix(ref, "@") {
		secs := u.SectionsOf(typ)
		i := int(idx[0] - '0')
		if i < len(secs) {
			return secs[i]
		}
		return nil
	}
	return u.Section(ref)
}

func TestParseUCIErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"option before section", "# comment\n\noption server 'x'\n", 3, "before the first config section"},
		{"unknown command", "config probe 'main'\n\tset server 'x'\n", 2, `invalid command "set"`},
		{"unterminated single quote", "config probe 'main'\n\toption server 'https://x\n\toption village '1'\n", 2, "unterminated ' in this command (quoted values may span lines: the ' opened on line 3 never closes)"},
		{"unterminated double quote", "config probe 'main'\n\n\toption server \"x\n", 3, `unterminated "`},
		{"unquoted space", "config probe 'main'\n\toption http_url https://a b\n", 2, "too many arguments"},
		{"config without type", "config\n", 1, "config without a section type"},
		{"config with three words", "config probe main extra\n", 1, "too many arguments to config"},
		{"bad section name", "config probe 'main-1'\n", 1, "invalid character in section name"},
		{"bad option name", "config probe 'main'\n\toption spool.dir '/x'\n", 2, "invalid character in option name"},
		{"list without name", "config probe 'main'\n\tlist\n", 2, "list without a name"},
		{"retyped section", "config probe 'main'\nconfig other 'main'\n", 2, "already declared"},
		{"package without name", "package\n", 1, "package needs one name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUCI(strings.NewReader(tt.in))
			var ue *UCIError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a *UCIError", err)
			}
			if ue.Line != tt.line || !strings.Contains(ue.Msg, tt.msg) {
				t.Errorf("got line %d %q, want line %d containing %q", ue.Line, ue.Msg, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not start with its line", err)
			}
		})
	}
}

func TestReadUCIFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jagadesa")
	if err := os.WriteFile(path, []byte("config probe 'main'\n\toption village '33.06\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadUCIFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Fatalf("error %v, want it to start with %s:2:", err, path)
	}
	if _, err := ReadUCIFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestShippedUCIConfig checks the /etc/config/jagadesa the OpenWrt package
// installs: it parses, and keeps the spool on flash.
func TestShippedUCIConfig(t *testing.T) {
	u, err := ReadUCIFile("openwrt/jagadesa.config")
	if err != nil {
		t.Fatal(err)
	}
	secs := u.SectionsOf("probe")
	if len(secs) != 1 || secs[0].Name != "main" {
		t.Fatalf("want one section `config probe 'main'`, got %d", len(secs))
	}
	s := secs[0]
	if v, _ := s.Get("enabled"); v != "1" {
		t.Errorf("enabled %q", v)
	}
	spool, _ := s.Get("spool")
	if !strings.HasPrefix(spool, "/overlay/") {
		t.Errorf("spool %q is not on the flash overlay", spool)
	}
	for _, ram := range []string{"/tmp/", "/var/"} {
		if strings.HasPrefix(spool, ram) {
			t.Errorf("spool %q is in RAM", spool)
		}
	}
	// Empty options are unset: the service waits for them to be filled in.
	for _, k := range []string{"server", "village", "token"} {
		if v, ok := s.Get(k); ok {
			t.Errorf("%s is preset to %q", k, v)
		}
	}
	for _, k := range []string{"interval", "speedtest_budget_mb", "spool_max_bytes"} {
		if _, ok := s.Get(k); !ok {
			t.Errorf("%s missing", k)
		}
	}
}
