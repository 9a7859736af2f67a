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

// Exclusion windows staff enter for the SLA: announced maintenance and
// force majeure.
var windowMigrations = []string{
	`CREATE TABLE IF NOT EXISTS exclusion_windows (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		kind       TEXT NOT NULL,
		start_at   INTEGER NOT NULL,
		end_at     INTEGER NOT NULL,
		scope      BLOB NOT NULL,
		reason     TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		deleted_at INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS exclusion_windows_time ON exclusion_windows(start_at, end_at)`,
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
	res, err := d.db.ExecContext(ctx, `INSERT INTO exclusion_windows(kind, start_at, end_at, scope, reason, created_by, created_at) VALUES(?,?,?,?,?,?,?)`,
		w.Kind, w.Start.UnixMilli(), w.End.UnixMilli(), scope, w.Reason, w.CreatedBy, w.CreatedAt.UnixMilli())
	if err != nil {
		return w, fmt.Errorf("sqlite: window: %w", err)
	}
	w.ID, _ = res.LastInsertId()
	return w, nil
}

// DeleteWindow withdraws a window (kept, marked deleted, for the record).
func (d *DB) DeleteWindow(ctx context.Context, id int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE exclusion_windows SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, d.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("sqlite: window: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "no window %d", id)
	}
	return nil
}

// Windows returns the live windows overlapping [from, to).
func (d *DB) Windows(ctx context.Context, from, to time.Time) ([]jagadesa.ExclusionWindow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, kind, start_at, end_at, scope, reason, created_by, created_at FROM exclusion_windows
		WHERE deleted_at IS NULL AND start_at < ? AND end_at > ? ORDER BY start_at, id`, to.UnixMilli(), from.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite: windows: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.ExclusionWindow{}
	for rows.Next() {
		var w jagadesa.ExclusionWindow
		var s, e, c int64
		var scope []byte
		if err := rows.Scan(&w.ID, &w.Kind, &s, &e, &scope, &w.Reason, &w.CreatedBy, &c); err != nil {
			return nil, fmt.Errorf("sqlite: windows: %w", err)
		}
		if err := metastore.DecodeWindowScope(scope, &w); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		w.Start, w.End, w.CreatedAt = time.UnixMilli(s).UTC(), time.UnixMilli(e).UTC(), time.UnixMilli(c).UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// Monthly report e-mails sent, so that a restart never sends a team's
// month twice.
var reportMailMigrations = []string{
	`CREATE TABLE IF NOT EXISTS report_mail (
		team    TEXT NOT NULL,
		month   TEXT NOT NULL,
		sent_at INTEGER NOT NULL,
		PRIMARY KEY (team, month)
	)`,
}

// ReportMailed reports whether a team's month was sent.
func (d *DB) ReportMailed(ctx context.Context, team, month string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM report_mail WHERE team = ? AND month = ?`, team, month).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: report mail: %w", err)
	}
	return n > 0, nil
}

// MarkReportMailed records that a team's month was sent.
func (d *DB) MarkReportMailed(ctx context.Context, team, month string, at time.Time) error {
	if _, err := d.db.ExecContext(ctx, `INSERT OR IGNORE INTO report_mail(team, month, sent_at) VALUES(?,?,?)`, team, month, at.UnixMilli()); err != nil {
		return fmt.Errorf("sqlite: report mail: %w", err)
	}
	return nil
}

// Notification dedup marks (server/notify): what was queued for which
// destination, incident and event, so a restart inside the dedup window
// sends nothing twice.
var notifyMarkMigrations = []string{
	`CREATE TABLE IF NOT EXISTS notify_marks (
		key TEXT PRIMARY KEY,
		at  INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS notify_marks_at ON notify_marks(at)`,
}

// NotifyMarks returns the marks made since since, and forgets older ones.
func (d *DB) NotifyMarks(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM notify_marks WHERE at < ?`, since.UnixMilli()); err != nil {
		return nil, fmt.Errorf("sqlite: notify marks: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT key, at FROM notify_marks`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: notify marks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var k string
		var at int64
		if err := rows.Scan(&k, &at); err != nil {
			return nil, fmt.Errorf("sqlite: notify marks: %w", err)
		}
		out[k] = time.UnixMilli(at)
	}
	return out, rows.Err()
}

// MarkNotified records marks, in one transaction.
func (d *DB) MarkNotified(ctx context.Context, keys []string, at time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: notify marks: %w", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_marks(key, at) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET at = excluded.at`, k, at.UnixMilli()); err != nil {
			return fmt.Errorf("sqlite: notify marks: %w", err)
		}
	}
	return tx.Commit()
}

// State the server keeps whole (the villages' learnt baselines): one blob
// a name, replaced each time.
var stateMigrations = []string{
	`CREATE TABLE IF NOT EXISTS state_blobs (
		name TEXT PRIMARY KEY,
		body BLOB NOT NULL,
		at   INTEGER NOT NULL
	)`,
}

// PutState replaces a named blob.
func (d *DB) PutState(ctx context.Context, name string, body []byte) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO state_blobs(name, body, at) VALUES(?, ?, ?) ON CONFLICT(name) DO UPDATE SET body = excluded.body, at = excluded.at`,
		name, body, d.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: state %s: %w", name, err)
	}
	return nil
}

// State returns a named blob (nil when none was stored).
func (d *DB) State(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := d.db.QueryRowContext(ctx, `SELECT body FROM state_blobs WHERE name = ?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: state %s: %w", name, err)
	}
	return b, nil
}
