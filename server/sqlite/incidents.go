package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// incidentMigrations keep incidents, the villages each touches, notes and
// the audit trail. An incident row holds its filterable fields as columns
// and the whole incident as JSON, so a new field needs no migration.
var incidentMigrations = []string{
	`CREATE TABLE IF NOT EXISTS incidents (
		id        TEXT PRIMARY KEY,
		kind      TEXT NOT NULL,
		severity  TEXT NOT NULL,
		state     TEXT NOT NULL,
		regency   TEXT NOT NULL,
		csirt     TEXT NOT NULL,
		opened_at INTEGER NOT NULL,
		body      TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state, opened_at)`,
	`CREATE INDEX IF NOT EXISTS incidents_opened ON incidents(opened_at)`,
	`CREATE TABLE IF NOT EXISTS incident_villages (
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		village     TEXT NOT NULL,
		PRIMARY KEY (incident_id, village)
	)`,
	`CREATE INDEX IF NOT EXISTS incident_villages_village ON incident_villages(village)`,
	`CREATE TABLE IF NOT EXISTS incident_notes (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		at          INTEGER NOT NULL,
		by          TEXT NOT NULL,
		text        TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS incident_audit (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		incident_id TEXT NOT NULL REFERENCES incidents(id),
		at          INTEGER NOT NULL,
		by          TEXT NOT NULL,
		action      TEXT NOT NULL,
		detail      TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS incident_audit_incident ON incident_audit(incident_id, id)`,
}

// CreateIncident stores a new incident with its first audit entry, in one
// transaction, durably.
func (d *DB) CreateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	return d.writeIncident(ctx, in, a, true)
}

// UpdateIncident replaces a stored incident and records why, atomically.
func (d *DB) UpdateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	return d.writeIncident(ctx, in, a, false)
}

func (d *DB) writeIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry, create bool) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("sqlite: encode incident: %w", err)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: incident %s: %w", in.ID, err)
	}
	defer tx.Rollback()
	if create {
		_, err = tx.ExecContext(ctx, `INSERT INTO incidents(id, kind, severity, state, regency, csirt, opened_at, body) VALUES(?,?,?,?,?,?,?,?)`,
			in.ID, in.Kind, in.Severity, in.State, in.Regency, in.CSIRT, in.OpenedAt.UnixMilli(), body)
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return jagadesa.Errorf(jagadesa.EConflict, "incident %s exists", in.ID)
			}
			return fmt.Errorf("sqlite: create incident %s: %w", in.ID, err)
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET kind=?, severity=?, state=?, regency=?, csirt=?, opened_at=?, body=? WHERE id=?`,
			in.Kind, in.Severity, in.State, in.Regency, in.CSIRT, in.OpenedAt.UnixMilli(), body, in.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update incident %s: %w", in.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", in.ID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM incident_villages WHERE incident_id=?`, in.ID); err != nil {
			return fmt.Errorf("sqlite: update incident %s: %w", in.ID, err)
		}
	}
	for _, v := range in.Villages {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO incident_villages(incident_id, village) VALUES(?,?)`, in.ID, v); err != nil {
			return fmt.Errorf("sqlite: incident %s villages: %w", in.ID, err)
		}
	}
	if err := insertAudit(ctx, tx, in.ID, a); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: incident %s: %w", in.ID, err)
	}
	return nil
}

func insertAudit(ctx context.Context, tx *sql.Tx, id string, a jagadesa.AuditEntry) error {
	if a.Action == "" {
		return jagadesa.Errorf(jagadesa.EInvalid, "audit entry for %s has no action", id)
	}
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO incident_audit(incident_id, at, by, action, detail) VALUES(?,?,?,?,?)`,
		id, at.UnixMilli(), a.By, a.Action, a.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: audit %s: %w", id, err)
	}
	return nil
}

// Incident returns one incident.
func (d *DB) Incident(ctx context.Context, id string) (*jagadesa.Incident, error) {
	var body string
	err := d.db.QueryRowContext(ctx, `SELECT body FROM incidents WHERE id=?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: incident %s: %w", id, err)
	}
	return decodeIncident(body)
}

func decodeIncident(body string) (*jagadesa.Incident, error) {
	var in jagadesa.Incident
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		return nil, fmt.Errorf("sqlite: stored incident: %w", err)
	}
	return &in, nil
}

// Incidents lists incidents newest first.
func (d *DB) Incidents(ctx context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Regency != "" {
		add("regency = ?", f.Regency)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Severity != "" {
		add("severity = ?", f.Severity)
	}
	if f.CSIRT != "" {
		add("csirt = ?", f.CSIRT)
	}
	if f.Village != "" {
		add("id IN (SELECT incident_id FROM incident_villages WHERE village = ?)", f.Village)
	}
	if f.Within != "" {
		pre := f.Within + "."
		where = append(where, "(id IN (SELECT incident_id FROM incident_villages WHERE substr(village, 1, ?) = ?) OR regency = ? OR substr(regency, 1, ?) = ?)")
		args = append(args, len(pre), pre, f.Within, len(pre), pre)
	}
	if !f.Since.IsZero() {
		add("opened_at >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("opened_at < ?", f.Until.UnixMilli())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := `SELECT body FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY opened_at DESC, id DESC LIMIT %d", limit)
	return d.queryIncidents(ctx, q, args...)
}

// OpenIncidents returns every incident not yet resolved.
func (d *DB) OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error) {
	return d.queryIncidents(ctx, `SELECT body FROM incidents WHERE state IN ('open', 'acknowledged') ORDER BY opened_at`)
}

func (d *DB) queryIncidents(ctx context.Context, q string, args ...any) ([]jagadesa.Incident, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: incidents: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Incident{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("sqlite: incidents: %w", err)
		}
		var in jagadesa.Incident
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			return nil, fmt.Errorf("sqlite: incidents: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// AddNote stores a note and its audit entry together.
func (d *DB) AddNote(ctx context.Context, n jagadesa.Note) (jagadesa.Note, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return n, fmt.Errorf("sqlite: note: %w", err)
	}
	defer tx.Rollback()
	if n.At.IsZero() {
		n.At = d.now()
	}
	n.At = n.At.UTC().Truncate(time.Millisecond)
	res, err := tx.ExecContext(ctx, `INSERT INTO incident_notes(incident_id, at, by, text) VALUES(?,?,?,?)`, n.IncidentID, n.At.UnixMilli(), n.By, n.Text)
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return n, jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", n.IncidentID)
		}
		return n, fmt.Errorf("sqlite: note: %w", err)
	}
	n.ID, _ = res.LastInsertId()
	if err := insertAudit(ctx, tx, n.IncidentID, jagadesa.AuditEntry{At: n.At, By: n.By, Action: "note", Detail: clipText(n.Text, 200)}); err != nil {
		return n, err
	}
	return n, tx.Commit()
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Notes returns an incident's notes, oldest first.
func (d *DB) Notes(ctx context.Context, id string) ([]jagadesa.Note, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, at, by, text FROM incident_notes WHERE incident_id=? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: notes: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Note{}
	for rows.Next() {
		n := jagadesa.Note{IncidentID: id}
		var at int64
		if err := rows.Scan(&n.ID, &at, &n.By, &n.Text); err != nil {
			return nil, err
		}
		n.At = time.UnixMilli(at).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// Audit returns an incident's audit trail, oldest first.
func (d *DB) Audit(ctx context.Context, id string) ([]jagadesa.AuditEntry, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, at, by, action, detail FROM incident_audit WHERE incident_id=? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.AuditEntry{}
	for rows.Next() {
		a := jagadesa.AuditEntry{IncidentID: id}
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.By, &a.Action, &a.Detail); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
