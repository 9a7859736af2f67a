package sla

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// GroupBy names what villages are grouped by in a roll-up.
type GroupBy string

// Groupings.
const (
	ByISP      GroupBy = "isp"
	ByRegency  GroupBy = "regency"
	ByCohort   GroupBy = "cohort"
	ByProvince GroupBy = "province"
)

// UnknownKey is the group of villages whose ISP, cohort, regency or province
// is not known.
const UnknownKey = "unknown"

// ParameterShare counts a group's villages on one parameter.
type ParameterShare struct {
	Parameter string `json:"parameter"`
	Met       int    `json:"met"`
	Failed    int    `json:"failed"`
	NoData    int    `json:"no_data"`
	// SharePct is Met ÷ (Met + Failed) × 100: the share of the villages
	// measured on this parameter that met it; nil when none was measured.
	SharePct *float64 `json:"share_pct"`
}

// Group is a roll-up of village results for one month. It counts villages
// and sums minutes and rupiah; it never averages availability, because a
// mean of villages' availability describes no village and hides the ones
// that are down.
type Group struct {
	By       GroupBy `json:"by"`
	Key      string  `json:"key"`
	Month    string  `json:"month"`
	Villages int     `json:"villages"`
	AllMet   int     `json:"all_met"` // met every parameter
	Below    int     `json:"below"`   // failed at least one
	NoData   int     `json:"no_data"` // failed none, but not measured on all
	// ShareAllMetPct is AllMet ÷ (AllMet + Below) × 100: among the villages
	// whose compliance is known. Villages without data are counted, not
	// guessed; nil when there are none with data.
	ShareAllMetPct *float64         `json:"share_all_met_pct"`
	Parameters     []ParameterShare `json:"parameters"`
	// DowntimeMin sums the villages' counted downtime.
	DowntimeMin float64 `json:"downtime_min"`
	// RestitutionIDR sums the known restitution; RestitutionUnknown counts
	// the villages owed restitution whose fee is not known.
	RestitutionIDR     int64 `json:"restitution_idr"`
	RestitutionUnknown int   `json:"restitution_unknown"`
}

// Rollup groups one month's village results, ordered by key. Results of
// different months, or the same village twice, are refused: either would
// count a village more than once.
func Rollup(results []Result, by GroupBy) ([]Group, error) {
	key, err := keyFunc(by)
	if err != nil {
		return nil, err
	}
	groups := map[string]*Group{}
	seen := map[string]bool{}
	for i, r := range results {
		if i > 0 && r.Month != results[0].Month {
			return nil, fmt.Errorf("rollup: village %s is for %s, not %s", r.Code, r.Month, results[0].Month)
		}
		if seen[r.Code] {
			return nil, fmt.Errorf("rollup: village %s appears twice", r.Code)
		}
		seen[r.Code] = true

		k := key(r)
		if k == "" {
			k = UnknownKey
		}
		g := groups[k]
		if g == nil {
			g = &Group{By: by, Key: k, Month: r.Month}
			for _, p := range Parameters {
				g.Parameters = append(g.Parameters, ParameterShare{Parameter: p})
			}
			groups[k] = g
		}
		g.Villages++
		switch r.Status {
		case AllMet:
			g.AllMet++
		case Below:
			g.Below++
		default:
			g.NoData++
		}
		verdicts := r.Verdicts()
		for j := range g.Parameters {
			ps := &g.Parameters[j]
			switch verdicts[ps.Parameter] {
			case Pass:
				ps.Met++
			case Fail:
				ps.Failed++
			default:
				ps.NoData++
			}
		}
		g.DowntimeMin += r.DowntimeMin
		switch {
		case r.RestitutionIDR != nil:
			g.RestitutionIDR += *r.RestitutionIDR
		case r.RestitutionDue:
			g.RestitutionUnknown++
		}
	}
	out := make([]Group, 0, len(groups))
	for _, g := range groups {
		g.ShareAllMetPct = share(g.AllMet, g.AllMet+g.Below)
		for j := range g.Parameters {
			ps := &g.Parameters[j]
			ps.SharePct = share(ps.Met, ps.Met+ps.Failed)
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

func share(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	return ptr(100 * float64(n) / float64(of))
}

func keyFunc(by GroupBy) (func(Result) string, error) {
	switch by {
	case ByISP:
		return func(r Result) string { return r.ISP }, nil
	case ByRegency:
		return func(r Result) string { return r.Regency }, nil
	case ByProvince:
		return func(r Result) string { return r.Province }, nil
	case ByCohort:
		return func(r Result) string {
			if r.Cohort == 0 {
				return ""
			}
			return strconv.Itoa(r.Cohort)
		}, nil
	}
	return nil, errors.New("rollup: group by isp, regency, cohort or province, not " + strconv.Quote(string(by)))
}
