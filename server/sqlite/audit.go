package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// The audit trail of every change (issue 12): sign-ins, enrollment,
// revocation, incident actions, user and directory changes. Rows are only
// ever added.
var auditMigrations = []string{
	`CREATE TABLE IF NOT EXISTS audit_log (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		at      INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		role    TEXT NOT NULL DEFAULT '',
		address TEXT NOT NULL DEFAULT '',
		action  TEXT NOT NULL,
		object  TEXT NOT NULL DEFAULT '',
		area    TEXT NOT NULL DEFAULT '',
		team    TEXT NOT NULL DEFAULT '',
		detail  TEXT NOT NULL DEFAULT '',
		count   INTEGER NOT NULL DEFAULT 1
	)`,
	`CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at)`,
	`CREATE INDEX IF NOT EXISTS audit_log_team ON audit_log(team, at)`,
}

// MaxAuditRows is the most one AuditLog call returns.
const MaxAuditRows = 100000

// AppendAudit records one event. At defaults to now, Count to 1.
func (d *DB) AppendAudit(ctx context.Context, e jagadesa.AuditEvent) error {
	e, err := metastore.AuditRow(e, d.now())
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO audit_log(at, actor, role, address, action, object, area, team, detail, count) VALUES(?,?,?,?,?,?,?,?,?,?)`,
		e.At.UnixMilli(), e.Actor, string(e.Role), e.Address, e.Action, e.Object, e.Area, e.Team, e.Detail, e.Count)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	return nil
}

// AuditLog returns the events q selects, oldest first.
func (d *DB) AuditLog(ctx context.Context, q jagadesa.AuditQuery) ([]jagadesa.AuditEvent, error) {
	var where []string
	var args []any
	if !q.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, q.From.UnixMilli())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, q.Until.UnixMilli())
	}
	if q.Team != "" {
		where, args = append(where, "team = ?"), append(args, q.Team)
	}
	if q.Within != "" {
		// Inside the code. Events with no area (the admin token's) belong
		// to no jurisdiction and are seen only without Within.
		where, args = append(where, "(area = ? OR substr(area, 1, ?) = ?)"), append(args, q.Within, len(q.Within)+1, q.Within+".")
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxAuditRows {
		limit = MaxAuditRows
	}
	sqlq := `SELECT id, at, actor, role, address, action, object, area, team, detail, count FROM audit_log`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := d.db.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit log: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.AuditEvent{}
	for rows.Next() {
		var e jagadesa.AuditEvent
		var at int64
		var role string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &role, &e.Address, &e.Action, &e.Object, &e.Area, &e.Team, &e.Detail, &e.Count); err != nil {
			return nil, fmt.Errorf("sqlite: audit log: %w", err)
		}
		e.At, e.Role = time.UnixMilli(at).UTC(), jagadesa.Role(role)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastAuditEvent returns the newest event with this action, if any.
func (d *DB) LastAuditEvent(ctx context.Context, action string) (jagadesa.AuditEvent, bool, error) {
	var e jagadesa.AuditEvent
	var at int64
	var role string
	err := d.db.QueryRowContext(ctx, `SELECT id, at, actor, role, address, action, object, area, team, detail, count FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT 1`, action).
		Scan(&e.ID, &at, &e.Actor, &role, &e.Address, &e.Action, &e.Object, &e.Area, &e.Team, &e.Detail, &e.Count)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("sqlite: audit log: %w", err)
	}
	e.At, e.Role = time.UnixMilli(at).UTC(), jagadesa.Role(role)
	return e, true, nil
}

// FillAuditTeams names the team of events written without one (by the
// CLI, which has no directory) from their area: the server calls it at
// start with the directory it serves.
func (d *DB) FillAuditTeams(ctx context.Context, teamOf func(area string) string) error {
	rows, err := d.db.QueryContext(ctx, `SELECT id, area FROM audit_log WHERE team = '' AND area != ''`)
	if err != nil {
		return fmt.Errorf("sqlite: audit teams: %w", err)
	}
	type fill struct {
		id   int64
		team string
	}
	var fills []fill
	for rows.Next() {
		var id int64
		var area string
		if err := rows.Scan(&id, &area); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: audit teams: %w", err)
		}
		if t := teamOf(area); t != "" {
			fills = append(fills, fill{id, t})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fills {
		if _, err := d.db.ExecContext(ctx, `UPDATE audit_log SET team = ? WHERE id = ? AND team = ''`, f.team, f.id); err != nil {
			return fmt.Errorf("sqlite: audit teams: %w", err)
		}
	}
	return nil
}
