package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
)

// ErrBadCode is what every unusable enrollment code gets (unknown, used or
// expired alike), so that guessing learns nothing.
var ErrBadCode = jagadesa.Errorf(jagadesa.EUnauthorized, "the enrollment code is unknown, already used or expired; ask for a new one")

func newProbeToken() (token, hash string) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand, Go 1.24+)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return token, hashToken(token)
}

// CreateProbe enrolls a new probe for village and returns it with its token.
func (d *DB) CreateProbe(ctx context.Context, village string) (jagadesa.Probe, string, error) {
	return d.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: village, By: "admin"})
}

// EnrollProbe enrolls a probe as spec says, in one transaction: the code
// consumed, the village's old probes retired, the probe stored with its
// token hash and its key bound. The code's row is locked (FOR UPDATE), so
// two replicas cannot both spend it.
func (d *DB) EnrollProbe(ctx context.Context, spec jagadesa.EnrollSpec) (jagadesa.Probe, string, error) {
	if spec.Key != nil && len(spec.Key) != ed25519.PublicKeySize {
		return jagadesa.Probe{}, "", jagadesa.Errorf(jagadesa.EInvalid, "public key must have %d bytes", ed25519.PublicKeySize)
	}
	var idb [6]byte
	_, _ = rand.Read(idb[:])
	now := d.now().UTC().Truncate(time.Millisecond)
	p := jagadesa.Probe{ID: "p-" + hex.EncodeToString(idb[:]), Village: spec.Village, CreatedAt: now, EnrolledBy: spec.By}
	token, hash := newProbeToken()
	ctx, cancel := bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		// One enrollment at a time per village (the code's village when
		// there is a code, else the spec's; both are locked when they
		// differ, which then fails), so that two replicas replacing a
		// village's probe at once leave one live probe, as in SQLite.
		villages := []string{spec.Village, codeVillage(ctx, tx, spec.CodeHash)}
		sort.Strings(villages)
		for i, v := range villages {
			if v == "" || i > 0 && v == villages[i-1] {
				continue
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('jagadesa:enroll:' || $1, 0))`, v); err != nil {
				return err
			}
		}
		if spec.CodeHash != "" {
			var village, creator string
			var replace bool
			var expires int64
			var used *int64
			err := tx.QueryRow(ctx, `SELECT village, replace, expires_at, used_at, created_by FROM enroll_codes WHERE hash = $1 FOR UPDATE`, spec.CodeHash).
				Scan(&village, &replace, &expires, &used, &creator)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return ErrBadCode
			case err != nil:
				return err
			case used != nil || now.UnixMilli() >= expires:
				return ErrBadCode
			}
			if spec.Village != "" && spec.Village != village {
				return jagadesa.Errorf(jagadesa.EInvalid, "this enrollment code is for another village than %s", spec.Village)
			}
			p.Village, spec.Replace = village, replace
			if p.EnrolledBy == "" {
				p.EnrolledBy = "code:" + creator
			}
			if _, err := tx.Exec(ctx, `UPDATE enroll_codes SET used_at = $1, probe = $2 WHERE hash = $3`, now.UnixMilli(), p.ID, spec.CodeHash); err != nil {
				return err
			}
		}
		if !jagadesa.ValidVillageCode(p.Village) {
			return jagadesa.Errorf(jagadesa.EInvalid, "bad village code %q", p.Village)
		}
		if spec.Replace {
			if _, err := tx.Exec(ctx, `UPDATE probes SET revoked_at = $1, replaced_by = $2, next_token_hash = NULL WHERE village = $3 AND revoked_at IS NULL`,
				now.UnixMilli(), p.ID, p.Village); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO probes(id, village, token_hash, created_at, enrolled_by) VALUES($1, $2, $3, $4, $5)`,
			p.ID, p.Village, hash, now.UnixMilli(), p.EnrolledBy); err != nil {
			return err
		}
		if spec.Key != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO probe_keys(probe, public_key, registered_at, registered_by) VALUES($1, $2, $3, 'enrollment')`,
				p.ID, []byte(spec.Key), now.UnixMilli()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO probe_key_history(probe, public_key, registered_at, registered_by) VALUES($1, $2, $3, 'enrollment') ON CONFLICT DO NOTHING`,
				p.ID, []byte(spec.Key), now.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var je *jagadesa.Error
		if errors.As(err, &je) {
			return jagadesa.Probe{}, "", err
		}
		return jagadesa.Probe{}, "", fmt.Errorf("postgres: enroll: %w", err)
	}
	return p, token, nil
}

// codeVillage is the village of an enrollment code ("" when none).
func codeVillage(ctx context.Context, tx pgx.Tx, hash string) string {
	if hash == "" {
		return ""
	}
	var v string
	tx.QueryRow(ctx, `SELECT village FROM enroll_codes WHERE hash = $1`, hash).Scan(&v)
	return v
}

// ProbeByToken returns the live probe a token belongs to, read from the
// database (another replica may have revoked or rotated it). The first use
// of a rotated probe's new token makes it the only one.
func (d *DB) ProbeByToken(token string) (jagadesa.Probe, bool) {
	h := hashToken(token)
	ctx, cancel := background()
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		var p jagadesa.Probe
		var created int64
		var rotate *int64
		err := d.pool.QueryRow(ctx, `SELECT id, village, created_at, enrolled_by, rotate_requested_at FROM probes WHERE token_hash = $1 AND revoked_at IS NULL`, h).
			Scan(&p.ID, &p.Village, &created, &p.EnrolledBy, &rotate)
		if err == nil {
			p.CreatedAt, p.RotateRequested = ms(created), rotate != nil
			return p, true
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return jagadesa.Probe{}, false
		}
		// A pending token: its first use promotes it, atomically.
		err = d.pool.QueryRow(ctx, `UPDATE probes SET token_hash = next_token_hash, next_token_hash = NULL, rotate_requested_at = NULL
			WHERE next_token_hash = $1 AND revoked_at IS NULL RETURNING id, village, created_at, enrolled_by`, h).
			Scan(&p.ID, &p.Village, &created, &p.EnrolledBy)
		if err == nil {
			p.CreatedAt = ms(created)
			return p, true
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return jagadesa.Probe{}, false
		}
		// Neither live nor pending: unknown, or promoted meanwhile by
		// another request (on this replica or another); look once more.
	}
	return jagadesa.Probe{}, false
}

// Probes lists live probes.
func (d *DB) Probes(ctx context.Context) ([]jagadesa.Probe, error) {
	return d.queryProbes(ctx, `SELECT id, village, created_at, enrolled_by, revoked_at, replaced_by, rotate_requested_at FROM probes WHERE revoked_at IS NULL ORDER BY created_at, id`)
}

// AllProbes lists every probe ever enrolled, revoked and replaced ones
// included, newest first.
func (d *DB) AllProbes(ctx context.Context) ([]jagadesa.Probe, error) {
	return d.queryProbes(ctx, `SELECT id, village, created_at, enrolled_by, revoked_at, replaced_by, rotate_requested_at FROM probes ORDER BY created_at DESC, id`)
}

func (d *DB) queryProbes(ctx context.Context, q string) ([]jagadesa.Probe, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("postgres: probes: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Probe{}
	for rows.Next() {
		var p jagadesa.Probe
		var created int64
		var revoked, rotate *int64
		if err := rows.Scan(&p.ID, &p.Village, &created, &p.EnrolledBy, &revoked, &p.ReplacedBy, &rotate); err != nil {
			return nil, fmt.Errorf("postgres: probes: %w", err)
		}
		p.CreatedAt, p.RevokedAt, p.RotateRequested = ms(created), optTime(revoked), rotate != nil
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: probes: %w", err)
	}
	return out, nil
}

// RevokeProbe makes a probe's token invalid, on every replica at once.
func (d *DB) RevokeProbe(ctx context.Context, id string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE probes SET revoked_at = $1, next_token_hash = NULL WHERE id = $2 AND revoked_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("postgres: revoke probe: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no live probe %q", id)
	}
	return nil
}

// ReplacedProbes lists the ids of the probes p replaced, for the audit.
func (d *DB) ReplacedProbes(ctx context.Context, id string) ([]string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id FROM probes WHERE replaced_by = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: replaced probes: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: replaced probes: %w", err)
	}
	return out, nil
}

// RequestRotation asks for a probe's token to be replaced.
func (d *DB) RequestRotation(ctx context.Context, id string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE probes SET rotate_requested_at = $1 WHERE id = $2 AND revoked_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("postgres: rotate: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no live probe %q", id)
	}
	return nil
}

// IssueToken gives a probe whose rotation was requested its next token;
// an earlier pending one is dropped.
func (d *DB) IssueToken(ctx context.Context, id string) (string, error) {
	token, hash := newProbeToken()
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE probes SET next_token_hash = $1 WHERE id = $2 AND revoked_at IS NULL AND rotate_requested_at IS NOT NULL`, hash, id)
	if err != nil {
		return "", fmt.Errorf("postgres: issue token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", jagadesa.Errorf(jagadesa.EConflict, "no token rotation is pending for probe %q", id)
	}
	return token, nil
}

// CreateEnrollCode stores an enrollment code's hash for a village, valid
// for ttl.
func (d *DB) CreateEnrollCode(ctx context.Context, hash, village string, replace bool, by string, ttl time.Duration) (jagadesa.EnrollCode, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	c := jagadesa.EnrollCode{Village: village, Replace: replace, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	ctx, cancel := bound(ctx)
	defer cancel()
	err := d.pool.QueryRow(ctx, `INSERT INTO enroll_codes(hash, village, replace, created_by, created_at, expires_at) VALUES($1, $2, $3, $4, $5, $6) RETURNING id`,
		hash, village, replace, by, now.UnixMilli(), c.ExpiresAt.UnixMilli()).Scan(&c.ID)
	if err != nil {
		return jagadesa.EnrollCode{}, fmt.Errorf("postgres: enrollment code: %w", err)
	}
	return c, nil
}

// EnrollCodes lists enrollment codes, newest first: at most limit, those
// unused and unexpired when live.
func (d *DB) EnrollCodes(ctx context.Context, live bool, limit int) ([]jagadesa.EnrollCode, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, village, replace, created_by, created_at, expires_at, used_at, COALESCE(probe, '') FROM enroll_codes
		WHERE NOT $1 OR (used_at IS NULL AND expires_at > $2) ORDER BY id DESC LIMIT $3`, live, d.now().UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: enrollment codes: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.EnrollCode{}
	for rows.Next() {
		var c jagadesa.EnrollCode
		var created, expires int64
		var used *int64
		if err := rows.Scan(&c.ID, &c.Village, &c.Replace, &c.CreatedBy, &created, &expires, &used, &c.Probe); err != nil {
			return nil, fmt.Errorf("postgres: enrollment codes: %w", err)
		}
		c.CreatedAt, c.ExpiresAt, c.UsedAt = ms(created), ms(expires), optTime(used)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: enrollment codes: %w", err)
	}
	return out, nil
}
