package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Digital governance of villages, entered by staff (issue 13): the
// readiness index's fourth pillar. A village with no row has not been
// entered, which the index shows as missing, never as zero.
var governanceMigrations = []string{
	`CREATE TABLE IF NOT EXISTS village_governance (
		village         TEXT PRIMARY KEY,
		website         INTEGER NOT NULL,
		app             INTEGER NOT NULL,
		online_services INTEGER NOT NULL,
		note            TEXT NOT NULL DEFAULT '',
		updated_by      TEXT NOT NULL,
		updated_at      INTEGER NOT NULL
	)`,
}

// Governance is what staff entered about a village's digital governance.
type Governance = jagadesa.Governance

// SetGovernance stores (replaces) a village's governance entry.
func (d *DB) SetGovernance(ctx context.Context, g jagadesa.Governance) error {
	if p := g.Validate(); p != nil {
		return &jagadesa.Error{Code: jagadesa.EInvalid, Message: "bad governance entry for " + g.Village, Problems: p}
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = d.now()
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO village_governance(village, website, app, online_services, note, updated_by, updated_at) VALUES(?,?,?,?,?,?,?)
		ON CONFLICT(village) DO UPDATE SET website=excluded.website, app=excluded.app, online_services=excluded.online_services, note=excluded.note, updated_by=excluded.updated_by, updated_at=excluded.updated_at`,
		g.Village, g.Website, g.App, g.OnlineServices, metastore.Clip(g.Note, 500), metastore.Clip(g.UpdatedBy, 128), g.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: governance: %w", err)
	}
	return nil
}

// SetGovernanceMany stores many entries in one transaction: all or none.
func (d *DB) SetGovernanceMany(ctx context.Context, gs []jagadesa.Governance) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: governance: %w", err)
	}
	defer tx.Rollback()
	now := d.now()
	for _, g := range gs {
		if g.UpdatedAt.IsZero() {
			g.UpdatedAt = now
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO village_governance(village, website, app, online_services, note, updated_by, updated_at) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(village) DO UPDATE SET website=excluded.website, app=excluded.app, online_services=excluded.online_services, note=excluded.note, updated_by=excluded.updated_by, updated_at=excluded.updated_at`,
			g.Village, g.Website, g.App, g.OnlineServices, metastore.Clip(g.Note, 500), metastore.Clip(g.UpdatedBy, 128), g.UpdatedAt.UnixMilli()); err != nil {
			return fmt.Errorf("sqlite: governance: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: governance: %w", err)
	}
	return nil
}

// GovernanceOf returns a village's entry; false when none was entered.
func (d *DB) GovernanceOf(ctx context.Context, village string) (jagadesa.Governance, bool, error) {
	g := jagadesa.Governance{Village: village}
	var at int64
	err := d.db.QueryRowContext(ctx, `SELECT website, app, online_services, note, updated_by, updated_at FROM village_governance WHERE village = ?`, village).
		Scan(&g.Website, &g.App, &g.OnlineServices, &g.Note, &g.UpdatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("sqlite: governance: %w", err)
	}
	g.UpdatedAt = time.UnixMilli(at).UTC()
	return g, true, nil
}

// AllGovernance returns every entry, by village.
func (d *DB) AllGovernance(ctx context.Context) (map[string]jagadesa.Governance, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT village, website, app, online_services, note, updated_by, updated_at FROM village_governance`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: governance: %w", err)
	}
	defer rows.Close()
	out := map[string]jagadesa.Governance{}
	for rows.Next() {
		var g jagadesa.Governance
		var at int64
		if err := rows.Scan(&g.Village, &g.Website, &g.App, &g.OnlineServices, &g.Note, &g.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("sqlite: governance: %w", err)
		}
		g.UpdatedAt = time.UnixMilli(at).UTC()
		out[g.Village] = g
	}
	return out, rows.Err()
}
