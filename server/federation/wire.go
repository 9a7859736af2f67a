// Package federation carries a provincial JagaDesa's view up to a national
// one: the probe's design one level up. The province keeps what it has to
// say (village status changes, incident summaries, monthly SLA and
// readiness figures) in a crash-safe spool, and a Forwarder posts it in
// signed, gzipped, numbered batches over HTTPS, deleting items only once
// the national server has acknowledged them. The national Receiver checks
// the province's Ed25519 signature, refuses what it already has (replay
// marks per province and stream), validates every item against the
// province it came from, and stores it in its own SQLite file before it
// answers. The Store then answers the national, read-only view.
//
// Nothing here knows the other server packages: items are built from root
// package types (jagadesa.Incident, jagadesa.Status) and from plain
// figures, and cmd/ wires the hooks.
package federation

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jagadesa/jagadesa"
)

// WireVersion is the version of the batch format.
const WireVersion = 1

// Path is where a national server takes batches.
const Path = "/api/v1/federation/batches"

// Headers of a batch request. The signature is jagadesa.SignatureHeader,
// over the JSON body before gzip, as the probes send theirs.
const (
	ProvinceHeader = "X-JagaDesa-Province"
)

// Item kinds.
const (
	KindVillageStatus  = "village_status"
	KindIncident       = "incident"
	KindSLAMonth       = "sla_month"
	KindReadinessMonth = "readiness_month"
)

// Limits on a batch. A Forwarder never builds one beyond them; a Receiver
// refuses one that is.
const (
	MaxItemsPerBatch = 2000
	MaxBodyBytes     = 8 << 20  // JSON, after gunzip
	MaxWireBytes     = 4 << 20  // as it comes, gzip
	MaxText          = 256      // titles, causes, team names
	MaxCode          = 64       // ids, codes, figure names
	MaxVillages      = 2000     // villages of one (regional) incident listed; VillagesTotal counts them all
	MaxFigures       = 40       // numbers of one village's month
	MaxEvidenceBytes = 16 << 10 // with MaxVillages, an item stays within the spool's 64 KiB record
	// MaxFuture is the clock skew between servers a Receiver tolerates.
	MaxFuture = 5 * time.Minute
)

// oldest is the earliest time any item may carry: JagaDesa did not exist
// before it, so an earlier time is a broken clock or a forged item.
var oldest = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Batch is what a province posts.
type Batch struct {
	Version  int    `json:"v"`
	Province string `json:"province"` // two-digit Kemendagri code: 33 Jawa Tengah, 15 Jambi
	// Stream names the province's sequence of item numbers: a random id
	// made with its spool, so a wiped spool starting again at 1 is a new
	// stream and not a replay.
	Stream string    `json:"stream"`
	SentAt time.Time `json:"sent_at"`
	KeyID  string    `json:"key_id"`
	// Backlog is how many items the province still holds, this batch's
	// included; Dropped how many its spool ever lost for space. Both are
	// shown on the national view.
	Backlog int64  `json:"backlog"`
	Dropped uint64 `json:"dropped"`
	Items   []Item `json:"items"`
}

// Item is one fact a province forwards. Exactly one of the payloads is
// set, the one Kind names.
type Item struct {
	Seq  uint64    `json:"seq"`  // the spool's record id; increasing along the stream
	Kind string    `json:"kind"` // KindVillageStatus, KindIncident, KindSLAMonth, KindReadinessMonth
	At   time.Time `json:"at"`   // when the province recorded it

	VillageStatus *VillageStatus `json:"village_status,omitempty"`
	Incident      *Incident      `json:"incident,omitempty"`
	Month         *Month         `json:"month,omitempty"` // sla_month and readiness_month
}

// VillageStatus is a village's live status as it changed.
type VillageStatus struct {
	Village string          `json:"village"`
	Status  jagadesa.Status `json:"status"`
	Since   time.Time       `json:"since"`
	Cause   string          `json:"cause,omitempty"` // the status engine's reason code: silent, loss, rtt, …
}

// Incident is the summary of an incident as it now stands.
type Incident struct {
	ID       string   `json:"id"`
	Village  string   `json:"village"`
	Villages []string `json:"villages,omitempty"`
	// VillagesTotal is how many villages the incident has when more than
	// MaxVillages (a province-wide power cut): only the first are listed.
	VillagesTotal int                    `json:"villages_total,omitempty"`
	Kind          jagadesa.IncidentKind  `json:"kind"`
	Severity      jagadesa.Severity      `json:"severity"`
	State         jagadesa.IncidentState `json:"state"`
	Title         string                 `json:"title,omitempty"`
	Team          string                 `json:"team,omitempty"` // the CSIRT it was routed to
	OpenedAt      time.Time              `json:"opened_at"`
	AckedAt       *time.Time             `json:"acked_at,omitempty"`
	ResolvedAt    *time.Time             `json:"resolved_at,omitempty"`
	// Evidence is the raw security evidence (the incident's evidence map
	// and its probes' signals), only when the province allows sharing it.
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

// Month is one village's monthly SLA or readiness figures.
type Month struct {
	Village string             `json:"village"`
	Month   string             `json:"month"` // YYYY-MM, in WIB
	Numbers map[string]float64 `json:"numbers,omitempty"`
	Texts   map[string]string  `json:"texts,omitempty"`
}

// IncidentSummary is the item for an incident as it now stands. The raw
// security evidence goes along only when withEvidence is set (the
// province's --federation-share-evidence).
func IncidentSummary(in *jagadesa.Incident, withEvidence bool) Item {
	s := &Incident{ID: in.ID, Village: in.Village, Kind: in.Kind, Severity: in.Severity, State: in.State,
		Title: truncate(in.Title, MaxText), Team: truncate(in.CSIRT, MaxText), OpenedAt: in.OpenedAt, AckedAt: in.AckedAt, ResolvedAt: in.ResolvedAt}
	if s.Village == "" && len(in.Villages) > 0 {
		s.Village = in.Villages[0]
	}
	if len(in.Villages) > 1 || len(in.Villages) == 1 && in.Villages[0] != s.Village {
		s.Villages = slices.Clone(in.Villages[:min(len(in.Villages), MaxVillages)])
		if len(in.Villages) > MaxVillages {
			s.VillagesTotal = len(in.Villages)
		}
	}
	if withEvidence && (len(in.Evidence) > 0 || len(in.Signals) > 0) {
		b, err := json.Marshal(struct {
			Evidence map[string]string `json:"evidence,omitempty"`
			Signals  []jagadesa.Signal `json:"signals,omitempty"`
		}{in.Evidence, in.Signals})
		if err == nil && len(b) <= MaxEvidenceBytes {
			s.Evidence = b
		}
	}
	return Item{Kind: KindIncident, Incident: s}
}

// ProvinceOf is the province a Kemendagri code of any level lies in.
func ProvinceOf(code string) string {
	if len(code) < 2 {
		return ""
	}
	return code[:2]
}

// ValidProvince reports whether s is a two-digit province code.
func ValidProvince(s string) bool {
	return len(s) == 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}

var (
	codeRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	monthRE = regexp.MustCompile(`^20[2-9][0-9]-(0[1-9]|1[0-2])$`)
)

// checkHeader judges what fails a batch whole: who sent it and its shape.
func (b *Batch) checkHeader(province string) jagadesa.Problems {
	p := jagadesa.Problems{}
	if b.Version != WireVersion {
		p["v"] = fmt.Sprintf("version %d; this server speaks %d", b.Version, WireVersion)
	}
	if b.Province != province {
		p["province"] = fmt.Sprintf("the batch says province %q, the request and its key are %q", clip(b.Province), province)
	}
	if !codeRE.MatchString(b.Stream) {
		p["stream"] = "1 to 64 of A-Z, a-z, 0-9, '.', '_', ':', '-'"
	}
	if len(b.Items) == 0 {
		p["items"] = "no items"
	}
	if len(b.Items) > MaxItemsPerBatch {
		p["items"] = fmt.Sprintf("%d items; at most %d a batch", len(b.Items), MaxItemsPerBatch)
	}
	for i := range b.Items {
		s := b.Items[i].Seq
		if s == 0 || s > jagadesa.MaxSeq {
			p[fmt.Sprintf("items[%d].seq", i)] = "a number from 1 to 2^53"
			break
		}
		if i > 0 && s <= b.Items[i-1].Seq {
			p[fmt.Sprintf("items[%d].seq", i)] = "numbers must increase along the batch"
			break
		}
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// check judges one item of a batch from province at now: nil if it may be
// stored, otherwise why not.
func (it *Item) check(province string, now time.Time) error {
	if err := checkTime("at", it.At, now); err != nil {
		return err
	}
	set := 0
	for _, b := range []bool{it.VillageStatus != nil, it.Incident != nil, it.Month != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("exactly one payload must be set, found %d", set)
	}
	village := func(code string) error {
		if !jagadesa.ValidVillageCode(code) {
			return fmt.Errorf("village %q is not a code such as 33.06.08.2005", clip(code))
		}
		if ProvinceOf(code) != province {
			return fmt.Errorf("village %s lies outside province %s", code, province)
		}
		return nil
	}
	switch it.Kind {
	case KindVillageStatus:
		v := it.VillageStatus
		if v == nil {
			return fmt.Errorf("kind %s without its village_status", it.Kind)
		}
		if err := village(v.Village); err != nil {
			return err
		}
		if _, err := jagadesa.ParseStatus(string(v.Status)); err != nil {
			return err
		}
		if err := checkTime("since", v.Since, now); err != nil {
			return err
		}
		if len(v.Cause) > MaxCode {
			return fmt.Errorf("cause is over %d bytes", MaxCode)
		}
	case KindIncident:
		in := it.Incident
		if in == nil {
			return fmt.Errorf("kind %s without its incident", it.Kind)
		}
		if !codeRE.MatchString(in.ID) {
			return fmt.Errorf("incident id %q: 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':', '-'", clip(in.ID))
		}
		if err := village(in.Village); err != nil {
			return err
		}
		if len(in.Villages) > MaxVillages || in.VillagesTotal < 0 || in.VillagesTotal > 1_000_000 {
			return fmt.Errorf("%d villages listed; at most %d (villages_total counts the rest)", len(in.Villages), MaxVillages)
		}
		for _, c := range in.Villages {
			if err := village(c); err != nil {
				return err
			}
		}
		switch in.Kind {
		case jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault, jagadesa.IncidentDegraded,
			jagadesa.IncidentSLABreach, jagadesa.IncidentRegional, jagadesa.IncidentSecurity:
		default:
			return fmt.Errorf("unknown incident kind %q", clip(string(in.Kind)))
		}
		switch in.Severity {
		case jagadesa.SeverityInfo, jagadesa.SeverityWarning, jagadesa.SeverityCritical:
		default:
			return fmt.Errorf("unknown severity %q", clip(string(in.Severity)))
		}
		switch in.State {
		case jagadesa.StateOpen, jagadesa.StateAcknowledged, jagadesa.StateResolved:
		default:
			return fmt.Errorf("unknown incident state %q", clip(string(in.State)))
		}
		if len(in.Title) > MaxText || len(in.Team) > MaxText {
			return fmt.Errorf("title and team are at most %d bytes", MaxText)
		}
		if err := checkTime("opened_at", in.OpenedAt, now); err != nil {
			return err
		}
		for name, t := range map[string]*time.Time{"acked_at": in.AckedAt, "resolved_at": in.ResolvedAt} {
			if t == nil {
				continue
			}
			if err := checkTime(name, *t, now); err != nil {
				return err
			}
			if t.Before(in.OpenedAt) {
				return fmt.Errorf("%s is before opened_at", name)
			}
		}
		if in.State == jagadesa.StateResolved && in.ResolvedAt == nil {
			return fmt.Errorf("a resolved incident needs resolved_at")
		}
		if len(in.Evidence) > MaxEvidenceBytes {
			return fmt.Errorf("evidence is %d bytes; at most %d", len(in.Evidence), MaxEvidenceBytes)
		}
		if len(in.Evidence) > 0 && !json.Valid(in.Evidence) {
			return fmt.Errorf("evidence is not JSON")
		}
	case KindSLAMonth, KindReadinessMonth:
		m := it.Month
		if m == nil {
			return fmt.Errorf("kind %s without its month", it.Kind)
		}
		if err := village(m.Village); err != nil {
			return err
		}
		if !monthRE.MatchString(m.Month) {
			return fmt.Errorf("month %q is not YYYY-MM", clip(m.Month))
		}
		if mt, _ := time.Parse("2006-01", m.Month); mt.After(now.Add(MaxFuture)) {
			return fmt.Errorf("month %s is in the future", m.Month)
		}
		if len(m.Numbers)+len(m.Texts) > MaxFigures {
			return fmt.Errorf("%d figures; at most %d", len(m.Numbers)+len(m.Texts), MaxFigures)
		}
		for k, v := range m.Numbers {
			if !codeRE.MatchString(k) {
				return fmt.Errorf("figure name %q: 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':', '-'", clip(k))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("figure %s is not a finite number", k)
			}
		}
		for k, v := range m.Texts {
			if !codeRE.MatchString(k) || len(v) > MaxCode {
				return fmt.Errorf("text figure %q: a name of 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':', '-' and a value of at most %d bytes", clip(k), MaxCode)
			}
		}
	default:
		return fmt.Errorf("unknown kind %q (want village_status, incident, sla_month or readiness_month)", clip(it.Kind))
	}
	return nil
}

func checkTime(name string, t, now time.Time) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%s is missing", name)
	case t.Before(oldest):
		return fmt.Errorf("%s %s is before %s", name, t.UTC().Format(time.RFC3339), oldest.Format("2006"))
	case t.After(now.Add(MaxFuture)):
		return fmt.Errorf("%s %s is in the future", name, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// clip bounds a caller's text before it goes into a message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
