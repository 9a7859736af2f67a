package sim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Backfill writes history through the real ingest path, as if probes had
// been reporting all along: weeks of rounds in minutes, signed, in large
// batches, with a scripted schedule of link cuts, power cuts, probe faults
// and slow weeks, so the rollups, the SLA engine and the readiness index
// have a past to work on, and a test can compute by hand what they must
// say (jagadesa sim --backfill).

// Period kinds of a backfill schedule.
const (
	PeriodLinkCut    = "link_cut"    // probe alive, every target silent
	PeriodPowerCut   = "power_cut"   // nothing from the site; an outage record with cause power after
	PeriodProbeFault = "probe_fault" // the probe process down, host up; an outage record with cause probe after
	PeriodSlow       = "slow"        // speed tests give Mbps instead of the contract's
)

// Period is one scripted stretch of a village's history.
type Period struct {
	Village    string    `json:"village"` // "" for every village
	Kind       string    `json:"kind"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Mbps       float64   `json:"mbps,omitempty"`        // PeriodSlow: download speed
	UploadMbps float64   `json:"upload_mbps,omitempty"` // PeriodSlow: upload speed (default Mbps)
}

// BackfillConfig says what history to write.
type BackfillConfig struct {
	Server     string
	AdminToken string
	Villages   []string // village codes, each enrolled as a new probe
	From, To   time.Time
	Interval   time.Duration // between rounds (default 1 min)
	Schedule   []Period
	// SpeedTestEvery is how often a probe runs a speed test (default 6 h),
	// at the contract's speed (default 100 Mbps) unless a slow period says
	// otherwise.
	SpeedTestEvery time.Duration
	ContractMbps   float64
	// BatchRounds is how many rounds go in one request (default 360).
	BatchRounds int
	// UsageEvery is how often the router's usage is read (default 5 min,
	// at whole multiples of it); Usage sets a village's devices and daily
	// traffic (default: from the seed).
	UsageEvery time.Duration
	Usage      map[string]UsageProfile
	// BaseRTTMs is the ping time to the first target (default 18 ms).
	BaseRTTMs float64
	Workers   int // villages written at once (default 4)
	Seed      uint64
	Client    *http.Client
}

// UsageProfile is a village's use of its link in a backfill: devices
// holding a lease (at once, all day) and what the WAN moves a day (80 %
// down, 20 % up) while the link is up.
type UsageProfile struct {
	Devices  int     `json:"devices"`
	GBPerDay float64 `json:"gb_per_day"`
}

// BackfillStats says what was written.
type BackfillStats struct {
	Villages, Batches, Records atomic.Int64
}

// Targets the backfilled probes ping.
var backfillTargets = []string{"jatengprov.go.id", "8.8.8.8"}

func (c *BackfillConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.SpeedTestEvery <= 0 {
		c.SpeedTestEvery = 6 * time.Hour
	}
	if c.ContractMbps <= 0 {
		c.ContractMbps = 100
	}
	if c.BatchRounds <= 0 {
		c.BatchRounds = 360
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.UsageEvery <= 0 {
		c.UsageEvery = 5 * time.Minute
	}
	if c.BaseRTTMs <= 0 {
		c.BaseRTTMs = 18
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 2 * time.Minute}
	}
}

// Backfill enrolls a probe per village and writes its history.
func Backfill(ctx context.Context, cfg BackfillConfig) (*BackfillStats, error) {
	cfg.defaults()
	if !cfg.To.After(cfg.From) {
		return nil, fmt.Errorf("backfill: nothing between %s and %s", cfg.From, cfg.To)
	}
	for _, p := range cfg.Schedule {
		switch p.Kind {
		case PeriodLinkCut, PeriodPowerCut, PeriodProbeFault, PeriodSlow:
		default:
			return nil, fmt.Errorf("backfill: unknown period kind %q", p.Kind)
		}
		if !p.End.After(p.Start) {
			return nil, fmt.Errorf("backfill: a %s period ends before it starts", p.Kind)
		}
	}
	st := &BackfillStats{}
	work := make(chan string)
	errs := make(chan error, len(cfg.Villages))
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for code := range work {
				if err := backfillVillage(ctx, &cfg, code, st); err != nil {
					errs <- fmt.Errorf("backfill %s: %w", code, err)
				}
			}
		}()
	}
	for _, code := range cfg.Villages {
		select {
		case work <- code:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return st, err
	}
	return st, ctx.Err()
}

// periodAt is the scripted period covering village at t (power and probe
// faults before link cuts before slow), or nil.
func (c *BackfillConfig) periodAt(village string, t time.Time, kinds ...string) *Period {
	for _, k := range kinds {
		for i := range c.Schedule {
			p := &c.Schedule[i]
			if p.Kind == k && (p.Village == "" || p.Village == village) && !t.Before(p.Start) && t.Before(p.End) {
				return p
			}
		}
	}
	return nil
}

func backfillVillage(ctx context.Context, cfg *BackfillConfig, code string, st *BackfillStats) error {
	pub, key, _ := ed25519.GenerateKey(nil)
	var enr struct{ Token string }
	c := Config{Server: cfg.Server, AdminToken: cfg.AdminToken, Client: cfg.Client}
	if err := c.call(ctx, http.MethodPost, "/api/v1/probes", map[string]string{"village": code, "public_key": jagadesa.FormatPublicKey(pub)}, &enr); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	st.Villages.Add(1)
	rng := rand.New(rand.NewPCG(cfg.Seed, seedOf(code)))
	b := &batcher{cfg: cfg, code: code, token: enr.Token, key: key, st: st, stream: "backfill-" + strings.ReplaceAll(code, ".", "")}
	boot := 1
	bootAt := cfg.From.Add(-time.Duration(rng.IntN(86400)) * time.Second)
	var down *Period // the power or probe fault in progress
	nextSpeed := cfg.From.Add(time.Duration(rng.IntN(int(cfg.SpeedTestEvery/time.Minute))) * time.Minute)
	use, ok := cfg.Usage[code]
	if !ok {
		use = UsageProfile{Devices: 3 + rng.IntN(40), GBPerDay: 0.5 + 19.5*rng.Float64()}
	}
	perMinute := use.GBPerDay * 1e9 / 1440
	var rx, tx float64 // the WAN counters since boot
	rounds := 0
	for t := cfg.From; t.Before(cfg.To); t = t.Add(cfg.Interval) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p := cfg.periodAt(code, t, PeriodPowerCut, PeriodProbeFault); p != nil {
			down = p
			if p.Kind == PeriodProbeFault { // the host and the link go on
				rx, tx = rx+0.8*perMinute, tx+0.2*perMinute
			}
			continue // nothing from the site
		}
		if down != nil {
			// Back: the outage record, as the probe writes it on start.
			cause := jagadesa.CausePower
			if down.Kind == PeriodProbeFault {
				cause = jagadesa.CauseProbe
			} else {
				boot++
				bootAt = down.End
				rx, tx = 0, 0 // the router restarted: so did its counters
			}
			b.sample(jagadesa.Sample{TimeMs: t.UnixMilli(), Kind: jagadesa.KindOutage,
				Outage: &jagadesa.Outage{Cause: cause, StartMs: down.Start.UnixMilli(), EndMs: down.End.UnixMilli(), Detail: "backfill"}})
			down = nil
		}
		cut := cfg.periodAt(code, t, PeriodLinkCut) != nil
		if !cut {
			rx, tx = rx+0.8*perMinute, tx+0.2*perMinute
		}
		b.sample(jagadesa.Sample{TimeMs: t.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{
			BootID: fmt.Sprintf("boot-%s-%d", code, boot), UptimeS: t.Sub(bootAt).Seconds(), ProbeStartMs: bootAt.UnixMilli(),
			PrevClean: true, IntervalS: cfg.Interval.Seconds(), ProbeVersion: "sim-backfill"}})
		for i, target := range backfillTargets {
			icmp := &jagadesa.ICMP{Sent: 10}
			if !cut {
				base := cfg.BaseRTTMs + 6*float64(i) + 4*math.Sin(float64(t.Unix()%86400)/86400*2*math.Pi) // evening peaks
				base = max(base, 1)
				icmp.Received = 10
				for range 10 {
					icmp.RTTsMs = append(icmp.RTTsMs, math.Round((base+rng.ExpFloat64()*2)*100)/100)
				}
				icmp.MinMs, icmp.AvgMs, icmp.MaxMs = stats(icmp.RTTsMs)
			}
			b.sample(jagadesa.Sample{TimeMs: t.UnixMilli(), Kind: jagadesa.KindICMP, Target: target, ICMP: icmp})
		}
		onUsage := t.UnixNano()%int64(cfg.UsageEvery) == 0
		// Speed tests run at a usage reading's minute, just before it, so
		// the reading that includes their bytes falls in the same hour.
		if !t.Before(nextSpeed) && onUsage {
			nextSpeed = nextSpeed.Add(cfg.SpeedTestEvery)
			if !cut {
				dl, ul := cfg.ContractMbps*(0.93+0.05*rng.Float64()), cfg.ContractMbps*(0.9+0.05*rng.Float64())
				if p := cfg.periodAt(code, t, PeriodSlow); p != nil {
					dl, ul = p.Mbps, p.UploadMbps
					if ul == 0 {
						ul = p.Mbps
					}
				}
				for _, d := range []struct {
					dir  string
					mbps float64
				}{{"download", dl}, {"upload", ul}} {
					bytes := int64(d.mbps * 1e6 / 8 * 10)
					if d.dir == "download" {
						rx += float64(bytes)
					} else {
						tx += float64(bytes)
					}
					b.sample(jagadesa.Sample{TimeMs: t.Add(time.Second).UnixMilli(), Kind: jagadesa.KindThroughput, Target: "speedtest",
						Throughput: &jagadesa.Throughput{Direction: d.dir, Mbps: d.mbps, Bytes: bytes, DurationMs: 10000}})
				}
			}
		}
		if onUsage {
			b.sample(jagadesa.Sample{TimeMs: t.Add(2 * time.Second).UnixMilli(), Kind: jagadesa.KindUsage, Usage: &jagadesa.Usage{
				ActiveDevices: use.Devices, WANRxBytes: uint64(rx), WANTxBytes: uint64(tx), Interface: "wan"}})
		}
		rounds++
		if rounds%cfg.BatchRounds == 0 {
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
	}
	return b.flush(ctx)
}

func stats(xs []float64) (lo, avg, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs {
		lo, hi, avg = min(lo, x), max(hi, x), avg+x
	}
	return lo, avg / float64(len(xs)), hi
}

func seedOf(code string) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(code); i++ {
		h = (h ^ uint64(code[i])) * 1099511628211
	}
	return h
}

// batcher collects a probe's records and posts them, signed, as one batch.
type batcher struct {
	cfg    *BackfillConfig
	code   string
	token  string
	key    ed25519.PrivateKey
	stream string
	seq    uint64
	rep    jagadesa.Report
	st     *BackfillStats
}

func (b *batcher) sample(s jagadesa.Sample) {
	b.seq++
	s.Seq = b.seq
	b.rep.Samples = append(b.rep.Samples, s)
}

func (b *batcher) flush(ctx context.Context) error {
	if len(b.rep.Samples) == 0 {
		return nil
	}
	b.rep.Version, b.rep.Village, b.rep.Stream, b.rep.SentAt = 1, b.code, b.stream, time.Now().UnixMilli()
	body, err := json.Marshal(&b.rep)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(b.cfg.Server, "/")+"/api/v1/reports", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+b.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(b.key, body))
		resp, err := b.cfg.Client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			var res jagadesa.BatchResult
			if json.Unmarshal(msg, &res) == nil && len(res.Rejected) > 0 {
				return fmt.Errorf("server refused %d records, first: %+v (raise jagadesa serve --max-record-age for older history)", len(res.Rejected), res.Rejected[0])
			}
			b.st.Batches.Add(1)
			b.st.Records.Add(int64(len(b.rep.Samples)))
			b.rep.Samples = b.rep.Samples[:0]
			return nil
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < 60:
			wait := 2 * time.Second
			if s := resp.Header.Get("Retry-After"); s != "" {
				if n, err := time.ParseDuration(s + "s"); err == nil {
					wait = n
				}
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return fmt.Errorf("report: %d %s", resp.StatusCode, bytes.TrimSpace(msg))
		}
	}
}

// DemoSchedule scripts a plausible history for villages over [from, to):
// per village and week about two link cuts of 3–90 minutes and, now and
// then, a power cut of half an hour to four hours or a probe fault; one
// village in twenty has a slow week (55–75 Mbps against 100). The same
// seed gives the same schedule.
func DemoSchedule(villages []string, from, to time.Time, seed uint64) []Period {
	var out []Period
	weeks := max(1, int(to.Sub(from)/(7*24*time.Hour)))
	span := int(to.Sub(from) / time.Minute)
	for _, code := range villages {
		r := rand.New(rand.NewPCG(seed, seedOf(code)^0x5eed))
		at := func(length int) time.Time {
			return from.Add(time.Duration(r.IntN(max(1, span-length))) * time.Minute)
		}
		for range weeks * 2 {
			n := 3 + r.IntN(88)
			s := at(n)
			out = append(out, Period{Village: code, Kind: PeriodLinkCut, Start: s, End: s.Add(time.Duration(n) * time.Minute)})
		}
		if r.IntN(3) == 0 {
			n := 30 + r.IntN(211)
			s := at(n)
			out = append(out, Period{Village: code, Kind: PeriodPowerCut, Start: s, End: s.Add(time.Duration(n) * time.Minute)})
		}
		if r.IntN(10) == 0 {
			n := 20 + r.IntN(100)
			s := at(n)
			out = append(out, Period{Village: code, Kind: PeriodProbeFault, Start: s, End: s.Add(time.Duration(n) * time.Minute)})
		}
		if r.IntN(20) == 0 {
			n := 7 * 24 * 60
			s := at(n)
			out = append(out, Period{Village: code, Kind: PeriodSlow, Start: s, End: s.Add(time.Duration(n) * time.Minute), Mbps: 55 + float64(r.IntN(21))})
		}
	}
	return out
}

// ProgrammeVillages lists the codes of the first cfg.Villages programme
// villages the server lists (all when cfg.Villages is 0).
func ProgrammeVillages(ctx context.Context, cfg Config) ([]string, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: time.Minute}
	}
	infos, err := cfg.programmeVillages(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Villages > 0 && len(infos) > cfg.Villages {
		infos = infos[:cfg.Villages]
	}
	out := make([]string, len(infos))
	for i, v := range infos {
		out[i] = v.Code
	}
	return out, nil
}
