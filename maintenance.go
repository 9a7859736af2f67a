package jagadesa

import (
	"strings"
	"time"
)

// Window kinds staff enter: an ISP's announced maintenance, or force
// majeure (a flood, an earthquake); the SLA leaves both out of the month.
const (
	WindowMaintenance  = "maintenance"
	WindowForceMajeure = "force_majeure"
)

// ExclusionWindow is a period staff entered that the SLA excludes for
// the villages it matches: listed villages, whole regencies, or every
// village of an ISP (empty lists and ISP match nothing: a window must say
// where).
type ExclusionWindow struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"` // WindowMaintenance or WindowForceMajeure
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Villages  []string  `json:"villages,omitempty"`
	Regencies []string  `json:"regencies,omitempty"`
	ISP       string    `json:"isp,omitempty"`
	Reason    string    `json:"reason"` // e.g. the ISP's announcement number
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxWindowLength bounds one window: longer is a typo or needs two.
const MaxWindowLength = 31 * 24 * time.Hour

// Validate checks a window's shape.
func (w *ExclusionWindow) Validate() Problems {
	p := Problems{}
	if w.Kind != WindowMaintenance && w.Kind != WindowForceMajeure {
		p.add("kind", "maintenance or force_majeure")
	}
	switch {
	case w.Start.IsZero() || w.End.IsZero():
		p.add("start", "start and end are required (RFC 3339)")
	case !w.End.After(w.Start):
		p.add("end", "must be after start")
	case w.End.Sub(w.Start) > MaxWindowLength:
		p.add("end", "a window is at most 31 days")
	}
	if len(w.Villages) == 0 && len(w.Regencies) == 0 && w.ISP == "" {
		p.add("villages", "name villages, regencies or an ISP the window covers")
	}
	if len(w.Villages) > 1000 || len(w.Regencies) > 100 {
		p.add("villages", "at most 1000 villages and 100 regencies")
	}
	for _, v := range w.Villages {
		if !ValidVillageCode(v) {
			p.add("villages", "%q is not a village code", v)
			break
		}
	}
	for _, r := range w.Regencies {
		if len(r) != 5 || !digits(r[:2], 2) || r[2] != '.' || !digits(r[3:], 2) {
			p.add("regencies", "%q is not a regency code like 33.06", r)
			break
		}
	}
	if strings.TrimSpace(w.Reason) == "" || len(w.Reason) > 500 {
		p.add("reason", "say why (the ISP's announcement, the disaster), at most 500 bytes")
	}
	if len(w.ISP) > 100 {
		p.add("isp", "at most 100 bytes")
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// Covers reports whether the window applies to a village (of this
// regency, served by this ISP).
func (w *ExclusionWindow) Covers(village, regency, isp string) bool {
	for _, v := range w.Villages {
		if v == village {
			return true
		}
	}
	for _, r := range w.Regencies {
		if r == regency {
			return true
		}
	}
	return w.ISP != "" && strings.EqualFold(w.ISP, isp)
}
