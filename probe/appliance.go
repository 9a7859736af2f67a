//go:build !mips && !mipsle

package probe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// ApplianceWatcher looks at the village's CPE (the default route's
// gateway) from the LAN, as a box beside an ISP-managed CPE can
// (jagadesa.ModeAppliance). At the first check and then at most every
// Every (an hour), three checks run at once, each sending a few packets:
//
//   - gateway_services: a TCP connect to the gateway, and to nothing else,
//     on each port of gatewayServices, all at once, Timeout each; an open
//     port is a management service the CPE exposes to every host on the
//     LAN. Its first sight is gateway_service_exposed: a warning for the
//     services intruders and botnets use (telnet, TR-069's connection
//     request, the Realtek and Huawei UPnP/TR-064 services, SNMP read with
//     community "public"), info for the admin page and UPnP a CPE ordinarily
//     has. A port that opens later is a warning, whatever it is; one that
//     closes, gateway_service_closed (info). A gateway that answers on no
//     port (refused or open) tells nothing, and changes nothing.
//   - rogue_dhcp: a DHCPDISCOVER broadcast from udp/68 (discoverDHCP), and
//     the DHCPOFFERs that answer within DHCPWait. A server other than the
//     gateway, and other than the LAN's own server learnt at the first
//     check that had one answer, is dhcp_server_rogue (warning, attribute
//     source: the server), once while it keeps answering: a second DHCP
//     server hands the village's devices its own router and DNS — an
//     attacker's, or a home router plugged in the wrong way round, which is
//     far more common on a village LAN and why it is not critical. The
//     offer's router and DNS are in the event. Only DISCOVERs are sent,
//     never a REQUEST, with a made-up locally administered client address
//     kept in the state, so no lease is taken and the server sees one
//     client, not a new one an hour.
//   - gateway_uptime: an SNMP v2c GET of sysUpTime.0 with community
//     "public" (udp/161, Timeout). An uptime lower than at the last check
//     is gateway_rebooted (info: a power cut, or the ISP's firmware push,
//     not an attack by itself). UPnP IGD gives no device uptime without
//     an HTTP SOAP call, which is not made.
//
// A check that cannot run here (no gateway, udp/68 held or not permitted,
// no SNMP answer) is named in Check's cannot. What is learnt is kept in
// StateFile, written whole or not at all.
//
// The MIPS builds leave all this out (appliance_stub.go): they are for
// OpenWrt routers, which run in router mode, and their flash budget has
// no room for it.
type ApplianceWatcher struct {
	Root      string        // file-system root: proc/net/route names the gateway
	StateFile string        // e.g. <spool>/appliance.json
	Every     time.Duration // between checks; 0: an hour
	Timeout   time.Duration // a TCP connect or the SNMP answer; 0: 2 s
	// DHCPWait is how long offers are collected; 0: 5 s (dnsmasq pings
	// an address for up to 3 s before it offers it).
	DHCPWait time.Duration

	next   time.Time
	state  applianceState
	loaded bool
}

type applianceState struct {
	Gateway string `json:"gateway"`
	// Services open at the last check, "tcp/23", "udp/161"; nil: none yet.
	Services  []string `json:"services"`
	DHCPMAC   string   `json:"dhcp_mac"`   // chaddr of the DISCOVERs, in hex
	DHCPKnown []string `json:"dhcp_known"` // the LAN's own servers besides the gateway; nil: not learnt
	DHCPRogue []string `json:"dhcp_rogue"` // rogue servers that answered at the last check
	UptimeCs  uint32   `json:"uptime_cs"`  // the gateway's sysUpTime (1/100 s) at UptimeAt
	UptimeAt  int64    `json:"uptime_at_ms"`
}

// gatewayService is a management service a CPE may expose to the LAN.
type gatewayService struct {
	key   string // proto/port
	name  string
	risky bool // a warning at its first sight too
}

// gatewayServices are the ports looked at: remote shells, TR-069's
// connection request (7547), the admin pages, the UPnP IGD control ports
// of the usual CPE firmware (miniupnpd 5000, Broadcom/Realtek 49152,
// Windows-style 2869), the Realtek SDK's miniigd (52869, CVE-2014-8361)
// and Huawei's TR-064 (37215, CVE-2017-17215) that Mirai's heirs spread
// through, and SNMP (read by gatewayUptime, not connected to).
var gatewayServices = []gatewayService{
	{"tcp/22", "ssh", false},
	{"tcp/23", "telnet", true},
	{"tcp/80", "http-admin", false},
	{"tcp/443", "https-admin", false},
	{"tcp/8080", "http-admin", false},
	{"tcp/7547", "cwmp", true},
	{"tcp/5000", "upnp", false},
	{"tcp/2869", "upnp", false},
	{"tcp/49152", "upnp", false},
	{"tcp/52869", "upnp-realtek", true},
	{"tcp/37215", "tr064-huawei", true},
	{"udp/161", "snmp-public", true},
}

// applianceChecks name the checks as Heartbeat.Cannot lists them.
var applianceChecks = []string{"gateway_services", "rogue_dhcp", "gateway_uptime"}

// Due says whether a check is due at now: at the first call, then every
// Every after the last check began.
func (w *ApplianceWatcher) Due(now time.Time) bool { return !now.Before(w.next) }

// Check runs the checks when due (Due) and returns the events they raise,
// and, by check name (applianceChecks), why a check cannot run here; err
// is anything else worth a warning. It does nothing when not due.
func (w *ApplianceWatcher) Check(now time.Time) (events []jagadesa.Event, cannot map[string]error, err error) {
	if !w.Due(now) {
		return nil, nil, nil
	}
	w.next = now.Add(cmp.Or(w.Every, time.Hour))
	if err := w.load(); err != nil {
		return nil, nil, err
	}
	cannot = map[string]error{}
	gw, iface := defaultRoute(underRoot(w.Root, ""))
	if gw == "" {
		for _, c := range applianceChecks {
			cannot[c] = errors.New("no default gateway in /proc/net/route")
		}
		return nil, cannot, nil
	}
	if w.state.Gateway != gw { // another CPE: what was learnt of the old one does not hold
		w.state = applianceState{Gateway: gw, DHCPMAC: w.state.DHCPMAC}
	}
	mac, herr := hex.DecodeString(w.state.DHCPMAC)
	if herr != nil || len(mac) != 6 {
		mac = make([]byte, 6)
		rand.Read(mac)
		mac[0] = mac[0]&^1 | 2 // unicast, locally administered: never a real card's
		w.state.DHCPMAC = hex.EncodeToString(mac)
	}
	timeout := cmp.Or(w.Timeout, 2*time.Second)
	var (
		wg              sync.WaitGroup
		open            []string
		tcpErr, snmpErr error
		uptime          uint32
		offers          []dhcpOffer
		dhcpErr         error
	)
	wg.Go(func() { open, tcpErr = gatewayTCP(gw, timeout) })
	wg.Go(func() { uptime, snmpErr = gatewayUptime(gw, timeout) })
	wg.Go(func() { offers, dhcpErr = discoverDHCP(iface, mac, cmp.Or(w.DHCPWait, 5*time.Second)) })
	wg.Wait()

	ev := func(kind, sev, msg string, attrs map[string]string) {
		attrs["gateway"] = gw
		events = append(events, jagadesa.Event{TimeMs: now.UnixMilli(), Kind: kind, Severity: sev, Message: msg, Attrs: attrs})
	}
	if tcpErr != nil {
		err = tcpErr // the gateway is down or filtered: no news, and not a closed port
	} else {
		if snmpErr == nil {
			open = append(open, "udp/161")
		}
		w.services(ev, open, uptime)
	}
	if snmpErr != nil {
		cannot["gateway_uptime"] = snmpErr
	} else {
		w.uptime(ev, now, uptime)
	}
	if dhcpErr != nil {
		cannot["rogue_dhcp"] = dhcpErr
	} else {
		w.dhcp(ev, offers)
	}
	b, jerr := json.Marshal(w.state)
	if jerr == nil {
		jerr = fsutil.WriteFileAtomic(w.StateFile, b, 0o600)
	}
	if jerr != nil {
		err = errors.Join(err, fmt.Errorf("appliance state: %w", jerr))
	}
	return events, cannot, err
}

func (w *ApplianceWatcher) load() error {
	if w.loaded {
		return nil
	}
	b, err := os.ReadFile(w.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("appliance state: %w", err)
	default:
		if json.Unmarshal(b, &w.state) != nil {
			w.state = applianceState{} // damaged: learnt again
		}
	}
	w.loaded = true
	return nil
}

// eventFunc adds an event about the gateway.
type eventFunc func(kind, severity, msg string, attrs map[string]string)

func (w *ApplianceWatcher) services(ev eventFunc, open []string, uptime uint32) {
	first := w.state.Services == nil
	for _, s := range gatewayServices {
		isOpen, was := slices.Contains(open, s.key), slices.Contains(w.state.Services, s.key)
		proto, port, _ := strings.Cut(s.key, "/")
		attrs := map[string]string{"port": port, "proto": proto, "service": s.name}
		switch {
		case isOpen && (first || !was):
			sev := "warning"
			if first && !s.risky {
				sev = "info"
			}
			if proto == "udp" {
				attrs["uptime_s"] = strconv.FormatUint(uint64(uptime/100), 10)
			}
			ev("gateway_service_exposed", sev, fmt.Sprintf("gateway %s exposes %s (%s) to the LAN", w.state.Gateway, s.name, s.key), attrs)
		case !isOpen && was:
			ev("gateway_service_closed", "info", fmt.Sprintf("gateway %s no longer exposes %s (%s)", w.state.Gateway, s.name, s.key), attrs)
		}
	}
	w.state.Services = append([]string{}, open...)
}

// uptimeSlack is how far a wrapped sysUpTime (a 32-bit count of 1/100 s:
// 497 days) may be from where the clock says it would be.
const uptimeSlack = 10 * 60 * 100

func (w *ApplianceWatcher) uptime(ev eventFunc, now time.Time, cs uint32) {
	prev, at := w.state.UptimeCs, w.state.UptimeAt
	w.state.UptimeCs, w.state.UptimeAt = cs, now.UnixMilli()
	if at == 0 || cs >= prev {
		return
	}
	expect := uint64(prev) + uint64(max(now.UnixMilli()-at, 0)/10)
	if expect >= 1<<32 && uint64(cs)+uptimeSlack >= expect-1<<32 {
		return // wrapped, not restarted
	}
	up, was := strconv.FormatUint(uint64(cs/100), 10), strconv.FormatUint(uint64(prev/100), 10)
	ev("gateway_rebooted", "info", fmt.Sprintf("gateway %s restarted %s s ago (up %s s at the last check)", w.state.Gateway, up, was),
		map[string]string{"uptime_s": up, "prev_uptime_s": was})
}

func (w *ApplianceWatcher) dhcp(ev eventFunc, offers []dhcpOffer) {
	gw := w.state.Gateway
	var servers []string
	for _, o := range offers {
		if !slices.Contains(servers, o.server) {
			servers = append(servers, o.server)
		}
	}
	if w.state.DHCPKnown == nil && len(servers) > 0 {
		// The first answer learns the LAN's server when it is not the
		// gateway (a router behind the CPE that does DHCP), if alone.
		w.state.DHCPKnown = []string{}
		if len(servers) == 1 && servers[0] != gw {
			w.state.DHCPKnown = servers[:1:1]
		}
	}
	var rogue []string
	for _, o := range offers {
		s := o.server
		if s == gw || slices.Contains(w.state.DHCPKnown, s) || slices.Contains(rogue, s) {
			continue
		}
		rogue = append(rogue, s)
		if slices.Contains(w.state.DHCPRogue, s) {
			continue // raised while it keeps answering
		}
		ev("dhcp_server_rogue", "warning", fmt.Sprintf("a DHCP server at %s, not the gateway %s, answers on the LAN: it offers %s with router %s and DNS %s",
			s, gw, o.offered, o.router, o.dns), map[string]string{"source": s, "offered": o.offered, "router": o.router, "dns": o.dns})
	}
	w.state.DHCPRogue = rogue
}

// gatewayTCP connects to every TCP port of gatewayServices on the gateway
// at once and returns the open ones ("tcp/23"); an error when not one port
// answered (open or refused) within timeout.
func gatewayTCP(gw string, timeout time.Duration) ([]string, error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		open     []string
		answered bool
	)
	for _, s := range gatewayServices {
		port, isTCP := strings.CutPrefix(s.key, "tcp/")
		if !isTCP {
			continue
		}
		wg.Go(func() {
			c, err := net.DialTimeout("tcp4", net.JoinHostPort(gw, port), timeout)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				c.Close()
				open = append(open, s.key)
				answered = true
			case errors.Is(err, syscall.ECONNREFUSED):
				answered = true
			}
		})
	}
	wg.Wait()
	if !answered {
		return nil, fmt.Errorf("gateway %s answered on none of its management ports within %s", gw, timeout)
	}
	return open, nil
}

// gatewayUptime asks the gateway for sysUpTime.0 over SNMP v2c with
// community "public" and returns it in 1/100 s.
func gatewayUptime(gw string, timeout time.Duration) (uint32, error) {
	c, err := net.Dial("udp4", net.JoinHostPort(gw, "161"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var b [4]byte
	rand.Read(b[:])
	// Four significant bytes, positive: the request is always 43 bytes.
	id := binary.BigEndian.Uint32(b[:])&0x7fffffff | 0x01000000
	if _, err := c.Write(snmpGetUptime(id)); err != nil {
		return 0, fmt.Errorf("SNMP GET to %s: %w", gw, err)
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("gateway %s gave no sysUpTime over SNMP v2c with community public: %w", gw, err)
		}
		if v, ok := parseSNMPUptime(buf[:n], id); ok {
			return v, nil
		}
	}
}

// oidSysUpTime is 1.3.6.1.2.1.1.3.0, BER-encoded.
var oidSysUpTime = []byte{0x2b, 6, 1, 2, 1, 1, 3, 0}

// snmpGet is an SNMP v2c GetRequest for sysUpTime.0 with community
// "public", as net-snmp's snmpget writes it; the request-id, always four
// significant bytes here, goes at snmpGetID.
var snmpGet = []byte("\x30\x29\x02\x01\x01\x04\x06public\xa0\x1c\x02\x04\x00\x00\x00\x00" +
	"\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00\x05\x00")

const snmpGetID = 17

// snmpGetUptime is snmpGet with request-id id (0x01000000 to 0x7fffffff).
func snmpGetUptime(id uint32) []byte {
	b := slices.Clone(snmpGet)
	binary.BigEndian.PutUint32(b[snmpGetID:], id)
	return b
}

// berNext splits the first TLV off b. Lengths of up to two bytes are read
// (an answer that fits a datagram needs no more); the rest is refused.
func berNext(b []byte) (tag byte, v, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag, n, b := b[0], int(b[1]), b[2:]
	switch {
	case n == 0x81 && len(b) >= 1:
		n, b = int(b[0]), b[1:]
	case n == 0x82 && len(b) >= 2:
		n, b = int(binary.BigEndian.Uint16(b)), b[2:]
	case n >= 0x80:
		return 0, nil, nil, false
	}
	if n > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:n], b[n:], true
}

// berUnsigned reads a non-negative INTEGER or TimeTicks of up to 32 bits.
func berUnsigned(v []byte) (uint32, bool) {
	if len(v) == 0 || v[0]&0x80 != 0 || len(v) > 5 || (len(v) == 5 && v[0] != 0) {
		return 0, false
	}
	var x uint32
	for _, c := range v {
		x = x<<8 | uint32(c)
	}
	return x, true
}

// parseSNMPUptime reads a GetResponse to snmpGetUptime(id): the one
// binding, sysUpTime.0, as TimeTicks. Anything else is not ok.
func parseSNMPUptime(b []byte, id uint32) (uint32, bool) {
	ok := true
	take := func(want byte) []byte {
		tag, v, rest, good := berNext(b)
		if !good || tag != want {
			ok = false
			return nil
		}
		b = rest
		return v
	}
	b = take(0x30) // Message
	version := take(0x02)
	take(0x04)     // community
	b = take(0xa2) // GetResponse-PDU
	rid := take(0x02)
	status := take(0x02)
	take(0x02)     // error-index
	b = take(0x30) // variable-bindings
	b = take(0x30) // the binding
	oid := take(0x06)
	ticks := take(0x43) // TimeTicks; noSuchObject and the like are other tags
	if !ok || !bytes.Equal(version, []byte{1}) || !bytes.Equal(status, []byte{0}) || !bytes.Equal(oid, oidSysUpTime) {
		return 0, false
	}
	r, ok1 := berUnsigned(rid)
	v, ok2 := berUnsigned(ticks)
	if !ok1 || !ok2 || r != id {
		return 0, false
	}
	return v, true
}

const dhcpMagic = 0x63825363

// dhcpOffer is what a DHCPOFFER says, addresses as text.
type dhcpOffer struct {
	server  string // option 54, else siaddr
	offered string // yiaddr
	router  string // option 3's first
	dns     string // option 6, comma-separated
}

// dhcpDiscover is a DHCPDISCOVER from the client address mac, asking for
// the offer to be broadcast (the broadcast flag) and for the subnet mask,
// router and DNS servers.
func dhcpDiscover(xid uint32, mac []byte) []byte {
	b := make([]byte, 300) // BOOTP's minimum, which some servers insist on
	b[0], b[1], b[2] = 1, 1, 6
	binary.BigEndian.PutUint32(b[4:], xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000)
	copy(b[28:], mac)
	binary.BigEndian.PutUint32(b[236:], dhcpMagic)
	copy(b[240:], []byte{53, 1, 1, 55, 3, 1, 3, 6, 255})
	return b
}

// parseDHCPOffer reads a DHCPOFFER answering dhcpDiscover(xid, mac).
func parseDHCPOffer(b []byte, xid uint32, mac []byte) (dhcpOffer, bool) {
	if len(b) < 240 || b[0] != 2 || binary.BigEndian.Uint32(b[4:]) != xid || !bytes.Equal(b[28:34], mac) ||
		binary.BigEndian.Uint32(b[236:]) != dhcpMagic {
		return dhcpOffer{}, false
	}
	o := dhcpOffer{offered: net.IP(b[16:20]).String(), server: net.IP(b[20:24]).String()}
	var dns []string
	msgType := byte(0)
	for opts := b[240:]; len(opts) > 0 && opts[0] != 255; {
		if opts[0] == 0 { // pad
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) > len(opts)-2 {
			break
		}
		code, v := opts[0], opts[2:2+int(opts[1])]
		opts = opts[2+len(v):]
		switch {
		case code == 53 && len(v) == 1:
			msgType = v[0]
		case code == 54 && len(v) == 4:
			o.server = net.IP(v).String()
		case code == 3 && len(v) >= 4:
			o.router = net.IP(v[:4]).String()
		case code == 6:
			for ; len(v) >= 4 && len(dns) < 4; v = v[4:] {
				dns = append(dns, net.IP(v[:4]).String())
			}
		}
	}
	o.dns = strings.Join(dns, ",")
	return o, msgType == 2 && o.server != "0.0.0.0"
}

// maxOffers bounds the offers one DISCOVER collects.
const maxOffers = 16

// discoverDHCP broadcasts a DHCPDISCOVER on iface from udp/68 and returns
// the offers that come within wait. Its socket is bound to the broadcast
// address 255.255.255.255:68, with SO_REUSEADDR, and to iface where the
// kernel lets it (dhcpControl): it receives the broadcast offers (the
// DISCOVER asks for them) and none of the unicast answers a DHCP client on
// this host is waiting for, and it can share the port with a client that
// bound it with SO_REUSEADDR too. A client that holds udp/68 without it,
// or a probe without root or CAP_NET_BIND_SERVICE, makes the bind fail:
// the check then cannot run, and says why.
func discoverDHCP(iface string, mac []byte, wait time.Duration) ([]dhcpOffer, error) {
	lc := net.ListenConfig{Control: dhcpControl(iface)}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "255.255.255.255:68")
	if err != nil {
		return nil, fmt.Errorf("listen for DHCP offers on udp/68: %w", err)
	}
	c := pc.(*net.UDPConn)
	defer c.Close()
	var b [4]byte
	rand.Read(b[:])
	xid := binary.BigEndian.Uint32(b[:])
	if _, err := c.WriteTo(dhcpDiscover(xid, mac), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
		return nil, fmt.Errorf("broadcast a DHCPDISCOVER: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	var offers []dhcpOffer
	for len(offers) < maxOffers {
		n, err := c.Read(buf)
		if err != nil {
			break // the wait is over
		}
		if o, ok := parseDHCPOffer(buf[:n], xid, mac); ok {
			offers = append(offers, o)
		}
	}
	return offers, nil
}

// applianceRun is one check's outcome, handed from its goroutine to the
// round.
type applianceRun struct {
	events []jagadesa.Event
	cannot map[string]error
	err    error
}

// collectAppliance runs the appliance checks (ApplianceWatcher) in the
// background when due, so their few seconds of waiting never delay a
// round, and spools what the last one found. Only in appliance mode, and
// with the security collectors on.
func (p *Probe) collectAppliance(now time.Time) {
	// The checks touch the LAN (a port check of the gateway, a DHCP
	// DISCOVER broadcast): only when the operator said --mode appliance,
	// never on a mode merely detected (a test host, a developer's laptop).
	if p.cfg.Mode != jagadesa.ModeAppliance || p.security == nil {
		return
	}
	if p.appliance == nil {
		p.appliance = &ApplianceWatcher{Root: p.cfg.Root, StateFile: filepath.Join(p.cfg.Spool, "appliance.json")}
		p.applianceDone = make(chan applianceRun, 1)
	}
	select {
	case r := <-p.applianceDone:
		p.applianceBusy = false
		for _, e := range r.events {
			p.append(EncodeEvent(e))
		}
		for _, c := range applianceChecks {
			err := r.cannot[c]
			if err != nil {
				p.cannot[c] = true
			} else {
				delete(p.cannot, c)
			}
			p.warnOnce(c, c+" cannot be checked here; the village page says so", err)
		}
		p.warnOnce("appliance", "appliance checks incomplete", r.err)
	default:
	}
	if !p.applianceBusy && p.appliance.Due(now) {
		p.applianceBusy = true
		w := p.appliance
		go func() {
			ev, cannot, err := w.Check(now)
			p.applianceDone <- applianceRun{ev, cannot, err}
		}()
	}
}
