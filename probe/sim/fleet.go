package sim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// Config describes a simulated fleet.
type Config struct {
	Server     string
	AdminToken string
	Villages   int           // how many programme villages to simulate
	Interval   time.Duration // between rounds (default 60 s)
	Count      int           // pings per simulated round (default 10)
	Dir        string        // spools live here, one directory per village
	Seed       uint64

	// OutageEvery is the mean time between short link cuts per village
	// (default 10 h); a cut lasts 2–6 minutes.
	OutageEvery time.Duration
	// RegionalCutAfter and RegionalCutFor place the one regional power
	// cut: every simulated village of one kecamatan goes dark (defaults
	// 5 min after start, for 4 min). A zero RegionalCutFor disables it.
	RegionalCutAfter, RegionalCutFor time.Duration

	Client *http.Client
	Logger *slog.Logger
	// Senders is how many uploads run at once, fleet-wide (default 256,
	// the default client's connections): a fixed pool of workers sends for
	// every probe, each probe one batch at a time, as a real one does.
	// When all are busy (the server is slow), a probe's records wait for
	// its next round.
	Senders int
	// MemorySpools keeps each probe's records in memory instead of an
	// on-disk spool: for fleets of tens of thousands, where one open spool
	// per probe would run out of file descriptors.
	MemorySpools bool
}

// Stats counts what the fleet did.
type Stats struct {
	// Rounds are measurement rounds simulated; Uploads and UploadFailures
	// count a probe's attempts to empty its queue (one a round at most).
	Rounds, Uploads, UploadFailures atomic.Int64
	// Reports and Records are the reports the server took (2xx) and the
	// records they held; Rejected the records it refused.
	Reports, Records, Rejected atomic.Int64
	// Deferred counts rounds whose upload did not start because the
	// probe's previous upload was still under way or backing off.
	Deferred atomic.Int64
	// LagNs is how late the scheduler ran its latest round: a fleet that
	// keeps up stays within milliseconds.
	LagNs atomic.Int64
}

// villageInfo is the part of GET /api/v1/villages the fleet needs.
type villageInfo struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	DistrictCode string `json:"district_code"`
	District     string `json:"district"`
	RegencyCode  string `json:"regency_code"`
}

// Fleet is a running simulation.
type Fleet struct {
	// queueBytes bounds each probe's in-memory queue (memQueueBytes).
	queueBytes int64
	cfg        Config
	villages   []*village
	Stats      Stats
	// RegionalDistrict is the kecamatan whose power is cut.
	RegionalDistrict string

	reportsURL, keyURL string
	work               chan *village
}

// village is one simulated probe. The scheduler goroutine alone measures
// (the fields above the line); a sender worker, one at a time (busy), uploads.
type village struct {
	info   villageInfo
	link   *Link
	spool  queue
	bootID string
	booted time.Time
	start  time.Time
	clean  bool
	wasOff bool
	down   time.Time // link cut until

	// up is false while the link or the power is cut: uploads fail as a
	// cut village's router's would.
	up atomic.Bool
	// busy is set from when an upload is handed to a worker until it ends.
	busy atomic.Bool
	// retryAt (Unix ns) is when the backoff after a failed upload ends.
	retryAt  atomic.Int64
	rejected atomic.Uint64

	// The uploader's own state.
	key           ed25519.PrivateKey
	token         string
	stream        string
	head, tail    []byte // the report's JSON before and after sent_ms's value (encodeReport)
	keyRegistered bool
	failures      int
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Count <= 0 {
		c.Count = 10
	}
	if c.OutageEvery <= 0 {
		c.OutageEvery = 10 * time.Hour
	}
	if c.RegionalCutAfter == 0 {
		c.RegionalCutAfter = 5 * time.Minute
	}
	if c.Client == nil {
		// The fleet shares one client, with a bounded number of
		// connections: tens of thousands of probes uploading at once must
		// queue for a connection, not open one each (the national run
		// exhausted the server's file descriptors).
		// As many idle as open: fewer would close a connection after each
		// upload beyond them, and open another for the next.
		c.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Senders <= 0 {
		c.Senders = 256
	}
}

// Start enrolls the fleet's probes and opens their spools.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	cfg.defaults()
	if cfg.Server == "" || cfg.AdminToken == "" || cfg.Dir == "" {
		return nil, errors.New("sim: server, admin token and dir are required")
	}
	infos, err := cfg.programmeVillages(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Villages > 0 && cfg.Villages < len(infos) {
		infos = infos[:cfg.Villages]
	}
	f := &Fleet{cfg: cfg, queueBytes: memQueueBytes(len(infos))}
	f.RegionalDistrict = busiestDistrict(infos)
	base := strings.TrimRight(cfg.Server, "/")
	f.reportsURL, f.keyURL = base+"/api/v1/reports", base+"/api/v1/probes/key"

	// Enroll 16 at a time, from a fixed set of goroutines (not one per
	// village: 83,763 parked goroutines cost more than half a gigabyte).
	f.villages = make([]*village, len(infos))
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(16, len(infos)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(infos) || ctx.Err() != nil {
					return
				}
				v, err := f.newVillage(ctx, infos[i])
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("village %s: %w", infos[i].Code, err)
					next.Store(int64(len(infos))) // stop the others
				}
				f.villages[i] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		f.Close()
		return nil, first
	}
	sort.Slice(f.villages, func(i, j int) bool { return f.villages[i].info.Code < f.villages[j].info.Code })
	return f, nil
}

// Len is the number of simulated villages.
func (f *Fleet) Len() int { return len(f.villages) }

func (cfg *Config) programmeVillages(ctx context.Context) ([]villageInfo, error) {
	var body struct {
		Villages []struct {
			villageInfo
			Programme *jagadesa.Programme `json:"programme"`
		} `json:"villages"`
	}
	if err := cfg.call(ctx, http.MethodGet, "/api/v1/villages", nil, &body); err != nil {
		return nil, fmt.Errorf("list programme villages: %w", err)
	}
	var out []villageInfo
	for _, v := range body.Villages {
		if v.Programme != nil {
			out = append(out, v.villageInfo)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the server lists no programme villages")
	}
	return out, nil
}

func (cfg *Config) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(cfg.Server, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

func (f *Fleet) newVillage(ctx context.Context, info villageInfo) (*village, error) {
	// Each simulated probe signs its batches with a key of its own, as a
	// real one does, bound at enrollment; the key lives for the run, like
	// the enrollment.
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	var enr struct {
		Token string `json:"token"`
	}
	if err := f.cfg.call(ctx, http.MethodPost, "/api/v1/probes", map[string]string{"village": info.Code, "public_key": jagadesa.FormatPublicKey(pub)}, &enr); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	var sp queue = newMemQueue(f.queueBytes)
	if !f.cfg.MemorySpools {
		disk, err := spool.Open(filepath.Join(f.cfg.Dir, info.Code), spool.Options{MaxBytes: 1 << 20, SyncEvery: 1 << 30})
		if err != nil {
			return nil, err
		}
		sp = disk
	}
	now := time.Now()
	link := NewLink(info.Code, f.cfg.Seed)
	v := &village{
		info: info, link: link, spool: sp, clean: true, start: now,
		bootID: bootID(link.Rand), booted: now.Add(-time.Duration(link.Rand.IntN(30*86400)) * time.Second),
		key: key, token: enr.Token,
		// The key was bound at enrollment (public_key above).
		keyRegistered: true,
	}
	if err := v.setStream("sim-" + info.Code); err != nil {
		return nil, err
	}
	v.up.Store(true)
	return v, nil
}

func bootID(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

// busiestDistrict is the kecamatan with the most simulated villages: the one
// whose power cut shows regional correlation best.
func busiestDistrict(infos []villageInfo) string {
	n := map[string]int{}
	best := ""
	for _, v := range infos {
		n[v.DistrictCode]++
		if n[v.DistrictCode] > n[best] || (n[v.DistrictCode] == n[best] && v.DistrictCode < best) {
			best = v.DistrictCode
		}
	}
	return best
}

// Run drives every village until ctx ends. One scheduler goroutine runs
// each village's measurement round once an interval, the fleet spread
// evenly over it as real probes are, and hands the village's upload to a
// fixed pool of Senders workers.
func (f *Fleet) Run(ctx context.Context) error {
	if len(f.villages) == 0 {
		<-ctx.Done()
		return nil
	}
	// Room for a few seconds of national rounds, in case the workers
	// stall briefly (a garbage collection, a slow answer).
	f.work = make(chan *village, 4*f.cfg.Senders)
	var wg sync.WaitGroup
	for range f.cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.sender(ctx)
		}()
	}
	f.schedule(ctx, time.Now())
	wg.Wait()
	return nil
}

// schedule runs the rounds: village i of n at start + k·interval +
// i·interval/n, for k = 0, 1, … until ctx ends.
func (f *Fleet) schedule(ctx context.Context, start time.Time) {
	n := time.Duration(len(f.villages))
	for k := time.Duration(0); ; k++ {
		for i, v := range f.villages {
			due := start.Add(k*f.cfg.Interval + f.cfg.Interval*time.Duration(i)/n)
			// Sleep only for gaps worth a timer; a few villages share each
			// wake-up at national scale (~1,400 rounds a second).
			if d := time.Until(due); d > 2*time.Millisecond {
				if sleep(ctx, d) != nil {
					return
				}
			} else if ctx.Err() != nil {
				return
			}
			now := time.Now()
			f.Stats.LagNs.Store(int64(max(0, now.Sub(due))))
			f.tick(ctx, v, now, start)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tick is one village's turn: a measurement round, then its upload, unless
// one is still under way or backing off after a failure (the records wait
// in the queue for the next turn).
func (f *Fleet) tick(ctx context.Context, v *village, now, fleetStart time.Time) {
	off := f.cfg.RegionalCutFor > 0 && v.info.DistrictCode == f.RegionalDistrict &&
		now.Sub(fleetStart) >= f.cfg.RegionalCutAfter && now.Sub(fleetStart) < f.cfg.RegionalCutAfter+f.cfg.RegionalCutFor
	if off {
		// Power is out: the router is dark, nothing is measured or sent.
		v.up.Store(false)
		v.wasOff = true
		return
	}
	if v.wasOff { // power is back: the router boots, the probe restarts uncleanly
		v.wasOff = false
		v.bootID, v.booted, v.start, v.clean = bootID(v.link.Rand), now, now, false
		f.event(v, now, "probe_start", "probe started after an unclean stop")
	}
	f.round(v, now)
	v.up.Store(now.After(v.down))
	if now.UnixNano() < v.retryAt.Load() || !v.busy.CompareAndSwap(false, true) {
		f.Stats.Deferred.Add(1)
		return
	}
	// Every worker busy with a backlog of uploads waiting: the server is
	// not keeping up. The probe's records wait in its queue for its next
	// round, as a real probe's would, and the rounds stay on time.
	select {
	case f.work <- v:
	default:
		v.busy.Store(false)
		f.Stats.Deferred.Add(1)
	}
}

// round simulates one measurement round, maybe starting a short link cut.
func (f *Fleet) round(v *village, now time.Time) {
	f.Stats.Rounds.Add(1)
	if now.After(v.down) && v.link.Rand.Float64() < float64(f.cfg.Interval)/float64(f.cfg.OutageEvery) {
		v.down = now.Add(2*time.Minute + time.Duration(v.link.Rand.IntN(240))*time.Second)
	}
	linkUp := now.After(v.down)
	for _, t := range Targets {
		b, err := probe.EncodeSample(v.link.Round(now, t, f.cfg.Count, linkUp))
		f.append(v, b, err)
	}
	st := v.spool.Stats()
	b, err := probe.EncodeSample(jagadesa.Sample{TimeMs: now.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{
		BootID: v.bootID, UptimeS: now.Sub(v.booted).Seconds(), ProbeStartMs: v.start.UnixMilli(), PrevClean: v.clean,
		SpoolBytes: st.Bytes, SpoolDropped: st.Dropped, Rejected: v.rejected.Load(), IntervalS: f.cfg.Interval.Seconds(), ProbeVersion: "sim",
	}})
	f.append(v, b, err)
}

func (f *Fleet) event(v *village, now time.Time, kind, msg string) {
	b, err := probe.EncodeEvent(jagadesa.Event{TimeMs: now.UnixMilli(), Kind: kind, Severity: "info", Message: msg,
		Attrs: map[string]string{"prev_clean": "false", "simulated": "power_cut"}})
	f.append(v, b, err)
}

func (f *Fleet) append(v *village, payload []byte, err error) {
	if mq, ok := v.spool.(*memQueue); ok && err == nil {
		mq.appendOwned(payload) // payload is fresh from the encoder
		return
	}
	if err == nil {
		_, err = v.spool.Append(payload)
	}
	if err != nil {
		f.cfg.Logger.Error("sim spool append", "village", v.info.Code, "err", err)
	}
}

// Close closes every spool.
func (f *Fleet) Close() {
	for _, v := range f.villages {
		v.spool.Close()
	}
}
