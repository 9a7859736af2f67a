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
	// MemorySpools keeps each probe's records in memory instead of an
	// on-disk spool: for fleets of tens of thousands, where one open spool
	// per probe would run out of file descriptors.
	MemorySpools bool
}

// Stats counts what the fleet did.
type Stats struct {
	Rounds, Uploads, UploadFailures atomic.Int64
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
}

type village struct {
	info   villageInfo
	link   *Link
	sender *probe.Sender
	spool  queue
	net    *linkTransport
	bootID string
	booted time.Time
	start  time.Time
	clean  bool
	down   time.Time // link cut until
}

// linkTransport fails every request while the simulated link or power is
// down, so the real sender sees what a cut village's router would.
type linkTransport struct {
	up   atomic.Bool
	next http.RoundTripper
}

func (t *linkTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.up.Load() {
		return nil, errors.New("simulated link down: no route to host")
	}
	return t.next.RoundTrip(r)
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
		c.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 256}}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
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

	var mu sync.Mutex
	errc := make(chan error, len(infos))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, info := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := f.newVillage(ctx, info)
			if err != nil {
				errc <- fmt.Errorf("village %s: %w", info.Code, err)
				return
			}
			mu.Lock()
			f.villages = append(f.villages, v)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		f.Close()
		return nil, err
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
	tr := &linkTransport{next: f.cfg.Client.Transport}
	if tr.next == nil {
		tr.next = http.DefaultTransport
	}
	tr.up.Store(true)
	now := time.Now()
	link := NewLink(info.Code, f.cfg.Seed)
	v := &village{
		info: info, link: link, spool: sp, net: tr, clean: true, start: now,
		bootID: bootID(link.Rand), booted: now.Add(-time.Duration(link.Rand.IntN(30*86400)) * time.Second),
		sender: &probe.Sender{
			Server: f.cfg.Server, Token: enr.Token, Village: info.Code, Queue: sp,
			Client:  &http.Client{Timeout: f.cfg.Client.Timeout, Transport: tr},
			Logger:  f.cfg.Logger.With("village", info.Code),
			Version: "sim", MinBackoff: 2 * time.Second, MaxBackoff: f.cfg.Interval,
			Key: key, Stream: "sim-" + info.Code,
		},
	}
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

// Run drives every village until ctx ends.
func (f *Fleet) Run(ctx context.Context) error {
	start := time.Now()
	var wg sync.WaitGroup
	for i, v := range f.villages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the fleet over the interval, as real probes are.
			phase := f.cfg.Interval * time.Duration(i) / time.Duration(len(f.villages))
			if i == 0 || sleep(ctx, phase) == nil {
				f.runVillage(ctx, v, start)
			}
		}()
	}
	wg.Wait()
	return nil
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

func (f *Fleet) runVillage(ctx context.Context, v *village, fleetStart time.Time) {
	tick := time.NewTicker(f.cfg.Interval)
	defer tick.Stop()
	wasOff := false
	for {
		now := time.Now()
		off := f.cfg.RegionalCutFor > 0 && v.info.DistrictCode == f.RegionalDistrict &&
			now.Sub(fleetStart) >= f.cfg.RegionalCutAfter && now.Sub(fleetStart) < f.cfg.RegionalCutAfter+f.cfg.RegionalCutFor
		switch {
		case off:
			// Power is out: the router is dark, nothing is measured or sent.
			v.net.up.Store(false)
			wasOff = true
		default:
			if wasOff { // power is back: the router boots, the probe restarts uncleanly
				wasOff = false
				v.bootID, v.booted, v.start, v.clean = bootID(v.link.Rand), now, now, false
				f.event(v, now, "probe_start", "probe started after an unclean stop")
			}
			f.round(v, now)
			v.net.up.Store(now.After(v.down))
			if err := v.sender.Drain(ctx); err != nil && ctx.Err() == nil {
				f.Stats.UploadFailures.Add(1)
			} else if err == nil {
				f.Stats.Uploads.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
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
	b, err := probe.EncodeSample(jagadesa.Sample{TimeMs: now.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{
		BootID: v.bootID, UptimeS: now.Sub(v.booted).Seconds(), ProbeStartMs: v.start.UnixMilli(), PrevClean: v.clean,
		SpoolBytes: v.spool.Stats().Bytes, SpoolDropped: v.spool.Stats().Dropped, IntervalS: f.cfg.Interval.Seconds(), ProbeVersion: "sim",
	}})
	f.append(v, b, err)
}

func (f *Fleet) event(v *village, now time.Time, kind, msg string) {
	b, err := probe.EncodeEvent(jagadesa.Event{TimeMs: now.UnixMilli(), Kind: kind, Severity: "info", Message: msg,
		Attrs: map[string]string{"prev_clean": "false", "simulated": "power_cut"}})
	f.append(v, b, err)
}

func (f *Fleet) append(v *village, payload []byte, err error) {
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
