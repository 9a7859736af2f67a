package sim

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFleet runs a fleet of simulated probes against a server that
// discards their reports, and reports what each delivered report cost the
// process: CPU (the fleet's and the discarding server's together, so an
// upper bound on the fleet's), allocations and bytes allocated. One op is
// one delivered report.
func BenchmarkFleet(b *testing.B) {
	const villages = 5000
	srv, ts := newFakeServer(b, villages, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := Start(ctx, Config{Server: ts.URL, AdminToken: "bench", Villages: villages, Interval: 2 * time.Second,
		Dir: b.TempDir(), MemorySpools: true, OutageEvery: 1e6 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	// Let the first round of every probe pass (key registration, warm-up).
	for srv.reports.Load() < villages {
		time.Sleep(10 * time.Millisecond)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, r0, t0 := cpuTime(), srv.reports.Load(), time.Now()
	b.ResetTimer()
	for srv.reports.Load()-r0 < int64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cpu, n, wall := cpuTime()-cpu0, srv.reports.Load()-r0, time.Since(t0)
	runtime.ReadMemStats(&ms1)
	cancel()
	<-done
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/report")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n), "allocs/report")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n), "B/report")
	b.ReportMetric(float64(n)/wall.Seconds(), "reports/s")
}

// cpuTime is the process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
