package geo

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/jagadesa/jagadesa"
)

// syntheticISPs are plausible national providers for SyntheticProgramme
// only; which ISP serves which village is not public.
var syntheticISPs = []string{"Telkom Indonesia", "Lintasarta", "Icon+ (PLN)", "Indosat Ooredoo Hutchison", "XL Axiata", "Biznet"}

// syntheticCohorts split the villages over the programme years in the
// proportions of Jawa Tengah's published cohorts (53, 331, 215).
var syntheticCohorts = []struct{ year, weight int }{{2022, 53}, {2023, 331}, {2024, 215}}

// SyntheticProgramme puts every village of reg in a SYNTHETIC programme
// (jagadesa serve --programme all), for benchmarks at the scale of a
// national programme: each regency's villages are split over the cohorts
// 2022-2024 in the proportions of Jawa Tengah's, each (cohort, regency) lot
// has one ISP from a plausible list, every link is 100 Mbps, and 30% of the
// 2023 cohort is flagged extreme-poor, as in DemoProgramme. It is
// deterministic. Rows are sorted by year, then code.
func SyntheticProgramme(reg *Registry) []jagadesa.Programme {
	if reg == nil {
		return nil
	}
	rng := rand.New(rand.NewPCG(demoSeed1, uint64(reg.Len())))
	total := 0
	for _, c := range syntheticCohorts {
		total += c.weight
	}
	out := make([]jagadesa.Programme, 0, reg.Len())
	vs := reg.Villages()
	for start := 0; start < len(vs); {
		end := start + 1
		for end < len(vs) && vs[end].RegencyCode == vs[start].RegencyCode {
			end++
		}
		isps := make([]string, len(syntheticCohorts))
		for i := range isps {
			isps[i] = syntheticISPs[rng.IntN(len(syntheticISPs))]
		}
		for _, v := range vs[start:end] {
			n, k := rng.IntN(total), 0
			for n >= syntheticCohorts[k].weight {
				n -= syntheticCohorts[k].weight
				k++
			}
			p := jagadesa.Programme{Code: v.Code, Year: syntheticCohorts[k].year, ISP: isps[k], ContractMbps: demoContractMbps}
			if p.Year == 2023 && rng.Float64() < demoExtremePoor {
				p.ExtremePoor = true
			}
			out = append(out, p)
		}
		start = end
	}
	slices.SortFunc(out, func(a, b jagadesa.Programme) int {
		return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Code, b.Code))
	})
	return out
}
