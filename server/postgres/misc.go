package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Limits on an audit row's free text, as server/sqlite's.
// MaxAuditRows is the most one AuditLog call returns.
const MaxAuditRows = 100000

// AppendAudit records one event. At defaults to now, Count to 1.
func (d *DB) AppendAudit(ctx context.Context, e jagadesa.AuditEvent) error {
	e, err := metastore.AuditRow(e, d.now())
	if err != nil {
		return err
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	_, err = d.pool.Exec(ctx, `INSERT INTO audit_log(at, actor, role, address, action, object, area, team, detail, count) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.At.UnixMilli(), e.Actor, string(e.Role), e.Address, e.Action, e.Object, e.Area, e.Team, e.Detail, e.Count)
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

const auditCols = `id, at, actor, role, address, action, object, area, team, detail, count`

func scanAudit(sc pgx.Row) (jagadesa.AuditEvent, error) {
	var e jagadesa.AuditEvent
	var at int64
	var role string
	if err := sc.Scan(&e.ID, &at, &e.Actor, &role, &e.Address, &e.Action, &e.Object, &e.Area, &e.Team, &e.Detail, &e.Count); err != nil {
		return e, err
	}
	e.At, e.Role = ms(at), jagadesa.Role(role)
	return e, nil
}

// AuditLog returns the events q selects, oldest first.
func (d *DB) AuditLog(ctx context.Context, q jagadesa.AuditQuery) ([]jagadesa.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if !q.From.IsZero() {
		where = append(where, "at >= "+arg(q.From.UnixMilli()))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < "+arg(q.Until.UnixMilli()))
	}
	if q.Team != "" {
		where = append(where, "team = "+arg(q.Team))
	}
	if q.Within != "" {
		// Inside the code; events with no area belong to no jurisdiction.
		where = append(where, "(area = "+arg(q.Within)+" OR starts_with(area, "+arg(q.Within+".")+"))")
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxAuditRows {
		limit = MaxAuditRows
	}
	sq := `SELECT ` + auditCols + ` FROM audit_log`
	if len(where) > 0 {
		sq += " WHERE " + strings.Join(where, " AND ")
	}
	sq += " ORDER BY id LIMIT " + arg(limit)
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, sq, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.AuditEvent{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	return out, nil
}

// LastAuditEvent returns the newest event with this action, if any.
func (d *DB) LastAuditEvent(ctx context.Context, action string) (jagadesa.AuditEvent, bool, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	e, err := scanAudit(d.pool.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1`, action))
	if errors.Is(err, pgx.ErrNoRows) {
		return jagadesa.AuditEvent{}, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("postgres: audit log: %w", err)
	}
	return e, true, nil
}

// FillAuditTeams names the team of events written without one from their
// area.
func (d *DB) FillAuditTeams(ctx context.Context, teamOf func(area string) string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, area FROM audit_log WHERE team = '' AND area != ''`)
	if err != nil {
		return fmt.Errorf("postgres: audit teams: %w", err)
	}
	var ids []int64
	var teams []string
	for rows.Next() {
		var id int64
		var area string
		if err := rows.Scan(&id, &area); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: audit teams: %w", err)
		}
		if t := teamOf(area); t != "" {
			ids, teams = append(ids, id), append(teams, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: audit teams: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := d.pool.Exec(ctx, `UPDATE audit_log a SET team = f.team FROM unnest($1::bigint[], $2::text[]) AS f(id, team) WHERE a.id = f.id AND a.team = ''`, ids, teams); err != nil {
		return fmt.Errorf("postgres: audit teams: %w", err)
	}
	return nil
}

const upsertGovernance = `INSERT INTO village_governance(village, website, app, online_services, note, updated_by, updated_at) VALUES($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (village) DO UPDATE SET website = excluded.website, app = excluded.app, online_services = excluded.online_services,
	note = excluded.note, updated_by = excluded.updated_by, updated_at = excluded.updated_at`

// SetGovernance stores (replaces) a village's governance entry.
func (d *DB) SetGovernance(ctx context.Context, g jagadesa.Governance) error {
	if p := g.Validate(); p != nil {
		return &jagadesa.Error{Code: jagadesa.EInvalid, Message: "bad governance entry for " + g.Village, Problems: p}
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = d.now()
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, upsertGovernance, g.Village, g.Website, g.App, g.OnlineServices, metastore.Clip(g.Note, 500), metastore.Clip(g.UpdatedBy, 128), g.UpdatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("postgres: governance: %w", err)
	}
	return nil
}

// SetGovernanceMany stores many entries in one transaction: all or none.
func (d *DB) SetGovernanceMany(ctx context.Context, gs []jagadesa.Governance) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	now := d.now()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, g := range gs {
			if g.UpdatedAt.IsZero() {
				g.UpdatedAt = now
			}
			b.Queue(upsertGovernance, g.Village, g.Website, g.App, g.OnlineServices, metastore.Clip(g.Note, 500), metastore.Clip(g.UpdatedBy, 128), g.UpdatedAt.UnixMilli())
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: governance: %w", err)
	}
	return nil
}

// GovernanceOf returns a village's entry; false when none was entered.
func (d *DB) GovernanceOf(ctx context.Context, village string) (jagadesa.Governance, bool, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	g := jagadesa.Governance{Village: village}
	var at int64
	err := d.pool.QueryRow(ctx, `SELECT website, app, online_services, note, updated_by, updated_at FROM village_governance WHERE village = $1`, village).
		Scan(&g.Website, &g.App, &g.OnlineServices, &g.Note, &g.UpdatedBy, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("postgres: governance: %w", err)
	}
	g.UpdatedAt = ms(at)
	return g, true, nil
}

// AllGovernance returns every entry, by village.
func (d *DB) AllGovernance(ctx context.Context) (map[string]jagadesa.Governance, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT village, website, app, online_services, note, updated_by, updated_at FROM village_governance`)
	if err != nil {
		return nil, fmt.Errorf("postgres: governance: %w", err)
	}
	defer rows.Close()
	out := map[string]jagadesa.Governance{}
	for rows.Next() {
		var g jagadesa.Governance
		var at int64
		if err := rows.Scan(&g.Village, &g.Website, &g.App, &g.OnlineServices, &g.Note, &g.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("postgres: governance: %w", err)
		}
		g.UpdatedAt = ms(at)
		out[g.Village] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: governance: %w", err)
	}
	return out, nil
}

// AddWindow stores a window and returns it with its id.
func (d *DB) AddWindow(ctx context.Context, w jagadesa.ExclusionWindow) (jagadesa.ExclusionWindow, error) {
	if p := w.Validate(); p != nil {
		return w, &jagadesa.Error{Code: jagadesa.EInvalid, Message: "bad window", Problems: p}
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = d.now().UTC().Truncate(time.Millisecond)
	}
	scope := metastore.EncodeWindowScope(w)
	ctx, cancel := bound(ctx)
	defer cancel()
	err := d.pool.QueryRow(ctx, `INSERT INTO exclusion_windows(kind, start_at, end_at, scope, reason, created_by, created_at) VALUES($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		w.Kind, w.Start.UnixMilli(), w.End.UnixMilli(), scope, w.Reason, w.CreatedBy, w.CreatedAt.UnixMilli()).Scan(&w.ID)
	if err != nil {
		return w, fmt.Errorf("postgres: window: %w", err)
	}
	return w, nil
}

// DeleteWindow withdraws a window (kept, marked deleted, for the record).
func (d *DB) DeleteWindow(ctx context.Context, id int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE exclusion_windows SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("postgres: window: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no window %d", id)
	}
	return nil
}

// Windows returns the live windows overlapping [from, to).
func (d *DB) Windows(ctx context.Context, from, to time.Time) ([]jagadesa.ExclusionWindow, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, kind, start_at, end_at, scope, reason, created_by, created_at FROM exclusion_windows
		WHERE deleted_at IS NULL AND start_at < $1 AND end_at > $2 ORDER BY start_at, id`, to.UnixMilli(), from.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("postgres: windows: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.ExclusionWindow{}
	for rows.Next() {
		var w jagadesa.ExclusionWindow
		var s, e, c int64
		var scope []byte
		if err := rows.Scan(&w.ID, &w.Kind, &s, &e, &scope, &w.Reason, &w.CreatedBy, &c); err != nil {
			return nil, fmt.Errorf("postgres: windows: %w", err)
		}
		if err := metastore.DecodeWindowScope(scope, &w); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		w.Start, w.End, w.CreatedAt = ms(s), ms(e), ms(c)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: windows: %w", err)
	}
	return out, nil
}

// ReportMailed reports whether a team's month was sent.
func (d *DB) ReportMailed(ctx context.Context, team, month string) (bool, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM report_mail WHERE team = $1 AND month = $2)`, team, month).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: report mail: %w", err)
	}
	return ok, nil
}

// MarkReportMailed records that a team's month was sent.
func (d *DB) MarkReportMailed(ctx context.Context, team, month string, at time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `INSERT INTO report_mail(team, month, sent_at) VALUES($1, $2, $3) ON CONFLICT DO NOTHING`, team, month, at.UnixMilli()); err != nil {
		return fmt.Errorf("postgres: report mail: %w", err)
	}
	return nil
}

// NotifyMarks returns the marks made since since, and forgets older ones.
func (d *DB) NotifyMarks(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `DELETE FROM notify_marks WHERE at < $1`, since.UnixMilli()); err != nil {
		return nil, fmt.Errorf("postgres: notify marks: %w", err)
	}
	rows, err := d.pool.Query(ctx, `SELECT key, at FROM notify_marks`)
	if err != nil {
		return nil, fmt.Errorf("postgres: notify marks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var k string
		var at int64
		if err := rows.Scan(&k, &at); err != nil {
			return nil, fmt.Errorf("postgres: notify marks: %w", err)
		}
		out[k] = time.UnixMilli(at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: notify marks: %w", err)
	}
	return out, nil
}

// MarkNotified records marks, in one statement.
func (d *DB) MarkNotified(ctx context.Context, keys []string, at time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `INSERT INTO notify_marks(key, at) SELECT DISTINCT k, $2::bigint FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET at = excluded.at`, keys, at.UnixMilli()); err != nil {
		return fmt.Errorf("postgres: notify marks: %w", err)
	}
	return nil
}

// PutState replaces a named blob.
func (d *DB) PutState(ctx context.Context, name string, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `INSERT INTO state_blobs(name, body, at) VALUES($1, $2, $3) ON CONFLICT (name) DO UPDATE SET body = excluded.body, at = excluded.at`,
		name, body, d.now().UnixMilli()); err != nil {
		return fmt.Errorf("postgres: state %s: %w", name, err)
	}
	return nil
}

// State returns a named blob (nil when none was stored).
func (d *DB) State(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var b []byte
	err := d.pool.QueryRow(ctx, `SELECT body FROM state_blobs WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: state %s: %w", name, err)
	}
	return b, nil
}
