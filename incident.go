package jagadesa

import "time"

// IncidentKind says what an incident is about.
type IncidentKind string

const (
	IncidentDown       IncidentKind = "village_down"    // link cut or cause not yet known
	IncidentPowerCut   IncidentKind = "power_cut"       // the site lost power
	IncidentProbeFault IncidentKind = "probe_fault"     // the probe failed; the link's state is unknown
	IncidentDegraded   IncidentKind = "degraded"        // loss, latency or jitter off the village's normal
	IncidentSLABreach  IncidentKind = "sla_breach"      // throughput under 80% of the contract
	IncidentRegional   IncidentKind = "regional_outage" // several villages of one area or ISP at once
	IncidentSecurity   IncidentKind = "security"        // a security event on the village router
)

// Severity ranks incidents and events.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// IncidentState is where an incident is in its lifecycle.
type IncidentState string

const (
	StateOpen         IncidentState = "open"
	StateAcknowledged IncidentState = "acknowledged"
	StateResolved     IncidentState = "resolved"
)

// Incident stages.
const (
	StageIdentification = "identification"
	StageContainment    = "containment"
	StageRecovery       = "recovery"
)

// Incident is one real problem, however many villages it touches, routed to
// one CSIRT.
type Incident struct {
	ID        string        `json:"id"`
	Kind      IncidentKind  `json:"kind"`
	Severity  Severity      `json:"severity"`
	State     IncidentState `json:"status"`
	Title     string        `json:"title"`    // Bahasa Indonesia, for people
	Villages  []string      `json:"villages"` // village codes; one unless regional
	Village   string        `json:"village,omitempty"`
	Regency   string        `json:"regency"` // NN.NN of the (first) village
	District  string        `json:"district,omitempty"`
	ISP       string        `json:"isp,omitempty"`
	CSIRT     string        `json:"csirt"`    // the team it was routed to, e.g. JatengProv-CSIRT
	Priority  bool          `json:"priority"` // a 3T or miskin ekstrem village
	Escalated bool          `json:"escalated"`
	// Stage follows incident-handling practice: identification (identifikasi),
	// containment/response (penanggulangan), recovery (pemulihan).
	Stage string `json:"stage"`
	// MergedInto names the regional incident this one was folded into.
	MergedInto string `json:"merged_into,omitempty"`
	// Muted says why notifications were held back (a silence or a
	// maintenance window); the incident is recorded all the same.
	Muted string `json:"muted,omitempty"`

	OpenedAt   time.Time  `json:"opened_at"`
	StartedAt  time.Time  `json:"started_at"` // when the problem began (may be before it was detected)
	AckedAt    *time.Time `json:"acknowledged_at,omitempty"`
	AckedBy    string     `json:"acknowledged_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"` // when the problem ended, once known
	Assignee   string     `json:"assignee,omitempty"`

	// Evidence holds server-owned facts under fixed keys (reason, rtt_ms,
	// group, cause, …); values are codes or numbers, never prose, so every
	// page can show them in its own language. docs/incidents.md lists them.
	Evidence map[string]string `json:"evidence,omitempty"`
	// Signals are what a village's probe reported, aggregated by kind and
	// source; the probe's own words stay in their own namespace (Attrs,
	// Message) and never reach Evidence. At most MaxSignals are kept;
	// SignalsDropped counts the distinct signals beyond.
	Signals        []Signal `json:"signals,omitempty"`
	SignalsDropped int      `json:"signals_dropped,omitempty"`
}

// MaxSignals bounds the evidence one incident keeps.
const MaxSignals = 200

// Signal is one kind of security evidence from a village's probe, aggregated.
type Signal struct {
	Kind      string            `json:"kind"`
	Severity  Severity          `json:"severity"`
	Source    string            `json:"source,omitempty"`
	Count     int               `json:"count"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Message   string            `json:"message,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Village   string            `json:"village,omitempty"`
}

// Notification is what notifiers send: an incident and what just happened
// to it.
type Notification struct {
	Event    string   `json:"event"` // opened, escalated, acknowledged, resolved, reminder
	Incident Incident `json:"incident"`
	// URL opens the incident in the dashboard, when the server knows its
	// public address.
	URL string    `json:"url,omitempty"`
	At  time.Time `json:"at"`
	// Villages are the registry entries of Incident.Villages, so messages
	// can name places without a registry of their own.
	Villages []Village `json:"villages"`
}

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
	State    IncidentState
	Regency  string
	Kind     IncidentKind
	Severity Severity
	CSIRT    string
	Village  string
	// Within keeps incidents with a village (or the regency) inside this
	// Kemendagri code: the asker's jurisdiction, so that Limit counts
	// only incidents they may see.
	Within string
	Since  time.Time // opened at or after
	Until  time.Time // opened before
	Limit  int       // default 100, at most 1000
}
