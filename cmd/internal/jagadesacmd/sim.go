package jagadesacmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/probe/sim"
)

// runSim runs a simulated fleet of probes for the programme villages.
func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sim.Config
	var dir string
	fs.StringVar(&cfg.Server, "server", env.String("JAGADESA_SERVER", "http://127.0.0.1:8080"), "server URL (env JAGADESA_SERVER)")
	fs.StringVar(&cfg.AdminToken, "admin-token", getenv("JAGADESA_ADMIN_TOKEN"), "admin token, to enroll the simulated probes (env JAGADESA_ADMIN_TOKEN)")
	fs.IntVar(&cfg.Villages, "villages", 599, "how many programme villages to simulate")
	fs.DurationVar(&cfg.Interval, "interval", env.Duration("JAGADESA_SIM_INTERVAL", time.Minute), "time between each probe's rounds")
	fs.StringVar(&dir, "dir", "", "directory for the probes' spools (default: a temporary directory, removed at exit)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same fleet")
	fs.DurationVar(&cfg.OutageEvery, "outage-every", 10*time.Hour, "mean time between short link cuts per village")
	fs.DurationVar(&cfg.RegionalCutAfter, "regional-cut-after", 5*time.Minute, "when the regional power cut starts")
	fs.DurationVar(&cfg.RegionalCutFor, "regional-cut-for", 4*time.Minute, "how long it lasts (0: none)")
	memSpools := fs.String("memory-spools", "auto", "keep each simulated probe's records in memory instead of an on-disk spool: yes, no, or auto (yes above 2,000 villages, where one open spool each would run out of file descriptors)")
	backfill := fs.Duration("backfill", 0, "write this much history through the real ingest path, then exit (the server needs --max-record-age at least as long)")
	live := fs.Bool("live", false, "with --backfill: go on reporting live afterwards")
	schedule := fs.String("schedule", "", "with --backfill: a JSON list of periods (village, kind link_cut|power_cut|probe_fault|slow, start, end, mbps); default: a demo schedule from --seed")
	workers := fs.Int("workers", 4, "with --backfill: villages written at once")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the running fleet (after enrollment) to this file, to see what the simulator costs in a load run")
	fs.IntVar(&cfg.Senders, "senders", 256, "uploads under way at once, fleet-wide (a fixed pool of workers sends for every simulated probe; when all are busy, a probe's records wait for its next round)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		return errors.New("--admin-token (or JAGADESA_ADMIN_TOKEN) is required to enroll the simulated probes")
	}
	switch *memSpools {
	case "yes":
		cfg.MemorySpools = true
	case "no":
	case "auto":
		cfg.MemorySpools = cfg.Villages > 2000
	default:
		return fmt.Errorf("--memory-spools %q: yes, no or auto", *memSpools)
	}
	if *backfill > 0 {
		if err := runBackfill(ctx, cfg, *backfill, *schedule, *workers, stdout); err != nil || !*live {
			return err
		}
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "jagadesa-sim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg.Dir = dir
	// Upload failures during simulated cuts are expected: log only errors.
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	fleet, err := sim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer fleet.Close()
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "jagadesa sim: %d simulated probes reporting every %s to %s (regional power cut in kecamatan %s after %s)\n",
		fleet.Len(), cfg.Interval, cfg.Server, fleet.RegionalDistrict, cfg.RegionalCutAfter)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				st := &fleet.Stats
				fmt.Fprintf(stdout, "jagadesa sim: %d rounds, %d uploads, %d failed uploads (link cuts retry later), %d reports of %d records taken, %d records refused, %d uploads deferred, scheduler %s late\n",
					st.Rounds.Load(), st.Uploads.Load(), st.UploadFailures.Load(), st.Reports.Load(), st.Records.Load(), st.Rejected.Load(),
					st.Deferred.Load(), time.Duration(st.LagNs.Load()).Round(time.Millisecond))
			}
		}
	}()
	return fleet.Run(ctx)
}

// runBackfill writes d of history for the first --villages programme
// villages, ending at the current minute.
func runBackfill(ctx context.Context, cfg sim.Config, d time.Duration, schedulePath string, workers int, stdout io.Writer) error {
	codes, err := sim.ProgrammeVillages(ctx, cfg)
	if err != nil {
		return err
	}
	to := time.Now().Truncate(time.Minute)
	from := to.Add(-d)
	bc := sim.BackfillConfig{Server: cfg.Server, AdminToken: cfg.AdminToken, Villages: codes, From: from, To: to, Seed: cfg.Seed, Workers: workers}
	if schedulePath != "" {
		b, err := os.ReadFile(schedulePath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &bc.Schedule); err != nil {
			return fmt.Errorf("--schedule %s: %w", schedulePath, err)
		}
	} else {
		bc.Schedule = sim.DemoSchedule(codes, from, to, cfg.Seed)
	}
	began := time.Now()
	st, err := sim.Backfill(ctx, bc)
	if st != nil {
		fmt.Fprintf(stdout, "jagadesa sim: backfilled %s for %d villages: %d records in %d batches, %s\n",
			d, st.Villages.Load(), st.Records.Load(), st.Batches.Load(), time.Since(began).Round(time.Millisecond))
	}
	return err
}
