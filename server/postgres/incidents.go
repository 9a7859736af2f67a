package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
)

// CreateIncident stores a new incident with its first audit entry, in one
// transaction.
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
		return fmt.Errorf("postgres: encode incident: %w", err)
	}
	if a.Action == "" {
		return jagadesa.Errorf(jagadesa.EInvalid, "audit entry for %s has no action", in.ID)
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if create {
			_, err := tx.Exec(ctx, `INSERT INTO incidents(id, kind, severity, state, regency, csirt, opened_at, body) VALUES($1, $2, $3, $4, $5, $6, $7, $8)`,
				in.ID, string(in.Kind), string(in.Severity), string(in.State), in.Regency, in.CSIRT, in.OpenedAt.UnixMilli(), body)
			if isUnique(err) {
				return jagadesa.Errorf(jagadesa.EConflict, "incident %s exists", in.ID)
			}
			if err != nil {
				return err
			}
		} else {
			tag, err := tx.Exec(ctx, `UPDATE incidents SET kind = $1, severity = $2, state = $3, regency = $4, csirt = $5, opened_at = $6, body = $7 WHERE id = $8`,
				string(in.Kind), string(in.Severity), string(in.State), in.Regency, in.CSIRT, in.OpenedAt.UnixMilli(), body, in.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", in.ID)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM incident_villages WHERE incident_id = $1`, in.ID); err != nil {
				return err
			}
		}
		if len(in.Villages) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO incident_villages(incident_id, village) SELECT $1, v FROM unnest($2::text[]) AS v ON CONFLICT DO NOTHING`, in.ID, in.Villages); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, in.ID, a)
	})
	var je *jagadesa.Error
	if errors.As(err, &je) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: incident %s: %w", in.ID, err)
	}
	return nil
}

func insertAudit(ctx context.Context, tx pgx.Tx, id string, a jagadesa.AuditEntry) error {
	if a.Action == "" {
		return jagadesa.Errorf(jagadesa.EInvalid, "audit entry for %s has no action", id)
	}
	at := a.At
	if at.IsZero() {
		at = time.Now()
	}
	_, err := tx.Exec(ctx, `INSERT INTO incident_audit(incident_id, at, author, action, detail) VALUES($1, $2, $3, $4, $5)`,
		id, at.UnixMilli(), a.By, a.Action, a.Detail)
	return err
}

// Incident returns one incident.
func (d *DB) Incident(ctx context.Context, id string) (*jagadesa.Incident, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var body []byte
	err := d.pool.QueryRow(ctx, `SELECT body FROM incidents WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: incident %s: %w", id, err)
	}
	var in jagadesa.Incident
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("postgres: stored incident %s: %w", id, err)
	}
	return &in, nil
}

// Incidents lists incidents newest first.
func (d *DB) Incidents(ctx context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error) {
	var where []string
	var args []any
	// arg adds a parameter and returns its placeholder.
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	for _, c := range []struct{ col, v string }{
		{"state", string(f.State)}, {"regency", f.Regency}, {"kind", string(f.Kind)}, {"severity", string(f.Severity)}, {"csirt", f.CSIRT},
	} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if f.Village != "" {
		where = append(where, "id IN (SELECT incident_id FROM incident_villages WHERE village = "+arg(f.Village)+")")
	}
	if f.Within != "" {
		pre := arg(f.Within + ".")
		where = append(where, "(id IN (SELECT incident_id FROM incident_villages WHERE starts_with(village, "+pre+")) OR regency = "+arg(f.Within)+" OR starts_with(regency, "+pre+"))")
	}
	if !f.Since.IsZero() {
		where = append(where, "opened_at >= "+arg(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		where = append(where, "opened_at < "+arg(f.Until.UnixMilli()))
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
	q += " ORDER BY opened_at DESC, id DESC LIMIT " + arg(limit)
	return d.queryIncidents(ctx, q, args...)
}

// OpenIncidents returns every incident not yet resolved.
func (d *DB) OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error) {
	return d.queryIncidents(ctx, `SELECT body FROM incidents WHERE state IN ('open', 'acknowledged') ORDER BY opened_at, id`)
}

// IncidentsOpened returns the incidents opened in [from, to), oldest first.
func (d *DB) IncidentsOpened(ctx context.Context, from, to time.Time) ([]jagadesa.Incident, error) {
	out, err := d.queryIncidents(ctx, `SELECT body FROM incidents WHERE opened_at >= $1 AND opened_at < $2 ORDER BY opened_at, id`, from.UnixMilli(), to.UnixMilli())
	if len(out) == 0 {
		return nil, err // as server/sqlite: nil when none
	}
	return out, err
}

func (d *DB) queryIncidents(ctx context.Context, q string, args ...any) ([]jagadesa.Incident, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: incidents: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Incident{}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("postgres: incidents: %w", err)
		}
		var in jagadesa.Incident
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, fmt.Errorf("postgres: incidents: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: incidents: %w", err)
	}
	return out, nil
}

// AddNote stores a note and its audit entry together.
func (d *DB) AddNote(ctx context.Context, n jagadesa.Note) (jagadesa.Note, error) {
	if n.At.IsZero() {
		n.At = d.now()
	}
	n.At = n.At.UTC().Truncate(time.Millisecond)
	ctx, cancel := bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO incident_notes(incident_id, at, author, body) VALUES($1, $2, $3, $4) RETURNING id`, n.IncidentID, n.At.UnixMilli(), n.By, n.Text).Scan(&n.ID)
		if isForeignKey(err) {
			return jagadesa.Errorf(jagadesa.ENotFound, "no incident %s", n.IncidentID)
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, n.IncidentID, jagadesa.AuditEntry{At: n.At, By: n.By, Action: "note", Detail: clipText(n.Text, 200)})
	})
	var je *jagadesa.Error
	if errors.As(err, &je) {
		return n, err
	}
	if err != nil {
		return n, fmt.Errorf("postgres: note: %w", err)
	}
	return n, nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Notes returns an incident's notes, oldest first.
func (d *DB) Notes(ctx context.Context, id string) ([]jagadesa.Note, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, at, author, body FROM incident_notes WHERE incident_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: notes: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.Note{}
	for rows.Next() {
		n := jagadesa.Note{IncidentID: id}
		var at int64
		if err := rows.Scan(&n.ID, &at, &n.By, &n.Text); err != nil {
			return nil, fmt.Errorf("postgres: notes: %w", err)
		}
		n.At = ms(at)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: notes: %w", err)
	}
	return out, nil
}

// Audit returns an incident's audit trail, oldest first.
func (d *DB) Audit(ctx context.Context, id string) ([]jagadesa.AuditEntry, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, at, author, action, detail FROM incident_audit WHERE incident_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.AuditEntry{}
	for rows.Next() {
		a := jagadesa.AuditEntry{IncidentID: id}
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.By, &a.Action, &a.Detail); err != nil {
			return nil, fmt.Errorf("postgres: audit: %w", err)
		}
		a.At = ms(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: audit: %w", err)
	}
	return out, nil
}
