// Package jagadesa holds the domain and wire types that the village probe and
// the server share. It imports only the standard library, so the probe binary
// stays small and both sides agree on one definition of a report.
package jagadesa

import (
	"fmt"
	"time"
)

// Status is the live state of a monitored village.
type Status string

// The statuses a village can be in.
const (
	StatusUnknown     Status = "unknown"     // never heard from, or no probe enrolled
	StatusUp          Status = "up"          // heartbeats arrive and the link is healthy
	StatusDegraded    Status = "degraded"    // heartbeats arrive but latency or loss is bad
	StatusDown        Status = "down"        // heartbeats stopped or every target is unreachable
	StatusCompromised Status = "compromised" // an open security incident (set by detection)
)

// ParseStatus accepts the API spelling of a status.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusUnknown, StatusUp, StatusDegraded, StatusDown, StatusCompromised:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q (want up, degraded, down, unknown or compromised)", s)
}

// Village is one entry of the Kemendagri village registry.
type Village struct {
	Code         string  `json:"code"` // e.g. 33.06.08.2005
	Name         string  `json:"name"`
	Kind         string  `json:"kind"` // desa or kelurahan
	DistrictCode string  `json:"district_code"`
	District     string  `json:"district"` // kecamatan
	RegencyCode  string  `json:"regency_code"`
	Regency      string  `json:"regency"` // kabupaten/kota
	Lat          float64 `json:"lat"`
	Lon          float64 `json:"lon"`
	// Approximate marks a village whose own point is unknown (no public
	// polygon): Lat/Lon are then its kecamatan's fallback point, and maps
	// draw it as approximate instead of dropping it.
	Approximate bool `json:"approximate,omitempty"`
}

// Programme describes a village's place in the Internet Desa programme.
type Programme struct {
	Code           string `json:"code"`
	Year           int    `json:"year"` // cohort: 2022, 2023, 2024
	ISP            string `json:"isp"`
	ContractMbps   int    `json:"contract_mbps"`
	Remote3T       bool   `json:"remote_3t"`
	ExtremePoor    bool   `json:"extreme_poor"`
	DigitalVillage bool   `json:"desa_digital"`
	// MonthlyFeeIDR is the link's monthly fee in rupiah (0: unknown), for
	// the SLA's restitution.
	MonthlyFeeIDR int64 `json:"monthly_fee_idr,omitempty"`
}

// Probe is an enrolled measurement agent, bound to exactly one village.
type Probe struct {
	ID        string    `json:"id"`
	Village   string    `json:"village"`
	CreatedAt time.Time `json:"created_at"`
	// EnrolledBy names who enrolled it: a person, "admin", or
	// "code:<person>" for an enrollment code typed on the router.
	EnrolledBy string `json:"enrolled_by,omitempty"`
	// RevokedAt is set once its token stops working; ReplacedBy names the
	// probe that took the village over (a dead router replaced). What a
	// revoked probe sent stays attributed to it.
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	ReplacedBy string     `json:"replaced_by,omitempty"`
	// RotateRequested: staff asked for a new token; the probe is told in
	// its next batch's answer and fetches one (no site visit).
	RotateRequested bool `json:"rotate_requested,omitempty"`
}

// ValidVillageCode reports whether s has the Kemendagri village-code shape
// NN.NN.NN.NNNN. Whether the village exists is the registry's question.
func ValidVillageCode(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 2, 5, 8:
			if c != '.' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// EnrollSpec says how to enroll a probe.
type EnrollSpec struct {
	Village string // the village; with CodeHash, the code's village decides
	By      string // who: a username or "admin"; empty with a code: "code:<its creator>"
	// Replace revokes the village's live probes, recording the new one as
	// their successor (a dead router replaced).
	Replace bool
	// Key, when set, is bound to the probe in the same transaction: the
	// probe's key is known at enrollment, not trusted on first use.
	Key []byte // an Ed25519 public key
	// CodeHash enrolls with a single-use enrollment code (its hash): the
	// code is consumed in the same transaction.
	CodeHash string
}

// EnrollCode describes an enrollment code; the code itself is never kept.
type EnrollCode struct {
	ID        int64      `json:"id"`
	Village   string     `json:"village"`
	Replace   bool       `json:"replace"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	Probe     string     `json:"probe,omitempty"`
}
