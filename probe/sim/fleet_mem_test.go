package sim

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestFleetMemory measures what a national fleet keeps in memory: set
// JAGADESA_SIM_MEMORY to the number of probes (83763 for the national run).
// It enrolls them against a discarding server, runs a few seconds of rounds
// at the national rate, and logs the live heap per probe.
func TestFleetMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("JAGADESA_SIM_MEMORY"))
	if n == 0 {
		t.Skip("set JAGADESA_SIM_MEMORY=83763 to measure a national fleet's memory")
	}
	srv, ts := newFakeServer(t, n, false)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Start(context.Background(), Config{Server: ts.URL, AdminToken: "test", Villages: n, Interval: time.Minute,
		Dir: t.TempDir(), MemorySpools: true, OutageEvery: 1e6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d probes enrolled: live heap %.1f MB (%d B a probe), %d goroutines", n, float64(ms.HeapAlloc-before.HeapAlloc)/1e6,
		(ms.HeapAlloc-before.HeapAlloc)/uint64(n), runtime.NumGoroutine())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.Run(ctx)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("after %d reports: live heap %.1f MB (%d B a probe), heap in use %.1f MB, sys %.1f MB", srv.reports.Load(), float64(ms.HeapAlloc-before.HeapAlloc)/1e6,
		(ms.HeapAlloc-before.HeapAlloc)/uint64(n), float64(ms.HeapInuse)/1e6, float64(ms.Sys)/1e6)
}
