//go:build linux && !mips && !mipsle

package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The GET is byte for byte what net-snmp's snmpget -v2c -c public sends
// for sysUpTime.0 with this request-id.
func TestSNMPGetUptimeBytes(t *testing.T) {
	want := unhex(t, `30 29 02 01 01 04 06 70 75 62 6c 69 63 a0 1c 02 04 12 34 56 78 02 01 00 02 01 00
		30 0e 30 0c 06 08 2b 06 01 02 01 01 03 00 05 00`)
	if got := snmpGetUptime(0x12345678); !bytes.Equal(got, want) {
		t.Errorf("GET\n got %x\nwant %x", got, want)
	}
}

func TestParseSNMPUptime(t *testing.T) {
	const id = 0x12345678
	// An agent's GetResponse: sysUpTime.0 = 16909060 (1/100 s).
	answer := `30 2d 02 01 01 04 06 70 75 62 6c 69 63 a2 20 02 04 12 34 56 78 02 01 00 02 01 00
		30 12 30 10 06 08 2b 06 01 02 01 01 03 00 43 04 01 02 03 04`
	for _, tc := range []struct {
		name, hex string
		want      uint32
		ok        bool
	}{
		{"answer", answer, 16909060, true},
		{"long-form lengths", `30 81 2f 02 01 01 04 06 70 75 62 6c 69 63 a2 82 00 20 02 04 12 34 56 78 02 01 00 02 01 00
			30 12 30 10 06 08 2b 06 01 02 01 01 03 00 43 04 01 02 03 04`, 16909060, true},
		{"ticks past 2^31", `30 2e 02 01 01 04 06 70 75 62 6c 69 63 a2 21 02 04 12 34 56 78 02 01 00 02 01 00
			30 13 30 11 06 08 2b 06 01 02 01 01 03 00 43 05 00 ff ff ff ff`, 0xffffffff, true},
		{"another request", strings.Replace(answer, "12 34 56 78", "12 34 56 79", 1), 0, false},
		{"an error status", strings.Replace(answer, "02 01 00 02 01 00", "02 01 02 02 01 01", 1), 0, false},
		{"SNMPv1", strings.Replace(answer, "02 01 01 04", "02 01 00 04", 1), 0, false},
		{"another object", strings.Replace(answer, "03 00 43", "05 00 43", 1), 0, false},
		{"a GetRequest", strings.Replace(answer, "a2 20", "a0 20", 1), 0, false},
		{"noSuchObject", `30 2b 02 01 01 04 06 70 75 62 6c 69 63 a2 1e 02 04 12 34 56 78 02 01 00 02 01 00
			30 10 30 0e 06 08 2b 06 01 02 01 01 03 00 80 00`, 0, false},
		{"a length past the end", `30 7f 02 01 01`, 0, false},
		{"empty", ``, 0, false},
	} {
		b := unhex(t, tc.hex)
		if got, ok := parseSNMPUptime(b, id); got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// Every cut of an answer is refused, and nothing panics.
	b := unhex(t, answer)
	for i := range len(b) {
		if _, ok := parseSNMPUptime(b[:i], id); ok {
			t.Errorf("the answer's first %d bytes read as an answer", i)
		}
	}
}

var testMAC = net.HardwareAddr{0x02, 0x6a, 0x64, 0x01, 0x02, 0x03}

func TestDHCPDiscoverBytes(t *testing.T) {
	b := dhcpDiscover(0xdeadbeef, testMAC)
	want := make([]byte, 300)
	copy(want, unhex(t, "01 01 06 00 de ad be ef 00 00 80 00"))
	copy(want[28:], testMAC)
	copy(want[236:], unhex(t, "63 82 53 63 35 01 01 37 03 01 03 06 ff"))
	if !bytes.Equal(b, want) {
		t.Errorf("DISCOVER\n got %x\nwant %x", b, want)
	}
}

// offerBytes is a BOOTREPLY of type msgType, as a DHCP server writes it.
func offerBytes(xid uint32, mac net.HardwareAddr, msgType byte, yiaddr, server, router string, dns ...string) []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 2, 1, 6
	binary.BigEndian.PutUint32(b[4:], xid)
	b[10] = 0x80
	copy(b[16:], net.ParseIP(yiaddr).To4())
	copy(b[20:], net.ParseIP(server).To4()) // siaddr
	copy(b[28:], mac)
	copy(b[236:], []byte{0x63, 0x82, 0x53, 0x63})
	b = append(b, 53, 1, msgType, 0, 0) // and two pads
	b = append(append(b, 54, 4), net.ParseIP(server).To4()...)
	b = append(b, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0)
	b = append(append(b, 3, 4), net.ParseIP(router).To4()...)
	b = append(b, 6, byte(4*len(dns)))
	for _, d := range dns {
		b = append(b, net.ParseIP(d).To4()...)
	}
	return append(b, 255)
}

func TestParseDHCPOffer(t *testing.T) {
	const xid = 0x01020304
	offer := offerBytes(xid, testMAC, 2, "192.168.1.100", "192.168.1.1", "192.168.1.1", "192.168.1.1", "8.8.8.8")
	o, ok := parseDHCPOffer(offer, xid, testMAC)
	if want := (dhcpOffer{server: "192.168.1.1", offered: "192.168.1.100", router: "192.168.1.1", dns: "192.168.1.1,8.8.8.8"}); !ok || o != want {
		t.Errorf("offer: %+v %v", o, ok)
	}
	if _, ok := parseDHCPOffer(offer, xid+1, testMAC); ok {
		t.Error("another transaction's offer taken")
	}
	if _, ok := parseDHCPOffer(offer, xid, net.HardwareAddr{2, 0, 0, 0, 0, 1}); ok {
		t.Error("another client's offer taken")
	}
	if _, ok := parseDHCPOffer(offerBytes(xid, testMAC, 5, "192.168.1.100", "192.168.1.1", "192.168.1.1"), xid, testMAC); ok {
		t.Error("a DHCPACK taken for an offer")
	}
	// An option running past the end stops the reading; what came before
	// stands.
	if o, ok := parseDHCPOffer(offer[:247], xid, testMAC); !ok || o.server != "192.168.1.1" { // siaddr
		t.Errorf("cut offer: %+v %v", o, ok)
	}
	for i := range len(offer) {
		parseDHCPOffer(offer[:i], xid, testMAC) // no panic
	}
}

// A probe in appliance mode where nothing can be checked (no default
// route) says so in its heartbeat, and warns once, not every hour; a
// router does not run the checks.
func TestApplianceCannotOnce(t *testing.T) {
	var logs bytes.Buffer
	p, err := New(Config{Server: "http://127.0.0.1:1", Token: "tok", Village: "33.06.08.2007", Spool: t.TempDir(), Interval: time.Minute,
		Targets: []string{"127.0.0.1"}, Root: t.TempDir(), Mode: jagadesa.ModeAppliance, Count: 1, PingInterval: time.Second, Version: "test"},
		slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	run := func() {
		t.Helper()
		p.collectAppliance(time.Now())
		for deadline := time.Now().Add(10 * time.Second); p.applianceBusy; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the appliance check did not end")
			}
			p.collectAppliance(time.Now())
		}
	}
	run()
	p.appliance.next = time.Time{} // an hour later
	run()
	for _, c := range applianceChecks {
		if !slices.Contains(p.cannotList(), c) {
			t.Errorf("heartbeat cannot %v lacks %s", p.cannotList(), c)
		}
		if n := strings.Count(logs.String(), c+" cannot be checked here"); n != 1 {
			t.Errorf("%s warned %d times, want once:\n%s", c, n, logs.String())
		}
	}
	p.mode, p.cfg.Mode = jagadesa.ModeRouter, jagadesa.ModeRouter
	p.appliance = nil
	p.collectAppliance(time.Now())
	if p.appliance != nil {
		t.Error("a router ran the appliance checks")
	}
	// A mode merely detected, not set, reports itself but touches no LAN.
	p.mode, p.cfg.Mode = jagadesa.ModeAppliance, ""
	p.collectAppliance(time.Now())
	if p.appliance != nil {
		t.Error("a detected (not configured) appliance ran the LAN checks")
	}
}

// fakeLAN is a network namespace playing the village's CPE, joined to
// this host by a veth pair on a /29: the host end is the appliance
// (hostIP), the namespace holds the gateway (gwIP) and another host of
// the LAN (otherIP), which the probe must never contact.
type fakeLAN struct {
	t                     *testing.T
	ip                    string
	ns, hostIf, nsIf      string
	hostIP, gwIP, otherIP string
	hostMAC               net.HardwareAddr
}

func (l *fakeLAN) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newFakeLAN(t *testing.T) *fakeLAN {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it makes a network namespace and a veth pair, and binds udp/68); run it as root, as CI does")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("the ip tool (iproute2) is needed to make a network namespace: %v", err)
	}
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	l := &fakeLAN{t: t, ip: ip, ns: "jagadesa-gw-" + suffix, hostIf: "jga" + suffix, nsIf: "jgg" + suffix}
	addrs, err := exec.Command(ip, "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v\n%s", err, addrs)
	}
	for {
		x, y := rand.IntN(256), 8*rand.IntN(32)
		if !strings.Contains(string(addrs), fmt.Sprintf(" 10.253.%d.", x)) {
			l.hostIP, l.gwIP, l.otherIP = fmt.Sprintf("10.253.%d.%d", x, y+1), fmt.Sprintf("10.253.%d.%d", x, y+2), fmt.Sprintf("10.253.%d.%d", x, y+3)
			break
		}
	}
	t.Cleanup(func() {
		exec.Command(ip, "netns", "del", l.ns).Run()
		exec.Command(ip, "link", "del", l.hostIf).Run()
	})
	l.run("netns", "add", l.ns)
	l.run("link", "add", l.hostIf, "type", "veth", "peer", "name", l.nsIf, "netns", l.ns)
	l.run("addr", "add", l.hostIP+"/29", "dev", l.hostIf)
	l.run("link", "set", l.hostIf, "up")
	l.run("-n", l.ns, "link", "set", "lo", "up")
	l.run("-n", l.ns, "addr", "add", l.gwIP+"/29", "dev", l.nsIf)
	l.run("-n", l.ns, "addr", "add", l.otherIP+"/29", "dev", l.nsIf)
	l.run("-n", l.ns, "link", "set", l.nsIf, "up")
	// The fake DHCP server broadcasts its offers, as a real one does when
	// asked: the limited broadcast needs a route.
	l.run("-n", l.ns, "route", "add", "default", "dev", l.nsIf)
	ifi, err := net.InterfaceByName(l.hostIf)
	if err != nil {
		t.Fatal(err)
	}
	l.hostMAC = ifi.HardwareAddr
	return l
}

// sysSetns is setns(2)'s system call number, which package syscall lacks.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268, "riscv64": 268, "loong64": 268, "386": 346, "arm": 375, "ppc64le": 350, "s390x": 339}

// in runs fn in the namespace, on a thread that enters it and dies after:
// the goroutine locks itself to its thread and ends without unlocking, so
// no other goroutine ever runs there. Sockets fn makes stay in the
// namespace.
func (l *fakeLAN) in(fn func() error) {
	l.t.Helper()
	nr, ok := sysSetns[runtime.GOARCH]
	if !ok {
		l.t.Fatalf("setns(2)'s number on %s is not known to this test: add it to sysSetns", runtime.GOARCH)
	}
	f, err := os.Open("/run/netns/" + l.ns)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(nr, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			done <- fmt.Errorf("setns: %w", e)
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		l.t.Fatalf("in namespace %s: %v", l.ns, err)
	}
}

// service is a TCP listener in the namespace that counts connections.
type service struct {
	ln    net.Listener
	conns atomic.Int32
}

func (l *fakeLAN) listen(addr string, port int) *service {
	l.t.Helper()
	s := &service{}
	l.in(func() (err error) {
		s.ln, err = net.Listen("tcp4", net.JoinHostPort(addr, fmt.Sprint(port)))
		return err
	})
	l.t.Cleanup(func() { s.ln.Close() })
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			c.Close()
		}
	}()
	return s
}

// agent is a fake SNMP agent answering the probe's GET of sysUpTime.0
// with community public: the request is checked byte for byte against a
// GET as net-snmp writes it, and the answer is written here by hand.
type agent struct {
	pc       net.PacketConn
	requests atomic.Int32
	ticks    atomic.Uint32
}

func (l *fakeLAN) agent(addr string, ticks uint32) *agent {
	l.t.Helper()
	a := &agent{}
	a.ticks.Store(ticks)
	l.in(func() (err error) {
		a.pc, err = net.ListenPacket("udp4", net.JoinHostPort(addr, "161"))
		return err
	})
	l.t.Cleanup(func() { a.pc.Close() })
	head := []byte("\x30\x29\x02\x01\x01\x04\x06public\xa0\x1c\x02\x04")
	tail := []byte("\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00\x05\x00")
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := a.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			a.requests.Add(1)
			req := buf[:n]
			if n != 43 || !bytes.Equal(req[:17], head) || !bytes.Equal(req[21:], tail) {
				continue
			}
			ticks := binary.BigEndian.AppendUint32([]byte{0}, a.ticks.Load()) // a leading zero: BER allows it
			vb := append([]byte("\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00\x43"), byte(len(ticks)))
			vb = append(vb, ticks...)
			vbl := append([]byte{0x30, byte(len(vb) + 2), 0x30, byte(len(vb))}, vb...)
			pdu := slices.Concat([]byte{0x02, 0x04}, req[17:21], []byte{2, 1, 0, 2, 1, 0}, vbl)
			msg := slices.Concat([]byte("\x02\x01\x01\x04\x06public\xa2"), []byte{byte(len(pdu))}, pdu)
			a.pc.WriteTo(append([]byte{0x30, byte(len(msg))}, msg...), from)
		}
	}()
	return a
}

// dhcpServer is a fake DHCP server in the namespace: it broadcasts an
// offer from the gateway for every DISCOVER, and one from a rogue server
// while rogue is set.
type dhcpServer struct {
	mu       sync.Mutex
	messages [][]byte // everything it received
	rogue    atomic.Bool
}

func (l *fakeLAN) dhcpServer() *dhcpServer {
	l.t.Helper()
	d := &dhcpServer{}
	d.rogue.Store(true)
	var pc net.PacketConn
	l.in(func() (err error) {
		pc, err = net.ListenPacket("udp4", "0.0.0.0:67")
		return err
	})
	l.t.Cleanup(func() { pc.Close() })
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := slices.Clone(buf[:n])
			d.mu.Lock()
			d.messages = append(d.messages, m)
			d.mu.Unlock()
			if n < 240 || m[0] != 1 {
				continue
			}
			xid, mac := binary.BigEndian.Uint32(m[4:]), net.HardwareAddr(m[28:34])
			pc.WriteTo(offerBytes(xid, mac, 2, "10.253.0.50", l.gwIP, l.gwIP, l.gwIP), bcast)
			if d.rogue.Load() {
				pc.WriteTo(offerBytes(xid, mac, 2, "172.16.9.50", l.otherIP, l.otherIP, l.otherIP), bcast)
			}
		}
	}()
	return d
}

func (d *dhcpServer) received() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.messages)
}

// routeTable is /proc/net/route with the default route through gw on
// iface, as the kernel prints it (the address in host byte order).
func routeTable(iface, gw string) string {
	return "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		fmt.Sprintf("%s\t00000000\t%08X\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", iface, binary.NativeEndian.Uint32(net.ParseIP(gw).To4()))
}

// eventSummary is an event as "kind severity key", key being the service
// or the source, sorted: what a check raised, in a comparable form.
func eventSummary(evs []jagadesa.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, strings.TrimSpace(e.Kind+" "+e.Severity+" "+e.Attrs["service"]+e.Attrs["source"]))
	}
	slices.Sort(out)
	return out
}

func waitCount(t *testing.T, what string, n func() int32, want int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); n() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, n(), want)
		}
	}
}

// The appliance's checks against a fake CPE in a network namespace: its
// exposed services, a rogue DHCP server beside it, its uptime and its
// reboot; at most once an hour, and nothing but the gateway is contacted.
func TestApplianceAgainstFakeGateway(t *testing.T) {
	lan := newFakeLAN(t)
	telnet, cwmp, admin := lan.listen(lan.gwIP, 23), lan.listen(lan.gwIP, 7547), lan.listen(lan.gwIP, 80)
	var others []*service
	for _, port := range []int{23, 80, 7547, 8080} {
		others = append(others, lan.listen(lan.otherIP, port))
	}
	snmp := lan.agent(lan.gwIP, 0x01020304)
	otherSNMP := lan.agent(lan.otherIP, 1)
	dhcp := lan.dhcpServer()

	root, spool := t.TempDir(), t.TempDir()
	(fixture{t, root}).write("proc/net/route", routeTable(lan.hostIf, lan.gwIP))
	watcher := func() *ApplianceWatcher {
		return &ApplianceWatcher{Root: root, StateFile: filepath.Join(spool, "appliance.json"), Timeout: time.Second, DHCPWait: 700 * time.Millisecond}
	}
	check := func(w *ApplianceWatcher, at time.Time, want ...string) map[string]error {
		t.Helper()
		evs, cannot, err := w.Check(at)
		if err != nil {
			t.Errorf("check at %s: %v", at.Format("15:04"), err)
		}
		slices.Sort(want)
		if got := eventSummary(evs); !slices.Equal(got, want) {
			t.Errorf("check at %s raised\n %q\nwant\n %q\n%+v", at.Format("15:04"), got, want, evs)
		}
		for _, e := range evs {
			if e.Kind == "gateway_service_exposed" && e.Attrs["gateway"] != lan.gwIP {
				t.Errorf("event names gateway %q: %+v", e.Attrs["gateway"], e)
			}
		}
		return cannot
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.Local)

	// First check: telnet, TR-069 and SNMP public are warnings, the admin
	// page is ordinary (info); a second DHCP server is rogue.
	w := watcher()
	evs, cannot, err := w.Check(t0)
	if err != nil || len(cannot) != 0 {
		t.Fatalf("first check: %v, cannot %v", err, cannot)
	}
	want := []string{"dhcp_server_rogue warning " + lan.otherIP, "gateway_service_exposed info http-admin",
		"gateway_service_exposed warning cwmp", "gateway_service_exposed warning snmp-public", "gateway_service_exposed warning telnet"}
	if got := eventSummary(evs); !slices.Equal(got, want) {
		t.Fatalf("first check raised\n %q\nwant\n %q", got, want)
	}
	for _, e := range evs {
		switch {
		case e.Kind == "dhcp_server_rogue" && (e.Attrs["router"] != lan.otherIP || e.Attrs["dns"] != lan.otherIP || e.Attrs["offered"] != "172.16.9.50" || e.Attrs["gateway"] != lan.gwIP):
			t.Errorf("rogue DHCP evidence: %+v", e)
		case e.Attrs["service"] == "snmp-public" && e.Attrs["uptime_s"] != "169090":
			t.Errorf("uptime read: %+v", e)
		case e.Attrs["service"] == "telnet" && (e.Attrs["port"] != "23" || e.Attrs["proto"] != "tcp"):
			t.Errorf("telnet: %+v", e)
		}
	}
	if w.state.UptimeCs != 0x01020304 {
		t.Errorf("uptime kept: %d", w.state.UptimeCs)
	}
	waitCount(t, "connections to the gateway's telnet", telnet.conns.Load, 1)
	waitCount(t, "connections to the gateway's cwmp", cwmp.conns.Load, 1)
	waitCount(t, "SNMP requests to the gateway", snmp.requests.Load, 1)

	// Within the hour: nothing at all is sent.
	if w.Due(t0.Add(59 * time.Minute)) {
		t.Error("due again within the hour")
	}
	check(w, t0.Add(30*time.Minute))
	time.Sleep(200 * time.Millisecond)
	if telnet.conns.Load() != 1 || snmp.requests.Load() != 1 || len(dhcp.received()) != 1 {
		t.Errorf("a check within the hour sent something: %d telnet connections, %d SNMP requests, %d DHCP messages",
			telnet.conns.Load(), snmp.requests.Load(), len(dhcp.received()))
	}

	// The probe restarts an hour later (its state from the spool): the
	// CPE rebooted, closed TR-069 and opened an admin page on 8080; the
	// rogue server is off.
	snmp.ticks.Store(0x1234)
	cwmp.ln.Close()
	lan.listen(lan.gwIP, 8080)
	dhcp.rogue.Store(false)
	w = watcher()
	check(w, t0.Add(time.Hour), "gateway_rebooted info", "gateway_service_closed info cwmp", "gateway_service_exposed warning http-admin")
	// The rogue server answers again: raised again. SNMP has gone: the
	// uptime cannot be seen here any more.
	dhcp.rogue.Store(true)
	snmp.pc.Close()
	cannot = check(w, t0.Add(2*time.Hour), "dhcp_server_rogue warning "+lan.otherIP, "gateway_service_closed info snmp-public")
	if cannot["gateway_uptime"] == nil || len(cannot) != 1 {
		t.Errorf("cannot %v, want gateway_uptime only", cannot)
	}
	// A DHCP client holds udp/68 without SO_REUSEADDR: the DHCP check
	// cannot run, the others do.
	held, err := net.ListenPacket("udp4", "0.0.0.0:68")
	if err != nil {
		t.Fatal(err)
	}
	cannot = check(w, t0.Add(3*time.Hour))
	held.Close()
	if cannot["rogue_dhcp"] == nil || !strings.Contains(cannot["rogue_dhcp"].Error(), "udp/68") {
		t.Errorf("cannot %v, want rogue_dhcp", cannot)
	}

	// Only the gateway was contacted, once an hour; the DHCP server saw
	// DISCOVERs only, broadcast, from one made-up client address.
	waitCount(t, "connections to the gateway's telnet", telnet.conns.Load, 4)
	waitCount(t, "connections to the gateway's admin page", admin.conns.Load, 4)
	for _, o := range others {
		if n := o.conns.Load(); n != 0 {
			t.Errorf("%d connections to %s, not the gateway", n, o.ln.Addr())
		}
	}
	if n := otherSNMP.requests.Load(); n != 0 {
		t.Errorf("%d SNMP requests to %s, not the gateway", n, lan.otherIP)
	}
	msgs := dhcp.received()
	if len(msgs) != 3 {
		t.Errorf("%d DHCP messages, want 3 DISCOVERs", len(msgs))
	}
	for _, m := range msgs {
		mac := net.HardwareAddr(m[28:34])
		if m[240] != 53 || m[242] != 1 || m[10]&0x80 == 0 || mac[0]&3 != 2 || bytes.Equal(mac, lan.hostMAC) || !bytes.Equal(mac, msgs[0][28:34]) {
			t.Errorf("DHCP message: type %d, flags %x, chaddr %s (host %s, first %s)", m[242], m[10:12], mac, lan.hostMAC, net.HardwareAddr(msgs[0][28:34]))
		}
	}
}
