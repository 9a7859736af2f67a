// Package sla computes the service level of one village link over one
// calendar month, and rolls village results up per ISP, regency, cohort or
// province without ever averaging availability across villages.
//
// It is pure and uses the standard library only: callers read the probe's
// timeline, staff-entered windows, speed tests and the month's RTT summary
// from storage and pass them in as plain values. The definitions, their
// sources and the choices made here are in docs/sla.md; the rules a reader
// most needs are repeated on the names that implement them.
package sla
