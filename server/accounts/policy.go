package accounts

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Principal is who is asking: a staff account's role and jurisdiction, or
// the automation admin token. Every endpoint, page, export, tile and
// notification action asks its methods, so the rules live here once.
//
// Its fields are unexported so that a handler cannot make one up, and its
// zero value may do nothing at all: a request that somehow reaches a
// handler without a principal sees nothing and changes nothing.
type Principal struct {
	username string
	role     jagadesa.Role
	province string // NN
	regency  string // NN.NN, for the regional roles
	// everywhere marks the automation admin token: province-admin of every
	// province.
	everywhere bool
}

// NewPrincipal is the principal of a signed-in staff account. It refuses a
// disabled account (EUnauthorized) and one whose stored shape is invalid
// (a plain error: the store is damaged, the person did nothing wrong).
func NewPrincipal(u jagadesa.User) (Principal, error) {
	if u.Disabled {
		return Principal{}, jagadesa.Errorf(jagadesa.EUnauthorized, "the account %s is disabled", u.Username)
	}
	if p := u.Validate(); p != nil {
		return Principal{}, fmt.Errorf("stored account %d (%s) is invalid: %v", u.ID, u.Username, map[string]string(p))
	}
	return Principal{username: u.Username, role: u.Role, province: u.Province, regency: u.Regency}, nil
}

// AdminPrincipal is the automation admin token's principal: province-admin
// of every province. Its username, "admin", is what audit entries name.
func AdminPrincipal() Principal {
	return Principal{username: "admin", role: jagadesa.RoleProvinceAdmin, everywhere: true}
}

// Everywhere reports whether p's jurisdiction is every village (the admin
// token), so that callers may skip filtering altogether.
func (p Principal) Everywhere() bool { return p.everywhere && p.role != "" }

// Username names the principal in audit entries and logs.
func (p Principal) Username() string { return p.username }

// Role is the principal's role; empty for the zero Principal.
func (p Principal) Role() jagadesa.Role { return p.role }

// Area is the Kemendagri code of the principal's jurisdiction: a regency
// (NN.NN), a province (NN), or "" for the admin token (everywhere).
func (p Principal) Area() string {
	if p.everywhere {
		return ""
	}
	if p.regency != "" {
		return p.regency
	}
	return p.province
}

// Covers reports whether a Kemendagri code of any level lies inside the
// jurisdiction (see VillageFilter).
func (p Principal) Covers(code string) bool { return p.covers(code) }

// String names the role and jurisdiction, for messages and logs:
// "regency-analyst of regency 33.06".
func (p Principal) String() string {
	switch {
	case p.role == "":
		return "an unidentified caller"
	case p.everywhere:
		return "the admin token (province-admin of every province)"
	case p.regency != "":
		return fmt.Sprintf("%s of regency %s", p.role, p.regency)
	}
	return fmt.Sprintf("%s of province %s", p.role, p.province)
}

// Forbidden is the error for an action p may not take: an EForbidden
// *jagadesa.Error naming the role and jurisdiction, e.g. Forbidden("manage
// users") for a viewer gives "viewer of province 33 may not manage users".
func (p Principal) Forbidden(what string) error {
	return jagadesa.Errorf(jagadesa.EForbidden, "%s may not %s", p, what)
}

// covers reports whether a Kemendagri code of any level (province NN,
// regency NN.NN, district NN.NN.NN, village NN.NN.NN.NNNN) lies inside the
// jurisdiction. A regional principal does not cover its province's code:
// a province-wide aggregate includes other regencies.
func (p Principal) covers(code string) bool {
	if _, err := jagadesa.ParseRole(string(p.role)); err != nil || code == "" {
		return false // the zero Principal, or a role this policy does not know
	}
	if p.everywhere {
		return true
	}
	j := p.province
	if p.regency != "" { // the regional roles, and a regency's viewer
		j = p.regency
	}
	if j == "" {
		return false
	}
	// code == j, or code begins with j and a dot (without building j+".":
	// tiles call this for every village they draw).
	return strings.HasPrefix(code, j) && (len(code) == len(j) || code[len(j)] == '.')
}

// VillageFilter returns the test lists, maps, tiles and exports apply to
// each code they would show. It accepts a code of any level inside the
// jurisdiction: "33.06.08.2005", "33.06.08" and "33.06" for Purworejo's
// regency analyst, not "33" or "33.19.01.2001".
func (p Principal) VillageFilter() func(code string) bool { return p.covers }

// CanSeeVillage reports whether the village lies in p's jurisdiction:
// the province for province-wide roles, the regency for regional ones. The
// village code decides; a RegencyCode that contradicts it hides the
// village rather than showing it.
func (p Principal) CanSeeVillage(v jagadesa.Village) bool {
	return p.covers(v.Code) && (v.RegencyCode == "" || p.covers(v.RegencyCode))
}

// incidentCodes are the codes that place an incident: its villages, or
// for a record without them its village, or its regency.
func incidentCodes(in *jagadesa.Incident) []string {
	switch {
	case len(in.Villages) > 0:
		return in.Villages
	case in.Village != "":
		return []string{in.Village}
	case in.Regency != "":
		return []string{in.Regency}
	}
	return nil
}

// CanSeeIncident reports whether any of the incident's villages lies in
// p's jurisdiction. RedactIncident then hides the rest.
func (p Principal) CanSeeIncident(in *jagadesa.Incident) bool {
	return in != nil && slices.ContainsFunc(incidentCodes(in), p.covers)
}

// CanActOnIncident reports whether p may acknowledge, assign, stage,
// resolve or annotate the incident: analysts and province admins, and only
// when every village of the incident is theirs. An incident that spans
// regencies (an ISP outage, an attack campaign) is the province team's: a
// regency analyst who resolved it would resolve it for the other regency's
// team too. Viewers and technicians never act.
func (p Principal) CanActOnIncident(in *jagadesa.Incident) bool {
	if !p.ActsOnIncidents() || in == nil {
		return false
	}
	codes := incidentCodes(in)
	return len(codes) > 0 && !slices.ContainsFunc(codes, func(c string) bool { return !p.covers(c) })
}

// ActsOnIncidents reports whether p's role acts on incidents at all
// (analysts and province admins); which ones is CanActOnIncident.
func (p Principal) ActsOnIncidents() bool {
	switch p.role {
	case jagadesa.RoleProvinceAdmin, jagadesa.RoleProvinceAnalyst, jagadesa.RoleRegencyAnalyst:
		return true
	}
	return false
}

// ManagesProbes reports whether p's role manages probes at all (province
// admins and technicians); which villages' is CanManageProbes.
func (p Principal) ManagesProbes() bool {
	return p.role == jagadesa.RoleProvinceAdmin || p.role == jagadesa.RoleTechnician
}

// CanManageUsers reports whether p may open the user administration at
// all: province admins. Which accounts they may change is CanManageUser.
func (p Principal) CanManageUsers() bool { return p.role == jagadesa.RoleProvinceAdmin }

// CanManageUser reports whether p may create, change, disable or reset the
// account u: a province admin, for accounts of its own province.
func (p Principal) CanManageUser(u jagadesa.User) bool {
	return p.CanManageUsers() && u.Province != "" && p.covers(u.Province)
}

// CanManageProbes reports whether p may enroll, replace or revoke the
// probe of village v: a province admin in its province, a technician in
// its regency.
func (p Principal) CanManageProbes(v jagadesa.Village) bool {
	return p.ManagesProbes() && p.CanSeeVillage(v)
}

// CanEditDirectory reports whether p may change the CSIRT directory (which
// team an area's incidents go to): province admins.
func (p Principal) CanEditDirectory() bool { return p.role == jagadesa.RoleProvinceAdmin }

// CanSeeSecurityEvidence reports whether p may see what a security incident
// is made of (signals, attacking addresses, changed files): analysts and
// province admins. Viewers (Diskominfo) and technicians have no need to
// know; RedactIncident strips it for them.
func (p Principal) CanSeeSecurityEvidence() bool {
	switch p.role {
	case jagadesa.RoleProvinceAdmin, jagadesa.RoleProvinceAnalyst, jagadesa.RoleRegencyAnalyst:
		return true
	}
	return false
}

// CanReadReports reports whether p may read availability and SLA reports
// (of its jurisdiction): everyone but technicians, whose work is probes.
func (p Principal) CanReadReports() bool {
	switch p.role {
	case jagadesa.RoleProvinceAdmin, jagadesa.RoleProvinceAnalyst, jagadesa.RoleRegencyAnalyst, jagadesa.RoleViewer:
		return true
	}
	return false
}

// CanEditGovernance reports whether p may enter villages' digital
// governance (website, apps, online services) for the readiness index:
// province admins, for their province. Viewers stay read-only.
func (p Principal) CanEditGovernance() bool { return p.role == jagadesa.RoleProvinceAdmin }

// CanReadAudit reports whether p may read the audit trail of its
// jurisdiction: province admins and analysts (the CSIRTs, for their BSSN
// maturity assessment). Viewers and technicians may not.
func (p Principal) CanReadAudit() bool {
	switch p.role {
	case jagadesa.RoleProvinceAdmin, jagadesa.RoleProvinceAnalyst, jagadesa.RoleRegencyAnalyst:
		return true
	}
	return false
}

// redactedSecurityTitle replaces a security incident's title for those who
// may not see its evidence: titles name attack sources and event kinds.
const redactedSecurityTitle = "Insiden keamanan"

// securityEvidenceKeys are evidence keys that carry security detail. Only
// security incidents set them today; they are dropped from every other
// incident too, for those without CanSeeSecurityEvidence, in case one day
// they are not.
var securityEvidenceKeys = []string{"source", "event"}

// RedactIncident returns what p may see of in; call CanSeeIncident first
// (an incident outside the jurisdiction comes back as the zero Incident).
// The result shares no slice, map or pointer with in.
//
//   - An incident spanning jurisdictions keeps only p's villages; Village,
//     Regency and District follow the first of them, and evidence keyed by
//     a hidden village (cause:<code>) and signals from hidden villages are
//     dropped. The title is kept: it names an ISP, an area or a source,
//     never another regency's villages, though its count is the whole
//     incident's.
//   - Without CanSeeSecurityEvidence, a security incident keeps only its
//     ID, kind, state, times and villages, under a generic title; any other
//     incident loses its signals and the security evidence keys.
func (p Principal) RedactIncident(in jagadesa.Incident) jagadesa.Incident {
	if !p.CanSeeIncident(&in) {
		return jagadesa.Incident{}
	}
	out := cloneIncident(in)
	if len(in.Villages) > 0 && slices.ContainsFunc(in.Villages, func(c string) bool { return !p.covers(c) }) {
		out.Villages = slices.DeleteFunc(out.Villages, func(c string) bool { return !p.covers(c) })
		first := out.Villages[0]
		out.Village = first
		if jagadesa.ValidVillageCode(first) {
			out.Regency = first[:5]
			if out.District != "" {
				out.District = first[:8]
			}
		}
		maps.DeleteFunc(out.Evidence, func(k, _ string) bool {
			i := strings.LastIndexByte(k, ':')
			return i >= 0 && jagadesa.ValidVillageCode(k[i+1:]) && !p.covers(k[i+1:])
		})
		// A signal without a village cannot be placed: it goes too.
		out.Signals = slices.DeleteFunc(out.Signals, func(s jagadesa.Signal) bool { return !p.covers(s.Village) })
	}
	if p.CanSeeSecurityEvidence() {
		return out
	}
	if in.Kind == jagadesa.IncidentSecurity {
		return jagadesa.Incident{
			ID: out.ID, Kind: out.Kind, State: out.State, Title: redactedSecurityTitle,
			Villages: out.Villages, Village: out.Village, Regency: out.Regency, District: out.District,
			MergedInto: out.MergedInto,
			OpenedAt:   out.OpenedAt, StartedAt: out.StartedAt, AckedAt: out.AckedAt, ResolvedAt: out.ResolvedAt, EndedAt: out.EndedAt,
		}
	}
	out.Signals, out.SignalsDropped = nil, 0
	for _, k := range securityEvidenceKeys {
		delete(out.Evidence, k)
	}
	if strings.HasPrefix(out.Evidence["group"], "source:") {
		delete(out.Evidence, "group")
	}
	return out
}

func cloneIncident(in jagadesa.Incident) jagadesa.Incident {
	out := in
	out.Villages = slices.Clone(in.Villages)
	out.Evidence = maps.Clone(in.Evidence)
	if in.Signals != nil {
		out.Signals = make([]jagadesa.Signal, len(in.Signals))
		for i, s := range in.Signals {
			s.Attrs = maps.Clone(s.Attrs)
			out.Signals[i] = s
		}
	}
	for _, t := range []**time.Time{&out.AckedAt, &out.ResolvedAt, &out.EndedAt} {
		if *t != nil {
			c := **t
			*t = &c
		}
	}
	return out
}
