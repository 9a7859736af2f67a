// Command ipk packs jagadesa-probe into OpenWrt packages without the
// OpenWrt SDK.
//
// The .ipk (opkg, OpenWrt up to 24.10) is written here, in the format of
// OpenWrt's scripts/ipkg-build: a gzip'd tar (GNU format, numeric owner
// root:root, gzip without name or time) holding ./debian-binary ("2.0\n"),
// ./data.tar.gz and ./control.tar.gz, in that order.
//
// The .apk (apk-tools v3, OpenWrt 25.12 and later) is an ADB file, which
// only apk-tools' own `apk mkpkg` writes: -format apk stages the files as
// OpenWrt's include/package-pack.mk does (with
// /lib/apk/packages/jagadesa-probe.{list,conffiles,conffiles_static}) and
// runs it. It needs an apk-tools v3 `apk` (-apk) and root, for the files'
// owner.
//
//	go run ./cmd/internal/ipk -version 1.0.0 -out dist mipsel_24kc=dist/jagadesa-probe-linux-mipsle ...
//	go run ./cmd/internal/ipk -format apk -apk /path/to/apk -version 1.0.0 -out dist mipsel_24kc=...
//
// Each ARCH=BINARY argument makes dist/jagadesa-probe_VERSION_ARCH.ipk, or
// dist/apk/ARCH/jagadesa-probe-VERSION.apk. The binary must be a static ELF
// for that architecture; the tool checks. The init script, the default UCI
// config and the maintainer scripts come from probe/openwrt. File times
// are SOURCE_DATE_EPOCH when it is set, so that the same inputs give the
// same bytes.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa/probe/openwrt"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ipk:", err)
		os.Exit(1)
	}
}

const (
	pkgName  = "jagadesa-probe"
	confPath = "/etc/config/jagadesa"
)

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ipk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "dev", "version (git describe output is turned into an opkg version)")
	out := fs.String("out", "dist", "directory for the packages")
	maintainer := fs.String("maintainer", "JagaDesa <https://github.com/jagadesa/jagadesa>", "Maintainer field")
	format := fs.String("format", "ipk", "ipk (opkg) or apk (apk-tools v3, OpenWrt 25.12+)")
	apkBin := fs.String("apk", "apk", "the apk-tools v3 binary, for -format apk")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ipk [-version V] [-out DIR] ARCH=BINARY ...   e.g. mipsel_24kc=dist/jagadesa-probe-linux-mipsle")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no ARCH=BINARY given")
	}
	if *format != "ipk" && *format != "apk" {
		return fmt.Errorf("-format %q: want ipk or apk", *format)
	}
	if *format == "apk" {
		if err := checkAPKTool(*apkBin); err != nil {
			return err
		}
	}
	mtime := time.Now()
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		mtime = time.Unix(n, 0)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, a := range fs.Args() {
		arch, bin, ok := strings.Cut(a, "=")
		if !ok || arch == "" || bin == "" {
			return fmt.Errorf("argument %q: want ARCH=BINARY", a)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		m := manifest{Version: opkgVersion(*version), Arch: arch, Maintainer: *maintainer, Binary: b, ModTime: mtime}
		if *format == "apk" {
			name := filepath.Join(*out, "apk", arch, m.APKFileName())
			if err := buildAPK(*apkBin, name, m); err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			st, err := os.Stat(name)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\t%d bytes\n", name, st.Size())
			continue
		}
		var pkg bytes.Buffer
		if err := build(&pkg, m); err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		name := filepath.Join(*out, m.FileName())
		if err := os.WriteFile(name, pkg.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%d bytes\n", name, pkg.Len())
	}
	return nil
}

// manifest is one package to build.
type manifest struct {
	Version    string // an opkg version, see opkgVersion
	Arch       string // OpenWrt package architecture, e.g. mipsel_24kc
	Maintainer string
	Binary     []byte // the static jagadesa-probe for Arch
	ModTime    time.Time
}

// FileName is ipkg-build's name for the package.
func (m manifest) FileName() string {
	return fmt.Sprintf("%s_%s_%s.ipk", pkgName, m.Version, m.Arch)
}

// opkgVersion turns `git describe --always --dirty` output into a version
// opkg compares sensibly: a leading "v" goes; a bare commit hash (no tag
// yet) becomes 0+git<hash>, as does anything else that does not start with
// a digit; characters opkg does not allow become '.'.
func opkgVersion(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" || v[0] < '0' || v[0] > '9' || isCommitHash(strings.TrimSuffix(v, "-dirty")) {
		v = "0+git" + v
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', strings.ContainsRune(".+~-", r):
			return r
		}
		return '.'
	}, strings.TrimSuffix(v, "+"))
}

// isCommitHash tells git describe's bare abbreviated hash from a tag.
func isCommitHash(s string) bool {
	if len(s) < 7 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// file is one member of a tar archive. Directories end in "/".
type file struct {
	name string
	mode int64
	data []byte
}

// build writes the .ipk of m to w.
func build(w io.Writer, m manifest) error {
	if err := checkBinary(m.Binary, m.Arch); err != nil {
		return err
	}
	data, err := tarGz(m.ModTime,
		file{"./usr/bin/jagadesa-probe", 0o755, m.Binary},
		file{"./etc/init.d/jagadesa", 0o755, openwrt.InitScript},
		// The token may be kept here: root only.
		file{"." + confPath, 0o600, openwrt.Config},
	)
	if err != nil {
		return err
	}
	// Installed-Size as ipkg-build computes it: the uncompressed data tar.
	installed, err := gunzippedLen(data)
	if err != nil {
		return err
	}
	control, err := tarGz(m.ModTime,
		file{"./control", 0o644, []byte(controlText(m, installed))},
		file{"./conffiles", 0o644, []byte(confPath + "\n")},
		file{"./postinst", 0o755, openwrt.Postinst},
		file{"./prerm", 0o755, openwrt.Prerm},
	)
	if err != nil {
		return err
	}
	// The outer archive keeps ipkg-build's order, not sorted.
	return writeTarGz(w, m.ModTime, []file{
		{"./debian-binary", 0o644, []byte("2.0\n")},
		{"./data.tar.gz", 0o644, data},
		{"./control.tar.gz", 0o644, control},
	})
}

func controlText(m manifest, installedSize int64) string {
	return fmt.Sprintf(`Package: %s
Version: %s
Source: https://github.com/jagadesa/jagadesa
Section: net
URL: https://github.com/jagadesa/jagadesa
Maintainer: %s
Architecture: %s
Installed-Size: %d
Description: JagaDesa village internet link probe.
 Measures the link (ICMP, DNS, HTTP, monthly throughput) and reports to the
 JagaDesa server, keeping results on flash while the link is down. A static
 binary: it depends on no other package. Configure in /etc/config/jagadesa.
`, pkgName, m.Version, m.Maintainer, m.Arch, installedSize)
}

// tarGz archives files as `tar --sort=name` does from "./": every parent
// directory as its own member, everything in name order.
func tarGz(mtime time.Time, files ...file) ([]byte, error) {
	all := map[string]file{"./": {"./", 0o755, nil}}
	for _, f := range files {
		all[f.name] = f
		for d := path.Dir(strings.TrimPrefix(f.name, "./")); d != "."; d = path.Dir(d) {
			all["./"+d+"/"] = file{"./" + d + "/", 0o755, nil}
		}
	}
	var list []file
	for _, f := range all {
		list = append(list, f)
	}
	slices.SortFunc(list, func(a, b file) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	err := writeTarGz(&buf, mtime, list)
	return buf.Bytes(), err
}

// writeTarGz writes files, in the order given, as a GNU tar owned by
// 0:0 with no owner names (--numeric-owner), gzip'd with no name or time
// in the gzip header (gzip -n).
func writeTarGz(w io.Writer, mtime time.Time, files []file) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime.Truncate(time.Second), Format: tar.FormatGNU}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func gunzippedLen(b []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, zr)
}

// archELF is what a binary for an OpenWrt package architecture looks like.
type archELF struct {
	machine elf.Machine
	class   elf.Class
	order   binary.ByteOrder
}

// elfFor maps an OpenWrt package architecture (its prefix up to the first
// '_', as in mipsel_24kc or arm_cortex-a7_neon-vfpv4) to its ELF.
func elfFor(arch string) (archELF, error) {
	family, _, _ := strings.Cut(arch, "_")
	if arch == "x86_64" {
		family = arch
	}
	switch family {
	case "mipsel":
		return archELF{elf.EM_MIPS, elf.ELFCLASS32, binary.LittleEndian}, nil
	case "mips":
		return archELF{elf.EM_MIPS, elf.ELFCLASS32, binary.BigEndian}, nil
	case "arm":
		return archELF{elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian}, nil
	case "aarch64":
		return archELF{elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian}, nil
	case "x86_64":
		return archELF{elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian}, nil
	case "i386":
		return archELF{elf.EM_386, elf.ELFCLASS32, binary.LittleEndian}, nil
	}
	return archELF{}, fmt.Errorf("unknown OpenWrt architecture %q (want mipsel_*, mips_*, arm_*, aarch64_*, x86_64 or i386_*)", arch)
}

// checkBinary refuses a binary that would not run on arch: the wrong
// machine, byte order or word size, or a dynamic one (OpenWrt's musl is not
// what Go would link against).
func checkBinary(b []byte, arch string) error {
	want, err := elfFor(arch)
	if err != nil {
		return err
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	if f.Machine != want.machine || f.Class != want.class || f.ByteOrder != want.order {
		return fmt.Errorf("binary is %s %s %s, but %s needs %s %s %s", f.Machine, f.Class, f.ByteOrder, arch, want.machine, want.class, want.order)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("binary is dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return nil
}
