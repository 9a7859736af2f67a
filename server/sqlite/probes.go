package sqlite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Probe credentials beyond the first token (issue 12): enrollment codes a
// field technician types on the router, replacing a dead router, and token
// rotation without a site visit.
var probeMigrations = []string{
	`CREATE TABLE IF NOT EXISTS enroll_codes (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		hash       TEXT NOT NULL UNIQUE,
		village    TEXT NOT NULL,
		replace    INTEGER NOT NULL DEFAULT 0,
		created_by TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at    INTEGER,
		probe      TEXT
	)`,
	`CREATE INDEX IF NOT EXISTS enroll_codes_village ON enroll_codes(village)`,
}

// probeColumns are added to a probes table made before them.
var probeColumns = []struct{ name, decl string }{
	{"enrolled_by", "TEXT NOT NULL DEFAULT ''"},
	{"replaced_by", "TEXT NOT NULL DEFAULT ''"},
	{"rotate_requested_at", "INTEGER"},
	{"next_token_hash", "TEXT"},
}

func (d *DB) addProbeColumns() error {
	have := map[string]bool{}
	rows, err := d.db.Query(`SELECT name FROM pragma_table_info('probes')`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate probes: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate probes: %w", err)
		}
		have[n] = true
	}
	rows.Close()
	for _, c := range probeColumns {
		if have[c.name] {
			continue
		}
		if _, err := d.db.Exec(`ALTER TABLE probes ADD COLUMN ` + c.name + ` ` + c.decl); err != nil {
			return fmt.Errorf("sqlite: migrate probes: %w", err)
		}
	}
	// Every enrollment asks which probes it replaced: without an index
	// that was a scan of every probe ever enrolled, and enrolling the
	// national synthetic fleet slowed from 300 a second to 20.
	if _, err := d.db.Exec(`CREATE INDEX IF NOT EXISTS probes_replaced_by ON probes(replaced_by)`); err != nil {
		return fmt.Errorf("sqlite: migrate probes: %w", err)
	}
	return nil
}

// EnrollSpec and EnrollCode are the root package's (jagadesa.EnrollSpec).
type (
	EnrollSpec = jagadesa.EnrollSpec
	EnrollCode = jagadesa.EnrollCode
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

// EnrollProbe enrolls a probe as spec says, in one transaction: the code
// consumed, the village's old probes retired, the probe stored with its
// token hash and its key bound. It returns the probe and its token (shown
// once).
func (d *DB) EnrollProbe(ctx context.Context, spec EnrollSpec) (jagadesa.Probe, string, error) {
	if spec.Key != nil && len(spec.Key) != ed25519.PublicKeySize {
		return jagadesa.Probe{}, "", jagadesa.Errorf(jagadesa.EInvalid, "public key must have %d bytes", ed25519.PublicKeySize)
	}
	var idb [6]byte
	_, _ = rand.Read(idb[:])
	now := d.now().UTC().Truncate(time.Millisecond)
	p := jagadesa.Probe{ID: "p-" + hex.EncodeToString(idb[:]), Village: spec.Village, CreatedAt: now, EnrolledBy: spec.By}
	token, hash := newProbeToken()

	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
	}
	defer tx.Rollback()
	if spec.CodeHash != "" {
		var village, creator string
		var replace int
		var expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT village, replace, expires_at, used_at, created_by FROM enroll_codes WHERE hash = ?`, spec.CodeHash).Scan(&village, &replace, &expires, &used, &creator)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return jagadesa.Probe{}, "", ErrBadCode
		case err != nil:
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		case used.Valid || now.UnixMilli() >= expires:
			return jagadesa.Probe{}, "", ErrBadCode
		}
		if spec.Village != "" && spec.Village != village {
			return jagadesa.Probe{}, "", jagadesa.Errorf(jagadesa.EInvalid, "this enrollment code is for another village than %s", spec.Village)
		}
		p.Village, spec.Replace = village, replace != 0
		if p.EnrolledBy == "" {
			p.EnrolledBy = "code:" + creator
		}
		if _, err := tx.ExecContext(ctx, `UPDATE enroll_codes SET used_at = ?, probe = ? WHERE hash = ?`, now.UnixMilli(), p.ID, spec.CodeHash); err != nil {
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		}
	}
	if !jagadesa.ValidVillageCode(p.Village) {
		return jagadesa.Probe{}, "", jagadesa.Errorf(jagadesa.EInvalid, "bad village code %q", p.Village)
	}
	var replaced []string
	if spec.Replace {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM probes WHERE village = ? AND revoked_at IS NULL`, p.Village)
		if err != nil {
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
			}
			replaced = append(replaced, id)
		}
		rows.Close()
		if _, err := tx.ExecContext(ctx, `UPDATE probes SET revoked_at = ?, replaced_by = ?, next_token_hash = NULL WHERE village = ? AND revoked_at IS NULL`,
			now.UnixMilli(), p.ID, p.Village); err != nil {
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO probes(id, village, token_hash, created_at, enrolled_by) VALUES(?, ?, ?, ?, ?)`,
		p.ID, p.Village, hash, now.UnixMilli(), p.EnrolledBy); err != nil {
		return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
	}
	var key jagadesa.ProbeKey
	if spec.Key != nil {
		key = jagadesa.ProbeKey{Probe: p.ID, PublicKey: append(ed25519.PublicKey(nil), spec.Key...), RegisteredAt: now, RegisteredBy: "enrollment"}
		if _, err := tx.ExecContext(ctx, `INSERT INTO probe_keys(probe, public_key, registered_at, registered_by) VALUES(?, ?, ?, ?)`,
			p.ID, []byte(key.PublicKey), now.UnixMilli(), key.RegisteredBy); err != nil {
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO probe_key_history(probe, public_key, registered_at, registered_by) VALUES(?, ?, ?, ?)`,
			p.ID, []byte(key.PublicKey), now.UnixMilli(), key.RegisteredBy); err != nil {
			return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return jagadesa.Probe{}, "", fmt.Errorf("sqlite: enroll: %w", err)
	}
	for _, id := range replaced {
		d.forgetProbeLocked(id)
	}
	d.byHash[hash] = p
	d.hashOf[p.ID] = hash
	if spec.Key != nil {
		d.keys[p.ID] = key
	}
	return p, token, nil
}

// ReplacedProbes lists the ids of the probes p replaced, for the audit.
func (d *DB) ReplacedProbes(ctx context.Context, id string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id FROM probes WHERE replaced_by = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: replaced probes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// forgetProbeLocked drops a probe's live token (and a pending one) from the
// cache; d.mu is held.
func (d *DB) forgetProbeLocked(id string) {
	if h, ok := d.hashOf[id]; ok {
		delete(d.byHash, h)
		delete(d.hashOf, id)
	}
	if h, ok := d.nextOf[id]; ok {
		delete(d.next, h)
		delete(d.nextOf, id)
	}
}

// AllProbes lists every probe ever enrolled, revoked and replaced ones
// included, newest first.
func (d *DB) AllProbes(ctx context.Context) ([]jagadesa.Probe, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, village, created_at, enrolled_by, revoked_at, replaced_by, rotate_requested_at FROM probes ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: probes: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Probe{}
	for rows.Next() {
		var p jagadesa.Probe
		var created int64
		var revoked, rotate sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Village, &created, &p.EnrolledBy, &revoked, &p.ReplacedBy, &rotate); err != nil {
			return nil, fmt.Errorf("sqlite: probes: %w", err)
		}
		p.CreatedAt, p.RevokedAt, p.RotateRequested = time.UnixMilli(created).UTC(), optTime(revoked), rotate.Valid
		out = append(out, p)
	}
	return out, rows.Err()
}

// RequestRotation asks for a probe's token to be replaced: the probe is
// told in the answer to its next batch and fetches a new token with
// IssueToken, keeping the old one until it first uses the new.
func (d *DB) RequestRotation(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.db.ExecContext(ctx, `UPDATE probes SET rotate_requested_at = ? WHERE id = ? AND revoked_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("sqlite: rotate: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no live probe %q", id)
	}
	if h, ok := d.hashOf[id]; ok {
		p := d.byHash[h]
		p.RotateRequested = true
		d.byHash[h] = p
	}
	return nil
}

// IssueToken gives a probe whose rotation was requested its next token.
// Both tokens work until the probe first authenticates with the new one
// (ProbeByToken), so a probe that crashes before saving it loses nothing:
// it asks again, and the earlier pending token is dropped.
func (d *DB) IssueToken(ctx context.Context, id string) (string, error) {
	token, hash := newProbeToken()
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.db.ExecContext(ctx, `UPDATE probes SET next_token_hash = ? WHERE id = ? AND revoked_at IS NULL AND rotate_requested_at IS NOT NULL`, hash, id)
	if err != nil {
		return "", fmt.Errorf("sqlite: issue token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", jagadesa.Errorf(jagadesa.EConflict, "no token rotation is pending for probe %q", id)
	}
	if old, ok := d.nextOf[id]; ok {
		delete(d.next, old)
	}
	d.next[hash], d.nextOf[id] = id, hash
	return token, nil
}

// promoteLocked makes a pending token the probe's only token, at its
// first use. d.mu is held for writing.
func (d *DB) promoteLocked(id, hash string) (jagadesa.Probe, bool) {
	old, ok := d.hashOf[id]
	if !ok {
		return jagadesa.Probe{}, false
	}
	res, err := d.db.Exec(`UPDATE probes SET token_hash = ?, next_token_hash = NULL, rotate_requested_at = NULL WHERE id = ? AND next_token_hash = ? AND revoked_at IS NULL`, hash, id, hash)
	if err != nil {
		return jagadesa.Probe{}, false // the old token still works; the probe tries again
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Probe{}, false
	}
	p := d.byHash[old]
	p.RotateRequested = false
	delete(d.byHash, old)
	delete(d.next, hash)
	delete(d.nextOf, id)
	d.byHash[hash], d.hashOf[id] = p, hash
	return p, true
}

// CreateEnrollCode stores an enrollment code's hash for a village, valid
// for ttl.
func (d *DB) CreateEnrollCode(ctx context.Context, hash, village string, replace bool, by string, ttl time.Duration) (EnrollCode, error) {
	now := d.now().UTC().Truncate(time.Millisecond)
	c := EnrollCode{Village: village, Replace: replace, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	res, err := d.db.ExecContext(ctx, `INSERT INTO enroll_codes(hash, village, replace, created_by, created_at, expires_at) VALUES(?, ?, ?, ?, ?, ?)`,
		hash, village, replace, by, now.UnixMilli(), c.ExpiresAt.UnixMilli())
	if err != nil {
		return EnrollCode{}, fmt.Errorf("sqlite: enrollment code: %w", err)
	}
	c.ID, _ = res.LastInsertId()
	return c, nil
}

// EnrollCodes lists enrollment codes, newest first: at most limit, those
// unused and unexpired when live.
func (d *DB) EnrollCodes(ctx context.Context, live bool, limit int) ([]EnrollCode, error) {
	q := `SELECT id, village, replace, created_by, created_at, expires_at, used_at, COALESCE(probe, '') FROM enroll_codes`
	args := []any{}
	if live {
		q += ` WHERE used_at IS NULL AND expires_at > ?`
		args = append(args, d.now().UnixMilli())
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: enrollment codes: %w", err)
	}
	defer rows.Close()
	out := []EnrollCode{}
	for rows.Next() {
		var c EnrollCode
		var created, expires int64
		var used sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Village, &c.Replace, &c.CreatedBy, &created, &expires, &used, &c.Probe); err != nil {
			return nil, fmt.Errorf("sqlite: enrollment codes: %w", err)
		}
		c.CreatedAt, c.ExpiresAt, c.UsedAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC(), optTime(used)
		out = append(out, c)
	}
	return out, rows.Err()
}
