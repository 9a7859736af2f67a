package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa/probe"
)

// member is one entry of a tar as read back.
type member struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	uname    string
	data     []byte
}

func untarGz(t *testing.T, what string, b []byte) []member {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", what, err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header carries name %q / time %v (ipkg-build uses gzip -n)", what, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var out []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Format != tar.FormatGNU {
			t.Errorf("%s: %s is %v, want GNU format", what, h.Name, h.Format)
		}
		out = append(out, member{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname + h.Gname, data})
	}
}

// buildProbe cross-compiles the probe as `make probes` does.
func buildProbe(t *testing.T, goarch string, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jagadesa-probe-linux-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "nethttpomithttp2", "-ldflags", "-s -w -X main.version=ipktest",
		"-o", bin, "github.com/jagadesa/jagadesa/cmd/jagadesa-probe")
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + goarch}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", goarch, err, out)
	}
	return bin
}

// TestIPK builds the mipsel_24kc package through the command line and
// checks it member by member, as opkg would unpack it.
func TestIPK(t *testing.T) {
	bin := buildProbe(t, "mipsle", "GOMIPS=softfloat")
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"SOURCE_DATE_EPOCH": "1763769600"}
	if err := run([]string{"-version", "bbae880-dirty", "-out", out, "mipsel_24kc=" + bin}, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	path := filepath.Join(out, "jagadesa-probe_0+gitbbae880-dirty_mipsel_24kc.ipk")
	if !strings.Contains(stdout.String(), path) {
		t.Errorf("output %q does not name %s", stdout.String(), path)
	}
	pkg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", filepath.Base(path), len(pkg))

	// Outer: exactly ipkg-build's three members, in its order.
	outer := untarGz(t, "ipk", pkg)
	var names []string
	for _, m := range outer {
		names = append(names, m.name)
		if m.typ != tar.TypeReg || m.mode != 0o644 || m.uid != 0 || m.gid != 0 || m.uname != "" {
			t.Errorf("ipk member %s: type %c mode %o owner %d:%d %q, want a 0644 file owned by 0:0, numeric", m.name, m.typ, m.mode, m.uid, m.gid, m.uname)
		}
		if m.uname != "" {
			t.Errorf("%s has owner names", m.name)
		}
	}
	if got := strings.Join(names, " "); got != "./debian-binary ./data.tar.gz ./control.tar.gz" {
		t.Fatalf("ipk members %s", got)
	}
	if string(outer[0].data) != "2.0\n" {
		t.Errorf("debian-binary %q", outer[0].data)
	}

	// data.tar.gz: the files and their parents, sorted, root-owned.
	data := untarGz(t, "data.tar.gz", outer[1].data)
	wantData := []struct {
		name string
		typ  byte
		mode int64
	}{
		{"./", tar.TypeDir, 0o755},
		{"./etc/", tar.TypeDir, 0o755},
		{"./etc/config/", tar.TypeDir, 0o755},
		{"./etc/config/jagadesa", tar.TypeReg, 0o600},
		{"./etc/init.d/", tar.TypeDir, 0o755},
		{"./etc/init.d/jagadesa", tar.TypeReg, 0o755},
		{"./usr/", tar.TypeDir, 0o755},
		{"./usr/bin/", tar.TypeDir, 0o755},
		{"./usr/bin/jagadesa-probe", tar.TypeReg, 0o755},
	}
	if len(data) != len(wantData) {
		t.Fatalf("data.tar.gz has %d members, want %d: %+v", len(data), len(wantData), data)
	}
	files := map[string][]byte{}
	for i, w := range wantData {
		m := data[i]
		if m.name != w.name || m.typ != w.typ || m.mode != w.mode || m.uid != 0 || m.gid != 0 || m.uname != "" {
			t.Errorf("data member %d: %s %c %o %d:%d %q, want %s %c %o 0:0", i, m.name, m.typ, m.mode, m.uid, m.gid, m.uname, w.name, w.typ, w.mode)
		}
		files[m.name] = m.data
	}

	// The binary: the mipsle build, static.
	exe := files["./usr/bin/jagadesa-probe"]
	orig, _ := os.ReadFile(bin)
	if !bytes.Equal(exe, orig) {
		t.Error("packed binary differs from the built one")
	}
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("binary is not ELF: %v", err)
	}
	if f.Machine != elf.EM_MIPS || f.ByteOrder != binary.LittleEndian || f.Class != elf.ELFCLASS32 {
		t.Errorf("binary is %v %v %v, want EM_MIPS little-endian 32-bit", f.Machine, f.ByteOrder, f.Class)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has PT_INTERP: it is not static")
		}
	}
	f.Close()

	// The init script is a procd service with a reload trigger.
	initScript := string(files["./etc/init.d/jagadesa"])
	for _, want := range []string{"#!/bin/sh /etc/rc.common", "USE_PROCD=1", `procd_add_reload_trigger "jagadesa"`,
		`--config "$CONF"`, "procd_set_param respawn", "procd_set_param stdout 1", "procd_set_param stderr 1", "procd_set_param file"} {
		if !strings.Contains(initScript, want) {
			t.Errorf("init script lacks %q", want)
		}
	}
	// The UCI config parses and spools to flash.
	u, err := probe.ParseUCI(bytes.NewReader(files["./etc/config/jagadesa"]))
	if err != nil {
		t.Fatalf("/etc/config/jagadesa: %v", err)
	}
	if s := u.Section("main"); s == nil || s.Type != "probe" || s.Options["spool"] != "/overlay/jagadesa/spool" {
		t.Errorf("/etc/config/jagadesa: %+v", s)
	}

	// control.tar.gz: the control file, conffiles and the scripts.
	control := untarGz(t, "control.tar.gz", outer[2].data)
	wantControl := []struct {
		name string
		mode int64
	}{{"./", 0o755}, {"./conffiles", 0o644}, {"./control", 0o644}, {"./postinst", 0o755}, {"./prerm", 0o755}}
	if len(control) != len(wantControl) {
		t.Fatalf("control.tar.gz has %d members, want %d", len(control), len(wantControl))
	}
	cfiles := map[string]string{}
	for i, w := range wantControl {
		m := control[i]
		if m.name != w.name || m.mode != w.mode || m.uid != 0 || m.gid != 0 {
			t.Errorf("control member %d: %s %o %d:%d, want %s %o 0:0", i, m.name, m.mode, m.uid, m.gid, w.name, w.mode)
		}
		cfiles[m.name] = string(m.data)
	}
	if cfiles["./conffiles"] != "/etc/config/jagadesa\n" {
		t.Errorf("conffiles %q", cfiles["./conffiles"])
	}
	fields := parseControl(t, cfiles["./control"])
	want := map[string]string{"Package": "jagadesa-probe", "Version": "0+gitbbae880-dirty", "Architecture": "mipsel_24kc", "Section": "net"}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("control %s: %q, want %q", k, fields[k], v)
		}
	}
	for _, k := range []string{"Maintainer", "Description"} {
		if fields[k] == "" {
			t.Errorf("control has no %s", k)
		}
	}
	if d, ok := fields["Depends"]; ok && d != "" && d != "libc" {
		t.Errorf("Depends %q: the binary is static", d)
	}
	dataLen, _ := gunzippedLen(outer[1].data)
	if fields["Installed-Size"] != strconv.FormatInt(dataLen, 10) {
		t.Errorf("Installed-Size %q, want %d", fields["Installed-Size"], dataLen)
	}
	for _, s := range []string{"./postinst", "./prerm"} {
		if !strings.HasPrefix(cfiles[s], "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", s)
		}
	}
	if !strings.Contains(cfiles["./postinst"], "/etc/init.d/jagadesa enable") || !strings.Contains(cfiles["./prerm"], "/etc/init.d/jagadesa stop") {
		t.Error("postinst must enable the service and prerm stop it")
	}

	// The same inputs give the same bytes.
	again := t.TempDir()
	if err := run([]string{"-version", "bbae880-dirty", "-out", again, "mipsel_24kc=" + bin}, func(k string) string { return env[k] }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(again, filepath.Base(path))); !bytes.Equal(b, pkg) {
		t.Error("building twice gave different packages")
	}

	// An independent reader agrees: GNU tar unpacks it the way opkg does.
	if _, err := exec.LookPath("tar"); err == nil {
		dir := t.TempDir()
		if out, err := exec.Command("tar", "-xzf", path, "-C", dir).CombinedOutput(); err != nil {
			t.Fatalf("tar -xzf ipk: %v\n%s", err, out)
		}
		out, err := exec.Command("tar", "-tzvf", filepath.Join(dir, "data.tar.gz")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-rwxr-xr-x 0/0") || !strings.Contains(string(out), "./usr/bin/jagadesa-probe") {
			t.Errorf("tar -tzvf data.tar.gz: %v\n%s", err, out)
		}
	}
}

func parseControl(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	last := ""
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(line, " ") {
			if last == "" {
				t.Fatalf("continuation line before any field: %q", line)
			}
			out[last] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("control line %q is not `Field: value`", line)
		}
		out[k], last = v, k
	}
	return out
}

// TestIPKRefusesWrongBinary keeps a big-endian or dynamic binary out of a
// package that names another architecture.
func TestIPKRefusesWrongBinary(t *testing.T) {
	self, err := os.Executable() // the amd64 (or host) test binary
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBinary(b, "mipsel_24kc"); err == nil || !strings.Contains(err.Error(), "needs EM_MIPS") {
		t.Errorf("host binary as mipsel_24kc: %v", err)
	}
	if err := checkBinary([]byte("#!/bin/sh\n"), "x86_64"); err == nil {
		t.Error("a shell script passed as a binary")
	}
	if _, err := elfFor("powerpc_464fp"); err == nil {
		t.Error("unknown architecture accepted")
	}
}

func TestOpkgVersion(t *testing.T) {
	for in, want := range map[string]string{
		"bbae880":               "0+gitbbae880",
		"bbae880-dirty":         "0+gitbbae880-dirty",
		"2fd4bd8-dirty":         "0+git2fd4bd8-dirty",
		"20251122":              "0+git20251122",
		"2025.11":               "2025.11",
		"v1.2.0":                "1.2.0",
		"v1.2.0-3-gabc1234":     "1.2.0-3-gabc1234",
		"1.2.0-3-gabc1234-dirt": "1.2.0-3-gabc1234-dirt",
		"dev":                   "0+gitdev",
		"feature/x_y":           "0+gitfeature.x.y",
	} {
		if got := opkgVersion(in); got != want {
			t.Errorf("opkgVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// An upgrade keeps the operator's /etc/config/jagadesa: the package lists
// it in conffiles (opkg then keeps a changed one and puts the packaged one
// beside it as -opkg), and neither maintainer script writes it. The
// scripts run for real, as opkg runs them on a router: in a mount
// namespace whose /etc holds a configured probe's config and an init
// script that records what it is asked.
func TestIPKKeepsConfig(t *testing.T) {
	bin := buildProbe(t, "mipsle", "GOMIPS=softfloat")
	out := t.TempDir()
	if err := run([]string{"-version", "0.1.0.4", "-out", out, "mipsel_24kc=" + bin}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile(filepath.Join(out, "jagadesa-probe_0.1.0.4_mipsel_24kc.ipk"))
	if err != nil {
		t.Fatal(err)
	}
	outer := untarGz(t, "ipk", pkg)
	control := map[string]member{}
	for _, m := range untarGz(t, "control.tar.gz", outer[2].data) {
		control[m.name] = m
	}
	if got := string(control["./conffiles"].data); got != "/etc/config/jagadesa\n" {
		t.Fatalf("conffiles %q, want /etc/config/jagadesa", got)
	}
	var confInData bool
	for _, m := range untarGz(t, "data.tar.gz", outer[1].data) {
		confInData = confInData || m.name == "./etc/config/jagadesa"
	}
	if !confInData {
		t.Fatal("conffiles names a file the package does not install")
	}
	scripts := t.TempDir()
	for _, s := range []string{"postinst", "prerm"} {
		if err := os.WriteFile(filepath.Join(scripts, s), control["./"+s].data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mine := []byte("config probe 'main'\n\toption server 'https://jagadesa.jatengprov.go.id'\n\toption village '33.06.08.2007'\n\toption token 'jdp_secret'\n")

	// Building a firmware image (IPKG_INSTROOT): only the boot link.
	inst := t.TempDir()
	os.MkdirAll(filepath.Join(inst, "etc/config"), 0o755)
	os.WriteFile(filepath.Join(inst, "etc/config/jagadesa"), mine, 0o600)
	for _, s := range []string{"postinst", "prerm"} {
		cmd := exec.Command("sh", filepath.Join(scripts, s))
		cmd.Env = append(os.Environ(), "IPKG_INSTROOT="+inst)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s in an image: %v\n%s", s, err, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(inst, "etc/config/jagadesa")); !bytes.Equal(b, mine) {
		t.Fatalf("building an image changed the config:\n%s", b)
	}
	if l, err := os.Readlink(filepath.Join(inst, "etc/rc.d/S95jagadesa")); err != nil || l != "../init.d/jagadesa" {
		t.Errorf("boot link %q %v", l, err)
	}

	// On a running router: the scripts as opkg runs them, against /etc.
	if os.Geteuid() != 0 {
		t.Skip("running the scripts against a private /etc needs root (a mount namespace)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	etc := t.TempDir()
	os.MkdirAll(filepath.Join(etc, "init.d"), 0o755)
	os.MkdirAll(filepath.Join(etc, "config"), 0o755)
	calls := filepath.Join(t.TempDir(), "calls")
	os.WriteFile(filepath.Join(etc, "init.d/jagadesa"), []byte("#!/bin/sh\necho \"$1\" >> "+calls+"\n"), 0o755)
	conf := filepath.Join(etc, "config/jagadesa")
	os.WriteFile(conf, mine, 0o600)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", sh, "-c",
		`mount --bind "$1" /etc && "$2" "$3/postinst" && "$2" "$3/prerm"`, "sh", etc, sh, scripts)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postinst, prerm: %v\n%s", err, b)
	}
	if b, _ := os.ReadFile(calls); string(b) != "enable\nrestart\nstop\ndisable\n" {
		t.Errorf("the scripts asked the init script for %q", b)
	}
	st, err := os.Stat(conf)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, mine) || st.Mode().Perm() != 0o600 {
		t.Fatalf("the scripts changed the config (mode %o):\n%s", st.Mode().Perm(), b)
	}
}
