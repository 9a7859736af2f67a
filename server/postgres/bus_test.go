package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa/internal/pgtest"
)

const busTestChannel = "jagadesa_live"

func openBusT(t testing.TB, url string) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := OpenBus(ctx, url, busTestChannel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// inbox collects what a Bus's Listen delivers.
type inbox struct {
	mu   sync.Mutex
	msgs [][]byte
	more chan struct{}
}

func (in *inbox) add(m []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
	select {
	case in.more <- struct{}{}:
	default:
	}
}

func (in *inbox) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) all() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([][]byte(nil), in.msgs...)
}

// wait waits until the inbox holds n messages.
func (in *inbox) wait(t testing.TB, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for in.len() < n {
		select {
		case <-in.more:
		case <-deadline:
			t.Fatalf("%d messages arrived in %v, want %d", in.len(), d, n)
		}
	}
}

// listenT runs b.Listen into a new inbox until the test ends, and waits
// until LISTEN is in place.
func listenT(t testing.TB, b *Bus) *inbox {
	t.Helper()
	in := &inbox{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Listen(ctx, in.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Listen: %v", err)
		}
	})
	waitPID(t, b, 0)
	return in
}

// waitPID waits until b listens on a backend other than not.
func waitPID(t testing.TB, b *Bus, not uint32) uint32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pid := b.ListenPID(); pid != 0 && pid != not {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("Listen did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameMsgs(t *testing.T, who string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", who, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: message %d is %.40q… (%d bytes), want %.40q… (%d bytes)", who, i, got[i], len(got[i]), want[i], len(want[i]))
		}
	}
}

// Two replicas: each hears the other's messages, in order, never its own.
func TestBusTwoReplicas(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	a, b := openBusT(t, url), openBusT(t, url)
	ina, inb := listenT(t, a), listenT(t, b)
	var fromA, fromB [][]byte
	for i := range 500 {
		ma := fmt.Appendf(nil, `{"from":"a","i":%d}`, i)
		mb := fmt.Appendf(nil, `{"from":"b","i":%d,"pad":%q}`, i, strings.Repeat("x", i))
		if err := a.Publish(ma); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(mb); err != nil {
			t.Fatal(err)
		}
		fromA, fromB = append(fromA, ma), append(fromB, mb)
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond) // some sends from idle, some batched
		}
	}
	ina.wait(t, len(fromB), 20*time.Second)
	inb.wait(t, len(fromA), 20*time.Second)
	time.Sleep(200 * time.Millisecond) // nothing more (its own) arrives
	sameMsgs(t, "a heard", ina.all(), fromB)
	sameMsgs(t, "b heard", inb.all(), fromA)
	if a.Gaps() != 0 || b.Gaps() != 0 {
		t.Fatalf("gaps %d, %d, want none", a.Gaps(), b.Gaps())
	}
}

// busRandomMsg returns a message of n bytes: mostly UTF-8 text (several
// byte widths), else arbitrary bytes with NULs and invalid UTF-8 (at most
// 5,250 bytes, as base64 must fit).
func busRandomMsg(r *rand.Rand, n int) []byte {
	if n <= 5250 && r.IntN(4) == 0 {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(r.UintN(256))
		}
		if n > 0 {
			m[0] = 0xff // never valid UTF-8
		}
		return m
	}
	alphabet := []string{"a", "Z", "{", "\"", ":", " ", "\n", "\\", "é", "ÿ", "€", "村", "🛰"}
	var b []byte
	for len(b) < n {
		s := alphabet[r.IntN(len(alphabet))]
		if len(b)+len(s) > n {
			s = "x"
		}
		b = append(b, s...)
	}
	return b
}

// 10,000 messages from 1 to 7,000 bytes, text and binary, all arrive
// exactly once, intact and in order.
func TestBusVariedSizes(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	pub, sub := openBusT(t, url), openBusT(t, url)
	in := listenT(t, sub)
	r := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	binary := 0
	for i := range 10000 {
		n := 1 + r.IntN(BusMaxMessage)
		switch i {
		case 0:
			n = 1
		case 1:
			n = BusMaxMessage
		}
		m := busRandomMsg(r, n)
		if kind, _ := frame(m); kind == 'b' {
			binary++
		}
		want = append(want, m)
		for {
			err := pub.Publish(m)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBusQueueFull) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	start := time.Now()
	in.wait(t, len(want), 60*time.Second)
	time.Sleep(200 * time.Millisecond)
	sameMsgs(t, "heard", in.all(), want)
	t.Logf("10000 messages (%d binary) in %d NOTIFYs, last arrived %v after the last Publish", binary, pub.sent.Load(), time.Since(start))
}

func TestBusTooLarge(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	b := openBusT(t, url)
	if err := b.Publish(bytes.Repeat([]byte("a"), BusMaxMessage)); err != nil {
		t.Fatalf("max text: %v", err)
	}
	if err := b.Publish(make([]byte, 5250)); err != nil {
		t.Fatalf("max binary: %v", err)
	}
	for _, m := range [][]byte{bytes.Repeat([]byte("a"), BusMaxMessage+1), make([]byte, 5251)} {
		err := b.Publish(m)
		if !errors.Is(err, ErrBusTooLarge) {
			t.Fatalf("%d bytes: %v, want ErrBusTooLarge", len(m), err)
		}
		t.Log(err)
	}
}

// A full queue refuses; it does not grow. The database is unreachable
// (its backends are terminated as soon as they start), so nothing drains.
func TestBusQueueFull(t *testing.T) {
	c := pgtest.Start(t)
	url := c.NewDatabase(t)
	b := openBusT(t, url)
	b.mu.Lock()
	b.maxMsgs, b.maxBytes = 1000, 200_000
	b.mu.Unlock()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	dbname := cfg.Database
	admin, err := pgx.Connect(ctx, c.URL) // on the "postgres" database
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// Nobody may connect to the test's database any more.
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbname}.Sanitize()+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbname); err != nil {
		t.Fatal(err)
	}
	check := func(what string, msg []byte, wantN int) {
		t.Helper()
		accepted, refused := 0, 0
		for range 5000 {
			switch err := b.Publish(msg); {
			case err == nil:
				accepted++
			case errors.Is(err, ErrBusQueueFull):
				refused++
			default:
				t.Fatal(err)
			}
			b.mu.Lock()
			m, n := b.usedMsgs, b.usedBytes
			b.mu.Unlock()
			if m > b.maxMsgs || n > b.maxBytes {
				t.Fatalf("%s: queue holds %d messages, %d bytes: over its bound", what, m, n)
			}
		}
		if accepted != wantN || refused != 5000-wantN {
			t.Fatalf("%s: %d accepted, %d refused, want %d accepted", what, accepted, refused, wantN)
		}
		t.Logf("%s: %d accepted, %d refused", what, accepted, refused)
	}
	check("by count", []byte("x"), 1000) // 1000 records of 4 bytes
	b.mu.Lock()
	b.maxMsgs = 100_000
	b.mu.Unlock()
	// 196,000 bytes left; records of 1,006 bytes: 194 fit.
	check("by bytes", bytes.Repeat([]byte("y"), 1000), (200_000-4000)/1006)
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbname}.Sanitize()+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	// Once the database is back, the queue drains.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.mu.Lock()
		m := b.usedMsgs
		b.mu.Unlock()
		if m == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Killing the listener's backend: Listen reconnects, counts a gap, and
// hears what is published afterwards.
func TestBusListenerKilled(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	pub, sub := openBusT(t, url), openBusT(t, url)
	var onGap sync.WaitGroup
	onGap.Add(1)
	sub.OnGap = onGap.Done
	in := listenT(t, sub)
	if err := pub.Publish([]byte("before")); err != nil {
		t.Fatal(err)
	}
	in.wait(t, 1, 10*time.Second)

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	pid := sub.ListenPID()
	var found bool
	if err := admin.QueryRow(ctx, `SELECT query = $2 FROM pg_stat_activity WHERE pid = $1`, int(pid), `LISTEN "`+busTestChannel+`"`).Scan(&found); err != nil || !found {
		t.Fatalf("backend %d is not the LISTEN session (%v)", pid, err)
	}
	killed := time.Now()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, int(pid)); err != nil {
		t.Fatal(err)
	}
	// Published while the listener is away (or just back): may be lost.
	if err := pub.Publish([]byte("meanwhile")); err != nil {
		t.Fatal(err)
	}
	newPID := waitPID(t, sub, pid)
	onGap.Wait()
	t.Logf("listening again on backend %d after %v", newPID, time.Since(killed))
	if g := sub.Gaps(); g != 1 {
		t.Fatalf("%d gaps, want 1", g)
	}
	time.Sleep(100 * time.Millisecond) // "meanwhile" has arrived or is lost
	n := in.len()
	if err := pub.Publish([]byte("after")); err != nil {
		t.Fatal(err)
	}
	in.wait(t, n+1, 10*time.Second)
	got := in.all()
	if string(got[0]) != "before" || string(got[len(got)-1]) != "after" {
		t.Fatalf("heard %q", got)
	}
	if g := sub.Gaps(); g != 1 {
		t.Fatalf("%d gaps, want 1", g)
	}
}

// The throughput target: 2,000 messages/s of 1 KB from one publisher.
// Publishes at that rate for 5 s and logs what the listener received.
func TestBusThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s")
	}
	url := pgtest.Start(t).NewDatabase(t)
	pub, sub := openBusT(t, url), openBusT(t, url)
	in := listenT(t, sub)
	msg := []byte(`{"village":"` + strings.Repeat("v", 1024-14) + `"}`)
	const rate, secs = 2000, 5
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond) // 20 messages a tick
	for i := 0; i < rate*secs; i += rate / 100 {
		<-tick.C
		for range rate / 100 {
			if err := pub.Publish(msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	tick.Stop()
	in.wait(t, rate*secs, 30*time.Second)
	d := time.Since(start)
	t.Logf("%d messages of 1 KB at a 2000/s publish rate: all received in %v (%.0f msg/s), %d NOTIFYs", rate*secs, d.Round(time.Millisecond), float64(rate*secs)/d.Seconds(), pub.sent.Load())
}

// BenchmarkBus publishes b.N messages of 1 KB as fast as the queue takes
// them and waits until the listener has them all.
func BenchmarkBus(b *testing.B) {
	url := pgtest.Start(b).NewDatabase(b)
	pub, sub := openBusT(b, url), openBusT(b, url)
	in := listenT(b, sub)
	msg := bytes.Repeat([]byte("k"), 1024)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		for {
			err := pub.Publish(msg)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBusQueueFull) {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	in.wait(b, b.N, 5*time.Minute)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// Close sends what is queued before it stops, ends Listen, and refuses
// later messages.
func TestBusCloseFlushes(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	sub := openBusT(t, url)
	in := listenT(t, sub)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := OpenBus(ctx, url, busTestChannel)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := pub.Publish(fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	pub.Close()
	t.Logf("Close took %v", time.Since(start))
	if err := pub.Publish([]byte("late")); !errors.Is(err, ErrBusClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	in.wait(t, 3000, 10*time.Second)

	// Close ends the closed Bus's own Listen, with nil.
	done := make(chan error, 1)
	go func() { done <- pub.Listen(context.Background(), func([]byte) {}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listen on a closed Bus did not return")
	}
}

// Killing the publisher's backend: the sender reconnects and resends;
// the listener hears every message exactly once, in order, no gap.
func TestBusPublisherKilled(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	pub, sub := openBusT(t, url), openBusT(t, url)
	in := listenT(t, sub)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	const n = 5000
	var want [][]byte
	for i := range n {
		want = append(want, fmt.Appendf(nil, `{"i":%d}`, i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, m := range want {
			if err := pub.Publish(m); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				time.Sleep(2 * time.Millisecond) // about 1.2 s in all
			}
		}
	}()
	kills := 0
	for kills < 3 {
		time.Sleep(150 * time.Millisecond)
		var k int
		if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'SELECT pg_notify($1, $2)'`).Scan(&k); err != nil {
			t.Fatal(err)
		}
		kills += k
	}
	<-done
	in.wait(t, n, 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	sameMsgs(t, "heard", in.all(), want)
	if g := sub.Gaps(); g != 0 {
		t.Fatalf("%d gaps, want none", g)
	}
	t.Logf("%d kills of the publisher's backend; %d NOTIFYs", kills, pub.sent.Load())
}
