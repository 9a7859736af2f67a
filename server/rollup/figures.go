package rollup

import (
	"context"
	"sort"
	"time"
)

// The server's monthly figures per village, written beside the rollups
// for Grafana (a regency SLA table, a readiness panel) and for a national
// instance: one point per village and month, timestamped at the month's
// first instant (WIB), so writing a month again replaces it.
const (
	MeasSLAMonth       = "sla_month"
	MeasReadinessMonth = "readiness_month"
)

// Figure is one village's point of a monthly measurement: tags, number
// fields (a missing value is left out, never written as zero) and text
// fields.
type Figure struct {
	Village, Regency, ISP, Cohort string
	Numbers                       map[string]*float64
	Texts                         map[string]string
}

// WriteFigures writes a month's figures of one measurement.
func (db *DB) WriteFigures(ctx context.Context, meas string, month time.Time, figs []Figure) error {
	var w encoder
	w.init()
	for _, f := range figs {
		keys := make([]string, 0, len(f.Numbers)+len(f.Texts))
		for k, v := range f.Numbers {
			if v != nil {
				keys = append(keys, k)
			}
		}
		for k := range f.Texts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			continue
		}
		// Tags in key order, as line protocol wants them.
		w.start(meas, "cohort", f.Cohort, "isp", f.ISP, "regency", f.Regency, "village", f.Village)
		for _, k := range keys {
			if v, ok := f.Numbers[k]; ok && v != nil {
				w.float(k, *v)
			} else {
				w.str(k, f.Texts[k])
			}
		}
		w.end(month)
		if w.n >= db.cfg.BatchLines {
			if err := db.flushEncoder(ctx, &w); err != nil {
				return err
			}
		}
	}
	return db.flushEncoder(ctx, &w)
}

func (db *DB) flushEncoder(ctx context.Context, w *encoder) error {
	if w.n == 0 {
		return nil
	}
	b, err := w.bytes()
	if err != nil {
		return err
	}
	if err := db.writeLines(ctx, b); err != nil {
		return err
	}
	w.reset()
	return nil
}
