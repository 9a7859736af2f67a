package netlab

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The userspace ICMP echo responder: the far end of a lab answers echo
// requests itself, after a set delay and dropping a set share, so both the
// delay and every loss are known exactly. The kernel of that namespace is
// told not to answer (net.ipv4.icmp_echo_ignore_all=1). tc netem would do
// the same job but is missing from many kernels.

// RoleResponder is the helper role (RoleEnv) that serves as the responder.
const RoleResponder = "icmp-responder"

// Environment of a responder helper.
const (
	envAddr  = "JAGADESA_NETLAB_ADDR"
	envDelay = "JAGADESA_NETLAB_DELAY"
	envLoss  = "JAGADESA_NETLAB_LOSS"
	envSeed  = "JAGADESA_NETLAB_SEED"
)

// ResponderConfig sets up a responder.
type ResponderConfig struct {
	Addr  string        // local IPv4 address to answer on
	Delay time.Duration // from a request's arrival to its reply
	Loss  float64       // share of requests dropped, 0..1
	Seed  uint64        // of the drop decisions: same seed, same drops
}

// EchoID names one echo request.
type EchoID struct {
	From string `json:"from"`
	ID   int    `json:"id"`
	Seq  int    `json:"seq"`
}

// ResponderStats is the ground truth of one measurement: what arrived, what
// was answered and what was dropped on purpose.
type ResponderStats struct {
	Requests   int      `json:"requests"` // echo requests that arrived
	Replied    int      `json:"replied"`  // replies sent
	Dropped    int      `json:"dropped"`  // requests dropped on purpose
	Drops      []EchoID `json:"drops"`    // which, in arrival order
	SendErrors int      `json:"send_errors"`
	// OvershootUs are the microseconds by which each reply was handed to
	// the kernel later than Delay after its request arrived (the kernel's
	// receive timestamp): the responder's own share of the error.
	OvershootUs []float64 `json:"overshoot_us"`
}

// ServeResponder answers ICMP echo requests to cfg.Addr until ctx ends or
// ctl is closed. Each line "stats" read from ctl writes one JSON line of
// ResponderStats to out, counting since the previous "stats", and starts
// the count afresh. A line {"ready":true} on out says it is listening.
func ServeResponder(ctx context.Context, cfg ResponderConfig, ctl io.Reader, out io.Writer) error {
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return fmt.Errorf("loss %v not in 0..1", cfg.Loss)
	}
	pc, err := net.ListenPacket("ip4:icmp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("raw ICMP socket on %s: %w", cfg.Addr, err)
	}
	conn := pc.(*net.IPConn)
	// The kernel's arrival time of each request (SO_TIMESTAMPNS), so the
	// delay is counted from the wire, not from when this process woke up.
	if err := setTimestamps(conn); err != nil {
		conn.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()

	var (
		mu      sync.Mutex
		st      ResponderStats
		pending sync.WaitGroup
		outMu   sync.Mutex
	)
	enc := json.NewEncoder(out)
	emit := func(v any) error {
		outMu.Lock()
		defer outMu.Unlock()
		return enc.Encode(v)
	}
	// Control: "stats" lines until ctl ends; then the responder stops.
	go func() {
		defer cancel()
		sc := bufio.NewScanner(ctl)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "stats" {
				continue
			}
			mu.Lock()
			snap := st
			st = ResponderStats{}
			mu.Unlock()
			if snap.Drops == nil {
				snap.Drops = []EchoID{}
			}
			if snap.OvershootUs == nil {
				snap.OvershootUs = []float64{}
			}
			if emit(snap) != nil {
				return
			}
		}
	}()
	if err := emit(map[string]bool{"ready": true}); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6a616761)) // "jaga"
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := conn.ReadMsgIP(buf, oob) // with the IPv4 header
		read := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				pending.Wait()
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		if at, ok := arrival(oob[:oobn]); ok && at.Before(read) {
			read = at
		}
		if n < 20 || int(buf[0]&0x0f)*4 > n {
			continue
		}
		pkt := buf[int(buf[0]&0x0f)*4 : n]
		if len(pkt) < 8 || pkt[0] != 8 || pkt[1] != 0 { // echo request, code 0
			continue
		}
		id := EchoID{From: from.String(), ID: int(pkt[4])<<8 | int(pkt[5]), Seq: int(pkt[6])<<8 | int(pkt[7])}
		drop := rng.Float64() < cfg.Loss
		mu.Lock()
		st.Requests++
		if drop {
			st.Dropped++
			st.Drops = append(st.Drops, id)
		}
		mu.Unlock()
		if drop {
			continue
		}
		reply := slices.Clone(pkt)
		reply[0] = 0 // echo reply
		reply[2], reply[3] = 0, 0
		sum := checksum(reply)
		reply[2], reply[3] = byte(sum>>8), byte(sum)
		pending.Add(1)
		go func() {
			defer pending.Done()
			waitUntil(read.Add(cfg.Delay))
			// Lateness up to the send: the send itself, on a veth, already
			// carries the packet into the other namespace.
			over := float64(time.Since(read)-cfg.Delay) / float64(time.Microsecond)
			_, werr := conn.WriteTo(reply, from)
			mu.Lock()
			if werr != nil {
				st.SendErrors++
			} else {
				st.Replied++
				st.OvershootUs = append(st.OvershootUs, over)
			}
			mu.Unlock()
		}()
	}
}

// spinFor is how long before a reply is due waitUntil stops sleeping and
// polls the clock: Go's timers wake up to a millisecond late on an idle
// process, which would be the whole error budget.
const spinFor = 2 * time.Millisecond

// waitUntil returns at t, within microseconds: sleep most of the way, then
// spin.
func waitUntil(t time.Time) {
	if d := time.Until(t) - spinFor; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}

// setTimestamps asks the kernel for each packet's arrival time.
func setTimestamps(c *net.IPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_TIMESTAMPNS: %w", serr)
	}
	return nil
}

// arrival reads the SCM_TIMESTAMPNS control message: a struct timespec of
// two native words.
func arrival(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_TIMESTAMPNS {
			continue
		}
		switch len(m.Data) {
		case 16:
			sec, nsec := binary.NativeEndian.Uint64(m.Data), binary.NativeEndian.Uint64(m.Data[8:])
			return time.Unix(int64(sec), int64(nsec)), true
		case 8:
			sec, nsec := binary.NativeEndian.Uint32(m.Data), binary.NativeEndian.Uint32(m.Data[4:])
			return time.Unix(int64(int32(sec)), int64(nsec)), true
		}
	}
	return time.Time{}, false
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// HelperMain runs netlab's own helper when RoleEnv asks for it and reports
// whether it did, with the exit code. A test package's TestMain calls it
// first: `if code, ok := netlab.HelperMain(); ok { os.Exit(code) }`.
func HelperMain() (code int, ran bool) {
	if os.Getenv(RoleEnv) != RoleResponder {
		return 0, false
	}
	var cfg ResponderConfig
	var errs []error
	cfg.Addr = os.Getenv(envAddr)
	var err error
	if cfg.Delay, err = time.ParseDuration(os.Getenv(envDelay)); err != nil {
		errs = append(errs, err)
	}
	if cfg.Loss, err = strconv.ParseFloat(os.Getenv(envLoss), 64); err != nil {
		errs = append(errs, err)
	}
	if cfg.Seed, err = strconv.ParseUint(os.Getenv(envSeed), 10, 64); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "responder:", err)
		return 2, true
	}
	// Bounded even if the parent vanishes without closing our stdin.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := ServeResponder(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "responder:", err)
		return 1, true
	}
	return 0, true
}

// Responder is a running responder helper in a lab's far namespace.
type Responder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	lines chan string
}

// StartResponder makes Far answer ICMP echo at FarAddr in userspace: it
// stops Far's kernel from answering and starts the responder helper there
// (the test binary re-executed; its TestMain must call HelperMain). The
// responder ends when ctx does or Stop is called.
func (l *Lab) StartResponder(ctx context.Context, delay time.Duration, loss float64, seed uint64) (*Responder, error) {
	if err := l.Sysctl(ctx, l.Far, "net.ipv4.icmp_echo_ignore_all", "1"); err != nil {
		return nil, err
	}
	cmd, err := l.SelfCommand(ctx, l.Far, RoleResponder,
		envAddr+"="+FarAddr.String(), envDelay+"="+delay.String(),
		envLoss+"="+strconv.FormatFloat(loss, 'g', -1, 64), envSeed+"="+strconv.FormatUint(seed, 10))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start responder: %w", err)
	}
	r := &Responder{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	line, err := r.next(10 * time.Second)
	if err != nil || !strings.Contains(line, `"ready":true`) {
		r.Stop()
		return nil, fmt.Errorf("responder did not start: %q %v", line, err)
	}
	return r, nil
}

func (r *Responder) next(wait time.Duration) (string, error) {
	select {
	case line, ok := <-r.lines:
		if !ok {
			return "", errors.New("responder exited")
		}
		return line, nil
	case <-time.After(wait):
		return "", errors.New("no answer from the responder")
	}
}

// Stats returns the ground truth since the previous call (or the start) and
// starts counting afresh. Call it once the tool measured has finished, so
// no reply is still waiting out its delay.
func (r *Responder) Stats() (ResponderStats, error) {
	var st ResponderStats
	if _, err := io.WriteString(r.stdin, "stats\n"); err != nil {
		return st, fmt.Errorf("ask responder: %w", err)
	}
	line, err := r.next(10 * time.Second)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		return st, fmt.Errorf("responder stats %q: %w", line, err)
	}
	return st, nil
}

// Stop ends the responder (closing its input) and waits for it, bounded.
func (r *Responder) Stop() error {
	r.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		return <-done
	}
}
