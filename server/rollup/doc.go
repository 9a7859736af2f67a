// Package rollup keeps the server's own downsampled series in a second
// bucket (on InfluxDB 1.8 a second retention policy, "jagadesa/rollup"), so
// that month-long questions never scan raw points.
//
// A [Runner] rolls every complete hour into RTT summaries per village and
// target (5 minutes and hours), minutes by cause per village (hours, and WIB
// days for the monthly read) and copies of the speed tests. Every rollup
// point is stamped with its window's start and tagged like the window, so
// rolling an hour again overwrites it with the same points: catching up
// after downtime, rolling trailing hours again and rolling again the hours
// late data has changed are all the same operation. A [Reader] turns the
// day points into the SLA engine's inputs ([Reader.MonthInputs]).
//
// docs/rollups.md gives the measurements, the minute classification rule,
// the late-data strategy and measured times. The Flux here runs on
// InfluxDB 1.8 (Flux 0.65) and 2.x alike: from, range, filter, keep, group,
// last and aggregateWindow with count only; every summary is computed in Go.
package rollup
