package probe

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzParseUCI feeds arbitrary files to the UCI parser. It must not panic;
// a refused file is refused with a *UCIError on one of its lines; an
// accepted one obeys libuci's rules (valid names, named sections declared
// once, no key both an option and a list, no empty option) and, written
// back out with single quotes, parses to the same configuration.
func FuzzParseUCI(f *testing.F) {
	for _, name := range []string{"jagadesa-realistic", "quoting", "network", "crlf"} {
		b, err := os.ReadFile("testdata/uci/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"package jagadesa\nconfig probe 'main'\n\toption enabled '1'\n\tlist target '192.168.1.1'\n",
		"c t n; o k v; l k2 a; l k2 b # comment\np pkg\n",
		"config t 'a'\noption x \"multi\nline\" # ok\noption y 'it'\\''s'\noption z a\\\n  b\n",
		"config t\noption k 'v'\nlist k 'w'\noption k ''\nlist k ''\n",
		"config t 'n'\nconfig u 'n'\n",
		"option k v\n",
		"config t\noption k 'never closed\n",
		"config t\noption k \"esc\\",
		"config t x y z\n",
		"config 't-1' 'n_2'\r\n\toption 'k' 'v'\r\n",
		"config t\n\toption k v#cut\n\toption k2 '#kept'\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUCI(bytes.NewReader(data))
		if err != nil {
			var ue *UCIError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is a %T, not a *UCIError", err, err)
			}
			if ue.Line < 1 || ue.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("error on line %d of a file of %d lines: %v", ue.Line, bytes.Count(data, []byte("\n"))+1, err)
			}
			if u != nil {
				t.Fatal("a configuration returned with an error")
			}
			return
		}
		checkUCI(t, u)
		text := writeUCI(u)
		again, err := ParseUCI(strings.NewReader(text))
		if err != nil {
			t.Fatalf("written back, the configuration does not parse: %v\n%s", err, text)
		}
		if a, b := uciString(u), uciString(again); a != b {
			t.Fatalf("written back and parsed again, the configuration changed\n got %s\nwant %s\nfile:\n%s", b, a, text)
		}
	})
}

func checkUCI(t *testing.T, u *UCI) {
	t.Helper()
	if u.Package != "" && !validUCIName(u.Package, true) {
		t.Fatalf("package %q accepted", u.Package)
	}
	names := map[string]bool{}
	for _, s := range u.Sections {
		if !validUCIName(s.Type, true) || (s.Name != "" && !validUCIName(s.Name, false)) {
			t.Fatalf("section type %q, name %q accepted", s.Type, s.Name)
		}
		if s.Name != "" {
			if names[s.Name] {
				t.Fatalf("section %q listed twice", s.Name)
			}
			names[s.Name] = true
		}
		for k, v := range s.Options {
			if !validUCIName(k, false) || v == "" {
				t.Fatalf("option %q = %q accepted", k, v)
			}
			if _, ok := s.Lists[k]; ok {
				t.Fatalf("%q is both an option and a list", k)
			}
		}
		for k, l := range s.Lists {
			if !validUCIName(k, false) || len(l) == 0 {
				t.Fatalf("list %q = %q accepted", k, l)
			}
		}
		keys := slices.Sorted(maps.Keys(s.Options))
		keys = append(keys, slices.Collect(maps.Keys(s.Lists))...)
		slices.Sort(keys)
		got := s.Keys()
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Fatalf("Keys() = %q, want %q", got, keys)
		}
	}
}

// writeUCI writes u as libuci's `uci export` would: every value in single
// quotes, a quote inside one closed, escaped with a backslash and reopened.
func writeUCI(u *UCI) string {
	var b strings.Builder
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	if u.Package != "" {
		fmt.Fprintf(&b, "package %s\n\n", q(u.Package))
	}
	for _, s := range u.Sections {
		b.WriteString("config " + q(s.Type))
		if s.Name != "" {
			b.WriteString(" " + q(s.Name))
		}
		b.WriteString("\n")
		for _, k := range slices.Sorted(maps.Keys(s.Options)) {
			fmt.Fprintf(&b, "\toption %s %s\n", k, q(s.Options[k]))
		}
		for _, k := range slices.Sorted(maps.Keys(s.Lists)) {
			for _, v := range s.Lists[k] {
				fmt.Fprintf(&b, "\tlist %s %s\n", k, q(v))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// uciString renders the content of u (not where it was) for comparison.
func uciString(u *UCI) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package=%q", u.Package)
	for _, s := range u.Sections {
		fmt.Fprintf(&b, " [%q %q", s.Type, s.Name)
		for _, k := range slices.Sorted(maps.Keys(s.Options)) {
			fmt.Fprintf(&b, " %s=%q", k, s.Options[k])
		}
		for _, k := range slices.Sorted(maps.Keys(s.Lists)) {
			fmt.Fprintf(&b, " %s=%q", k, s.Lists[k])
		}
		b.WriteString("]")
	}
	return b.String()
}
