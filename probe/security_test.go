package probe

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func TestParseLogin(t *testing.T) {
	for _, tc := range []struct {
		line, service, addr string
		success, ok         bool
	}{
		{"Sun Nov 22 10:01:02 2026 authpriv.warn dropbear[1234]: Bad password attempt for 'root' from 203.0.113.9:51234", "dropbear", "203.0.113.9", false, true},
		{"Sun Nov 22 10:01:02 2026 authpriv.info dropbear[1234]: Password auth succeeded for 'root' from 198.51.100.7:40000", "dropbear", "198.51.100.7", true, true},
		{"Sun Nov 22 10:01:02 2026 authpriv.notice dropbear[77]: Pubkey auth succeeded for 'root' with ssh-ed25519 key SHA256:abc from 198.51.100.8:40001", "dropbear", "198.51.100.8", true, true},
		{"Sun Nov 22 10:01:02 2026 authpriv.warn dropbear[78]: Login attempt for nonexistent user from 203.0.113.10:1", "dropbear", "203.0.113.10", false, true},
		{"Nov 22 10:01:02 gw sshd[99]: Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2", "sshd", "203.0.113.9", false, true},
		{"Nov 22 10:01:02 gw sshd[99]: Accepted publickey for root from 2001:db8::7 port 40000 ssh2", "sshd", "2001:db8::7", true, true},
		{"Sun Nov 22 10:01:02 2026 daemon.info luci: failed login on / for root from 203.0.113.11", "luci", "203.0.113.11", false, true},
		{"Sun Nov 22 10:01:02 2026 daemon.info luci: accepted login on / for root from 192.168.1.100", "luci", "192.168.1.100", true, true},
		{"Sun Nov 22 10:01:02 2026 daemon.info dnsmasq[1]: query[A] example.com from 192.168.1.5", "", "", false, false},
	} {
		svc, addr, ok2, isLogin := parseLogin(tc.line)
		if svc != tc.service || addr != tc.addr || ok2 != tc.success || isLogin != tc.ok {
			t.Errorf("%q: %q %q %v %v", tc.line, svc, addr, ok2, isLogin)
		}
	}
}

// fixture is a router's file tree under a temporary root.
type fixture struct {
	t    *testing.T
	root string
}

func (f fixture) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f fixture) append(rel, content string) {
	f.t.Helper()
	fh, err := os.OpenFile(filepath.Join(f.root, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(content); err != nil {
		f.t.Fatal(err)
	}
}

const (
	procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0101A8C0:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 100 0 0 10 0
   2: 0101A8C0:0016 6401A8C0:C350 01 00000000:00000000 02:000A7B2D 00000000     0        0 1236 4 0000000000000000 20 4 28 10 -1
`
	procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2000 1 0000000000000000 100 0 0 10 0
`
	procUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3000 2 0000000000000000 0
`
	procRoute = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"wan\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	procARP = "IP address       HW type     Flags       HW address            Mask     Device\n" +
		"10.0.0.1         0x1         0x2         aa:bb:cc:00:00:01     *        wan\n" +
		"192.168.1.100    0x1         0x2         11:22:33:44:55:66     *        br-lan\n"
)

func newFixture(t *testing.T) fixture {
	f := fixture{t, t.TempDir()}
	f.write("etc/config/network", "config interface 'wan'\n\toption proto 'dhcp'\n")
	f.write("etc/config/firewall", "config defaults\n\toption input 'REJECT'\n")
	f.write("etc/passwd", "root:x:0:0:root:/root:/bin/ash\n")
	f.write("etc/shadow", "root:$1$abc$def:19000:0:99999:7:::\n")
	f.write("etc/dropbear/authorized_keys", "ssh-ed25519 AAAAC3Nza operator@diskominfo\n")
	f.write("etc/crontabs/root", "0 4 * * * /sbin/reboot\n")
	f.write("proc/net/tcp", procTCP)
	f.write("proc/net/tcp6", procTCP6)
	f.write("proc/net/udp", procUDP)
	f.write("proc/net/route", procRoute)
	f.write("proc/net/arp", procARP)
	f.write("var/log/messages", "Sun Nov 22 09:00:00 2026 authpriv.info dropbear[10]: Password auth succeeded for 'root' from 192.168.1.100:50000\n")
	f.write("usr/bin/jagadesa-probe", "probe v1")
	return f
}

func kinds(evs []jagadesa.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+"/"+e.Severity)
	}
	sort.Strings(out)
	return out
}

func TestSecurityCollector(t *testing.T) {
	f := newFixture(t)
	state := filepath.Join(t.TempDir(), "security.json")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	newCollector := func() *SecurityCollector {
		return &SecurityCollector{Root: f.root, StateFile: state, ProbeBinary: filepath.Join(f.root, "usr/bin/jagadesa-probe"), Now: func() time.Time { return now }}
	}
	c := newCollector()
	evs, err := c.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(evs); strings.Join(got, ",") != "security_baseline/info" {
		t.Fatalf("first run: %v", got)
	}
	if len(c.state.Ports) != 4 || !strings.Contains(strings.Join(c.state.Ports, " "), "tcp/192.168.1.1:53") ||
		!strings.Contains(strings.Join(c.state.Ports, " "), "tcp/[::]:80") || c.state.GatewayMAC != "aa:bb:cc:00:00:01" {
		t.Fatalf("baseline %+v", c.state)
	}

	// Nothing changed: nothing to say, also after a restart.
	if evs, err := c.Collect(); err != nil || len(evs) != 0 {
		t.Fatalf("quiet run: %v %v", kinds(evs), err)
	}
	c = newCollector()
	if evs, err := c.Collect(); err != nil || len(evs) != 0 {
		t.Fatalf("quiet run after a restart: %v %v", kinds(evs), err)
	}

	// An intruder: a firewall rule, a root password, a key, a listener on
	// 4444, the gateway's MAC spoofed, a patched probe.
	f.write("etc/config/firewall", "config defaults\n\toption input 'ACCEPT'\n")
	f.write("etc/shadow", "root:$1$xyz$evil:19000:0:99999:7:::\n")
	f.write("root/.ssh/authorized_keys", "ssh-rsa AAAAB3 attacker\n")
	f.append("proc/net/tcp", "   3: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1299 1 0000000000000000 100 0 0 10 0\n")
	f.write("proc/net/arp", strings.Replace(procARP, "aa:bb:cc:00:00:01", "de:ad:be:ef:00:01", 1))
	f.write("usr/bin/jagadesa-probe", "probe v1 patched")
	evs, err = c.Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config_changed/critical", "config_changed/critical", "config_changed/critical", "config_changed/warning", "gateway_mac_changed/critical", "port_opened/warning"}
	if got := kinds(evs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after the intrusion: %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.Kind == "config_changed" && e.Attrs["path"] == "etc/shadow" && (e.Attrs["change"] != "modified" || e.Attrs["old_sha256"] == e.Attrs["new_sha256"]) {
			t.Fatalf("shadow event %+v", e)
		}
		if e.Kind == "port_opened" && e.Attrs["socket"] != "tcp/0.0.0.0:4444" {
			t.Fatalf("port event %+v", e)
		}
	}

	// Logins: five failures from one address are one burst; a success
	// from a new address is critical; the known operator is quiet.
	for i := 0; i < 7; i++ {
		f.append("var/log/messages", "Sun Nov 22 10:00:00 2026 authpriv.warn dropbear[11]: Bad password attempt for 'root' from 203.0.113.9:5123"+string(rune('0'+i))+"\n")
	}
	f.append("var/log/messages", "Sun Nov 22 10:00:01 2026 authpriv.info dropbear[12]: Password auth succeeded for 'root' from 192.168.1.100:50001\n")
	f.append("var/log/messages", "Sun Nov 22 10:00:02 2026 authpriv.info dropbear[13]: Password auth succeeded for 'root' from 203.0.113.9:51240\n")
	f.append("var/log/messages", "Sun Nov 22 10:00:03 2026 daemon.info luci: failed login on / for root from 203.0.1") // partial line
	evs, _ = c.Collect()
	if got := kinds(evs); strings.Join(got, ",") != "login_bruteforce/warning,login_new_source/critical" {
		t.Fatalf("logins: %v", got)
	}
	// The partial line is read once it is complete, not twice, not lost.
	f.append("var/log/messages", "13.77\n")
	now = now.Add(time.Minute)
	c2 := newCollector()
	if evs, _ := c2.Collect(); len(evs) != 0 {
		t.Fatalf("after the line completed: %v", kinds(evs))
	}
	if c2.state.LogOffsets["var/log/messages"] == 0 {
		t.Fatal("log offset not kept")
	}
	// Rotation: a shorter file is read from its start.
	f.write("var/log/messages", "Sun Nov 22 11:00:00 2026 daemon.info luci: accepted login on / for root from 198.51.100.200\n")
	if evs, _ := c2.Collect(); strings.Join(kinds(evs), ",") != "login_new_source/critical" {
		t.Fatalf("after rotation: %v", kinds(evs))
	}
}

// A day of normal activity — the operator logging in, the admin's
// occasional mistyped password, log lines of other daemons, DHCP leases
// changing files the collector does not watch — raises no alarm.
func TestSecurityCollectorQuietOnNormalDay(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	c := &SecurityCollector{Root: f.root, StateFile: filepath.Join(t.TempDir(), "s.json"), Now: func() time.Time { return now }}
	if _, err := c.Collect(); err != nil {
		t.Fatal(err)
	}
	alarms := 0
	for round := 0; round < 24*60; round++ { // a day of one-minute rounds
		now = now.Add(time.Minute)
		switch {
		case round%180 == 0:
			f.append("var/log/messages", "Sun Nov 22 09:00:00 2026 authpriv.info dropbear[10]: Password auth succeeded for 'root' from 192.168.1.100:50000\n")
		case round%240 == 7:
			f.append("var/log/messages", "Sun Nov 22 09:00:00 2026 authpriv.warn dropbear[11]: Bad password attempt for 'root' from 192.168.1.100:50002\n")
		case round%5 == 0:
			f.append("var/log/messages", "Sun Nov 22 09:00:00 2026 daemon.info dnsmasq-dhcp[1]: DHCPACK(br-lan) 192.168.1.23 aa:bb:cc:dd:ee:ff\n")
			f.write("tmp/dhcp.leases", "lease "+time.Unix(int64(round), 0).String())
		}
		evs, err := c.Collect()
		if err != nil {
			t.Fatal(err)
		}
		alarms += len(evs)
	}
	if alarms != 0 {
		t.Fatalf("%d alarms on a normal day", alarms)
	}
}

func TestSecurityDNSUpstreams(t *testing.T) {
	f := newFixture(t)
	f.write("tmp/resolv.conf.d/resolv.conf.auto", "# Interface wan\nnameserver 203.0.113.53\nnameserver 203.0.113.54\n")
	f.write("etc/resolv.conf", "nameserver 127.0.0.1\n")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	allow := &SecurityCollector{Root: f.root, StateFile: filepath.Join(t.TempDir(), "a.json"), DNSAllow: []string{"203.0.113.0/24", "192.0.2.1"}, Now: func() time.Time { return now }}
	free := &SecurityCollector{Root: f.root, StateFile: filepath.Join(t.TempDir(), "b.json"), Now: func() time.Time { return now }}
	for _, c := range []*SecurityCollector{allow, free} {
		if evs, err := c.Collect(); err != nil || strings.Join(kinds(evs), ",") != "security_baseline/info" {
			t.Fatalf("baseline: %v %v", kinds(evs), err)
		}
		if !slices.Equal(c.state.DNS, []string{"203.0.113.53", "203.0.113.54"}) {
			t.Fatalf("upstreams %v (loopback and the dnsmasq stub are not upstreams)", c.state.DNS)
		}
	}
	// The router now resolves through an address outside the list.
	f.write("tmp/resolv.conf.d/resolv.conf.auto", "nameserver 198.51.100.66\n")
	if evs, _ := allow.Collect(); strings.Join(kinds(evs), ",") != "dns_upstream_unexpected/critical" || evs[0].Attrs["resolver"] != "198.51.100.66" {
		t.Fatalf("with an allow-list: %v", kinds(evs))
	}
	if evs, _ := allow.Collect(); len(evs) != 0 {
		t.Fatalf("reported twice: %v", kinds(evs))
	}
	if evs, _ := free.Collect(); strings.Join(kinds(evs), ",") != "dns_upstream_changed/warning" {
		t.Fatalf("without one: %v", kinds(evs))
	}
}
