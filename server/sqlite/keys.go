package sqlite

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Probe keys and streams: the public half of each probe's Ed25519 key pair,
// and, per stream of record numbers, the highest number already accepted.
// Both are read on every report, so both are cached in memory; writes go
// to the database first.
var keyMigrations = []string{
	`CREATE TABLE IF NOT EXISTS probe_keys (
		probe         TEXT PRIMARY KEY REFERENCES probes(id),
		public_key    BLOB NOT NULL,
		registered_at INTEGER NOT NULL,
		registered_by TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS probe_streams (
		probe      TEXT NOT NULL REFERENCES probes(id),
		stream     TEXT NOT NULL,
		max_seq    INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (probe, stream)
	)`,
	// Every key a probe ever had, never deleted: the evidence of a month
	// before a router was re-flashed is still checked with its old key.
	`CREATE TABLE IF NOT EXISTS probe_key_history (
		probe         TEXT NOT NULL,
		public_key    BLOB NOT NULL,
		registered_at INTEGER NOT NULL,
		registered_by TEXT NOT NULL,
		PRIMARY KEY (probe, public_key)
	)`,
	`INSERT OR IGNORE INTO probe_key_history(probe, public_key, registered_at, registered_by) SELECT probe, public_key, registered_at, registered_by FROM probe_keys`,
	// What accepted batches mean for incidents, until applied (batches.go).
	`CREATE TABLE IF NOT EXISTS outbox (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		created_at INTEGER NOT NULL,
		body       BLOB NOT NULL
	)`,
}

type streamKey struct{ probe, stream string }

func (d *DB) loadKeys() error {
	d.keys = map[string]jagadesa.ProbeKey{}
	d.streams = map[streamKey]uint64{}
	rows, err := d.db.Query(`SELECT probe, public_key, registered_at, registered_by FROM probe_keys`)
	if err != nil {
		return fmt.Errorf("sqlite: load keys: %w", err)
	}
	for rows.Next() {
		var k jagadesa.ProbeKey
		var pub []byte
		var at int64
		if err := rows.Scan(&k.Probe, &pub, &at, &k.RegisteredBy); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: load keys: %w", err)
		}
		k.PublicKey, k.RegisteredAt = ed25519.PublicKey(pub), time.UnixMilli(at).UTC()
		d.keys[k.Probe] = k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = d.db.Query(`SELECT probe, stream, max_seq FROM probe_streams`)
	if err != nil {
		return fmt.Errorf("sqlite: load streams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k streamKey
		var seq int64
		if err := rows.Scan(&k.probe, &k.stream, &seq); err != nil {
			return fmt.Errorf("sqlite: load streams: %w", err)
		}
		d.streams[k] = uint64(seq)
	}
	return rows.Err()
}

// ProbeKey returns the public key registered for a probe.
func (d *DB) ProbeKey(probe string) (jagadesa.ProbeKey, bool) {
	d.mu.RLock()
	k, ok := d.keys[probe]
	d.mu.RUnlock()
	return k, ok
}

// SetProbeKey registers a probe's public key. Registering the key already
// held is a no-op; a different one is a conflict: only ResetProbeKey (an
// admin's act) clears the way for a new key.
func (d *DB) SetProbeKey(ctx context.Context, probe string, pub ed25519.PublicKey, by string) (jagadesa.ProbeKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return jagadesa.ProbeKey{}, jagadesa.Errorf(jagadesa.EInvalid, "public key must have %d bytes", ed25519.PublicKeySize)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if k, ok := d.keys[probe]; ok {
		if k.PublicKey.Equal(pub) {
			return k, nil
		}
		return k, jagadesa.Errorf(jagadesa.EConflict, "probe %s already has key %s; an admin must reset it (DELETE /api/v1/probes/%s/key) before another is accepted", probe, jagadesa.KeyID(k.PublicKey), probe)
	}
	k := jagadesa.ProbeKey{Probe: probe, PublicKey: append(ed25519.PublicKey(nil), pub...), RegisteredAt: d.now().UTC().Truncate(time.Millisecond), RegisteredBy: by}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO probe_keys(probe, public_key, registered_at, registered_by) VALUES(?, ?, ?, ?)`,
		probe, []byte(k.PublicKey), k.RegisteredAt.UnixMilli(), by); err != nil {
		return jagadesa.ProbeKey{}, fmt.Errorf("sqlite: register key: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, `INSERT OR IGNORE INTO probe_key_history(probe, public_key, registered_at, registered_by) VALUES(?, ?, ?, ?)`,
		probe, []byte(k.PublicKey), k.RegisteredAt.UnixMilli(), by); err != nil {
		return jagadesa.ProbeKey{}, fmt.Errorf("sqlite: register key: %w", err)
	}
	d.keys[probe] = k
	return k, nil
}

// ResetProbeKey forgets a probe's key and its streams, so that the probe,
// set up again, can register a new key and start counting afresh.
func (d *DB) ResetProbeKey(ctx context.Context, probe string) error {
	d.flushMu.Lock() // no mark of the probe written back after its reset
	defer d.flushMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: reset key: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM probe_keys WHERE probe = ?`, probe)
	if err != nil {
		return fmt.Errorf("sqlite: reset key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "probe %q has no registered key", probe)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM probe_streams WHERE probe = ?`, probe); err != nil {
		return fmt.Errorf("sqlite: reset key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: reset key: %w", err)
	}
	delete(d.keys, probe)
	for k := range d.streams {
		if k.probe == probe {
			delete(d.streams, k)
		}
	}
	// Marks of the probe still waiting for their commit go too (those of
	// batches with effects are committed: someone waits for them).
	kept := d.pending[:0]
	for _, b := range d.pending {
		if b.k.probe != probe || b.done != nil {
			kept = append(kept, b)
		}
	}
	clear(d.pending[len(kept):])
	d.pending = kept
	return nil
}

// KeyHistory returns every key the probes of a village ever had (with
// their probe), oldest first: what an evidence pack needs to verify a
// month that spans a re-flashed or replaced router.
func (d *DB) KeyHistory(ctx context.Context, village string) ([]jagadesa.ProbeKey, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT h.probe, h.public_key, h.registered_at, h.registered_by FROM probe_key_history h
		JOIN probes p ON p.id = h.probe WHERE p.village = ? ORDER BY h.registered_at, h.rowid`, village)
	if err != nil {
		return nil, fmt.Errorf("sqlite: key history: %w", err)
	}
	defer rows.Close()
	var out []jagadesa.ProbeKey
	for rows.Next() {
		var k jagadesa.ProbeKey
		var pub []byte
		var at int64
		if err := rows.Scan(&k.Probe, &pub, &at, &k.RegisteredBy); err != nil {
			return nil, fmt.Errorf("sqlite: key history: %w", err)
		}
		k.PublicKey, k.RegisteredAt = ed25519.PublicKey(pub), time.UnixMilli(at).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// StreamSeq returns the highest record number accepted on a probe's
// stream (0: none yet).
func (d *DB) StreamSeq(probe, stream string) uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.streams[streamKey{probe, stream}]
}
