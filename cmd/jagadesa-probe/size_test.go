package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mipsleBudget guards the stripped linux/mipsle probe against growth, in
// bytes: today's size (7,471,297) and a little room. Issue 14 asked for
// 6,000,000, which the mandated dependencies make unreachable with HTTPS
// kept: a program that only pings with pro-bing (which imports net/http
// and crypto/tls) and opens one verified TLS connection is already
// 5,898,433 bytes, and 6,357,185 with the JSON, logging, flags and gzip
// every probe needs, before any of the probe's own code (docs/performance.md,
// "Probe footprint"). The gap is reported on the issue.
const mipsleBudget = 7_600_000

// mipsleTarget is issue 14's target, logged beside the measured size.
const mipsleTarget = 6_000_000

// makefileSetting reads `NAME ?= value` or `NAME := value` from the Makefile.
func makefileSetting(t *testing.T, makefile, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=[ \t]*(.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("the Makefile sets no %s: update this test with it", name)
	}
	return strings.TrimSpace(m[1])
}

// buildMipsle builds the mipsle probe into a temporary directory as
// `make probes` does (stripped), or the same with its symbol table (for go
// tool nm), and returns its path and the flags it used.
func buildMipsle(t *testing.T, stripped bool) (bin, tags, ldflags string) {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(mk)
	if !regexp.MustCompile(`GOARCH=mipsle GOMIPS=softfloat \$\(GOBUILD\) -tags '\$\(PROBE_TAGS\)'`).MatchString(makefile) ||
		!strings.Contains(makefile, "GOBUILD     = CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'") {
		t.Fatal("the Makefile builds the mipsle probe differently than this test assumes: update the test")
	}
	tags = makefileSetting(t, makefile, "PROBE_TAGS")
	// A version of `git describe --dirty`'s length: the string is in the
	// binary.
	ldflags = strings.ReplaceAll(makefileSetting(t, makefile, "LDFLAGS"), "$(VERSION)", "v1.2.3-45-gabcdef0-dirty")
	if strings.Contains(ldflags, "$(") || strings.Contains(tags, "$(") {
		t.Fatalf("unexpanded Make variable in LDFLAGS %q or PROBE_TAGS %q", ldflags, tags)
	}
	if !stripped {
		ldflags = strings.Join(slices.DeleteFunc(strings.Fields(ldflags), func(f string) bool { return f == "-s" || f == "-w" }), " ")
	}
	bin = filepath.Join(t.TempDir(), "jagadesa-probe-linux-mipsle")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-tags", tags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=mipsle", "GOMIPS=softfloat")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return bin, tags, ldflags
}

// TestMipsleProbeSize builds the mipsle probe as `make probes` does (the
// Makefile's PROBE_TAGS and LDFLAGS, -trimpath, CGO_ENABLED=0,
// GOMIPS=softfloat) and fails when it is over the flash budget.
// docs/performance.md ("Probe footprint") has the figures and what the
// binary is made of.
func TestMipsleProbeSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mipsle probe (30-60 s); run without -short")
	}
	bin, tags, ldflags := buildMipsle(t, true)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("linux/mipsle probe (-tags %s -ldflags %q): %d bytes (%.2f MiB); issue 14's target %d is %d bytes away",
		tags, ldflags, fi.Size(), float64(fi.Size())/(1<<20), mipsleTarget, fi.Size()-mipsleTarget)
	if fi.Size() > mipsleBudget {
		t.Errorf("the linux/mipsle probe is %d bytes, %d over the %d-byte flash budget (docs/performance.md, \"Probe footprint\")",
			fi.Size(), fi.Size()-mipsleBudget, mipsleBudget)
	}
}

// TestProbeLinksNoHTTPTransport keeps net/http's client transport (about
// 0.4 MB of the mipsle binary) out of the probe. net/http itself is linked
// (pro-bing imports it), so one call of (*http.Client).Do anywhere brings
// the whole transport back: the probe's requests go through
// probe.HTTPClient (probe/httpclient.go).
func TestProbeLinksNoHTTPTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mipsle probe; run without -short")
	}
	bin, _, _ := buildMipsle(t, false)
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	if !strings.Contains(string(out), " net/http.init\n") {
		t.Fatal("go tool nm lists no net/http.init: the symbol names this test looks for have changed")
	}
	for _, sym := range []string{"net/http.(*Transport).roundTrip", "net/http.(*persistConn).readLoop", "net/http.(*Client).do"} {
		if strings.Contains(string(out), " "+sym+"\n") {
			t.Errorf("%s is linked into the probe: something calls (*http.Client).Do or an http.RoundTripper; use probe.HTTPClient (or probe's doVia) instead", sym)
		}
	}
}
