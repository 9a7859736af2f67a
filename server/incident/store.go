// Package incident turns live status into incidents — one per real problem,
// however many villages it touches — routes each to the CSIRT that owns it,
// escalates what nobody acknowledges, and keeps the lifecycle and its audit
// trail in a Store that survives restarts.
package incident

import (
	"context"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Note is a person's remark on an incident.
type Note struct {
	ID         int64     `json:"id"`
	IncidentID string    `json:"incident_id"`
	At         time.Time `json:"at"`
	By         string    `json:"by"`
	Text       string    `json:"text"`
}

// AuditEntry records one change to an incident: who, what, when.
type AuditEntry struct {
	ID         int64     `json:"id"`
	IncidentID string    `json:"incident_id"`
	At         time.Time `json:"at"`
	By         string    `json:"by"`     // "system", "admin", "telegram:@user", …
	Action     string    `json:"action"` // opened, village_added, escalated, acknowledged, assigned, stage, resolved, note, notified, muted
	Detail     string    `json:"detail,omitempty"`
}

// Filter selects incidents for listing; zero fields match everything.
type Filter struct {
	State    jagadesa.IncidentState
	Regency  string
	Kind     jagadesa.IncidentKind
	Severity jagadesa.Severity
	CSIRT    string
	Village  string
	Since    time.Time // opened at or after
	Until    time.Time // opened before
	Limit    int       // default 100, at most 1000
}

// Store persists incidents. Implementations must make Create and Update
// durable before returning, and must store the incident and its audit
// entry atomically.
type Store interface {
	CreateIncident(ctx context.Context, in *jagadesa.Incident, audit AuditEntry) error
	UpdateIncident(ctx context.Context, in *jagadesa.Incident, audit AuditEntry) error
	Incident(ctx context.Context, id string) (*jagadesa.Incident, error)  // EError code not_found when missing
	Incidents(ctx context.Context, f Filter) ([]jagadesa.Incident, error) // newest first
	OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error)       // state open or acknowledged
	AddNote(ctx context.Context, n Note) (Note, error)                    // also writes an audit entry "note"
	Notes(ctx context.Context, incidentID string) ([]Note, error)
	Audit(ctx context.Context, incidentID string) ([]AuditEntry, error)
}
