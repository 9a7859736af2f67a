// Package postgres keeps the server's metadata in PostgreSQL, for
// deployments where several `jagadesa serve` replicas share one database
// (server/sqlite stays the embedded default). It implements
// metastore.Store with github.com/jackc/pgx/v5.
//
// Several processes use one database at a time, so nothing is answered
// from an in-memory copy another replica could have changed: token, key,
// session and replay-mark lookups read through to PostgreSQL (one indexed
// query each). What stays in memory is only this process's own work in
// flight: batches waiting for the next group commit, and the replay mark
// each stream had when the ingest last checked it (see batches.go).
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

var _ metastore.Store = (*DB)(nil)

// TokenPrefix marks probe tokens, as server/sqlite's do.
const TokenPrefix = "jdp_"

// QueryTimeout bounds every statement, also when the caller's context has
// no deadline (the lookups on the request path take none).
const QueryTimeout = 10 * time.Second

// effectsChannel is the NOTIFY channel a commit with effects signals, so
// that the replica applying the outbox hears of every replica's batches.
const effectsChannel = "jagadesa_effects"

// DB is the metadata store on PostgreSQL.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu       sync.Mutex
	pending  []*batch           // batches waiting for the next group commit
	observed map[streamKey]mark // marks StreamSeq answered, until the batch commits
	flushMu  sync.Mutex         // held while committing batches
	kick     chan struct{}
	effects  chan struct{}
	cancel   context.CancelFunc // ends the flusher and the listener
	done     sync.WaitGroup
}

// Open connects to the database at url (postgres://…), creates or
// migrates the schema, and starts the group commit and the listener for
// other replicas' outbox entries.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	d := &DB{pool: pool, now: time.Now, observed: map[streamKey]mark{}, kick: make(chan struct{}, 1), effects: make(chan struct{}, 1)}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	d.cancel = stop
	d.done.Add(2)
	go d.flushLoop(bg)
	go d.listen(bg, cfg.ConnConfig.Copy())
	return d, nil
}

// Close commits the pending batches and closes the connections.
func (d *DB) Close() error {
	d.cancel()
	d.done.Wait()
	d.pool.Close()
	return nil
}

// bound gives a statement at most QueryTimeout.
func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, QueryTimeout)
}

// background is the context of the lookups that take none.
func background() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), QueryTimeout)
}

// migrations are applied in order, each once, recorded in
// schema_migrations; replicas starting together take turns (an advisory
// lock held for the transaction).
var migrations = []string{
	`CREATE TABLE probes (
		id                  TEXT PRIMARY KEY,
		village             TEXT NOT NULL,
		token_hash          TEXT NOT NULL UNIQUE,
		created_at          BIGINT NOT NULL,
		revoked_at          BIGINT,
		enrolled_by         TEXT NOT NULL DEFAULT '',
		replaced_by         TEXT NOT NULL DEFAULT '',
		rotate_requested_at BIGINT,
		next_token_hash     TEXT UNIQUE
	);
	CREATE INDEX probes_village ON probes(village);
	CREATE INDEX probes_replaced_by ON probes(replaced_by);
	CREATE TABLE enroll_codes (
		id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		hash       TEXT NOT NULL UNIQUE,
		village    TEXT NOT NULL,
		replace    BOOLEAN NOT NULL DEFAULT false,
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		used_at    BIGINT,
		probe      TEXT
	);
	CREATE TABLE probe_keys (
		probe         TEXT PRIMARY KEY REFERENCES probes(id),
		public_key    BYTEA NOT NULL,
		registered_at BIGINT NOT NULL,
		registered_by TEXT NOT NULL
	);
	CREATE TABLE probe_key_history (
		seq           BIGINT GENERATED ALWAYS AS IDENTITY,
		probe         TEXT NOT NULL,
		public_key    BYTEA NOT NULL,
		registered_at BIGINT NOT NULL,
		registered_by TEXT NOT NULL,
		PRIMARY KEY (probe, public_key)
	);
	CREATE TABLE probe_streams (
		probe      TEXT NOT NULL REFERENCES probes(id),
		stream     TEXT NOT NULL,
		max_seq    BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (probe, stream)
	);
	CREATE TABLE outbox (
		id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		created_at BIGINT NOT NULL,
		body       BYTEA NOT NULL
	);
	CREATE TABLE incidents (
		id        TEXT PRIMARY KEY,
		kind      TEXT NOT NULL,
		severity  TEXT NOT NULL,
		state     TEXT NOT NULL,
		regency   TEXT NOT NULL,
		csirt     TEXT NOT NULL,
		opened_at BIGINT NOT NULL,
		body      JSON NOT NULL
	);
	CREATE INDEX incidents_state ON incidents(state, opened_at);
	CREATE INDEX incidents_opened ON incidents(opened_at);
	CREATE TABLE incident_villages (
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		village     TEXT NOT NULL,
		PRIMARY KEY (incident_id, village)
	);
	CREATE INDEX incident_villages_village ON incident_villages(village);
	CREATE TABLE incident_notes (
		id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		at          BIGINT NOT NULL,
		author      TEXT NOT NULL,
		body        TEXT NOT NULL
	);
	CREATE INDEX incident_notes_incident ON incident_notes(incident_id, id);
	CREATE TABLE incident_audit (
		id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		at          BIGINT NOT NULL,
		author      TEXT NOT NULL,
		action      TEXT NOT NULL,
		detail      TEXT NOT NULL
	);
	CREATE INDEX incident_audit_incident ON incident_audit(incident_id, id);
	CREATE TABLE audit_log (
		id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at      BIGINT NOT NULL,
		actor   TEXT NOT NULL,
		role    TEXT NOT NULL DEFAULT '',
		address TEXT NOT NULL DEFAULT '',
		action  TEXT NOT NULL,
		object  TEXT NOT NULL DEFAULT '',
		area    TEXT NOT NULL DEFAULT '',
		team    TEXT NOT NULL DEFAULT '',
		detail  TEXT NOT NULL DEFAULT '',
		count   INTEGER NOT NULL DEFAULT 1
	);
	CREATE INDEX audit_log_at ON audit_log(at);
	CREATE INDEX audit_log_team ON audit_log(team, at);
	CREATE INDEX audit_log_action ON audit_log(action, id);
	CREATE TABLE users (
		id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		username      TEXT NOT NULL UNIQUE,
		role          TEXT NOT NULL,
		province      TEXT NOT NULL,
		regency       TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL,
		disabled      BOOLEAN NOT NULL DEFAULT false,
		created_at    BIGINT NOT NULL,
		last_login    BIGINT,
		failed_logins INTEGER NOT NULL DEFAULT 0,
		locked_until  BIGINT
	);
	CREATE TABLE user_tokens (
		id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		name       TEXT NOT NULL,
		token_hash TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL,
		last_used  BIGINT,
		revoked_at BIGINT
	);
	CREATE INDEX user_tokens_user ON user_tokens(user_id);
	CREATE TABLE sessions (
		id_hash    TEXT PRIMARY KEY,
		user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		created_at BIGINT NOT NULL,
		last_seen  BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		address    TEXT NOT NULL,
		user_agent TEXT NOT NULL
	);
	CREATE INDEX sessions_user ON sessions(user_id);
	CREATE INDEX sessions_expires ON sessions(expires_at);
	CREATE TABLE village_governance (
		village         TEXT PRIMARY KEY,
		website         BOOLEAN NOT NULL,
		app             BOOLEAN NOT NULL,
		online_services INTEGER NOT NULL,
		note            TEXT NOT NULL DEFAULT '',
		updated_by      TEXT NOT NULL,
		updated_at      BIGINT NOT NULL
	);
	CREATE TABLE exclusion_windows (
		id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		kind       TEXT NOT NULL,
		start_at   BIGINT NOT NULL,
		end_at     BIGINT NOT NULL,
		scope      JSON NOT NULL,
		reason     TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		deleted_at BIGINT
	);
	CREATE INDEX exclusion_windows_time ON exclusion_windows(start_at, end_at);
	CREATE TABLE report_mail (
		team    TEXT NOT NULL,
		month   TEXT NOT NULL,
		sent_at BIGINT NOT NULL,
		PRIMARY KEY (team, month)
	);
	CREATE TABLE notify_marks (
		key TEXT PRIMARY KEY,
		at  BIGINT NOT NULL
	);
	CREATE INDEX notify_marks_at ON notify_marks(at);
	CREATE TABLE state_blobs (
		name TEXT PRIMARY KEY,
		body BYTEA NOT NULL,
		at   BIGINT NOT NULL
	)`,
}

// migrateLock is the advisory lock key the migration holds ("jdmigrat").
const migrateLock int64 = 0x6a646d6967726174

func (d *DB) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES($1, $2)`, v, d.now().UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// hashToken is a plain SHA-256, as server/sqlite's: tokens are 256 random
// bits.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// optTime turns a nullable unix-ms column into a time.
func optTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.UnixMilli(*v).UTC()
	return &t
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func noUser(name string) *jagadesa.Error {
	return jagadesa.Errorf(jagadesa.ENotFound, "no user %q", name)
}
