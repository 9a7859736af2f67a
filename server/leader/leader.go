// Package leader elects one process among the `jagadesa serve` replicas
// that share a PostgreSQL database to run what must run once: the
// detector, escalation and notifications. The lease is a session-level
// advisory lock (pg_try_advisory_lock) held on a connection of its own:
// it lasts exactly as long as that session.
//
// How fast leadership moves, with the default Check of 5 s:
//
//   - the holder stops (Run's context ends) or its process dies: its
//     session ends with its socket, and a standby takes over at its next
//     try, within Check;
//   - the holder hangs or is cut off from the database: its session sits
//     idle, and the server ends it after IdleTimeout (3×Check), so a
//     standby takes over within 4×Check = 20 s;
//   - the leader's session is ended by the server (pg_terminate_backend,
//     a restart): the leader hears it at once, since it waits on the
//     connection between its checks.
//
// A leader learns it lost the lease — its lead context is cancelled —
// when the session ends, or when a check does not answer within Check.
// When it is cut off, it thus stops within 2×Check of its last good
// check, before the server frees the lock at 3×Check: two leaders never
// overlap then. When the server ends the session on purpose, the lock is
// free at once, and the old leader learns it within milliseconds, but it
// cannot be told before the lock is free: work done on a lease needs to be
// safe if repeated (the detector's and notifier's are, through the
// incidents and notify marks in the shared store).
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// KeyDuties is the lease of the duties that must run once among the
// replicas: the detector, escalation and notifications.
const KeyDuties int64 = 0x6a64647574696573 // "jdduties"

// DefaultCheck is how often a leader proves its session alive and a
// standby tries to take the lease.
const DefaultCheck = 5 * time.Second

// Config says which lease to campaign for, where.
type Config struct {
	// Conn is the database (pgx.ParseConfig of the metadata URL). The
	// lease uses a connection of its own, outside any pool.
	Conn *pgx.ConnConfig
	// Key names the lease: one advisory lock key per role.
	Key int64
	// Name tells the replicas apart in pg_stat_activity
	// (application_name "jagadesa-leader:<Name>").
	Name string
	// Check is how often the leader checks its session and a standby
	// tries (default DefaultCheck).
	Check time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// IdleTimeout is how long the server keeps a silent lease session (and so
// its lock): three checks.
func (c Config) IdleTimeout() time.Duration { return 3 * c.check() }

func (c Config) check() time.Duration {
	if c.Check <= 0 {
		return DefaultCheck
	}
	return c.Check
}

// Run campaigns for the lease until ctx ends. Whenever this process holds
// it, Run calls lead with a context that ends when the lease is lost (or
// ctx ends), and waits for lead to return before it lets the lease go and
// campaigns again. Run returns ctx's error.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context)) error {
	if cfg.Conn == nil {
		return errors.New("leader: no database")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	check := cfg.check()
	for ctx.Err() == nil {
		conn, err := connect(ctx, cfg)
		if err != nil {
			log.Warn("leader: cannot reach the database", "err", err)
			sleep(ctx, check)
			continue
		}
		led := campaign(ctx, cfg, conn, log, lead)
		closeConn(conn)
		if led {
			// Having just lost the lease, stand back for two of the
			// standbys' tries: a replica that lost its session is the
			// likelier one to be in trouble, and leadership does not
			// flap.
			sleep(ctx, 2*check)
		} else {
			sleep(ctx, check/5) // a broken connection: reconnect soon
		}
	}
	return ctx.Err()
}

// connect opens the lease's session. idle_session_timeout makes the server
// end it (and free the lock) when its holder falls silent.
func connect(ctx context.Context, cfg Config) (*pgx.Conn, error) {
	cc := cfg.Conn.Copy()
	cc.RuntimeParams["application_name"] = "jagadesa-leader:" + cfg.Name
	cc.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(cfg.IdleTimeout().Milliseconds(), 10)
	ctx, cancel := context.WithTimeout(ctx, cfg.check())
	defer cancel()
	return pgx.ConnectConfig(ctx, cc)
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// campaign tries for the lease on conn every check until ctx ends or the
// connection fails; when it gets it, it leads until the lease is lost. It
// says whether it led.
func campaign(ctx context.Context, cfg Config, conn *pgx.Conn, log *slog.Logger, lead func(context.Context)) bool {
	check := cfg.check()
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, check)
		var got bool
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, cfg.Key).Scan(&got)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("leader: campaign", "err", err)
			}
			return false
		}
		if got {
			log.Info("leader: leading", "name", cfg.Name)
			err := hold(ctx, check, conn, lead)
			log.Info("leader: no longer leading", "name", cfg.Name, "err", err)
			return true // the caller closes the session: even if alive, it may hold the lock
		}
		sleep(ctx, check)
	}
	return false
}

// hold runs lead while the session lives. Between checks it waits on the
// connection, so the server ending the session is heard at once.
func hold(ctx context.Context, check time.Duration, conn *pgx.Conn, lead func(context.Context)) error {
	lctx, lost := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(lctx)
	}()
	err := watch(lctx, check, conn)
	lost()
	<-done
	return err
}

// watch returns when the session fails a check or ends, or ctx ends.
func watch(ctx context.Context, check time.Duration, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, check)
		err := conn.PgConn().WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if conn.IsClosed() || !timedOut {
			return fmt.Errorf("leader: lease session ended: %w", err)
		}
		qctx, cancel := context.WithTimeout(ctx, check)
		var one int
		err = conn.QueryRow(qctx, `SELECT 1`).Scan(&one)
		cancel()
		if err != nil {
			return fmt.Errorf("leader: lease session check: %w", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
