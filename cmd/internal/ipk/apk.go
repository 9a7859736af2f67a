package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jagadesa/jagadesa/probe/openwrt"
)

// APKFileName is OpenWrt's name for the .apk: NAME-VERSION.apk, in a
// directory of its architecture.
func (m manifest) APKFileName() string { return pkgName + "-" + m.Version + ".apk" }

// apkDescription is the package's description, one line.
const apkDescription = "JagaDesa village internet link probe. Measures the link (ICMP, DNS, HTTP, " +
	"monthly throughput) and reports to the JagaDesa server, keeping results on flash while the link is down. " +
	"A static binary: it depends on no other package. Configure in /etc/config/jagadesa."

// checkAPKTool makes sure bin is apk-tools v3, whose `apk mkpkg` writes the
// ADB package format OpenWrt 25.12 installs. apk-tools 2 has no mkpkg.
func checkAPKTool(bin string) error {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return fmt.Errorf("-format apk needs apk-tools v3 (-apk %s: %v). Debian 12 does not package it; "+
			"use the apk of an OpenWrt 25.12 SDK or buildroot (staging_dir/host/bin/apk)", bin, err)
	}
	v, _ := strings.CutPrefix(strings.TrimSpace(string(out)), "apk-tools ")
	if !strings.HasPrefix(v, "3.") {
		return fmt.Errorf("%s is %q; -format apk needs apk-tools 3.x (apk mkpkg)", bin, strings.TrimSpace(string(out)))
	}
	return nil
}

// buildAPK writes the .apk of m to out with apk-tools' `apk mkpkg`.
func buildAPK(apkBin, out string, m manifest) error {
	if err := checkBinary(m.Binary, m.Arch); err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "jagadesa-apk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	root := filepath.Join(stage, "root")
	confSum := sha256.Sum256(openwrt.Config)
	files := []file{
		{"./usr/bin/jagadesa-probe", 0o755, m.Binary},
		{"./etc/init.d/jagadesa", 0o755, openwrt.InitScript},
		// The token may be kept here: root only.
		{"." + confPath, 0o600, openwrt.Config},
		// What OpenWrt's package-pack.mk adds for apk: the conffiles (kept
		// by sysupgrade, listed by `sysupgrade -l`), with the sums of the
		// packaged versions, and the list of the package's files.
		{"./lib/apk/packages/" + pkgName + ".conffiles", 0o644, []byte(confPath + "\n")},
		{"./lib/apk/packages/" + pkgName + ".conffiles_static", 0o644, []byte(confPath + " " + hex.EncodeToString(confSum[:]) + "\n")},
	}
	var list []string
	for _, f := range files {
		list = append(list, strings.TrimPrefix(f.name, "."))
	}
	list = append(list, "/lib/apk/packages/"+pkgName+".list")
	slices.Sort(list)
	files = append(files, file{"./lib/apk/packages/" + pkgName + ".list", 0o644, []byte(strings.Join(list, "\n") + "\n")})
	for _, f := range files {
		if err := stageFile(root, f, m); err != nil {
			return err
		}
	}
	// Directories too: their owner, mode and time go into the package.
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return setMeta(p, 0o755, m)
	})
	if err != nil {
		return err
	}
	// apk runs post-install on installation, post-upgrade on upgrade and
	// pre-deinstall on removal (not on upgrade): opkg's postinst and prerm.
	scripts := map[string][]byte{"post-install": openwrt.Postinst, "post-upgrade": openwrt.Postinst, "pre-deinstall": openwrt.Prerm}
	args := []string{"mkpkg",
		"--info", "name:" + pkgName,
		"--info", "version:" + m.Version,
		"--info", "arch:" + m.Arch,
		"--info", "description:" + apkDescription,
		"--info", "origin:" + pkgName,
		"--info", "url:https://github.com/jagadesa/jagadesa",
		"--info", "maintainer:" + m.Maintainer,
	}
	for _, kind := range []string{"post-install", "post-upgrade", "pre-deinstall"} {
		p := filepath.Join(stage, kind)
		if err := os.WriteFile(p, scripts[kind], 0o755); err != nil {
			return err
		}
		args = append(args, "--script", kind+":"+p)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	args = append(args, "--files", root, "--output", out)
	cmd := exec.Command(apkBin, args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(m.ModTime.Unix(), 10))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apk mkpkg: %v\n%s", err, stderr.String())
	}
	return nil
}

// stageFile writes f under root with its mode, root's ownership and the
// package's time.
func stageFile(root string, f file, m manifest) error {
	p := filepath.Join(root, filepath.FromSlash(f.name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.data, os.FileMode(f.mode)); err != nil {
		return err
	}
	return setMeta(p, os.FileMode(f.mode), m)
}

func setMeta(p string, mode os.FileMode, m manifest) error {
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		return err
	}
	if err := os.Lchown(p, 0, 0); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("the files of an .apk must be owned by root: build it as root (or under fakeroot): %w", err)
		}
		return err
	}
	return os.Chtimes(p, m.ModTime, m.ModTime)
}
