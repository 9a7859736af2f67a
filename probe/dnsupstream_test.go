package probe

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureRoot copies testdata/dnsupstream/<layers...> into one fresh root,
// each layer over the one before (an edit to a router is a layer over the
// stock one).
func fixtureRoot(t *testing.T, layers ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, l := range layers {
		overlayTree(t, filepath.Join("testdata/dnsupstream", l), root)
	}
	return root
}

func overlayTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func upstreamList(ups []DNSUpstream) []string {
	var out []string
	for _, u := range ups {
		s := u.String()
		if len(u.Domains) > 0 {
			s += " for " + strings.Join(u.Domains, ",")
		}
		out = append(out, s)
	}
	return out
}

// The upstreams of real OpenWrt (and plain dnsmasq) file trees, each with
// the file and line that makes it one.
func TestDNSUpstreamsFixtures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers []string
		want   []string
	}{
		{"stock OpenWrt: the ISP's, from resolv.conf.auto", []string{"openwrt-stock"}, []string{
			"203.0.113.53 (/tmp/resolv.conf.d/resolv.conf.auto:2)",
			"203.0.113.54 (/tmp/resolv.conf.d/resolv.conf.auto:3)",
			"2001:db8:53::1 (/tmp/resolv.conf.d/resolv.conf.auto:5)",
		}},
		{"list server in /etc/config/dhcp with noresolv: the resolv file is no source", []string{"openwrt-stock", "uci-hijack"}, []string{
			"198.51.100.66 (/etc/config/dhcp)",
			"198.51.100.67#5353 (/etc/config/dhcp) for bank.example",
		}},
		{"dnsmasq.conf, its conf-dir, UCI's confdir and an extra resolv-file", []string{"openwrt-stock", "conf-hijack"}, []string{
			"198.51.100.70 (/etc/dnsmasq.conf:19)",
			"198.51.100.71 (/etc/dnsmasq.conf:20)",
			"10.8.0.1#5300 (/etc/dnsmasq.conf:22) for corp.example",
			"198.51.100.75 (/etc/dnsmasq.conf:23) for quoted.example",
			"2001:db8:66::1 (/etc/dnsmasq.d/10-upstream.conf:2)",
			"198.51.100.72 (/etc/dnsmasq.d/10-upstream.conf:3) for reverse 10.0.0.0/8",
			"198.51.100.73 (/tmp/dnsmasq.d/extra.list:1)",
			"198.51.100.74 (/etc/resolv.dnsmasq:1)",
			"203.0.113.53 (/tmp/resolv.conf.d/resolv.conf.auto:2)",
			"203.0.113.54 (/tmp/resolv.conf.d/resolv.conf.auto:3)",
			"2001:db8:53::1 (/tmp/resolv.conf.d/resolv.conf.auto:5)",
		}},
		{"dnsmasq without OpenWrt: no-resolv and a servers-file", []string{"plain-dnsmasq"}, []string{
			"192.0.2.53 (/etc/dnsmasq.conf:5)",
			"192.0.2.54 (/etc/dnsmasq.servers:1) for intra.example",
		}},
		{"no dnsmasq: resolv.conf", []string{"no-dnsmasq"}, []string{
			"192.0.2.1 (/etc/resolv.conf:2)",
			"192.0.2.2 (/etc/resolv.conf:3)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, err := DNSUpstreams(fixtureRoot(t, tc.layers...))
			if err != nil {
				t.Fatal(err)
			}
			if got := upstreamList(ups); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("upstreams:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The OpenWrt defaults when the dhcp config names no resolvfile: the
// resolv.conf.d file, or on 19.07 and older /tmp/resolv.conf.auto; a
// disabled section is no dnsmasq; a named section prefers its own
// /etc/dnsmasq.<name>.conf.
func TestDNSUpstreamsUCIDefaults(t *testing.T) {
	f := fixture{t, t.TempDir()}
	f.write("etc/config/dhcp", "config dnsmasq\n\toption domain 'lan'\n")
	f.write("tmp/resolv.conf.auto", "nameserver 198.51.100.1\n")
	check := func(want ...string) {
		t.Helper()
		ups, err := DNSUpstreams(f.root)
		if err != nil {
			t.Fatal(err)
		}
		if got := upstreamList(ups); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	check("198.51.100.1 (/tmp/resolv.conf.auto:1)")
	f.write("tmp/resolv.conf.d/resolv.conf.auto", "nameserver 198.51.100.2\n")
	check("198.51.100.2 (/tmp/resolv.conf.d/resolv.conf.auto:1)")

	// Two instances; the named one has its own conf file, the other reads
	// /etc/dnsmasq.conf; the disabled third counts for nothing.
	f.write("etc/config/dhcp", "config dnsmasq\n\tlist server '192.0.2.1'\n\toption noresolv '1'\n"+
		"config dnsmasq 'guest'\n\toption noresolv 'yes'\n"+
		"config dnsmasq 'off'\n\toption disabled '1'\n\tlist server '192.0.2.9'\n")
	f.write("etc/dnsmasq.conf", "server=192.0.2.2\n")
	f.write("etc/dnsmasq.guest.conf", "server=192.0.2.3\n")
	check("192.0.2.2 (/etc/dnsmasq.conf:1)", "192.0.2.1 (/etc/config/dhcp)", "192.0.2.3 (/etc/dnsmasq.guest.conf:1)")

	// Every section disabled: not a dnsmasq router; resolv.conf.auto.
	f.write("etc/config/dhcp", "config dnsmasq\n\toption disabled '1'\n\tlist server '192.0.2.9'\n")
	os.Remove(filepath.Join(f.root, "etc/dnsmasq.conf"))
	check("198.51.100.2 (/tmp/resolv.conf.d/resolv.conf.auto:1)")

	// An include loop ends. conf-dir=/etc reads every file there once,
	// as dnsmasq would: the guest instance's file too.
	f.write("etc/config/dhcp", "config dnsmasq\n\toption noresolv '1'\n")
	f.write("etc/dnsmasq.conf", "conf-file=/etc/a.conf\n")
	f.write("etc/a.conf", "server=192.0.2.4\nconf-file=/etc/dnsmasq.conf\nconf-dir=/etc\n")
	check("192.0.2.4 (/etc/a.conf:1)", "192.0.2.3 (/etc/dnsmasq.guest.conf:1)")

	// A broken dhcp file is an error, not silence.
	f.write("etc/config/dhcp", "config dnsmasq\n\tlist server '192.0.2.1\n")
	if _, err := DNSUpstreams(f.root); err == nil || !strings.Contains(err.Error(), "dhcp") {
		t.Fatalf("unterminated quote in dhcp: %v", err)
	}
}

// dnsmasq's server= forms: which name an upstream, and which address.
func TestDNSMasqServerForms(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"203.0.113.66", "203.0.113.66"},
		{"203.0.113.66#5353", "203.0.113.66#5353"},
		{"203.0.113.66@eth1", "203.0.113.66"},
		{"203.0.113.66#5353@192.168.1.1#55", "203.0.113.66#5353"},
		{"203.0.113.66@192.168.1.1#55", "203.0.113.66"},
		{"2001:db8::66#53", "2001:db8::66"},
		{"[2001:db8::66]", "2001:db8::66"},
		{"fe80::1%eth0", "fe80::1"},
		{"::ffff:203.0.113.66", "203.0.113.66"},
		{"/bank.example/203.0.113.67", "203.0.113.67 for bank.example"},
		{"/a.example/b.example/203.0.113.68#54", "203.0.113.68#54 for a.example,b.example"},
		{"//203.0.113.69", "203.0.113.69 for "},
		{"/lan/", ""},               // local only
		{"/example.org/#", ""},      // the ordinary servers
		{"#", ""},                   // likewise
		{"", ""},                    // nothing
		{"/unclosed.example", ""},   // dnsmasq refuses it
		{"dns.example.net", ""},     // a host name is no address
		{"127.0.0.1#5453", ""},      // a local forwarder
		{"::1#5453", ""},            // likewise
		{"0.0.0.0", ""},             // unspecified
		{"203.0.113.66#0", ""},      // no port 0
		{"203.0.113.66#domain", ""}, // a port must be a number
		{"203.0.113.300", ""},       // not an address
		{"/x.example/203.0.113.70@", "203.0.113.70 for x.example"},
	} {
		in := &dnsmasqInstance{}
		in.addServer(tc.value, "/etc/dnsmasq.conf", 1)
		var got []string
		for _, u := range in.servers {
			s := strings.TrimSuffix(u.String(), " (/etc/dnsmasq.conf:1)")
			if u.Domains != nil {
				s += " for " + strings.Join(u.Domains, ",")
			}
			got = append(got, s)
		}
		if strings.Join(got, ";") != tc.want {
			t.Errorf("server=%s: %q, want %q", tc.value, got, tc.want)
		}
	}
}

// dnsmasq's configuration line syntax.
func TestDNSMasqLine(t *testing.T) {
	for _, tc := range []struct {
		line, opt, arg string
		hasArg         bool
	}{
		{"server=1.2.3.4", "server", "1.2.3.4", true},
		{"  server   =   1.2.3.4  ", "server", "1.2.3.4", true},
		{"server=1.2.3.4 # upstream", "server", "1.2.3.4", true},
		{"server=1.2.3.4#53", "server", "1.2.3.4#53", true}, // '#' not after white space: data
		{"#server=1.2.3.4", "", "", false},
		{"\t# server=1.2.3.4", "", "", false},
		{`server="/a b/1.2.3.4"`, "server", "/a b/1.2.3.4", true},
		{`txt-record=x,"has # hash"`, "txt-record", "x,has # hash", true},
		{`txt-record=x,"q\"t\\"`, "txt-record", `x,q"t\`, true},
		{"no-resolv", "no-resolv", "", false},
		{"no-resolv   # comment", "no-resolv", "", false},
		{"resolv-file=", "resolv-file", "", true},
		{"server=1.2.3.4\r", "server", "1.2.3.4", true},
	} {
		opt, arg, hasArg := dnsmasqLine(tc.line)
		if opt != tc.opt || arg != tc.arg || hasArg != tc.hasArg {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.line, opt, arg, hasArg, tc.opt, tc.arg, tc.hasArg)
		}
	}
}

// resolv-file as dnsmasq takes it: the first replaces the default
// /etc/resolv.conf (an empty one leaves no resolv file), later ones add.
func TestDNSMasqResolvFile(t *testing.T) {
	f := fixture{t, t.TempDir()}
	f.write("etc/resolv.conf", "nameserver 192.0.2.1\n")
	f.write("etc/r1", "nameserver 192.0.2.2\n")
	f.write("etc/r2", "nameserver 192.0.2.3\n")
	for _, tc := range []struct{ conf, want string }{
		{"# nothing\n", "192.0.2.1"},
		{"resolv-file=/etc/r1\n", "192.0.2.2"},
		{"resolv-file=/etc/r1\nresolv-file=/etc/r2\n", "192.0.2.2 192.0.2.3"},
		{"resolv-file=\n", ""},
		{"resolv-file=\nresolv-file=/etc/r2\n", "192.0.2.3"},
		{"resolv-file=/etc/r1\nno-resolv\n", ""},
	} {
		f.write("etc/dnsmasq.conf", tc.conf)
		ups, err := DNSUpstreams(f.root)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range ups {
			got = append(got, u.Addr.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%q: %v, want %s", tc.conf, got, tc.want)
		}
	}
}
