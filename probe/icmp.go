package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/jagadesa/jagadesa"
)

// newPinger is a variable so tests can see what a round is configured with.
var newPinger = probing.NewPinger

// ErrPermission explains how to let the probe send ICMP.
var ErrPermission = errors.New("not permitted to send ICMP: run the probe as root, give the binary cap_net_raw " +
	"(setcap cap_net_raw+ep jagadesa-probe), or allow unprivileged ping with " +
	"sysctl -w net.ipv4.ping_group_range='0 2147483647'")

// ICMPCheck sends opts.Count echo requests to target and summarises the
// round: loss, min/avg/max/stddev, RFC 3550 jitter and every RTT.
func ICMPCheck(ctx context.Context, target string, opts CheckOptions) (jagadesa.Sample, error) {
	if opts.Count <= 0 {
		opts.Count = 10
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	p, err := newPinger(target)
	if err != nil {
		return jagadesa.Sample{}, fmt.Errorf("icmp %s: resolve: %w", target, err)
	}
	p.Count = opts.Count
	p.Interval = opts.Interval
	p.RecordRtts = true
	p.RecordTTLs = false
	p.SetPrivileged(opts.Privileged)
	// Without a timeout pro-bing waits for Count replies forever when any
	// packet is lost: allow the whole round plus a last packet's wait.
	p.Timeout = time.Duration(opts.Count)*opts.Interval + 2*time.Second
	// Finish a little before the caller's deadline, so the round ends with
	// its statistics rather than with the context's error.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 50*time.Millisecond; left < p.Timeout {
			p.Timeout = max(left, time.Millisecond)
		}
	}
	if err := p.RunWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
			return jagadesa.Sample{}, fmt.Errorf("icmp %s: %w (%v)", target, ErrPermission, err)
		}
		return jagadesa.Sample{}, fmt.Errorf("icmp %s: %w", target, err)
	}
	st := p.Statistics()
	return jagadesa.Sample{
		TimeMs: time.Now().UnixMilli(),
		Kind:   jagadesa.KindICMP,
		Target: target,
		ICMP:   Summarise(st.PacketsSent, st.Rtts),
	}, nil
}

// Summarise turns one round's RTTs into the wire summary. sent counts the
// requests that left; a round that could not send at all counts as sent so
// the loss is 100% rather than a division by zero.
func Summarise(sent int, rtts []time.Duration) *jagadesa.ICMP {
	out := &jagadesa.ICMP{Sent: max(sent, 1), Received: min(len(rtts), max(sent, 1))}
	if out.Received == 0 {
		return out
	}
	rtts = rtts[:out.Received]
	out.RTTsMs = make([]float64, len(rtts))
	out.MinMs = math.Inf(1)
	var sum float64
	for i, d := range rtts {
		ms := float64(d) / float64(time.Millisecond)
		out.RTTsMs[i] = ms
		sum += ms
		out.MinMs = min(out.MinMs, ms)
		out.MaxMs = max(out.MaxMs, ms)
	}
	n := float64(len(rtts))
	out.AvgMs = sum / n
	var sq float64
	for _, ms := range out.RTTsMs {
		sq += (ms - out.AvgMs) * (ms - out.AvgMs)
	}
	out.StddevMs = math.Sqrt(sq / n)
	out.JitterMs = jitter(out.RTTsMs)
	return out
}

// jitter is RFC 3550's interarrival jitter (section 6.4.1) applied to the
// round's RTTs in arrival order: J += (|D| - J) / 16, with D the change in
// transit time between consecutive packets.
func jitter(rtts []float64) float64 {
	var j float64
	for i := 1; i < len(rtts); i++ {
		d := math.Abs(rtts[i] - rtts[i-1])
		j += (d - j) / 16
	}
	return j
}
