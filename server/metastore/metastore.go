// Package metastore states what the server needs from its metadata store:
// everything that is not a time series (probes and their credentials,
// replay marks and the outbox, incidents, people and sessions, governance,
// exclusion windows, and the small marks that keep a restart from doing
// things twice). server/sqlite implements it for one server (the embedded
// default), server/postgres for several replicas sharing one database; the
// suite in storetest holds both to the same behaviour.
//
// Errors that mean something to a caller are *jagadesa.Error with a code
// (ENotFound, EConflict, EInvalid, EUnauthorized); anything else is an
// internal failure.
package metastore

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Store is the whole metadata store.
type Store interface {
	Probes
	Keys
	Batches
	Incidents
	AuditLog
	Users
	Governance
	Windows
	Marks
	State
	// Close writes what is pending (replay marks) and releases the store.
	Close() error
}

// Probes are the enrolled probes and their bearer tokens (only hashes are
// stored; a token is shown once).
type Probes interface {
	// CreateProbe enrolls a probe for a village, by the admin.
	CreateProbe(ctx context.Context, village string) (jagadesa.Probe, string, error)
	// EnrollProbe enrolls as spec says, atomically: code consumed, old
	// probes of the village retired (Replace), key bound.
	EnrollProbe(ctx context.Context, spec jagadesa.EnrollSpec) (jagadesa.Probe, string, error)
	// ProbeByToken is the live probe a token belongs to. The first use of
	// a pending (rotated) token makes it the probe's only token.
	ProbeByToken(token string) (jagadesa.Probe, bool)
	// Probes lists the live probes; AllProbes every probe ever enrolled,
	// newest first.
	Probes(ctx context.Context) ([]jagadesa.Probe, error)
	AllProbes(ctx context.Context) ([]jagadesa.Probe, error)
	// RevokeProbe ends a probe's token at once (ENotFound: no live probe).
	RevokeProbe(ctx context.Context, id string) error
	// ReplacedProbes lists the ids of the probes id replaced.
	ReplacedProbes(ctx context.Context, id string) ([]string, error)
	// RequestRotation flags a probe for a new token (ENotFound: no live
	// probe); IssueToken then gives it one (EConflict: none requested),
	// and both work until the new one is first used.
	RequestRotation(ctx context.Context, id string) error
	IssueToken(ctx context.Context, id string) (string, error)
	// CreateEnrollCode stores a code's hash, valid for ttl; EnrollCodes
	// lists codes newest first (live: unused and unexpired only).
	CreateEnrollCode(ctx context.Context, hash, village string, replace bool, by string, ttl time.Duration) (jagadesa.EnrollCode, error)
	EnrollCodes(ctx context.Context, live bool, limit int) ([]jagadesa.EnrollCode, error)
}

// Keys are the probes' Ed25519 public keys, current and past.
type Keys interface {
	ProbeKey(probe string) (jagadesa.ProbeKey, bool)
	// SetProbeKey binds a key; the same key again is a no-op, another one
	// EConflict until ResetProbeKey.
	SetProbeKey(ctx context.Context, probe string, pub ed25519.PublicKey, by string) (jagadesa.ProbeKey, error)
	// ResetProbeKey forgets a probe's key and its replay marks (ENotFound:
	// no key).
	ResetProbeKey(ctx context.Context, probe string) error
	// KeyHistory is every key the probes of a village ever had, oldest
	// first.
	KeyHistory(ctx context.Context, village string) ([]jagadesa.ProbeKey, error)
}

// Batches are the replay marks of the probes' record streams and the
// outbox of what accepted batches mean for incidents.
type Batches interface {
	// StreamSeq is the highest record number accepted on a stream (0:
	// none).
	StreamSeq(probe, stream string) uint64
	// CommitBatch raises a stream's mark to seq (never lowers it) and
	// stores effects (nil: none) in the outbox, atomically.
	CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error
	// EffectsReady is signalled after a commit stored effects.
	EffectsReady() <-chan struct{}
	// PendingEffects returns up to limit outbox entries, oldest first;
	// DoneEffects removes applied ones.
	PendingEffects(ctx context.Context, limit int) (ids []int64, bodies [][]byte, err error)
	DoneEffects(ctx context.Context, ids []int64) error
}

// Incidents are incidents with their villages, notes and audit trail
// (what server/incident.Store needs, and the monthly report).
type Incidents interface {
	CreateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error
	UpdateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error
	Incident(ctx context.Context, id string) (*jagadesa.Incident, error)
	Incidents(ctx context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error)
	OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error)
	IncidentsOpened(ctx context.Context, from, to time.Time) ([]jagadesa.Incident, error)
	AddNote(ctx context.Context, n jagadesa.Note) (jagadesa.Note, error)
	Notes(ctx context.Context, id string) ([]jagadesa.Note, error)
	Audit(ctx context.Context, id string) ([]jagadesa.AuditEntry, error)
}

// AuditLog is the append-only trail of every change.
type AuditLog interface {
	AppendAudit(ctx context.Context, e jagadesa.AuditEvent) error
	AuditLog(ctx context.Context, q jagadesa.AuditQuery) ([]jagadesa.AuditEvent, error)
	LastAuditEvent(ctx context.Context, action string) (jagadesa.AuditEvent, bool, error)
	FillAuditTeams(ctx context.Context, teamOf func(area string) string) error
}

// TokenInfo describes one personal API token. Its hash is never given out.
type TokenInfo struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Users are staff accounts, their personal API tokens and browser
// sessions. Secrets arrive hashed by the caller.
type Users interface {
	CreateUser(ctx context.Context, u jagadesa.User, passwordHash string) (jagadesa.User, error)
	UserByName(ctx context.Context, name string) (jagadesa.User, string, error)
	Users(ctx context.Context) ([]jagadesa.User, error)
	CountUsers(ctx context.Context, role jagadesa.Role) (int, error)
	SetPassword(ctx context.Context, name, hash string) error
	DisableUser(ctx context.Context, name string) error
	RecordLogin(ctx context.Context, name string, ok bool, now time.Time) error
	LoginState(ctx context.Context, name string) (failed int, lockedUntil time.Time, err error)
	LockUser(ctx context.Context, name string, until time.Time) error

	CreateUserToken(ctx context.Context, username, name, tokenHash string) (int64, error)
	UserByTokenHash(hash string) (jagadesa.User, bool)
	RevokeUserToken(ctx context.Context, username string, id int64) error
	UserTokens(ctx context.Context, username string) ([]TokenInfo, error)

	CreateSession(ctx context.Context, idHash string, userID int64, now time.Time, absolute time.Duration, addr, ua string) error
	Session(ctx context.Context, idHash string, now time.Time, idle time.Duration) (jagadesa.User, bool, error)
	EndSession(ctx context.Context, idHash string) error
	EndUserSessions(ctx context.Context, userID int64) error
	PruneSessions(ctx context.Context, now time.Time) (int, error)
}

// Governance is what staff entered about villages' digital governance.
type Governance interface {
	SetGovernance(ctx context.Context, g jagadesa.Governance) error
	SetGovernanceMany(ctx context.Context, gs []jagadesa.Governance) error
	GovernanceOf(ctx context.Context, village string) (jagadesa.Governance, bool, error)
	AllGovernance(ctx context.Context) (map[string]jagadesa.Governance, error)
}

// Windows are the SLA's exclusion windows.
type Windows interface {
	AddWindow(ctx context.Context, w jagadesa.ExclusionWindow) (jagadesa.ExclusionWindow, error)
	DeleteWindow(ctx context.Context, id int64) error
	Windows(ctx context.Context, from, to time.Time) ([]jagadesa.ExclusionWindow, error)
}

// Marks keep a restart (or another replica) from sending twice: report
// mails per team and month, notification dedup keys.
type Marks interface {
	ReportMailed(ctx context.Context, team, month string) (bool, error)
	MarkReportMailed(ctx context.Context, team, month string, at time.Time) error
	NotifyMarks(ctx context.Context, since time.Time) (map[string]time.Time, error)
	MarkNotified(ctx context.Context, keys []string, at time.Time) error
}

// State is named blobs kept whole (the villages' learnt baselines).
type State interface {
	PutState(ctx context.Context, name string, body []byte) error
	State(ctx context.Context, name string) ([]byte, error)
}
