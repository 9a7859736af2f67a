package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
)

// ProbeKey returns the public key registered for a probe, read from the
// database: a reset on another replica counts at once.
func (d *DB) ProbeKey(probe string) (jagadesa.ProbeKey, bool) {
	ctx, cancel := background()
	defer cancel()
	k := jagadesa.ProbeKey{Probe: probe}
	var pub []byte
	var at int64
	err := d.pool.QueryRow(ctx, `SELECT public_key, registered_at, registered_by FROM probe_keys WHERE probe = $1`, probe).Scan(&pub, &at, &k.RegisteredBy)
	if err != nil {
		return jagadesa.ProbeKey{}, false
	}
	k.PublicKey, k.RegisteredAt = ed25519.PublicKey(pub), ms(at)
	return k, true
}

// SetProbeKey registers a probe's public key. Registering the key already
// held is a no-op; a different one is a conflict until ResetProbeKey. Two
// replicas registering at once: the first insert wins, the other compares
// against it.
func (d *DB) SetProbeKey(ctx context.Context, probe string, pub ed25519.PublicKey, by string) (jagadesa.ProbeKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return jagadesa.ProbeKey{}, jagadesa.Errorf(jagadesa.EInvalid, "public key must have %d bytes", ed25519.PublicKeySize)
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	k := jagadesa.ProbeKey{Probe: probe, PublicKey: append(ed25519.PublicKey(nil), pub...), RegisteredAt: d.now().UTC().Truncate(time.Millisecond), RegisteredBy: by}
	var held jagadesa.ProbeKey
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO probe_keys(probe, public_key, registered_at, registered_by) VALUES($1, $2, $3, $4) ON CONFLICT (probe) DO NOTHING`,
			probe, []byte(k.PublicKey), k.RegisteredAt.UnixMilli(), by)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			_, err = tx.Exec(ctx, `INSERT INTO probe_key_history(probe, public_key, registered_at, registered_by) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
				probe, []byte(k.PublicKey), k.RegisteredAt.UnixMilli(), by)
			return err
		}
		var have []byte
		var at int64
		if err := tx.QueryRow(ctx, `SELECT public_key, registered_at, registered_by FROM probe_keys WHERE probe = $1`, probe).Scan(&have, &at, &held.RegisteredBy); err != nil {
			return err
		}
		held.Probe, held.PublicKey, held.RegisteredAt = probe, ed25519.PublicKey(have), ms(at)
		return nil
	})
	if err != nil {
		return jagadesa.ProbeKey{}, fmt.Errorf("postgres: register key: %w", err)
	}
	if held.PublicKey == nil {
		return k, nil
	}
	if held.PublicKey.Equal(pub) {
		return held, nil
	}
	return held, jagadesa.Errorf(jagadesa.EConflict, "probe %s already has key %s; an admin must reset it (DELETE /api/v1/probes/%s/key) before another is accepted", probe, jagadesa.KeyID(held.PublicKey), probe)
}

// ResetProbeKey forgets a probe's key and its streams, so that the probe,
// set up again, can register a new key and start counting afresh. This
// replica's batches are held back meanwhile; a batch of the old key still
// in flight on another replica may set a mark again after the reset (the
// probe's new streams have new names, so it does not block them).
func (d *DB) ResetProbeKey(ctx context.Context, probe string) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	ctx, cancel := bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM probe_keys WHERE probe = $1`, probe)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return jagadesa.Errorf(jagadesa.ENotFound, "probe %q has no registered key", probe)
		}
		_, err = tx.Exec(ctx, `DELETE FROM probe_streams WHERE probe = $1`, probe)
		return err
	})
	var je *jagadesa.Error
	if errors.As(err, &je) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: reset key: %w", err)
	}
	d.mu.Lock()
	for k := range d.observed {
		if k.probe == probe {
			delete(d.observed, k)
		}
	}
	d.mu.Unlock()
	return nil
}

// KeyHistory returns every key the probes of a village ever had (with
// their probe), oldest first.
func (d *DB) KeyHistory(ctx context.Context, village string) ([]jagadesa.ProbeKey, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT h.probe, h.public_key, h.registered_at, h.registered_by FROM probe_key_history h
		JOIN probes p ON p.id = h.probe WHERE p.village = $1 ORDER BY h.registered_at, h.seq`, village)
	if err != nil {
		return nil, fmt.Errorf("postgres: key history: %w", err)
	}
	defer rows.Close()
	var out []jagadesa.ProbeKey
	for rows.Next() {
		var k jagadesa.ProbeKey
		var pub []byte
		var at int64
		if err := rows.Scan(&k.Probe, &pub, &at, &k.RegisteredBy); err != nil {
			return nil, fmt.Errorf("postgres: key history: %w", err)
		}
		k.PublicKey, k.RegisteredAt = ed25519.PublicKey(pub), ms(at)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: key history: %w", err)
	}
	return out, nil
}
