package probe

import (
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x * float64(time.Millisecond))
		}
		return out
	}
	tests := []struct {
		name                   string
		sent                   int
		rtts                   []time.Duration
		received               int
		min, avg, max, sd, jit float64
	}{
		{"all lost", 10, nil, 0, 0, 0, 0, 0, 0},
		{"nothing sent counts as one lost", 0, nil, 0, 0, 0, 0, 0, 0},
		{"steady", 4, ms(10, 10, 10, 10), 4, 10, 10, 10, 0, 0},
		// D = 10, 10 → J = 10/16, then J += (10 - J)/16
		{"alternating", 3, ms(10, 20, 10), 3, 10, 40.0 / 3, 20, math.Sqrt(200.0 / 9), 10.0/16 + (10-10.0/16)/16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Summarise(tt.sent, tt.rtts)
			if p.Received != tt.received || p.Sent < p.Received || p.Sent < 1 {
				t.Fatalf("sent/received = %d/%d", p.Sent, p.Received)
			}
			for name, got := range map[string][2]float64{"min": {p.MinMs, tt.min}, "avg": {p.AvgMs, tt.avg}, "max": {p.MaxMs, tt.max}, "stddev": {p.StddevMs, tt.sd}, "jitter": {p.JitterMs, tt.jit}} {
				if math.Abs(got[0]-got[1]) > 1e-9 {
					t.Errorf("%s = %v, want %v", name, got[0], got[1])
				}
			}
			if len(p.RTTsMs) != p.Received {
				t.Errorf("%d RTTs kept for %d received", len(p.RTTsMs), p.Received)
			}
		})
	}
}

// TestICMPLoopbackPrivileged sends real echo requests to 127.0.0.1 over a
// raw socket. It needs root or cap_net_raw, which CI has.
func TestICMPLoopbackPrivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test sends raw ICMP and must run as root (CI does)")
	}
	s, err := ICMPCheck(context.Background(), "127.0.0.1", CheckOptions{Count: 5, Interval: 20 * time.Millisecond, Privileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.ICMP.Sent != 5 || s.ICMP.Received != 5 {
		t.Fatalf("sent/received %d/%d on loopback", s.ICMP.Sent, s.ICMP.Received)
	}
	if s.ICMP.MinMs <= 0 || s.ICMP.MaxMs > 50 {
		t.Fatalf("implausible loopback RTTs: min %v max %v", s.ICMP.MinMs, s.ICMP.MaxMs)
	}
}

// TestICMPUnprivileged uses the kernel's ICMP datagram socket, which the
// ping_group_range sysctl allows or forbids; either way the probe must
// behave: measure, or explain how to allow it.
func TestICMPUnprivileged(t *testing.T) {
	allowed := pingGroupAllows(t, os.Getgid())
	s, err := ICMPCheck(context.Background(), "127.0.0.1", CheckOptions{Count: 3, Interval: 20 * time.Millisecond})
	switch {
	case allowed && err != nil:
		t.Fatalf("ping_group_range allows gid %d but the check failed: %v", os.Getgid(), err)
	case allowed && s.ICMP.Received != 3:
		t.Fatalf("received %d of 3 on loopback", s.ICMP.Received)
	case !allowed && !errors.Is(err, ErrPermission):
		t.Fatalf("ping_group_range forbids gid %d; want ErrPermission, got %v", os.Getgid(), err)
	case !allowed && !strings.Contains(err.Error(), "cap_net_raw"):
		t.Fatalf("the error must say how to fix it: %v", err)
	}
}

func pingGroupAllows(t *testing.T, gid int) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return gid >= lo && gid <= hi
}

func TestICMPHonoursDeadline(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root for raw ICMP")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// 100 packets at 100 ms would take 10 s; the deadline cuts the round.
	s, err := ICMPCheck(ctx, "127.0.0.1", CheckOptions{Count: 100, Interval: 100 * time.Millisecond, Privileged: true})
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("round took %s despite a 300 ms deadline", el)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s.ICMP.Received == 0 || s.ICMP.Received > s.ICMP.Sent {
		t.Fatalf("sent/received %d/%d", s.ICMP.Sent, s.ICMP.Received)
	}
}
