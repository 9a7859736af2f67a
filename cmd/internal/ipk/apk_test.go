package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa/probe/openwrt"
)

// apkTool is the apk-tools v3 binary to check against: $APK, or apk on the
// PATH; "" when there is none (Debian 12 does not package apk-tools).
func apkTool() string {
	bin := os.Getenv("APK")
	if bin == "" {
		p, err := exec.LookPath("apk")
		if err != nil {
			return ""
		}
		bin = p
	}
	if checkAPKTool(bin) != nil {
		return ""
	}
	return bin
}

// TestAPK builds the x86_64 .apk with the real `apk mkpkg`, reads it back
// with `apk adbdump`, installs it into an empty root with `apk add`, and
// upgrades it over a configured router: the operator's
// /etc/config/jagadesa stays, the packaged one lands beside it as
// .apk-new.
func TestAPK(t *testing.T) {
	apk := apkTool()
	if apk == "" {
		t.Skip("apk-tools v3 is not installed (Debian 12 has no package); set APK=/path/to/apk to run this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("an .apk's files must be owned by root: run as root")
	}
	bin := buildProbe(t, "amd64")
	out := t.TempDir()
	env := map[string]string{"SOURCE_DATE_EPOCH": "1763769600"}
	build := func(version string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run([]string{"-format", "apk", "-apk", apk, "-version", version, "-out", out, "x86_64=" + bin}, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		p := filepath.Join(out, "apk", "x86_64", "jagadesa-probe-"+version+".apk")
		if !strings.Contains(stdout.String(), p) {
			t.Fatalf("output %q does not name %s", stdout.String(), p)
		}
		return p
	}
	v1 := build("0.1.0.3")
	apkRun := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(apk, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("apk %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The metadata, as apk reads it.
	dump := apkRun("adbdump", v1)
	for _, want := range []string{"name: jagadesa-probe", "version: 0.1.0.3", "arch: x86_64", "post-install:", "post-upgrade:", "pre-deinstall:",
		"name: usr/bin", "name: jagadesa-probe", "name: etc/config", "name: jagadesa", "name: lib/apk/packages", "jagadesa-probe.conffiles"} {
		if !strings.Contains(dump, want) {
			t.Errorf("apk adbdump lacks %q:\n%s", want, dump)
		}
	}
	if !strings.Contains(dump, "/etc/init.d/jagadesa enable") || !strings.Contains(dump, "/etc/init.d/jagadesa stop") {
		t.Errorf("the maintainer scripts are not in the package:\n%s", dump)
	}

	// Installed into an empty root (scripts off: they would start the
	// service on this machine).
	root := t.TempDir()
	apkRun("--root", root, "--initdb", "--arch", "x86_64", "--allow-untrusted", "--no-network", "--no-scripts", "--no-cache", "add", v1)
	for _, f := range []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{"usr/bin/jagadesa-probe", 0o755, nil},
		{"etc/init.d/jagadesa", 0o755, openwrt.InitScript},
		{"etc/config/jagadesa", 0o600, openwrt.Config},
		{"lib/apk/packages/jagadesa-probe.conffiles", 0o644, []byte("/etc/config/jagadesa\n")},
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Fatalf("installed: %v", err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s installed with mode %o, want %o", f.path, st.Mode().Perm(), f.mode)
		}
		if b, _ := os.ReadFile(filepath.Join(root, f.path)); f.data != nil && !bytes.Equal(b, f.data) {
			t.Errorf("%s installed with other content", f.path)
		}
	}
	if got := apkRun("--root", root, "info", "-v"); !strings.Contains(got, "jagadesa-probe-0.1.0.3") {
		t.Fatalf("apk info: %s", got)
	}

	// The operator configures the probe; a later build is an upgrade that
	// keeps that configuration.
	conf := filepath.Join(root, "etc/config/jagadesa")
	mine := []byte("config probe 'main'\n\toption server 'https://jagadesa.jatengprov.go.id'\n\toption village '33.06.08.2007'\n\toption token 'jdp_secret'\n")
	if err := os.WriteFile(conf, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	v2 := build("0.1.0.4")
	apkRun("--root", root, "--arch", "x86_64", "--allow-untrusted", "--no-network", "--no-scripts", "--no-cache", "add", v2)
	if got := apkRun("--root", root, "info", "-v"); !strings.Contains(got, "jagadesa-probe-0.1.0.4") {
		t.Fatalf("after the upgrade, apk info: %s", got)
	}
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, mine) {
		t.Fatalf("the upgrade replaced the operator's config with:\n%s", b)
	}
	if b, err := os.ReadFile(conf + ".apk-new"); err != nil || !bytes.Equal(b, openwrt.Config) {
		t.Errorf("the packaged config is not beside it as .apk-new: %v", err)
	}

	// The same inputs give the same bytes.
	a, _ := os.ReadFile(v1)
	again := build("0.1.0.3")
	if b, _ := os.ReadFile(again); !bytes.Equal(a, b) {
		t.Error("building twice gave different packages")
	}
}

// -format apk without apk-tools v3 stops and says what is missing: it never
// writes something else under the .apk name.
func TestAPKNeedsAPKTools(t *testing.T) {
	var stderr bytes.Buffer
	err := run([]string{"-format", "apk", "-apk", filepath.Join(t.TempDir(), "no-apk"), "-out", t.TempDir(), "x86_64=/nonexistent"}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "apk-tools v3") {
		t.Fatalf("without apk-tools: %v", err)
	}
	fake := filepath.Join(t.TempDir(), "apk")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'apk-tools 2.14.4, compiled for x86_64.'\n"), 0o755)
	if err := checkAPKTool(fake); err == nil || !strings.Contains(err.Error(), "3.x") {
		t.Fatalf("apk-tools 2 accepted: %v", err)
	}
}
