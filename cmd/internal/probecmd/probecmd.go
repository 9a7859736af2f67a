// Package probecmd is the jagadesa-probe command and its flags, apart from
// package main so that end-to-end tests can run the real program in-process.
package probecmd

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/probe"
)

// Version is set by main from its build-time version.
var Version = "dev"

// ErrDisabled is returned when the configuration file turns the probe off
// (option enabled '0').
var ErrDisabled = errors.New("the probe is disabled")

// options are the flags that are not part of probe.Config.
type options struct {
	configFile  string
	tokenFile   string
	logLevel    string
	caFile      string
	showVersion bool
	explicit    map[string]bool // flags given on the command line
}

// Run is the whole program, so tests can start it as it runs in production.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "enroll" {
		return enroll(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, opts, warnings, err := configure(args, getenv, stderr)
	if err != nil {
		return err
	}
	if opts.showVersion {
		fmt.Fprintln(stdout, "jagadesa-probe", Version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, w := range warnings {
		log.Warn(w, "config", opts.configFile)
	}

	client, err := httpClient(opts.caFile)
	if err != nil {
		return err
	}
	if u, err := url.Parse(cfg.Server); err == nil && u.Scheme == "http" {
		// Loud, and at every start: the token and every batch travel in
		// clear text, readable and replayable by anyone on the path.
		log.Warn("INSECURE: the server URL is plain http; the probe token and every report travel unencrypted. Use an https:// server URL (and --ca-file for a private CA).", "server", cfg.Server)
	}
	p, err := probe.New(cfg, log, client)
	if err != nil {
		return err
	}
	log.Info("probe running", "village", cfg.Village, "server", cfg.Server, "targets", cfg.Targets, "interval", cfg.Interval, "version", Version)
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("probe stopped cleanly")
	return nil
}

// httpClient is the client for the server: the system's roots, or only
// the CA in caFile when one is given (a provincial CA, or a self-signed
// server pinned by its own certificate).
func httpClient(caFile string) (*http.Client, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.Transport = t
	return c, nil
}

// configure builds the probe's configuration. Each setting comes from, in
// order of precedence: the command line, its JAGADESA_* environment
// variable, the `probe` section of the --config file (OpenWrt UCI), and the
// built-in default. It also returns warnings about the file (unknown keys).
func configure(args []string, getenv func(string) string, stderr io.Writer) (probe.Config, options, []string, error) {
	cfg, opts, lists, err := parseFlags(args, getenv, stderr)
	if err != nil || opts.showVersion {
		return cfg, opts, nil, err
	}
	if opts.configFile == "" {
		return cfg, opts, nil, finish(&cfg, &opts, lists, getenv, nil)
	}
	file, err := loadConfigFile(opts.configFile)
	if err != nil {
		return cfg, opts, nil, err
	}
	// Parse again with the file's values under the environment's, so that
	// every flag keeps its own parsing, defaults and precedence.
	withFile := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file.env[k]
	}
	cfg, opts, lists, err = parseFlags(args, withFile, io.Discard)
	if err == nil {
		err = finish(&cfg, &opts, lists, getenv, file)
	}
	return cfg, opts, file.warnings, err
}

// flagLists are the repeatable flags as given on the command line.
type flagLists struct{ targets, dnsNames, dnsCanaries, httpURLs envflag.List }

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (probe.Config, options, flagLists, error) {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa-probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg probe.Config
	var opts options
	var l flagLists
	fs.StringVar(&opts.configFile, "config", getenv("JAGADESA_CONFIG"), "`file` in OpenWrt UCI syntax, e.g. /etc/config/jagadesa, whose 'config probe' section gives defaults to the other settings; flags and JAGADESA_* variables win (env JAGADESA_CONFIG)")
	fs.StringVar(&cfg.Server, "server", getenv("JAGADESA_SERVER"), "JagaDesa server URL (env JAGADESA_SERVER)")
	fs.StringVar(&cfg.Token, "token", getenv("JAGADESA_TOKEN"), "probe token from enrollment (env JAGADESA_TOKEN; prefer --token-file: flags show in ps)")
	fs.StringVar(&opts.tokenFile, "token-file", getenv("JAGADESA_TOKEN_FILE"), "file holding the probe token (env JAGADESA_TOKEN_FILE)")
	fs.StringVar(&cfg.Village, "village", getenv("JAGADESA_VILLAGE"), "Kemendagri code of this village, e.g. 33.06.08.2005 (env JAGADESA_VILLAGE)")
	fs.StringVar(&cfg.Spool, "spool", env.String("JAGADESA_SPOOL", "/var/lib/jagadesa/spool"), "spool directory kept across link and power cuts (env JAGADESA_SPOOL)")
	fs.DurationVar(&cfg.Interval, "interval", env.Duration("JAGADESA_INTERVAL", time.Minute), "time between measurement rounds (env JAGADESA_INTERVAL)")
	fs.Var(&l.targets, "target", "ICMP target, repeatable (env JAGADESA_TARGETS, comma-separated)")
	fs.StringVar(&cfg.Root, "root", env.String("JAGADESA_ROOT", "/"), "file-system root the host collectors read (env JAGADESA_ROOT)")
	fs.StringVar(&cfg.Mode, "mode", getenv("JAGADESA_MODE"), "where the probe runs: router (the village's router) or appliance (a box on the LAN beside an ISP-managed CPE); default: detected, and reported in the heartbeat (env JAGADESA_MODE)")
	addDNSAllow := func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				if net.ParseIP(a) == nil {
					if _, _, err := net.ParseCIDR(a); err != nil {
						return fmt.Errorf("%q is neither an address nor a CIDR prefix", a)
					}
				}
				cfg.DNSAllow = append(cfg.DNSAllow, a)
			}
		}
		return nil
	}
	if v := getenv("JAGADESA_DNS_ALLOW"); v != "" {
		if err := addDNSAllow(v); err != nil {
			return cfg, options{}, flagLists{}, fmt.Errorf("JAGADESA_DNS_ALLOW: %w", err)
		}
	}
	fs.Func("dns-allow", "an upstream resolver the router may use (address or CIDR; repeatable or comma-separated); others raise a critical event (env JAGADESA_DNS_ALLOW)", addDNSAllow)
	fs.StringVar(&cfg.KeyFile, "key", getenv("JAGADESA_KEY"), "`file` holding the probe's Ed25519 signing key (PEM), made on first start (env JAGADESA_KEY; default <spool>/probe.key)")
	fs.DurationVar(&cfg.ThreatFeedInterval, "threat-feed-interval", env.Duration("JAGADESA_THREAT_FEED_INTERVAL", time.Hour), "how often to fetch the server's threat feed, matched against conntrack and logged DNS queries (0: never) (env JAGADESA_THREAT_FEED_INTERVAL)")
	fs.BoolVar(&cfg.NoSecurity, "no-security", false, "turn off the security collectors (config and credential hashes, listening sockets, gateway MAC, logins)")
	fs.IntVar(&cfg.Count, "count", env.Int("JAGADESA_COUNT", 10), "ICMP packets per round (env JAGADESA_COUNT)")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", env.Duration("JAGADESA_PING_INTERVAL", time.Second), "time between packets of a round (env JAGADESA_PING_INTERVAL)")
	fs.BoolVar(&cfg.Privileged, "privileged", env.Bool("JAGADESA_PRIVILEGED", canRawICMP()), "raw ICMP sockets (root or cap_net_raw; the default when the process has either); false uses unprivileged UDP ping (env JAGADESA_PRIVILEGED)")
	fs.Int64Var(&cfg.SpoolMaxBytes, "spool-max-bytes", int64(env.Int("JAGADESA_SPOOL_MAX_BYTES", 8<<20)), "spool size bound; the oldest records are dropped (and counted) beyond it (env JAGADESA_SPOOL_MAX_BYTES)")
	fs.Var(&l.dnsCanaries, "dns-canary", "name whose addresses must be the same through the router's resolver and the reference one, else a DNS-hijack warning; repeatable (env JAGADESA_DNS_CANARIES). Only names without a CDN")
	fs.Var(&l.dnsNames, "dns-name", "name to resolve each round, repeatable (env JAGADESA_DNS_NAMES; default jatengprov.go.id)")
	fs.StringVar(&cfg.DNSReference, "dns-reference", env.String("JAGADESA_DNS_REFERENCE", "8.8.8.8:53"), "reference resolver (host:port) to compare the router's resolver with; empty: none")
	fs.Var(&l.httpURLs, "http-url", "service URL to check each round, repeatable (env JAGADESA_HTTP_URLS; default: the province's SPBE portals)")
	fs.Int64Var(&cfg.SpeedtestBudget, "speedtest-budget", int64(env.Int("JAGADESA_SPEEDTEST_BUDGET_MB", 4096))<<20, "bytes per calendar month the throughput tests may use (0 disables them; env JAGADESA_SPEEDTEST_BUDGET_MB in MB)")
	fs.StringVar(&cfg.WANInterface, "wan-iface", getenv("JAGADESA_WAN_IFACE"), "WAN interface whose counters measure cross traffic (default: the default route's)")
	fs.StringVar(&cfg.LANSpeedListen, "lan-speedtest-listen", getenv("JAGADESA_LAN_SPEEDTEST_LISTEN"), "LAN `address:port` of the villagers' speed-test page, e.g. 192.168.1.1:8099 (env JAGADESA_LAN_SPEEDTEST_LISTEN)")
	fs.Int64Var(&cfg.LANSpeedDailyBytes, "lan-speedtest-daily-bytes", int64(env.Int("JAGADESA_LAN_SPEEDTEST_DAILY_MB", 0))<<20, "LAN bytes a day for the speed-test page (0: 2000 MB; env JAGADESA_LAN_SPEEDTEST_DAILY_MB in MB)")
	fs.IntVar(&cfg.LANSpeedContractMbps, "lan-speedtest-contract-mbps", env.Int("JAGADESA_LAN_SPEEDTEST_CONTRACT_MBPS", 0), "contracted Mbit/s the speed-test page judges the WAN by (0: 100; env JAGADESA_LAN_SPEEDTEST_CONTRACT_MBPS)")
	fs.StringVar(&opts.logLevel, "log-level", env.String("JAGADESA_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&opts.caFile, "ca-file", getenv("JAGADESA_CA_FILE"), "PEM `file` of the CA (or the server's own certificate) that the server's HTTPS certificate must chain to, instead of the system's roots (env JAGADESA_CA_FILE)")
	fs.BoolVar(&opts.showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, opts, l, err
	}
	if err := env.Err(); err != nil {
		return cfg, opts, l, err
	}
	if err := probe.CheckLANSpeedListen(cfg.LANSpeedListen); err != nil {
		return cfg, opts, l, err
	}
	opts.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { opts.explicit[f.Name] = true })
	return cfg, opts, l, nil
}

// finish fills the lists and the token once the flags are parsed.
func finish(cfg *probe.Config, opts *options, l flagLists, getenv func(string) string, file *configFile) error {
	cfg.Version = Version
	var fileTargets, fileDNS, fileHTTP []string
	if file != nil {
		fileTargets, fileDNS, fileHTTP = file.lists["target"], file.lists["dns_name"], file.lists["http_url"]
	}
	if file != nil && file.noDNSReference && !opts.explicit["dns-reference"] && getenv("JAGADESA_DNS_REFERENCE") == "" {
		cfg.DNSReference = ""
	}
	cfg.Targets = pick(l.targets, getenv("JAGADESA_TARGETS"), fileTargets, nil)
	cfg.DNSNames = pick(l.dnsNames, getenv("JAGADESA_DNS_NAMES"), fileDNS, probe.DefaultDNSNames)
	cfg.HTTPURLs = pick(l.httpURLs, getenv("JAGADESA_HTTP_URLS"), fileHTTP, probe.DefaultHTTPURLs)
	var fileCanaries []string
	if file != nil {
		fileCanaries = file.lists["dns_canary"]
	}
	cfg.DNSCanaries = pick(l.dnsCanaries, getenv("JAGADESA_DNS_CANARIES"), fileCanaries, nil)
	if len(cfg.Targets) == 0 {
		// The village gateway, a national target and our own server.
		cfg.Targets = probe.DefaultTargets(cfg.Root, cfg.Server)
	}
	// The token file wins over a token given at the same level (as it
	// always has), but not over one given at a more specific level: a
	// token_file in the config file does not beat JAGADESA_TOKEN or --token.
	if opts.tokenFile != "" && source(opts, getenv, file, "token-file", "JAGADESA_TOKEN_FILE") >= source(opts, getenv, file, "token", "JAGADESA_TOKEN") {
		b, err := os.ReadFile(opts.tokenFile)
		if err != nil {
			return fmt.Errorf("read --token-file: %w", err)
		}
		cfg.Token = strings.TrimSpace(string(b))
		cfg.TokenFile = opts.tokenFile
	}
	return nil
}

// source ranks where a setting came from: 3 the command line, 2 the
// environment, 1 the config file, 0 nowhere.
func source(opts *options, getenv func(string) string, file *configFile, flagName, envName string) int {
	switch {
	case opts.explicit[flagName]:
		return 3
	case getenv(envName) != "":
		return 2
	case file != nil && file.env[envName] != "":
		return 1
	}
	return 0
}

// pick chooses the flag's values, else the comma-separated variable, else
// the config file's list, else the defaults.
func pick(flagged []string, env string, file, def []string) []string {
	if len(flagged) > 0 {
		return flagged
	}
	if env != "" {
		return strings.Split(env, ",")
	}
	if len(file) > 0 {
		return file
	}
	return def
}

// configFile is what the `probe` section of a UCI file says, translated to
// the environment variables the flags already read.
type configFile struct {
	env      map[string]string   // JAGADESA_* variable → value
	lists    map[string][]string // target, dns_name, http_url
	warnings []string
	// noDNSReference: option dns_reference 'none'. UCI cannot hold an
	// empty value (setting '' removes the option), so 'none' stands for
	// the flag's empty value: no reference resolver.
	noDNSReference bool
}

// uciSetting is one option of the `probe` section: the variable it stands
// for and how its value is checked.
type uciSetting struct {
	env  string
	kind byte // 's' string, 'd' duration, 'i' integer, 'b' boolean
}

var uciSettings = map[string]uciSetting{
	"server":               {"JAGADESA_SERVER", 's'},
	"token":                {"JAGADESA_TOKEN", 's'},
	"token_file":           {"JAGADESA_TOKEN_FILE", 's'},
	"village":              {"JAGADESA_VILLAGE", 's'},
	"spool":                {"JAGADESA_SPOOL", 's'},
	"spool_max_bytes":      {"JAGADESA_SPOOL_MAX_BYTES", 'i'},
	"interval":             {"JAGADESA_INTERVAL", 'd'},
	"root":                 {"JAGADESA_ROOT", 's'},
	"mode":                 {"JAGADESA_MODE", 's'},
	"count":                {"JAGADESA_COUNT", 'i'},
	"ping_interval":        {"JAGADESA_PING_INTERVAL", 'd'},
	"privileged":           {"JAGADESA_PRIVILEGED", 'b'},
	"dns_reference":        {"JAGADESA_DNS_REFERENCE", 's'},
	"speedtest_budget_mb":  {"JAGADESA_SPEEDTEST_BUDGET_MB", 'i'},
	"wan_iface":            {"JAGADESA_WAN_IFACE", 's'},
	"log_level":            {"JAGADESA_LOG_LEVEL", 's'},
	"key":                  {"JAGADESA_KEY", 's'},
	"ca_file":              {"JAGADESA_CA_FILE", 's'},
	"threat_feed_interval": {"JAGADESA_THREAT_FEED_INTERVAL", 'd'},

	"lan_speedtest_listen":        {"JAGADESA_LAN_SPEEDTEST_LISTEN", 's'},
	"lan_speedtest_daily_mb":      {"JAGADESA_LAN_SPEEDTEST_DAILY_MB", 'i'},
	"lan_speedtest_contract_mbps": {"JAGADESA_LAN_SPEEDTEST_CONTRACT_MBPS", 'i'},
}

// uciLists are the section's lists (a plain option counts as one item).
var uciLists = []string{"target", "dns_name", "dns_canary", "http_url"}

// loadConfigFile reads the first `config probe` section of a UCI file.
// Values that cannot be right fail here, with the file's line; keys the
// probe does not know are warnings, so that a file written for a newer
// probe does not stop an older one.
func loadConfigFile(path string) (*configFile, error) {
	u, err := probe.ReadUCIFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	secs := u.SectionsOf("probe")
	if len(secs) == 0 {
		return nil, fmt.Errorf("--config %s: no `config probe` section (see /etc/config/jagadesa as installed)", path)
	}
	sec := secs[0]
	cf := &configFile{env: map[string]string{}, lists: map[string][]string{}}
	if len(secs) > 1 {
		cf.warnings = append(cf.warnings, fmt.Sprintf("only the first `config probe` section (line %d) is used; %d more ignored", sec.Line, len(secs)-1))
	}
	bad := func(key, v string, err error) error {
		return fmt.Errorf("--config %s:%d: option %s '%s': %w", path, sec.KeyLine(key), key, v, err)
	}
	if v, ok := sec.Get("enabled"); ok {
		on, err := uciBool(v)
		if err != nil {
			return nil, bad("enabled", v, err)
		}
		if !on {
			return nil, fmt.Errorf("%w by option enabled '%s' in %s (line %d); to run it: uci set jagadesa.%s.enabled=1 && uci commit jagadesa",
				ErrDisabled, v, path, sec.KeyLine("enabled"), sectionRef(sec))
		}
	}
	keys := sec.Keys()
	slices.Sort(keys)
	for _, key := range keys {
		if key == "enabled" {
			continue
		}
		if slices.Contains(uciLists, key) {
			for _, v := range sec.List(key) {
				if v = strings.TrimSpace(v); v != "" {
					cf.lists[key] = append(cf.lists[key], v)
				}
			}
			continue
		}
		set, known := uciSettings[key]
		if !known {
			cf.warnings = append(cf.warnings, fmt.Sprintf("unknown key %q on line %d ignored", key, sec.KeyLine(key)))
			continue
		}
		v, ok := sec.Get(key)
		if !ok {
			if len(sec.Lists[key]) > 0 {
				return nil, fmt.Errorf("--config %s:%d: %s is a single value: write option %s, not list", path, sec.KeyLine(key), key, key)
			}
			continue
		}
		if key == "dns_reference" && (v == "none" || v == "off") {
			cf.noDNSReference = true
			continue
		}
		var err error
		switch set.kind {
		case 'd':
			_, err = time.ParseDuration(v)
		case 'i':
			_, err = strconv.Atoi(v)
		case 'b':
			var on bool
			if on, err = uciBool(v); err == nil {
				v = strconv.FormatBool(on) // what envflag.Bool reads
			}
		}
		if err != nil {
			return nil, bad(key, v, err)
		}
		cf.env[set.env] = v
	}
	return cf, nil
}

// sectionRef names a section the way the uci command does.
func sectionRef(s *probe.UCISection) string {
	if s.Name != "" {
		return s.Name
	}
	return "@probe[0]"
}

// uciBool reads a boolean the way OpenWrt's config_get_bool does.
func uciBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "on", "true", "yes", "enabled":
		return true, nil
	case "0", "off", "false", "no", "disabled":
		return false, nil
	}
	return false, errors.New("want 1 or 0 (also yes/no, on/off, true/false)")
}

// canRawICMP reports whether the process may open raw ICMP sockets: it is
// root, or holds CAP_NET_RAW (setcap, or systemd's AmbientCapabilities).
func canRawICMP() bool {
	if os.Geteuid() == 0 {
		return true
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			const capNetRaw = 13
			return err == nil && caps&(1<<capNetRaw) != 0
		}
	}
	return false
}

// keygen makes the probe's signing key when it has none and prints the
// public half, for an admin who binds it at enrollment
// (POST /api/v1/probes with "public_key").
func keygen(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa-probe keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spoolDir := fs.String("spool", env.String("JAGADESA_SPOOL", "/var/lib/jagadesa/spool"), "spool directory (env JAGADESA_SPOOL)")
	keyFile := fs.String("key", getenv("JAGADESA_KEY"), "key `file` (env JAGADESA_KEY; default <spool>/probe.key)")
	pemOut := fs.Bool("pem", false, "print the public key as PEM (for OpenSSL) instead of base64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	path := *keyFile
	if path == "" {
		if err := os.MkdirAll(*spoolDir, 0o700); err != nil {
			return err
		}
		path = filepath.Join(*spoolDir, "probe.key")
	}
	key, created, err := probe.LoadOrCreateKey(path)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	verb := "existing"
	if created {
		verb = "new"
	}
	fmt.Fprintf(stderr, "%s key %s in %s\n", verb, jagadesa.KeyID(pub), path)
	if *pemOut {
		fmt.Fprint(stdout, jagadesa.PublicKeyPEM(pub))
		return nil
	}
	fmt.Fprintln(stdout, jagadesa.FormatPublicKey(pub))
	return nil
}

// enroll enrolls this router with the code a field technician was given
// (jagadesa-probe enroll --server URL --code K7QX-9M2P-WD): it makes the
// probe's key if there is none, sends the code with the public key, and
// writes the token it gets to the token file (root-only), so that the
// key is bound at enrollment and the token never passes through a person.
func enroll(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa-probe enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", getenv("JAGADESA_SERVER"), "the JagaDesa server URL (env JAGADESA_SERVER)")
	code := fs.String("code", "", "the enrollment code (like K7QX-9M2P-WD; case and dashes do not matter)")
	village := fs.String("village", getenv("JAGADESA_VILLAGE"), "optional: this router's village code, checked against the code's")
	spoolDir := fs.String("spool", env.String("JAGADESA_SPOOL", "/var/lib/jagadesa/spool"), "spool directory (env JAGADESA_SPOOL)")
	keyFile := fs.String("key", getenv("JAGADESA_KEY"), "key `file` (env JAGADESA_KEY; default <spool>/probe.key)")
	tokenFile := fs.String("token-file", env.String("JAGADESA_TOKEN_FILE", "/etc/jagadesa/token"), "where to write the token (env JAGADESA_TOKEN_FILE)")
	caFile := fs.String("ca-file", getenv("JAGADESA_CA_FILE"), "trust only this CA (PEM) for the server (env JAGADESA_CA_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("--server: an http(s) URL of the JagaDesa server is required")
	}
	if strings.TrimSpace(*code) == "" {
		return errors.New("--code is required: the enrollment code the province or regency gave the technician")
	}
	if u.Scheme == "http" {
		fmt.Fprintln(stderr, "INSECURE: the server URL is plain http; the enrollment code and the token travel unencrypted")
	}
	path := *keyFile
	if path == "" {
		if err := os.MkdirAll(*spoolDir, 0o700); err != nil {
			return err
		}
		path = filepath.Join(*spoolDir, "probe.key")
	}
	key, _, err := probe.LoadOrCreateKey(path)
	if err != nil {
		return err
	}
	client, err := httpClient(*caFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := probe.Enroll(ctx, client, *server, *code, *village, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*tokenFile), 0o700); err != nil {
		return err
	}
	if err := probe.TokenFile(*tokenFile).SaveToken(res.Token); err != nil {
		return fmt.Errorf("the probe is enrolled (%s) but its token could not be written to %s: %w; enroll again with a new code", res.Probe, *tokenFile, err)
	}
	fmt.Fprintf(stdout, "enrolled: probe %s for village %s, key %s; token written to %s\n", res.Probe, res.Village, res.KeyID, *tokenFile)
	if len(res.Replaced) > 0 {
		fmt.Fprintf(stdout, "this router replaces probe(s) %s, whose data stays theirs\n", strings.Join(res.Replaced, ", "))
	}
	fmt.Fprintf(stdout, "on OpenWrt: uci set jagadesa.main.server=%q; uci set jagadesa.main.village=%q; uci set jagadesa.main.token_file=%q; uci commit jagadesa; /etc/init.d/jagadesa restart\n", *server, res.Village, *tokenFile)
	return nil
}
