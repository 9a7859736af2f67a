package main

import (
	"context"
	"runtime"
	"testing"
	"time"
)

var sink []byte

// TestReleaseMemory: after the threshold's worth of allocation, the free
// pages go back to the kernel (a forced collection, as debug.FreeOSMemory
// does); without it, nothing is forced.
func TestReleaseMemory(t *testing.T) {
	forced := func() uint32 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.NumForcedGC
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go releaseMemory(ctx, 10*time.Millisecond, 1<<20)
	time.Sleep(50 * time.Millisecond)
	before := forced()
	time.Sleep(100 * time.Millisecond)
	if n := forced(); n != before {
		t.Fatalf("%d forced collections without allocation", n-before)
	}
	for range 64 {
		sink = make([]byte, 64<<10) // 4 MiB in all, garbage at once
	}
	deadline := time.Now().Add(5 * time.Second)
	for forced() == before {
		if time.Now().After(deadline) {
			t.Fatal("no forced collection after 4 MiB of allocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
