package probe

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// SecurityCollector watches the router for signs of attack or compromise,
// reading everything under Root so tests (and chrooted installs) can point
// it at a fixture tree:
//
//   - files: hashes of the configuration and credentials an intruder edits
//     (/etc/config/*, passwd, shadow, authorized_keys, crontabs, rc.local)
//     and of the probe's own binary;
//   - ports: the listening TCP and UDP sockets (/proc/net/{tcp,tcp6,udp,udp6});
//   - gateway: the default gateway's MAC address (/proc/net/arp), whose
//     change is the mark of ARP spoofing;
//   - logins: dropbear, sshd and LuCI lines in the system log — a burst of
//     failures from one address, and above all a success from an address
//     never seen before.
//
// Its first run learns the baseline and reports nothing; later runs report
// what changed, as events. What it remembers is kept in one file in the
// spool directory, written so that a power cut leaves the old or the new
// state, never a mix.
type SecurityCollector struct {
	Root        string // file-system root (default /)
	StateFile   string // e.g. <spool>/security.json
	ProbeBinary string // the probe's own executable, hashed too ("" to skip)
	// DNSAllow lists the resolvers (addresses or CIDR prefixes) the
	// router may use upstream; empty: any, but a change is reported.
	DNSAllow []string
	Now      func() time.Time

	state    securityState
	loaded   bool
	failures map[string][]time.Time // per source address, recent failures
	cannot   map[string]string      // collector → its latest error, while it fails
}

type securityState struct {
	Files      map[string]string `json:"files"` // path under root → sha256
	Ports      []string          `json:"ports"`
	GatewayMAC string            `json:"gateway_mac"`
	Sources    []string          `json:"login_sources"` // addresses that have logged in
	DNS        []string          `json:"dns_upstreams"` // upstreams of the last run
	// DNSKnown is the reference without an allow-list: the first run's
	// upstreams and every one reported since.
	DNSKnown   []string         `json:"dns_known"`
	LogOffsets map[string]int64 `json:"log_offsets"`
}

// Login bursts: this many failures from one address within the window.
const (
	loginBurst       = 5
	loginBurstWindow = 5 * time.Minute
)

// watchedFiles are the files an intruder changes to stay: globs under root.
var watchedFiles = []string{
	"etc/config/*", "etc/passwd", "etc/shadow", "etc/group", "etc/rc.local",
	"etc/dropbear/authorized_keys", "root/.ssh/authorized_keys", "etc/crontabs/*",
	"etc/resolv.conf", "etc/hosts",
}

// critical files: a change there is a takeover, not a setting.
var criticalFiles = map[string]bool{"etc/passwd": true, "etc/shadow": true, "etc/dropbear/authorized_keys": true, "root/.ssh/authorized_keys": true}

// logFiles are read for login lines (OpenWrt logs to a file when
// log_file is set; Debian-like systems to auth.log or secure).
var logFiles = []string{"var/log/messages", "var/log/auth.log", "var/log/secure", "tmp/log/messages"}

func (c *SecurityCollector) now() time.Time { return clock(c.Now) }

func (c *SecurityCollector) path(rel string) string { return underRoot(c.Root, rel) }

// underRoot is rel under the file-system root the host collectors read
// (--root; "" is /).
func underRoot(root, rel string) string {
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, rel)
}

// clock is now, from a test's clock when it set one.
func clock(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// Collect runs every collector once and returns the events found. Errors
// of one collector do not stop the others; they are returned joined.
func (c *SecurityCollector) Collect() ([]jagadesa.Event, error) {
	first := false
	if !c.loaded {
		c.loaded = true
		b, err := os.ReadFile(c.StateFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			first = true
		case err != nil:
			return nil, fmt.Errorf("security state: %w", err)
		default:
			if err := json.Unmarshal(b, &c.state); err != nil {
				first = true // a damaged state is relearnt, and said so below
			}
		}
		if c.failures == nil {
			c.failures = map[string][]time.Time{}
		}
	}
	now := c.now()
	var events []jagadesa.Event
	var errs []error
	if c.cannot == nil {
		c.cannot = map[string]string{}
	}
	// A collector this site cannot run (no /proc/net/tcp in a container,
	// no log file on an appliance) is named in Cannot and its error is
	// returned once, when it first appears or changes: not every round.
	add := func(name string, evs []jagadesa.Event, err error) {
		events = append(events, evs...)
		if err == nil {
			delete(c.cannot, name)
			return
		}
		if c.cannot[name] != err.Error() {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		c.cannot[name] = err.Error()
	}
	fe, ferr := c.files(now, first)
	add("config_files", fe, ferr)
	pe, perr := c.ports(now, first)
	add("listening_ports", pe, perr)
	ge, gerr := c.gateway(now, first)
	add("gateway", ge, gerr)
	le, lerr := c.logins(now, first)
	add("auth_log", le, lerr)
	de, derr := c.dns(now, first)
	add("dns_upstreams", de, derr)
	if first {
		events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "security_baseline", Severity: "info",
			Message: fmt.Sprintf("security baseline learnt: %d files, %d listening sockets", len(c.state.Files), len(c.state.Ports))})
	}
	b, err := json.Marshal(c.state)
	if err == nil {
		err = fsutil.WriteFileAtomic(c.StateFile, b, 0o600)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("security state: %w", err))
	}
	return events, errors.Join(errs...)
}

// Cannot lists the collectors that failed in the latest round, by name
// (config_files, listening_ports, gateway, auth_log, dns_upstreams).
func (c *SecurityCollector) Cannot() []string {
	out := make([]string, 0, len(c.cannot))
	for k := range c.cannot {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *SecurityCollector) files(now time.Time, first bool) ([]jagadesa.Event, error) {
	cur := map[string]string{}
	var errs []error
	for _, g := range watchedFiles {
		matches, _ := filepath.Glob(c.path(g))
		for _, m := range matches {
			if st, err := os.Stat(m); err != nil || !st.Mode().IsRegular() {
				continue
			}
			sum, err := sha256File(m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rel, _ := filepath.Rel(c.path(""), m)
			cur[filepath.ToSlash(rel)] = sum
		}
	}
	if c.ProbeBinary != "" {
		if sum, err := sha256File(c.ProbeBinary); err == nil {
			cur["(probe binary)"] = sum
		}
	}
	var events []jagadesa.Event
	if !first && c.state.Files != nil {
		names := make([]string, 0, len(cur)+len(c.state.Files))
		for n := range cur {
			names = append(names, n)
		}
		for n := range c.state.Files {
			if _, ok := cur[n]; !ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			old, had := c.state.Files[n]
			now2, has := cur[n]
			change := ""
			switch {
			case had && !has:
				change = "removed"
			case !had && has:
				change = "added"
			case old != now2:
				change = "modified"
			default:
				continue
			}
			sev := "warning"
			if criticalFiles[n] || n == "(probe binary)" {
				sev = "critical"
			}
			events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "config_changed", Severity: sev,
				Message: fmt.Sprintf("%s %s", n, change),
				Attrs:   map[string]string{"path": n, "change": change, "old_sha256": old, "new_sha256": now2}})
		}
	}
	c.state.Files = cur
	return events, errors.Join(errs...)
}

// listening parses /proc/net/{tcp,tcp6,udp,udp6}: TCP sockets in LISTEN
// (0A), UDP sockets bound and unconnected (07), as "tcp/0.0.0.0:22".
func (c *SecurityCollector) listening() ([]string, error) {
	seen := map[string]bool{}
	found := false
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(c.path("proc/net/" + proto))
		if err != nil {
			continue
		}
		found = true
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 4 {
				continue
			}
			state := fl[3]
			if (strings.HasPrefix(proto, "tcp") && state != "0A") || (strings.HasPrefix(proto, "udp") && state != "07") {
				continue
			}
			addr, ok := procAddr(fl[1])
			if !ok {
				continue
			}
			seen[strings.TrimSuffix(proto, "6")+"/"+addr] = true
		}
		f.Close()
	}
	if !found {
		return nil, errors.New("no /proc/net/tcp under root")
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// procAddr decodes "0100007F:0016" (IPv4, host byte order per 32-bit word)
// or its 32-hex-digit IPv6 form into "127.0.0.1:22".
func procAddr(s string) (string, bool) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return "", false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return "", false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", false
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		// Each 32-bit word is printed in the host's byte order; every
		// router arch JagaDesa targets is little-endian except mips (BE),
		// handled by nativeWord.
		nativeWord(ip[w:w+4], raw[w:w+4])
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), true
}

func (c *SecurityCollector) ports(now time.Time, first bool) ([]jagadesa.Event, error) {
	cur, err := c.listening()
	if err != nil {
		return nil, err
	}
	var events []jagadesa.Event
	if !first && c.state.Ports != nil {
		for _, p := range cur {
			if !slices.Contains(c.state.Ports, p) {
				events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "port_opened", Severity: "warning",
					Message: "new listening socket " + p, Attrs: map[string]string{"socket": p}})
			}
		}
		for _, p := range c.state.Ports {
			if !slices.Contains(cur, p) {
				events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "port_closed", Severity: "info",
					Message: "listening socket gone " + p, Attrs: map[string]string{"socket": p}})
			}
		}
	}
	c.state.Ports = cur
	return events, nil
}

func (c *SecurityCollector) gatewayMAC() (gw, mac string) {
	gw, iface := defaultRoute(c.Root)
	if gw == "" {
		return "", ""
	}
	f, err := os.Open(c.path("proc/net/arp"))
	if err != nil {
		return gw, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		// IP address  HW type  Flags  HW address  Mask  Device
		fl := strings.Fields(sc.Text())
		if len(fl) >= 6 && fl[0] == gw && (iface == "" || fl[5] == iface) && fl[3] != "00:00:00:00:00:00" {
			return gw, strings.ToLower(fl[3])
		}
	}
	return gw, ""
}

func (c *SecurityCollector) gateway(now time.Time, first bool) ([]jagadesa.Event, error) {
	gw, mac := c.gatewayMAC()
	if mac == "" {
		return nil, nil // no ARP entry yet: nothing to compare
	}
	var events []jagadesa.Event
	if !first && c.state.GatewayMAC != "" && c.state.GatewayMAC != mac {
		events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: "gateway_mac_changed", Severity: "critical",
			Message: fmt.Sprintf("gateway %s moved from %s to %s", gw, c.state.GatewayMAC, mac),
			Attrs:   map[string]string{"gateway": gw, "old_mac": c.state.GatewayMAC, "new_mac": mac}})
	}
	c.state.GatewayMAC = mac
	return events, nil
}

// parseLogin reads one log line: the service, the source address, and
// whether the login succeeded; ok is false for lines that are not logins.
// The lines of the three services, as they write them:
//
//	dropbear[1234]: Bad password attempt for 'root' from 203.0.113.9:51234
//	dropbear[1234]: Password auth succeeded for 'root' from 198.51.100.7:40000
//	dropbear[1234]: Pubkey auth succeeded for 'root' with ssh-ed25519 key SHA256:… from 198.51.100.7:40000
//	dropbear[1234]: Login attempt for nonexistent user from 203.0.113.9:51234
//	sshd[99]: Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2
//	sshd[99]: Accepted publickey for root from 198.51.100.7 port 40000 ssh2
//	luci: failed login on / for root from 203.0.113.9
//	luci: accepted login on / for root from 198.51.100.7
//
// They are matched with plain string searches, not regular expressions:
// the regexp package would add about 250 KB to a probe that must fit in a
// router's flash.
func parseLogin(line string) (service, addr string, success, ok bool) {
	switch {
	case strings.Contains(line, "dropbear["):
		service = "dropbear"
		switch {
		case strings.Contains(line, "Bad password attempt for '"), strings.Contains(line, "Login attempt for nonexistent user"):
		case strings.Contains(line, " auth succeeded for '"):
			success = true
		default:
			return "", "", false, false
		}
		addr = hostOf(lastField(line, " from "))
	case strings.Contains(line, "sshd["):
		service = "sshd"
		switch {
		case strings.Contains(line, "]: Failed "):
		case strings.Contains(line, "]: Accepted "):
			success = true
		default:
			return "", "", false, false
		}
		addr = lastField(line, " from ")
	case strings.Contains(line, "luci: failed login on "):
		service = "luci"
		addr = lastField(line, " from ")
	case strings.Contains(line, "luci: accepted login on "):
		service, success = "luci", true
		addr = lastField(line, " from ")
	default:
		return "", "", false, false
	}
	if net.ParseIP(addr) == nil {
		return "", "", false, false
	}
	return service, addr, success, true
}

// lastField is the first word after the last sep in line.
func lastField(line, sep string) string {
	i := strings.LastIndex(line, sep)
	if i < 0 {
		return ""
	}
	f := strings.Fields(line[i+len(sep):])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// hostOf strips dropbear's port: "203.0.113.9:51234", "[2001:db8::7]:22".
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func (c *SecurityCollector) logins(now time.Time, first bool) ([]jagadesa.Event, error) {
	if c.state.LogOffsets == nil {
		c.state.LogOffsets = map[string]int64{}
	}
	var events []jagadesa.Event
	for _, rel := range logFiles {
		f, err := os.Open(c.path(rel))
		if err != nil {
			continue
		}
		st, _ := f.Stat()
		off := c.state.LogOffsets[rel]
		if st != nil && st.Size() < off {
			off = 0 // rotated or truncated: read the new file from its start
		}
		if first {
			// The baseline learns who has logged in before, without
			// alarming on history.
			off = 0
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			continue
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if !strings.HasSuffix(line, "\n") {
				break // a partial last line is read next time, whole
			}
			off += int64(len(line))
			if svc, addr, ok2, isLogin := parseLogin(line); isLogin {
				events = append(events, c.login(now, first, svc, addr, ok2)...)
			}
			if err != nil {
				break
			}
		}
		f.Close()
		c.state.LogOffsets[rel] = off
	}
	return events, nil
}

func (c *SecurityCollector) login(now time.Time, first bool, service, addr string, success bool) []jagadesa.Event {
	if success {
		if slices.Contains(c.state.Sources, addr) {
			return nil
		}
		c.state.Sources = append(c.state.Sources, addr)
		sort.Strings(c.state.Sources)
		if first {
			return nil
		}
		return []jagadesa.Event{{TimeMs: now.UnixMilli(), Kind: "login_new_source", Severity: "critical",
			Message: fmt.Sprintf("%s login from %s, never seen before", service, addr),
			Attrs:   map[string]string{"service": service, "source": addr}}}
	}
	if first {
		return nil
	}
	recent := c.failures[addr][:0]
	for _, t := range c.failures[addr] {
		if now.Sub(t) < loginBurstWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	c.failures[addr] = recent
	if len(recent) != loginBurst { // once per burst, when it reaches the count
		return nil
	}
	return []jagadesa.Event{{TimeMs: now.UnixMilli(), Kind: "login_bruteforce", Severity: "warning",
		Message: fmt.Sprintf("%d failed %s logins from %s within %s", loginBurst, service, addr, loginBurstWindow),
		Attrs:   map[string]string{"service": service, "source": addr, "failures": strconv.Itoa(len(recent))}}}
}

// nativeWord writes the 32-bit word the kernel printed as hex (src, as
// parsed: most significant digit first) in the host's byte order, which is
// how /proc/net prints addresses.
func nativeWord(dst, src []byte) {
	binary.NativeEndian.PutUint32(dst, binary.BigEndian.Uint32(src))
}

// upstreams returns the router's upstream resolvers by address, each with
// the files that name it (DNSUpstreams: dnsmasq's UCI config, its own
// config files, and the resolv files it reads).
func (c *SecurityCollector) upstreams() (addrs []string, files map[string][]string, err error) {
	ups, err := DNSUpstreams(c.Root)
	files = map[string][]string{}
	for _, u := range ups {
		a := u.Addr.String()
		if _, ok := files[a]; !ok {
			addrs = append(addrs, a)
		}
		if !slices.Contains(files[a], u.File) {
			files[a] = append(files[a], u.File)
		}
	}
	sort.Strings(addrs)
	return addrs, files, err
}

func (c *SecurityCollector) allowedDNS(addr string) bool {
	ip := net.ParseIP(addr)
	for _, a := range c.DNSAllow {
		if _, n, err := net.ParseCIDR(a); err == nil && n.Contains(ip) {
			return true
		}
		if ip.Equal(net.ParseIP(a)) {
			return true
		}
	}
	return false
}

// dns reports an upstream resolver outside the allow-list as critical (a
// hijacked router sends the village's lookups to its owner; the server
// marks the village compromised), once each time it appears. Without an
// allow-list, the upstreams learnt by the first run are the reference, and
// an upstream never seen before is a warning (an ISP or an operator may
// change them too), once: it joins the reference. Each event names the
// upstream (resolver) and the files that make it one (file).
func (c *SecurityCollector) dns(now time.Time, first bool) ([]jagadesa.Event, error) {
	cur, files, err := c.upstreams()
	if err != nil && len(cur) == 0 {
		return nil, err // unreadable config: keep the last state rather than report its loss
	}
	var events []jagadesa.Event
	ev := func(kind, sev, msg, a string) jagadesa.Event {
		return jagadesa.Event{TimeMs: now.UnixMilli(), Kind: kind, Severity: sev, Message: msg,
			Attrs: map[string]string{"resolver": a, "file": strings.Join(files[a], ",")}}
	}
	// A state written before the reference was kept starts it from the
	// last run's upstreams; one without either learns, as a first run does.
	learning := first || (c.state.DNSKnown == nil && c.state.DNS == nil)
	if c.state.DNSKnown == nil && !learning {
		c.state.DNSKnown = slices.Clone(c.state.DNS)
	}
	for _, a := range cur {
		known := slices.Contains(c.state.DNSKnown, a)
		switch {
		case len(c.DNSAllow) > 0:
			if !c.allowedDNS(a) && (first || !slices.Contains(c.state.DNS, a)) {
				events = append(events, ev("dns_upstream_unexpected", "critical",
					fmt.Sprintf("router resolves through %s, not an allowed resolver (set in %s)", a, strings.Join(files[a], ", ")), a))
			}
		case !known && !learning:
			e := ev("dns_upstream_changed", "warning",
				fmt.Sprintf("router resolves through %s, not among its known upstreams %s (set in %s)", a, strings.Join(c.state.DNSKnown, ","), strings.Join(files[a], ", ")), a)
			e.Attrs["known"] = strings.Join(c.state.DNSKnown, ",")
			events = append(events, e)
		}
		if !known {
			c.state.DNSKnown = append(c.state.DNSKnown, a)
		}
	}
	if len(c.state.DNSKnown) > maxKnownDNS { // the oldest learnt go first
		c.state.DNSKnown = slices.Clone(c.state.DNSKnown[len(c.state.DNSKnown)-maxKnownDNS:])
	}
	if c.state.DNSKnown == nil {
		c.state.DNSKnown = []string{}
	}
	c.state.DNS = cur
	return events, err
}

// maxKnownDNS bounds the upstreams remembered as known.
const maxKnownDNS = 64
