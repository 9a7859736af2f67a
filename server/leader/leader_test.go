package leader

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa/internal/pgtest"
)

const testKey = 0x6a6461 // any key; each test has its own database

// contender runs Run for one replica and records its terms.
type contender struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	terms  []term
	events chan string // "lead:<name>", "lost:<name>"
}

type term struct{ start, end time.Time }

func (c *contender) leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.terms) > 0 && c.terms[len(c.terms)-1].end.IsZero()
}

// board checks that no two contenders lead at once.
type board struct {
	mu      sync.Mutex
	leaders int
	overlap bool
}

func start(t *testing.T, url, name string, b *board, check time.Duration) *contender {
	t.Helper()
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &contender{name: name, cancel: cancel, done: make(chan struct{}), events: make(chan string, 16)}
	go func() {
		defer close(c.done)
		Run(ctx, Config{Conn: cc, Key: testKey, Name: name, Check: check}, func(lctx context.Context) {
			b.mu.Lock()
			b.leaders++
			b.overlap = b.overlap || b.leaders > 1
			b.mu.Unlock()
			c.mu.Lock()
			c.terms = append(c.terms, term{start: time.Now()})
			c.mu.Unlock()
			c.events <- "lead:" + name
			<-lctx.Done()
			b.mu.Lock()
			b.leaders--
			b.mu.Unlock()
			c.mu.Lock()
			c.terms[len(c.terms)-1].end = time.Now()
			c.mu.Unlock()
			c.events <- "lost:" + name
		})
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *contender) stop() {
	c.cancel()
	<-c.done
}

func wait(t *testing.T, ch chan string, want string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-ch:
			if e == want {
				return time.Now()
			}
			t.Fatalf("event %s while waiting for %s", e, want)
		case <-deadline:
			t.Fatalf("no %s within %s", want, within)
		}
	}
}

// firstLeader waits for one of a and b to lead and returns it and the
// other.
func firstLeader(t *testing.T, a, b *contender) (*contender, *contender) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a.leading() {
			<-a.events
			return a, b
		}
		if b.leading() {
			<-b.events
			return b, a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("nobody leads after 10 s")
	return nil, nil
}

func exec(t *testing.T, url, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tag.RowsAffected()
}

// Two replicas: exactly one leads. The server ends the leader's session:
// the leader learns it lost, and the standby takes over, well within 30 s;
// never do both lead.
func TestTakeoverWhenSessionKilled(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	b := &board{}
	const check = time.Second
	a, c := start(t, url, "a", b, check), start(t, url, "b", b, check)
	leader, standby := firstLeader(t, a, c)
	time.Sleep(3 * check) // several of the standby's tries
	if standby.leading() {
		t.Fatal("both lead")
	}
	for round := 0; round < 3; round++ {
		killed := time.Now()
		if n := exec(t, url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, "jagadesa-leader:"+leader.name); n != 1 {
			t.Fatalf("terminated %d sessions of %s", n, leader.name)
		}
		lost := wait(t, leader.events, "lost:"+leader.name, 30*time.Second)
		took := wait(t, standby.events, "lead:"+standby.name, 30*time.Second)
		t.Logf("round %d: %s learnt it lost after %v; %s took over after %v", round, leader.name, lost.Sub(killed), standby.name, took.Sub(killed))
		if took.Sub(killed) > 30*time.Second {
			t.Fatalf("takeover after %v", took.Sub(killed))
		}
		if lost.Sub(killed) > check {
			t.Errorf("the old leader learnt it lost only after %v", lost.Sub(killed))
		}
		leader, standby = standby, leader
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.overlap {
		t.Error("two leaders at once")
	}
}

// A leader that stops lets go at once; one that hangs (its session silent,
// its socket open) loses the lease when the server ends its idle session.
func TestTakeoverWhenHolderStopsOrHangs(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	b := &board{}
	const check = time.Second
	a, c := start(t, url, "a", b, check), start(t, url, "b", b, check)
	leader, standby := firstLeader(t, a, c)
	stopped := time.Now()
	leader.stop()
	took := wait(t, standby.events, "lead:"+standby.name, 30*time.Second)
	t.Logf("%s stopped; %s took over after %v", leader.name, standby.name, took.Sub(stopped))
	if took.Sub(stopped) > 2*check {
		t.Errorf("takeover after a clean stop took %v", took.Sub(stopped))
	}
	standby.stop()
	hungHolder(t, url, check)
}

// With the default timing, a hung holder is replaced within the issue's
// 30 s (measured: about IdleTimeout, 15 s).
func TestHungHolderDefaultTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the default idle timeout (15 s)")
	}
	hungHolder(t, pgtest.Start(t).NewDatabase(t), DefaultCheck)
}

// hungHolder takes the lease through the same kind of session a leader
// uses, then falls silent, its socket open: a contender must wait for the
// server to end that session, and then take over within 30 s.
func hungHolder(t *testing.T, url string, check time.Duration) {
	t.Helper()
	cc, _ := pgx.ParseConfig(url)
	cfg := Config{Conn: cc, Key: testKey, Name: "hung", Check: check}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hung, err := connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close(context.Background())
	var got bool
	if err := hung.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(testKey)).Scan(&got); err != nil || !got {
		t.Fatalf("hung holder: %v %v", got, err)
	}
	since := time.Now()
	d := start(t, url, "d", &board{}, check)
	took := wait(t, d.events, "lead:d", 30*time.Second).Sub(since)
	t.Logf("holder hung; d took over after %v (check %v, idle timeout %v)", took, check, cfg.IdleTimeout())
	if took < cfg.IdleTimeout()-100*time.Millisecond {
		t.Errorf("d took the lease from a live holder after %v", took)
	}
}

// The default timing meets the bound: a dead or hung holder is
// replaced within 30 s.
func TestDefaultsWithin30s(t *testing.T) {
	c := Config{}
	if worst := c.IdleTimeout() + c.check(); worst > 30*time.Second {
		t.Fatalf("worst-case takeover %v", worst)
	}
}
