package threatfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func writeFeed(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "feed.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMixed(t *testing.T) {
	f, err := Load("testdata/mixed.txt")
	if err != nil {
		t.Fatal(err)
	}
	wantIPs := []string{"192.0.2.66", "198.51.100.23", "198.51.100.200", "203.0.113.9", "2001:db8::dead:beef"}
	wantPfx := []string{"203.0.113.128/25", "2001:db8:bad::/48"}
	wantDom := []string{"evil.example", "phish-login.invalid", "update-check.example", "www.evil.example"}
	if !slices.Equal(f.IPs, wantIPs) || !slices.Equal(f.Prefixes, wantPfx) || !slices.Equal(f.Domains, wantDom) {
		t.Fatalf("got\nips %q\nprefixes %q\ndomains %q", f.IPs, f.Prefixes, f.Domains)
	}
	if f.Source != "mixed.txt" {
		t.Errorf("source %q", f.Source)
	}
	st, _ := os.Stat("testdata/mixed.txt")
	if !f.Generated.Equal(st.ModTime().UTC().Truncate(time.Second)) {
		t.Errorf("generated %v, file modified %v", f.Generated, st.ModTime())
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCRLFAndBOM(t *testing.T) {
	f, err := Load("testdata/crlf-bom.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.IPs, []string{"203.0.113.9"}) || !slices.Equal(f.Prefixes, []string{"198.51.100.0/24"}) || !slices.Equal(f.Domains, []string{"evil.example"}) {
		t.Fatalf("got %q %q %q", f.IPs, f.Prefixes, f.Domains)
	}
}

func TestLoadExampleFeed(t *testing.T) {
	f, err := Load("example-feed.txt")
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() < 10 {
		t.Fatalf("example feed has %d entries", f.Len())
	}
	// Only documentation space and names.
	doc := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	inDoc := func(p netip.Prefix) bool {
		for _, d := range doc {
			if d.Bits() <= p.Bits() && d.Contains(p.Addr()) {
				return true
			}
		}
		return false
	}
	for _, s := range f.IPs {
		a := netip.MustParseAddr(s)
		if !inDoc(netip.PrefixFrom(a, a.BitLen())) {
			t.Errorf("example feed address %s is not a documentation address", s)
		}
	}
	for _, s := range f.Prefixes {
		if !inDoc(netip.MustParsePrefix(s)) {
			t.Errorf("example feed prefix %s is not documentation space", s)
		}
	}
	for _, d := range f.Domains {
		if !strings.HasSuffix(d, ".example") && !strings.HasSuffix(d, ".invalid") {
			t.Errorf("example feed name %s is not under .example or .invalid", d)
		}
	}
	// The probe's tests match their fixtures against this name.
	if !slices.Contains(f.Domains, "malware-c2.example") {
		t.Errorf("example feed lost malware-c2.example: %q", f.Domains)
	}
}

func TestLoadRejectsNamingLines(t *testing.T) {
	_, err := Load("testdata/bad.txt")
	if err == nil {
		t.Fatal("bad feed loaded")
	}
	msg := err.Error()
	t.Log(msg)
	want := map[int]string{
		3:  "is in 192.168.0.0/16",
		4:  "shorter than /8",
		5:  "private",
		6:  "host bits set (did you mean 203.0.113.0/24?)",
		7:  "wildcards are not accepted",
		8:  "single-label",
		9:  "not a valid IP address",
		10: "one entry per line",
		11: "link-local",
		12: "carrier-grade NAT",
		13: "shorter than /32",
		14: "URLs are not accepted",
	}
	// Every bad line is named, each with its own reason, and no good line.
	var lines []int
	for _, l := range strings.Split(msg, "\n") {
		var n int
		if _, err := fmt.Sscanf(l[strings.Index(l, "line "):], "line %d:", &n); err != nil {
			t.Fatalf("cannot read a line number in %q", l)
		}
		lines = append(lines, n)
		if w, ok := want[n]; !ok || !strings.Contains(l, w) {
			t.Errorf("line %d: got %q, want it to say %q", n, l, w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines named, want %d: %v", len(lines), len(want), lines)
	}
	if !strings.Contains(msg, "bad.txt") {
		t.Error("error does not name the file")
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 || le.Entry != "192.168.1.0/24" {
		t.Errorf("first LineError: %+v", le)
	}
}

func TestLoadRejectsOne(t *testing.T) {
	for content, want := range map[string]string{
		"203.0.113.9\n::1\n":                      "line 2:",
		"evil.example\nrouter.lan\n":              "line 2:",
		"a.example\n\n# c\nip:evil.example\n":     "line 4:",
		"a.example\ndomain:203.0.113.9\n":         "line 2:",
		"a.example\n203.0.113.9%eth0\n":           "line 2:",
		"ip:\n":                                   "line 1:",
		"224.0.0.0/8\n":                           "multicast",
		"196.0.0.0/6\n":                           "shorter than /8",
		"11.0.0.0/8\n2001:db8::/31\n":             "line 2:",
		"fd00::/48\n":                             "unique local",
		"a.example\n" + strings.Repeat("x", 5000): "line 2: longer than 4096 bytes",
		"bücher.example\n":                        "xn--",
		"a.example\n.evil.example\n":              "leading dot",
		"192.0.0.0/8\n":                           "covers 192.168.0.0/16",
		"255.255.255.255\n":                       "broadcast",
		"203.0.113.9 198.51.100.1\n":              "one entry per line",
		"::ffff:10.0.0.1\n":                       "private",
		"::ffff:192.0.2.0/120\n203.0.113.5/33\n":  "line 2:",
		"2001:db8:bad::/48\n2001:db8:bad::1/48\n": "did you mean 2001:db8:bad::/48",
		"123.456\n":                               "not a valid IP address",
		"evil.example/24\n":                       "not a valid CIDR prefix",
		"203.0.113.9\n203.0.113.10\n198.51.100.0/24\n0.0.0.0/8\n": "line 4:",
	} {
		_, err := Load(writeFeed(t, content))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: got %v, want %q", content, err, want)
		}
	}
}

func TestLoadLimits(t *testing.T) {
	// Too many distinct entries: the line that goes over is named.
	var sb strings.Builder
	for i := 0; i <= jagadesa.MaxFeedEntries; i++ {
		fmt.Fprintf(&sb, "h%d.example\n", i)
	}
	_, err := Load(writeFeed(t, sb.String()))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", jagadesa.MaxFeedEntries+1)) || !strings.Contains(err.Error(), "distinct entries") {
		t.Errorf("too many entries: %v", err)
	}
	// Exactly the limit, plus duplicates, loads.
	sb.Reset()
	for i := 0; i < jagadesa.MaxFeedEntries; i++ {
		fmt.Fprintf(&sb, "h%d.example\n", i)
	}
	sb.WriteString("h0.example\nH1.EXAMPLE\n")
	f, err := Load(writeFeed(t, sb.String()))
	if err != nil || f.Len() != jagadesa.MaxFeedEntries {
		t.Fatalf("at the limit: %v", err)
	}
	// A file over the size bound is refused before it is read.
	p := filepath.Join(t.TempDir(), "huge.txt")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "at most 33554432") {
		t.Errorf("huge file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadEmpty(t *testing.T) {
	f, err := Load(writeFeed(t, "# nothing listed at the moment\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 0 || f.Validate() != nil {
		t.Fatalf("empty feed: %+v", f)
	}
}

func TestVersionStable(t *testing.T) {
	a, err := Load(writeFeed(t, "203.0.113.9\nevil.example\n198.51.100.0/24\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Re-ordered, re-commented, re-cased, duplicated: the same content.
	b, err := Load(writeFeed(t, "# updated notes\nEVIL.example.   # c2\n198.51.100.0/24\n\n203.0.113.9 # x\n203.0.113.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != b.Version {
		t.Errorf("same content, versions %s and %s", a.Version, b.Version)
	}
	c, err := Load(writeFeed(t, "203.0.113.9\nevil.example\n198.51.100.0/24\nphish.invalid\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version == a.Version {
		t.Error("an added entry kept the version")
	}
}

func TestEncode(t *testing.T) {
	f, err := Load("example-feed.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, etag, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if etag != `"`+f.Version+`"` {
		t.Errorf("etag %s", etag)
	}
	if strings.ContainsAny(string(body), "\n ") {
		t.Errorf("body is not compact: %s", body)
	}
	var back jagadesa.ThreatFeed
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if back.Version != f.Version || !slices.Equal(back.Domains, f.Domains) {
		t.Error("round trip changed the feed")
	}
	// A tampered feed is not encoded.
	f.Domains = append(f.Domains, "zzz.example")
	if _, _, err := Encode(f); err == nil {
		t.Error("a feed whose version does not match its content was encoded")
	}
	if _, _, err := Encode(nil); err == nil {
		t.Error("nil feed encoded")
	}
}

func TestNotModified(t *testing.T) {
	etag := `"abc"`
	for h, want := range map[string]bool{
		`"abc"`:          true,
		`W/"abc"`:        true,
		`"x", "abc"`:     true,
		`*`:              true,
		`"abd"`:          false,
		``:               false,
		`abc`:            false,
		`"x" , W/"abc" `: true,
	} {
		if got := NotModified(h, etag); got != want {
			t.Errorf("NotModified(%s) = %v", h, got)
		}
	}
}
