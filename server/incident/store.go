// Package incident turns live status into incidents — one per real problem,
// however many villages it touches — routes each to the CSIRT that owns it,
// escalates what nobody acknowledges, and keeps the lifecycle and its audit
// trail in a Store that survives restarts.
package incident

import (
	"context"

	"github.com/jagadesa/jagadesa"
)

// Store persists incidents. Implementations must make Create and Update
// durable before returning, and must store the incident and its audit
// entry atomically.
type Store interface {
	CreateIncident(ctx context.Context, in *jagadesa.Incident, audit jagadesa.AuditEntry) error
	UpdateIncident(ctx context.Context, in *jagadesa.Incident, audit jagadesa.AuditEntry) error
	Incident(ctx context.Context, id string) (*jagadesa.Incident, error)           // EError code not_found when missing
	Incidents(ctx context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error) // newest first
	OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error)                // state open or acknowledged
	AddNote(ctx context.Context, n jagadesa.Note) (jagadesa.Note, error)           // also writes an audit entry "note"
	Notes(ctx context.Context, incidentID string) ([]jagadesa.Note, error)
	Audit(ctx context.Context, incidentID string) ([]jagadesa.AuditEntry, error)
}
