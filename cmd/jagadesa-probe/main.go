// Command jagadesa-probe is the JagaDesa measurement agent for village
// routers. See README.md for installing and enrolling it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go releaseMemory(ctx, 5*time.Second, 512<<10)
	probecmd.Version = version
	if err := probecmd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jagadesa-probe:", err)
		os.Exit(1)
	}
}

// releaseMemory gives the heap's free pages back to the kernel soon after
// the probe allocated more than threshold bytes (a round and its upload:
// the gzip writer alone is 800 KB), where the Go runtime would keep them
// for minutes. The probe's live heap is well under a megabyte; what it
// keeps beyond that is memory the router's other services cannot use.
// Measured on the default schedule: 4.7 MiB of private memory at most
// without it, 2.6–2.8 MiB with it (docs/performance.md). It costs one
// garbage collection a round, and a ReadMemStats (a stop of microseconds
// on a heap this small) every few seconds. Unlike a GOMEMLIMIT it never
// makes the collector run hot when the heap is large for a while (a big
// threat feed, a backlog being uploaded): a limit of 6 MiB saved as much
// on the default schedule, but at 5 MiB the collector ran eight times a
// second, and a 16 MB feed would keep it there. With such a heap (over
// 8 MiB) it leaves the pacing to the runtime: a forced collection would
// cost more and give back proportionally less.
func releaseMemory(ctx context.Context, every time.Duration, threshold uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m) // stops the world for microseconds: the heap is small
	last := m.TotalAlloc
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runtime.ReadMemStats(&m)
		if m.TotalAlloc-last < threshold {
			continue
		}
		if m.HeapAlloc > 8<<20 {
			last = m.TotalAlloc
			continue
		}
		debug.FreeOSMemory()
		runtime.ReadMemStats(&m)
		last = m.TotalAlloc
	}
}
