package probe

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// Config is the probe's whole configuration.
type Config struct {
	Server    string
	Token     string
	TokenFile string // where Token came from, if a file: rotations rewrite it
	Village   string
	Spool     string        // spool directory
	Interval  time.Duration // between measurement rounds
	Targets   []string
	Root      string // file-system root the host collectors read
	// Mode is where the probe runs: jagadesa.ModeRouter or ModeAppliance;
	// empty: detected (a router keeps dnsmasq's leases or /etc/config/dhcp).
	Mode          string
	Count         int // ICMP packets per round
	PingInterval  time.Duration
	Privileged    bool
	SpoolMaxBytes int64
	Version       string

	DNSNames     []string // resolved each round, through the system and the reference resolver
	DNSReference string   // host:port of the reference resolver; empty: none
	// DNSCanaries are names whose addresses must be the same through the
	// router's resolver and the reference one (dnshijack.go); they are
	// resolved each round like DNSNames.
	DNSCanaries []string
	HTTPURLs    []string // service URLs checked each round

	SpeedtestBudget int64  // bytes per calendar month for throughput tests; 0: none
	WANInterface    string // for cross-traffic counters; empty: the default route's

	// NoSecurity turns the security collectors off (security.go); they
	// read under Root and keep their state in the spool directory.
	NoSecurity bool
	// DNSAllow lists the upstream resolvers (addresses or CIDR prefixes)
	// the router may use; empty: any, but a change is reported.
	DNSAllow []string
	// KeyFile holds the probe's Ed25519 private key, made on first start
	// (default <spool>/probe.key). Every batch is signed with it.
	KeyFile string
	// ThreatFeedInterval is how often the probe asks the server for its
	// threat feed (0: never; the matching needs the security collectors).
	ThreatFeedInterval time.Duration

	// LANSpeedListen is the router's LAN address and port of the
	// villagers' speed-test page (lanspeed.go), like 192.168.1.1:8099;
	// empty: not served.
	LANSpeedListen string
	// LANSpeedDailyBytes bounds the page's test traffic a day (0:
	// DefaultLANSpeedDailyBytes).
	LANSpeedDailyBytes int64
	// LANSpeedContractMbps is the village link's contracted download the
	// page's verdict compares the WAN with (0: DefaultContractMbps).
	LANSpeedContractMbps int
}

// Defaults a village probe starts with when not told otherwise.
var (
	DefaultDNSNames = []string{"jatengprov.go.id"}
	// DefaultHTTPURLs are public-service (SPBE) portals of the province and
	// the nation: whether the village can reach its government online.
	DefaultHTTPURLs = []string{"https://jatengprov.go.id/", "https://layanan.jatengprov.go.id/", "https://www.lapor.go.id/"}
)

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case "", jagadesa.ModeRouter, jagadesa.ModeAppliance:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: router or appliance", c.Mode))
	}
	if c.Server == "" {
		errs = append(errs, errors.New("--server is required (the JagaDesa server's URL)"))
	} else if !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://") {
		errs = append(errs, fmt.Errorf("--server %q must start with http:// or https://", c.Server))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("a probe token is required (--token, --token-file or JAGADESA_TOKEN; get one by enrolling the probe)"))
	}
	if !jagadesa.ValidVillageCode(c.Village) {
		errs = append(errs, fmt.Errorf("--village %q must be a Kemendagri village code like 33.06.08.2005", c.Village))
	}
	if c.Spool == "" {
		errs = append(errs, errors.New("--spool directory is required"))
	}
	if c.Interval < time.Second || c.Interval > time.Hour {
		errs = append(errs, fmt.Errorf("--interval %s must be between 1s and 1h", c.Interval))
	}
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("at least one --target is required"))
	}
	for _, u := range c.HTTPURLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("--http-url %q must start with http:// or https://", u))
		}
	}
	if c.ThreatFeedInterval != 0 && c.ThreatFeedInterval < time.Minute {
		errs = append(errs, fmt.Errorf("--threat-feed-interval %s must be 0 (never) or at least 1m", c.ThreatFeedInterval))
	}
	if c.SpeedtestBudget < 0 {
		errs = append(errs, errors.New("--speedtest-budget must be >= 0"))
	}
	if c.Count < 1 || c.Count > jagadesa.MaxRTTsPerSample {
		errs = append(errs, fmt.Errorf("--count %d must be 1..%d", c.Count, jagadesa.MaxRTTsPerSample))
	}
	if c.PingInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--ping-interval %s must be at least 10ms", c.PingInterval))
	}
	if c.Count > 0 && time.Duration(c.Count)*c.PingInterval >= c.Interval {
		errs = append(errs, fmt.Errorf("a round (%d × %s) must fit inside --interval %s", c.Count, c.PingInterval, c.Interval))
	}
	return errors.Join(errs...)
}

// Probe runs rounds and uploads them.
type Probe struct {
	cfg    Config
	log    *slog.Logger
	spool  *spool.Spool
	sender *Sender
	wake   chan struct{}
	start  time.Time
	clean  bool // the previous run ended cleanly

	outages  *OutageTracker     // the probe's own timeline (outage.go)
	security *SecurityCollector // nil when turned off
	threats  *ThreatWatcher     // nil when turned off (threatfeed.go)
	dnsWatch *DNSHijackWatcher  // nil without security or a reference resolver
	client   *HTTPClient        // for the server: reports, threat feed, speed tests
	usage    *UsageCollector    // the village's use of the link (usage.go)
	mode     string             // router or appliance
	cannot   map[string]bool    // collectors this site cannot run, for the heartbeat
	warned   map[string]string  // the latest warning per source, logged once
	nextUse  time.Time

	mu sync.Mutex // serialises spool appends

	// Appliance mode's checks of the CPE, run in the background (appliance.go).
	appliance     *ApplianceWatcher
	applianceDone chan applianceRun
	applianceBusy bool
}

const runningMarker = "running"

// New opens the spool and notes whether the previous run ended cleanly.
//
// client says how to reach the server: its Timeout and, when its Transport
// is an *http.Transport, that transport's TLSClientConfig (the --ca-file
// roots) are used by the probe's own HTTP/1.1 client (HTTPClient), which
// keeps net/http's transport out of the router binary. nil is the system's
// roots and 30 s a request; any other Transport is an error.
func New(cfg Config, log *slog.Logger, client *http.Client) (*Probe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(client)
	if err != nil {
		return nil, err
	}
	sp, err := spool.Open(cfg.Spool, spool.Options{MaxBytes: cfg.SpoolMaxBytes, SyncEvery: 64})
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", cfg.Spool, err)
	}
	p := &Probe{cfg: cfg, log: log, spool: sp, wake: make(chan struct{}, 1), start: time.Now(), client: hc}
	marker := filepath.Join(cfg.Spool, runningMarker)
	_, statErr := os.Stat(marker)
	p.clean = errors.Is(statErr, os.ErrNotExist)
	p.startOutages() // reads the marker's previous start before it is replaced
	if err := fsutil.WriteFileAtomic(marker, []byte(strconv.FormatInt(p.start.UnixMilli(), 10)), 0o600); err != nil {
		sp.Close()
		return nil, fmt.Errorf("mark run: %w", err)
	}
	if !cfg.NoSecurity {
		self, _ := os.Executable()
		p.security = &SecurityCollector{Root: cfg.Root, StateFile: filepath.Join(cfg.Spool, "security.json"), ProbeBinary: self, DNSAllow: cfg.DNSAllow}
		if cfg.DNSReference != "" {
			p.dnsWatch = &DNSHijackWatcher{Canaries: cfg.DNSCanaries}
			if u, err := url.Parse(cfg.Server); err == nil && u.Hostname() != "" {
				p.dnsWatch.Internal = []string{u.Hostname()}
			}
		}
		if cfg.ThreatFeedInterval > 0 {
			p.threats = &ThreatWatcher{Root: cfg.Root, StateFile: filepath.Join(cfg.Spool, "threatwatch.json")}
			// The last feed fetched is matched from the first round, link up
			// or not.
			if err := p.threats.LoadFeed(filepath.Join(cfg.Spool, threatFeedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Warn("saved threat feed unusable; waiting for a fresh one", "err", err)
			}
		}
	}
	keyFile := cfg.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.Spool, "probe.key")
	}
	key, created, err := LoadOrCreateKey(keyFile)
	if err != nil {
		sp.Close()
		return nil, err
	}
	if created {
		log.Info("made the probe's signing key", "file", keyFile, "key", jagadesa.KeyID(key.Public().(ed25519.PublicKey)))
	}
	streamFile := filepath.Join(cfg.Spool, "stream")
	stream, err := LoadOrCreateStream(streamFile)
	if err != nil {
		sp.Close()
		return nil, err
	}
	p.sender = &Sender{Server: cfg.Server, Token: cfg.Token, Village: cfg.Village, Queue: sp, Client: hc, Logger: log, Version: cfg.Version,
		Key: key, Stream: stream, StreamFile: streamFile}
	p.mode = cfg.Mode
	if p.mode == "" {
		p.mode = DetectMode(cfg.Root)
	}
	p.usage = &UsageCollector{Root: cfg.Root, WAN: cfg.WANInterface}
	p.cannot, p.warned = map[string]bool{}, map[string]string{}
	log.Info("probe mode", "mode", p.mode)
	// Where a rotated token goes: the token file, or, for a token given
	// inline, a file beside the spool that names the token it replaces
	// (a token configured anew later wins over it).
	if cfg.TokenFile != "" {
		p.sender.Tokens = TokenFile(cfg.TokenFile)
	} else {
		rt := RotatedToken{Path: filepath.Join(cfg.Spool, "token.rotated"), Configured: cfg.Token}
		switch tok, ok, err := rt.Load(); {
		case err != nil:
			log.Warn("rotated token unreadable; using the configured one", "err", err)
		case ok:
			p.sender.Token = tok
			log.Info("using the token rotated since the configured one", "file", rt.Path)
		}
		p.sender.Tokens = rt
	}
	return p, nil
}

// Run measures every interval and uploads until ctx ends, then syncs the
// spool and records a clean stop.
func (p *Probe) Run(ctx context.Context) error {
	p.event("probe_start", "info", fmt.Sprintf("probe %s started", p.cfg.Version), map[string]string{
		"prev_clean": strconv.FormatBool(p.clean), "version": p.cfg.Version,
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.uploadLoop(ctx)
	}()
	wg.Go(func() { p.throughputLoop(ctx) }) // scheduled speed tests (throughput.go)
	if p.threats != nil {
		wg.Go(func() { p.threatFeedLoop(ctx) })
	}
	if p.cfg.LANSpeedListen != "" {
		wg.Go(func() { p.lanSpeedLoop(ctx) }) // the villagers' speed-test page (lanspeed.go)
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.round(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return p.close()
		case <-t.C:
		}
	}
}

func (p *Probe) close() error {
	err := p.spool.Sync()
	if cerr := p.spool.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Only a run whose spool is safely on disk counts as clean.
		err = fsutil.RemoveDurable(filepath.Join(p.cfg.Spool, runningMarker))
	}
	return err
}

// jobs lists the checks of one round: ICMP to every target, every DNS name
// through the router's resolver and the reference one, every service URL.
// A kind whose check is not registered is skipped.
func (p *Probe) jobs() []job {
	base := CheckOptions{Count: p.cfg.Count, Interval: p.cfg.PingInterval, Privileged: p.cfg.Privileged}
	var out []job
	for _, t := range p.cfg.Targets {
		out = append(out, job{jagadesa.KindICMP, t, base})
	}
	names := slices.Clone(p.cfg.DNSNames)
	for _, n := range p.cfg.DNSCanaries {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		out = append(out, job{jagadesa.KindDNS, n, base})
		if p.cfg.DNSReference != "" {
			o := base
			o.Resolver = p.cfg.DNSReference
			out = append(out, job{jagadesa.KindDNS, n, o})
		}
	}
	for _, u := range p.cfg.HTTPURLs {
		out = append(out, job{jagadesa.KindHTTP, u, base})
	}
	return slices.DeleteFunc(out, func(j job) bool { return checks[j.kind] == nil })
}

// round runs every check concurrently, then spools the samples and a
// heartbeat and wakes the uploader.
func (p *Probe) round(ctx context.Context) {
	began := time.Now()
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Interval*9/10)
	defer cancel()
	jobs := p.jobs()
	samples := make([]jagadesa.Sample, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples[i], errs[i] = checks[j.kind](rctx, j.target, j.opts)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: a cut-short round would read as loss
	}
	for i, s := range samples {
		j := jobs[i]
		if errs[i] != nil {
			p.log.Warn("check failed", "kind", j.kind, "target", j.target, "err", errs[i])
			if errors.Is(errs[i], ErrPermission) || j.kind != jagadesa.KindICMP {
				// The probe cannot measure: a probe fault, not a lost link.
				p.event("check_error", "warning", errs[i].Error(), map[string]string{"kind": j.kind, "target": j.target})
				continue
			}
			// An unresolvable or unreachable ICMP target is a lost round.
			s = jagadesa.Sample{TimeMs: time.Now().UnixMilli(), Kind: jagadesa.KindICMP, Target: j.target,
				ICMP: &jagadesa.ICMP{Sent: p.cfg.Count}}
			samples[i] = s
		}
		p.append(EncodeSample(s))
	}
	if p.security != nil {
		evs, err := p.security.Collect()
		if err != nil { // only a collector's new or changed failure
			p.log.Warn("security collector cannot run here; the village page says so", "err", err)
		}
		for _, e := range evs {
			p.append(EncodeEvent(e))
		}
	}
	p.collectUsage(began)
	p.collectAppliance(began)
	if p.dnsWatch != nil {
		for _, e := range p.dnsWatch.Compare(samples) {
			p.append(EncodeEvent(e))
		}
	}
	if p.threats != nil {
		for _, e := range p.threats.Collect() {
			p.append(EncodeEvent(e))
		}
		if err := p.threats.Err(); err != nil {
			p.warnOnce("threats", "threat feed matching", err)
		} else {
			p.warnOnce("threats", "", nil)
		}
	}
	p.append(EncodeSample(p.heartbeat()))
	if err := p.spool.Sync(); err != nil {
		p.log.Error("spool sync failed", "err", err)
	}
	p.observeOutages(began, samples)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Probe) heartbeat() jagadesa.Sample {
	st := p.spool.Stats()
	return jagadesa.Sample{
		TimeMs: time.Now().UnixMilli(),
		Kind:   jagadesa.KindHeartbeat,
		Heartbeat: &jagadesa.Heartbeat{
			BootID:       bootID(p.cfg.Root),
			UptimeS:      uptime(p.cfg.Root),
			ProbeStartMs: p.start.UnixMilli(),
			PrevClean:    p.clean,
			SpoolBytes:   st.Bytes,
			SpoolDropped: st.Dropped,
			Rejected:     p.sender.Rejected(),
			IntervalS:    p.cfg.Interval.Seconds(),
			ProbeVersion: p.cfg.Version,
			Mode:         p.mode,
			Cannot:       p.cannotList(),
		},
	}
}

// usageEvery is how often the router's usage is read.
const usageEvery = 5 * time.Minute

// collectUsage reads the village's use of its link every usageEvery, on
// the round that reaches it; a site that cannot give it says so once.
func (p *Probe) collectUsage(now time.Time) {
	if now.Before(p.nextUse) {
		return
	}
	p.nextUse = now.Truncate(usageEvery).Add(usageEvery)
	u, err := p.usage.Collect(now)
	switch {
	case errors.Is(err, ErrUsageNotVisible):
		p.cannot["usage"] = true
		p.warnOnce("usage", "usage cannot be read here; the village page says so", err)
		return
	case err != nil:
		p.warnOnce("usage", "usage not read", err)
		return
	}
	delete(p.cannot, "usage")
	p.warnOnce("usage", "", nil)
	p.append(EncodeSample(jagadesa.Sample{TimeMs: now.UnixMilli(), Kind: jagadesa.KindUsage, Usage: u}))
}

// warnOnce logs a source's warning when it first appears or changes, not
// every round; a nil err clears it.
func (p *Probe) warnOnce(source, msg string, err error) {
	if err == nil {
		delete(p.warned, source)
		return
	}
	if p.warned[source] == err.Error() {
		return
	}
	p.warned[source] = err.Error()
	p.log.Warn(msg, "err", err)
}

// cannotList is what this site cannot show, for the heartbeat.
func (p *Probe) cannotList() []string {
	var out []string
	for k := range p.cannot {
		out = append(out, k)
	}
	if p.security != nil {
		out = append(out, p.security.Cannot()...)
	} else {
		out = append(out, "security")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DetectMode says where the probe runs: on the village's router (it hands
// out addresses: dnsmasq's lease file or OpenWrt's /etc/config/dhcp are
// there) or on an appliance beside an ISP-managed CPE.
func DetectMode(root string) string {
	for _, f := range []string{"tmp/dhcp.leases", "etc/config/dhcp"} {
		if _, err := os.Stat(underRoot(root, f)); err == nil {
			return jagadesa.ModeRouter
		}
	}
	return jagadesa.ModeAppliance
}

func (p *Probe) event(kind, severity, msg string, attrs map[string]string) {
	p.append(EncodeEvent(jagadesa.Event{TimeMs: time.Now().UnixMilli(), Kind: kind, Severity: severity, Message: msg, Attrs: attrs}))
}

func (p *Probe) append(payload []byte, err error) {
	if err == nil {
		p.mu.Lock()
		_, err = p.spool.Append(payload)
		p.mu.Unlock()
	}
	if err != nil {
		p.log.Error("spool append failed; record lost", "err", err)
	}
}

func (p *Probe) uploadLoop(ctx context.Context) {
	for {
		if err := p.sender.Drain(ctx); err == nil {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// threatFeedFile is the last threat feed fetched, in the spool directory.
const threatFeedFile = "threatfeed.json"

// threatFeedLoop fetches the server's threat feed at start and then every
// ThreatFeedInterval; an unchanged feed costs one 304.
func (p *Probe) threatFeedLoop(ctx context.Context) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = p.cfg.ThreatFeedInterval
		feed, _, err := FetchThreatFeed(ctx, p.client, p.cfg.Server, p.cfg.Token, p.threats.ETag())
		switch {
		case err != nil:
			p.log.Warn("threat feed not fetched", "err", err)
			wait = min(wait, 5*time.Minute) // the link may be down: try sooner
		case feed != nil:
			if err := p.threats.SetFeed(feed); err != nil {
				p.log.Warn("threat feed refused", "err", err)
				continue
			}
			if err := p.threats.SaveFeed(filepath.Join(p.cfg.Spool, threatFeedFile)); err != nil {
				p.log.Warn("threat feed not saved", "err", err)
			}
			p.log.Info("threat feed updated", "version", feed.Version, "entries", feed.Len())
		}
	}
}

// bootID identifies the host's current boot, so the server can tell a
// reboot (power cut) from a probe restart.
func bootID(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func uptime(root string) float64 {
	b, err := os.ReadFile(filepath.Join(root, "proc/uptime"))
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}
