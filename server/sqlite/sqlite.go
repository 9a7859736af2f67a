// Package sqlite keeps the server's metadata that is not a time series —
// enrolled probes and the hashes of their tokens — in an embedded SQLite
// database under the data directory. It uses the pure-Go modernc.org/sqlite
// driver, so the server stays a static binary with no C toolchain.
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/jagadesa/jagadesa"
)

// TokenPrefix marks probe tokens so secret scanners and people recognise them.
const TokenPrefix = "jdp_"

// DB is the metadata database.
type DB struct {
	db  *sql.DB
	now func() time.Time

	// Token lookups happen on every report; the hashes of live tokens are
	// few (one per probe), so they are cached in memory.
	mu     sync.RWMutex
	byHash map[string]jagadesa.Probe
	hashOf map[string]string // probe id → its token's hash
	// A rotation's pending token (probes.go), until its first use.
	next   map[string]string // hash → probe id
	nextOf map[string]string // probe id → hash
	// keys and streams (keys.go) share mu; marks is the connection the
	// streams' marks are written through.
	marks   *sql.DB
	pending []*batch   // batches waiting for the next group commit
	flushMu sync.Mutex // held while committing batches
	kick    chan struct{}
	stop    chan struct{}
	flushed chan struct{}
	effects chan struct{} // a commit stored effects in the outbox
	keys    map[string]jagadesa.ProbeKey
	streams map[streamKey]uint64
	// tokens caches the people's live API tokens (users.go).
	tokens tokenCache
}

// Open opens (creating if needed) jagadesa.db in dir and migrates it.
func Open(dir string) (*DB, error) {
	return OpenPath(filepath.Join(dir, "jagadesa.db"))
}

// OpenPath opens (creating if needed) the database file at path and
// migrates it: what `--metadata-url sqlite://PATH` names.
func OpenPath(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: data dir: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1) // SQLite has one writer; one connection avoids SQLITE_BUSY
	d := &DB{db: sdb, now: time.Now, byHash: map[string]jagadesa.Probe{}, hashOf: map[string]string{}, next: map[string]string{}, nextOf: map[string]string{}}
	if err := d.migrate(); err != nil {
		sdb.Close()
		return nil, err
	}
	if err := d.loadCache(); err != nil {
		sdb.Close()
		return nil, err
	}
	if err := d.loadKeys(); err != nil {
		sdb.Close()
		return nil, err
	}
	// Replay marks move with every report: hundreds of commits a second.
	// Their own connection commits without waiting for the disk
	// (synchronous NORMAL: in WAL mode durable across a crash of the
	// process, not of the machine), so the marks do not serialise ingest
	// behind an fsync each. See keys.go.
	d.marks, err = sql.Open("sqlite", strings.Replace(dsn, "synchronous(FULL)", "synchronous(NORMAL)", 1))
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	d.marks.SetMaxOpenConns(1)
	d.kick, d.stop, d.flushed = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	d.effects = make(chan struct{}, 1)
	go d.flushLoop()
	return d, nil
}

// Close writes the pending replay marks and closes the database.
func (d *DB) Close() error {
	close(d.stop)
	<-d.flushed
	d.marks.Close()
	return d.db.Close()
}

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS probes (
		id          TEXT PRIMARY KEY,
		village     TEXT NOT NULL,
		token_hash  TEXT NOT NULL UNIQUE,
		created_at  INTEGER NOT NULL,
		revoked_at  INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS probes_village ON probes(village)`,
}

func (d *DB) migrate() error {
	all := append(append(append(append(append(migrations, incidentMigrations...), keyMigrations...), userMigrations...), probeMigrations...), auditMigrations...)
	all = append(append(append(all, governanceMigrations...), windowMigrations...), reportMailMigrations...)
	all = append(append(all, notifyMarkMigrations...), stateMigrations...)
	for _, m := range all {
		if _, err := d.db.Exec(m); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	return d.addProbeColumns()
}

func (d *DB) loadCache() error {
	rows, err := d.db.Query(`SELECT id, village, token_hash, created_at, enrolled_by, rotate_requested_at, COALESCE(next_token_hash, '') FROM probes WHERE revoked_at IS NULL`)
	if err != nil {
		return fmt.Errorf("sqlite: load probes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p jagadesa.Probe
		var hash, next string
		var created int64
		var rotate sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Village, &hash, &created, &p.EnrolledBy, &rotate, &next); err != nil {
			return fmt.Errorf("sqlite: load probes: %w", err)
		}
		p.CreatedAt, p.RotateRequested = time.UnixMilli(created).UTC(), rotate.Valid
		d.byHash[hash], d.hashOf[p.ID] = p, hash
		if next != "" {
			d.next[next], d.nextOf[p.ID] = p.ID, next
		}
	}
	return rows.Err()
}

// CreateProbe enrolls a new probe for village and returns it with its token.
// Only the token's SHA-256 is stored: the token is shown once.
func (d *DB) CreateProbe(ctx context.Context, village string) (jagadesa.Probe, string, error) {
	return d.EnrollProbe(ctx, EnrollSpec{Village: village, By: "admin"})
}

// ProbeByToken returns the live probe a token belongs to. The first use of
// a rotated probe's new token makes it the only one (probes.go).
func (d *DB) ProbeByToken(token string) (jagadesa.Probe, bool) {
	h := hashToken(token)
	d.mu.RLock()
	p, ok := d.byHash[h]
	id, pending := d.next[h]
	d.mu.RUnlock()
	if ok || !pending {
		return p, ok
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.byHash[h]; ok { // promoted meanwhile
		return p, true
	}
	if d.next[h] != id {
		return jagadesa.Probe{}, false
	}
	return d.promoteLocked(id, h)
}

// Probes lists live probes.
func (d *DB) Probes(ctx context.Context) ([]jagadesa.Probe, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]jagadesa.Probe, 0, len(d.byHash))
	for _, p := range d.byHash {
		out = append(out, p)
	}
	return out, nil
}

// RevokeProbe makes a probe's token invalid.
func (d *DB) RevokeProbe(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE probes SET revoked_at = ?, next_token_hash = NULL WHERE id = ? AND revoked_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke probe: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no live probe %q", id)
	}
	d.mu.Lock()
	d.forgetProbeLocked(id)
	d.mu.Unlock()
	return nil
}

// hashToken is a plain SHA-256: tokens are 256 random bits, so a slow
// password hash would add cost on every report and no safety.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
