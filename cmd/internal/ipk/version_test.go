package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// opkgCompare orders two package versions as opkg does before it agrees
// to an upgrade (libopkg: parse_version, then pkg_compare_versions): an
// optional "epoch:" (a number), then the upstream version, then a
// "-revision" after the last '-'; epochs compare as numbers, the rest with
// verrevcmp. It returns <0, 0 or >0.
func opkgCompare(a, b string) int {
	ea, ua, ra := opkgSplit(a)
	eb, ub, rb := opkgSplit(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func opkgSplit(v string) (epoch uint64, upstream, revision string) {
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, _ = strconv.ParseUint(e, 10, 64) // strtoul: garbage reads as 0
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// verrevcmp is dpkg's comparison, which opkg uses: the strings are read as
// alternating runs of non-digits and digits. Non-digit runs compare
// character by character, where '~' sorts before everything (even the end
// of the string), the end before letters, and letters before every other
// character; digit runs compare as numbers.
func verrevcmp(a, b string) int {
	order := func(s string, i int) int {
		if i >= len(s) {
			return 0
		}
		switch c := s[i]; {
		case c == '~':
			return -1
		case isDigit(c):
			return 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return int(c)
		default:
			return int(c) + 256
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			if oa, ob := order(a, i), order(b, j); oa != ob {
				return oa - ob
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return first
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// The comparison itself, on the orderings dpkg and opkg are known for.
func TestOpkgCompare(t *testing.T) {
	for _, tc := range []struct{ lo, hi string }{
		{"1.0", "1.1"},
		{"1.9", "1.10"},
		{"1.0~rc1", "1.0"}, // '~' before the end
		{"1.0~~", "1.0~"},  // and before another '~'
		{"1.0", "1.0a"},    // the end before a letter
		{"1.0a", "1.0.1"},  // letters before other characters
		{"1.0", "1.0.0"},   // the end before '.'
		{"1.0+b", "1.0.1"}, // '+' (299) before '.' (302)
		{"1.0-r2", "1.0-r10"},
		{"1.0-9", "1.1-1"},         // the upstream decides first
		{"2.0", "1:0.1"},           // then the epoch, before all
		{"0:1.0", "1.0-1"},         // epoch 0 is none; a revision beats none
		{"1.2.3-4-5", "1.2.3-4-6"}, // the revision follows the last '-'
		{"007", "8"},               // leading zeros
		// The field's complaint: two untagged builds of the old scheme.
		// 0+git9f8e7d6 is later, but reads as older: "Not downgrading".
		{"0+git9f8e7d6", "0+git400ed05"},
		// The old scheme sorts before the new one: routers upgrade.
		{"0+git400ed05", "0.0.0.1"},
		{"0+gitbbae880-dirty", "0.0.0.1"},
	} {
		if c := opkgCompare(tc.lo, tc.hi); c >= 0 {
			t.Errorf("%s vs %s: %d, want < 0", tc.lo, tc.hi, c)
		}
		if c := opkgCompare(tc.hi, tc.lo); c <= 0 {
			t.Errorf("%s vs %s: %d, want > 0", tc.hi, tc.lo, c)
		}
	}
	for _, eq := range [][2]string{{"1.0", "1.0"}, {"1.00", "1.0"}, {"0:1.0", "1.0"}, {"1.0-", "1.0"}} {
		if c := opkgCompare(eq[0], eq[1]); c != 0 {
			t.Errorf("%s vs %s: %d, want 0", eq[0], eq[1], c)
		}
	}
}

// gitRepo is a throw-away repository whose commits have fixed times.
type gitRepo struct {
	t    *testing.T
	dir  string
	time int64 // the next commit's time
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	ts := fmt.Sprintf("@%d +0000", g.time)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_AUTHOR_DATE="+ts, "GIT_COMMITTER_DATE="+ts, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (g *gitRepo) commit() {
	g.t.Helper()
	g.time += 3600
	f := filepath.Join(g.dir, "file")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, append(b, 'x'), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.git("add", "file")
	g.git("commit", "-q", "-m", "c")
}

// version runs scripts/version.sh in the repository; now is the dirty
// build's clock, in seconds after the last commit.
func (g *gitRepo) version(now int64) (string, error) {
	g.t.Helper()
	script, err := filepath.Abs("../../../scripts/version.sh")
	if err != nil {
		g.t.Fatal(err)
	}
	cmd := exec.Command("sh", script, g.dir)
	cmd.Env = append(os.Environ(), "VERSION_NOW="+strconv.FormatInt(g.time+now, 10))
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}

// The versions `make` gives (scripts/version.sh) for a history of
// untagged, tagged, tagged-then-committed and dirty builds increase
// strictly, by opkg's rules, from each build to every later one, and from
// the old 0+git<hash> builds in the field. Where apk-tools v3 is installed,
// `apk version -t` agrees.
func TestVersionsIncrease(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed")
	}
	g := &gitRepo{t: t, dir: t.TempDir(), time: 1763769600}
	g.git("init", "-q")
	seq := []string{"0+git400ed05", "0+git9f8e7d6-dirty"} // the field's last builds
	want := []string{"", ""}
	step := func(expect string, dirtyAfter int64) {
		t.Helper()
		v, err := g.version(dirtyAfter)
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, v)
		want = append(want, expect)
	}
	dirty := func(on bool) {
		t.Helper()
		f := filepath.Join(g.dir, "file")
		b, _ := os.ReadFile(f)
		if on {
			b = append(b, '~')
		} else {
			b = []byte(strings.TrimSuffix(string(b), "~"))
		}
		os.WriteFile(f, b, 0o644)
	}
	if v, err := g.version(0); err != nil || v != "0.0.0" {
		t.Fatalf("no commit yet: %q %v", v, err)
	}
	g.commit()
	step("0.0.0.1", 0)
	dirty(true)
	step("0.0.0.1.5", 5)
	step("0.0.0.1.3600", 3600) // rebuilt later, still dirty
	dirty(false)
	for range 9 {
		g.commit()
	}
	step("0.0.0.10", 0) // 10 after 9: numbers, not text
	g.git("tag", "v0.1.0")
	step("0.1.0", 0)
	dirty(true)
	step("0.1.0.0.60", 60)
	dirty(false)
	g.commit()
	step("0.1.0.1", 0)
	g.git("tag", "v0.2.0-rc1") // not a release tag: ignored
	g.git("tag", "nightly")
	g.commit()
	step("0.1.0.2", 0)
	g.git("tag", "v0.1.1")
	step("0.1.1", 0)
	for range 12 {
		g.commit()
	}
	step("0.1.1.12", 0)
	g.git("tag", "v1")
	step("1.0.0", 0)
	g.commit()
	step("1.0.0.1", 0)
	g.git("tag", "v1.0.10")
	step("1.0.10", 0)
	g.commit()
	g.git("tag", "v1.1")
	step("1.1.0", 0)
	dirty(true)
	step("1.1.0.0.1", 1)

	for i := 2; i < len(seq); i++ {
		if seq[i] != want[i] {
			t.Errorf("build %d: version %q, want %q", i, seq[i], want[i])
		}
	}
	// (The two field builds do not order between themselves: that is the
	// bug. Each is before every new build.)
	for i := range seq {
		for j := max(i+1, 2); j < len(seq); j++ {
			if c := opkgCompare(seq[i], seq[j]); c >= 0 {
				t.Errorf("opkg: %s (build %d) vs the later %s (build %d): %d, want < 0", seq[i], i, seq[j], j, c)
			}
		}
	}
	t.Logf("versions: %s", strings.Join(seq, " < "))

	// A tag of four numbers would read as a build after a three-number one.
	g.commit()
	g.git("tag", "v1.2.3.4")
	if v, err := g.version(0); err == nil {
		t.Errorf("tag v1.2.3.4 gave %q, want an error", v)
	}

	// apk-tools v3 orders the same versions the same way.
	apk := apkTool()
	if apk == "" {
		t.Log("apk-tools v3 not installed: apk's order not checked (APK=/path/to/apk to check it)")
		return
	}
	for i := 2; i+1 < len(seq); i++ {
		out, err := exec.Command(apk, "version", "-t", seq[i], seq[i+1]).Output()
		if err != nil || strings.TrimSpace(string(out)) != "<" {
			t.Errorf("apk version -t %s %s: %q %v, want <", seq[i], seq[i+1], out, err)
		}
	}
}
