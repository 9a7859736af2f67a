package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// IncidentsOpened returns the incidents opened in [from, to), oldest first.
func (d *DB) IncidentsOpened(ctx context.Context, from, to time.Time) ([]jagadesa.Incident, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT body FROM incidents WHERE opened_at >= ? AND opened_at < ? ORDER BY opened_at`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite: report: %w", err)
	}
	defer rows.Close()
	var out []jagadesa.Incident
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		in, err := decodeIncident(body)
		if err != nil {
			return nil, err
		}
		out = append(out, *in)
	}
	return out, rows.Err()
}
