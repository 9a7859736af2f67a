package sla

import (
	"fmt"
	"time"
)

// WIB is Western Indonesia Time (UTC+7), the local time of Jawa Tengah and
// Jambi. Month boundaries are midnight WIB because contracts, invoices and
// staff reports all use local calendar months; an outage at 01:00 WIB on the
// 1st belongs to the new month even though it is still the old month in UTC.
//
// A fixed zone rather than time.LoadLocation("Asia/Jakarta"): Jakarta has
// kept UTC+7 without daylight saving since 1964, and a fixed zone does not
// depend on the host's tzdata.
var WIB = time.FixedZone("WIB", 7*60*60)

// MonthRange returns the calendar month containing t, read in WIB, as the
// half-open range [start, end).
func MonthRange(t time.Time) (start, end time.Time) {
	w := t.In(WIB)
	start = time.Date(w.Year(), w.Month(), 1, 0, 0, 0, 0, WIB)
	return start, start.AddDate(0, 1, 0)
}

// ParseMonth reads a month written YYYY-MM (as in ?month=2026-11) and returns
// its first instant in WIB.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01", s, WIB)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q: want YYYY-MM", s)
	}
	return t, nil
}

// monthLabel writes the month containing t as YYYY-MM in WIB.
func monthLabel(t time.Time) string {
	return t.In(WIB).Format("2006-01")
}
