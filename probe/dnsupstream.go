package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

// DNSUpstream is one resolver the router forwards lookups to, and the file
// that makes it one.
type DNSUpstream struct {
	Addr netip.Addr // without a zone
	Port uint16     // 53 unless the config names another
	// Domains limits the upstream to these domains (server=/a/b/ip); empty:
	// every name. "" among them stands for dnsmasq's "//": plain names.
	Domains []string
	File    string // absolute path on the router, e.g. /etc/config/dhcp
	Line    int    // line in File; 0 when unknown
}

// String reads "203.0.113.66#5353 (/etc/dnsmasq.conf:12)".
func (u DNSUpstream) String() string {
	s := u.Addr.String()
	if u.Port != 53 {
		s += "#" + strconv.Itoa(int(u.Port))
	}
	if u.Line > 0 {
		return fmt.Sprintf("%s (%s:%d)", s, u.File, u.Line)
	}
	return s + " (" + u.File + ")"
}

// DNSUpstreams gathers the upstream resolvers of the router under root (the
// probe's --root; "" is /) from every place dnsmasq takes them:
//
//   - each enabled `config dnsmasq` section of /etc/config/dhcp: its
//     `server` and `rev_server` lists, `local`, `serversfile`, `noresolv`,
//     `resolvfile` (default /tmp/resolv.conf.d/resolv.conf.auto, or the
//     older /tmp/resolv.conf.auto) and `confdir` (default /tmp/dnsmasq.d),
//     as OpenWrt's /etc/init.d/dnsmasq turns them into dnsmasq options;
//   - /etc/dnsmasq.conf (or /etc/dnsmasq.<section>.conf, which the init
//     script prefers for a named section), and every file it pulls in with
//     conf-file, conf-dir and servers-file: server=, local=, rev-server=,
//     resolv-file= and no-resolv;
//   - the resolv files, unless no-resolv is set: then dnsmasq never reads
//     them, and neither does this.
//
// A router without dnsmasq (no dhcp config and no dnsmasq.conf, or every
// dnsmasq section disabled) falls back to the first of resolv.conf.auto and
// /etc/resolv.conf that names a server. Loopback and unspecified addresses
// are not upstreams (a local forwarder such as https-dns-proxy listens on
// one; its own upstreams are elsewhere), nor are server= forms that name no
// address: "#" (the ordinary servers), an empty server (local only), or a
// host name. Files that do not exist are skipped; the error reports those
// that exist and cannot be read or parsed, next to what could be found.
func DNSUpstreams(root string) ([]DNSUpstream, error) {
	g := &upstreamGatherer{root: root}
	instances := 0
	dhcp, err := ReadUCIFile(underRoot(root, "etc/config/dhcp"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		g.errs = append(g.errs, err)
	default:
		for _, s := range dhcp.SectionsOf("dnsmasq") {
			if uciBool(s, "disabled", false) {
				continue
			}
			instances++
			g.uciInstance(s)
		}
	}
	if instances == 0 && g.exists("/etc/dnsmasq.conf") {
		// dnsmasq started without OpenWrt's init script: its defaults.
		instances++
		in := &dnsmasqInstance{resolv: []string{"/etc/resolv.conf"}, defaultResolv: true}
		g.seen = nil
		g.confFile(in, "/etc/dnsmasq.conf", 0, false)
		g.finish(in)
	}
	if instances == 0 {
		for _, f := range []string{"/tmp/resolv.conf.d/resolv.conf.auto", "/tmp/resolv.conf.auto", "/etc/resolv.conf"} {
			n := len(g.out)
			if g.resolvFile(f); len(g.out) > n {
				break // the first file that names upstreams is the router's
			}
		}
	}
	// Instances sharing a file (the default conf-dir, dnsmasq.conf) name its
	// upstreams once.
	out := g.out[:0]
	dup := map[string]bool{}
	for _, u := range g.out {
		k := u.String()
		if !dup[k] {
			dup[k] = true
			out = append(out, u)
		}
	}
	return out, errors.Join(g.errs...)
}

// dnsmasqInstance is what one dnsmasq process is told about upstreams.
type dnsmasqInstance struct {
	servers       []DNSUpstream
	noResolv      bool
	resolv        []string // resolv files, in the order given
	defaultResolv bool     // resolv[0] is the default, which a resolv-file= replaces
}

type upstreamGatherer struct {
	root string
	out  []DNSUpstream
	seen map[string]bool // files already read as configuration (include loops)
	errs []error
}

// maxConfDepth bounds conf-file and conf-dir nesting.
const maxConfDepth = 8

func (g *upstreamGatherer) path(abs string) string {
	return underRoot(g.root, strings.TrimPrefix(path.Clean("/"+abs), "/"))
}

func (g *upstreamGatherer) exists(abs string) bool {
	st, err := os.Stat(g.path(abs))
	return err == nil && st.Mode().IsRegular()
}

// read returns a file's text; a file that is not there is not an error.
func (g *upstreamGatherer) read(abs string) (string, bool) {
	b, err := os.ReadFile(g.path(abs))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.errs = append(g.errs, fmt.Errorf("dns upstreams: %w", err))
		}
		return "", false
	}
	return string(b), true
}

// uciInstance follows dnsmasq_start of OpenWrt's /etc/init.d/dnsmasq for
// one section: the options it writes, in the order it writes them. Items
// of a UCI list carry no line of their own, so its upstreams name the file
// only.
func (g *upstreamGatherer) uciInstance(s *UCISection) {
	in := &dnsmasqInstance{}
	g.seen = nil // each instance reads its files afresh
	const file = "/etc/config/dhcp"
	conf := "/etc/dnsmasq.conf"
	if s.Name != "" && g.exists("/etc/dnsmasq."+s.Name+".conf") {
		conf = "/etc/dnsmasq." + s.Name + ".conf"
	}
	if g.exists(conf) {
		g.confFile(in, conf, 0, false)
	}
	if v, ok := s.Get("local"); ok {
		in.addServer(v, file, 0)
	}
	for _, v := range s.List("server") {
		in.addServer(v, file, 0)
	}
	for _, v := range s.List("rev_server") {
		in.addRevServer(v, file, 0)
	}
	if v, ok := s.Get("serversfile"); ok {
		g.confFile(in, v, 0, true)
	}
	if uciBool(s, "noresolv", false) {
		in.noResolv = true
	} else {
		rf, ok := s.Get("resolvfile")
		if !ok {
			rf = "/tmp/resolv.conf.d/resolv.conf.auto"
			if !g.exists(rf) && g.exists("/tmp/resolv.conf.auto") {
				rf = "/tmp/resolv.conf.auto" // OpenWrt 19.07 and older
			}
		}
		in.resolv = append(in.resolv, rf)
	}
	confdir, ok := s.Get("confdir")
	if !ok {
		confdir = "/tmp/dnsmasq.d"
	}
	g.confDir(in, confdir, 0)
	g.finish(in)
}

// finish adds an instance's upstreams: its servers, and the resolv files'
// unless no-resolv is set.
func (g *upstreamGatherer) finish(in *dnsmasqInstance) {
	g.out = append(g.out, in.servers...)
	if in.noResolv {
		return
	}
	done := map[string]bool{}
	for _, f := range in.resolv {
		if f != "" && !done[f] {
			done[f] = true
			g.resolvFile(f)
		}
	}
}

// resolvFile adds the nameserver lines of a resolv.conf-format file.
func (g *upstreamGatherer) resolvFile(abs string) {
	text, ok := g.read(abs)
	if !ok {
		return
	}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, ok := upstreamAddr(f[1]); ok {
			g.out = append(g.out, DNSUpstream{Addr: a, Port: 53, File: abs, Line: i + 1})
		}
	}
}

// confFile reads a dnsmasq configuration file. serversOnly is a
// servers-file, where dnsmasq takes server=, local= and rev-server= only.
func (g *upstreamGatherer) confFile(in *dnsmasqInstance, abs string, depth int, serversOnly bool) {
	abs = path.Clean("/" + abs)
	if depth > maxConfDepth || g.seen[abs] {
		return
	}
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	g.seen[abs] = true
	text, ok := g.read(abs)
	if !ok {
		return
	}
	for n, line := range strings.Split(text, "\n") {
		opt, arg, hasArg := dnsmasqLine(line)
		switch opt {
		case "server", "local":
			in.addServer(arg, abs, n+1)
		case "rev-server":
			in.addRevServer(arg, abs, n+1)
		}
		if serversOnly {
			continue
		}
		switch opt {
		case "no-resolv":
			in.noResolv = true
		case "resolv-file":
			// As dnsmasq does: the first resolv-file replaces the
			// default (an empty one leaves none); later ones add.
			switch {
			case in.defaultResolv:
				in.defaultResolv = false
				in.resolv = in.resolv[1:]
				if hasArg && arg != "" {
					in.resolv = append(in.resolv, arg)
				}
			case hasArg && arg != "":
				in.resolv = append(in.resolv, arg)
			}
		case "conf-file":
			if arg != "" && arg != "-" {
				g.confFile(in, arg, depth+1, false)
			}
		case "servers-file":
			if arg != "" {
				g.confFile(in, arg, depth+1, true)
			}
		case "conf-dir":
			g.confDir(in, arg, depth+1)
		}
	}
}

// confDir reads a conf-dir: "DIR[,EXT...]". Files ending in an EXT are
// skipped; if any EXT starts with '*', only files ending in one of those
// are read. Names ending in '~', starting with '.', or starting and ending
// with '#' are always skipped. Files are read in name order.
func (g *upstreamGatherer) confDir(in *dnsmasqInstance, spec string, depth int) {
	parts := strings.Split(spec, ",")
	dir := strings.TrimSpace(parts[0])
	if dir == "" || depth > maxConfDepth {
		return
	}
	var only, skip []string
	for _, e := range parts[1:] {
		e = strings.TrimSpace(e)
		if rest, ok := strings.CutPrefix(e, "*"); ok {
			only = append(only, rest)
		} else if e != "" {
			skip = append(skip, e)
		}
	}
	entries, err := os.ReadDir(g.path(dir))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.errs = append(g.errs, fmt.Errorf("dns upstreams: %w", err))
		}
		return
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "~") || strings.HasPrefix(name, ".") ||
			(len(name) >= 2 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#")) {
			continue
		}
		if len(only) > 0 && !hasAnySuffix(name, only) {
			continue
		}
		if hasAnySuffix(name, skip) {
			continue
		}
		file := path.Join(dir, name)
		if g.exists(file) { // regular files (or links to them) only
			g.confFile(in, file, depth, false)
		}
	}
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// dnsmasqLine splits one line of a dnsmasq configuration file as dnsmasq
// reads it: double quotes keep what they hold (with \" \\ \t \n \r \e \b
// escapes) and are removed; a '#' at the start or after white space,
// outside quotes, starts a comment; runs of white space are one space;
// "name=value" splits at the first '=', with spaces around it dropped; a
// line without '=' is an option without a value (hasArg false).
func dnsmasqLine(line string) (opt, arg string, hasArg bool) {
	var b strings.Builder
	white := true
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					if r, ok := dnsmasqEscapes[line[i+1]]; ok {
						b.WriteByte(r)
						i++
						continue
					}
				}
				b.WriteByte(line[i])
			}
			white = false
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' {
			if !white {
				b.WriteByte(' ')
			}
			white = true
			continue
		}
		if white && c == '#' {
			break
		}
		white = false
		b.WriteByte(c)
	}
	s := strings.TrimSpace(b.String())
	opt, arg, hasArg = strings.Cut(s, "=")
	return strings.TrimSpace(opt), strings.TrimSpace(arg), hasArg
}

var dnsmasqEscapes = map[byte]byte{'"': '"', '\\': '\\', 't': '\t', 'n': '\n', 'r': '\r', 'e': 0x1b, 'b': '\b'}

// addServer adds a server= (or local=) value:
//
//	[/[domain]/[domain/]...][server[#port]][@source-ip|@interface[#port]]
//
// "#" as the server means "the ordinary upstreams" and an empty one "answer
// locally": neither names an upstream, nor does a host name.
func (in *dnsmasqInstance) addServer(v, file string, line int) {
	var domains []string
	if rest, ok := strings.CutPrefix(v, "/"); ok {
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return // "/example.com" without its closing '/': dnsmasq refuses it
		}
		domains = strings.Split(rest[:i], "/")
		v = rest[i+1:]
	}
	if u, ok := parseServerAddr(v); ok {
		u.Domains, u.File, u.Line = domains, file, line
		in.servers = append(in.servers, u)
	}
}

// addRevServer adds a rev-server= value: "ip[/prefix],server[#port][@...]".
func (in *dnsmasqInstance) addRevServer(v, file string, line int) {
	subnet, server, ok := strings.Cut(v, ",")
	if !ok {
		return
	}
	if u, ok := parseServerAddr(server); ok {
		u.Domains, u.File, u.Line = []string{"reverse " + strings.TrimSpace(subnet)}, file, line
		in.servers = append(in.servers, u)
	}
}

// parseServerAddr reads "ip[#port][@source[#port]]" (dnsmasq's
// parse_server); ok is false for anything that names no upstream address.
func parseServerAddr(v string) (DNSUpstream, bool) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), "@") // the source address or interface
	host, port, hasPort := strings.Cut(v, "#")
	u := DNSUpstream{Port: 53}
	if hasPort {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return u, false
		}
		u.Port = uint16(p)
	}
	a, ok := upstreamAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	u.Addr = a
	return u, ok
}

// upstreamAddr parses an address that could be an upstream resolver.
func upstreamAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	if a.IsLoopback() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// uciBool reads an option as OpenWrt's config_get_bool does.
func uciBool(s *UCISection, key string, def bool) bool {
	v, ok := s.Get(key)
	if !ok {
		return def
	}
	switch v {
	case "1", "on", "true", "yes", "enabled":
		return true
	case "0", "off", "false", "no", "disabled":
		return false
	}
	return def
}
