package geo

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/jagadesa/jagadesa"
)

//go:generate go test -run ^TestDemoProgrammeCSV$ -update .

// The per-village list of the province's Internet Desa links is not public.
// What is public are the cohort sizes below (humas.jatengprov.go.id, 24 Jan
// 2024; see data/jateng/SOURCES.md), so the SYNTHETIC demo list reproduces
// exactly those and nothing more.
var demoCohorts = []struct {
	year, villages, regencies int
}{
	{2022, 53, 7},
	{2023, 331, 29},
	{2024, 215, 29},
}

// The province's named desa digital are always in the demo, so an audience
// finds the villages it has read about. Each name is unique within its
// regency, though both names occur elsewhere too (five Krandegan and four
// Kemuning in the province), which is why they are pinned by code. They go in the
// 2024 cohort, whose published theme included desa digital.

// KrandeganCode is Krandegan, Kec. Bayan, Kabupaten Purworejo.
const KrandeganCode = "33.06.08.2007"

// KemuningCode is Kemuning, Kec. Ngargoyoso, Kabupaten Karanganyar.
const KemuningCode = "33.13.07.2005"

const anchorYear = 2024

// demoISPs are plausible providers for the SYNTHETIC list only; which ISP
// serves which village in reality is not public.
var demoISPs = []string{"Telkom Indonesia", "Lintasarta", "Icon+ (PLN)", "Jatengnet"}

const (
	demoContractMbps = 100  // the province's published link speed
	demoExtremePoor  = 0.30 // share of the 2023 cohort, which targeted extreme-poverty villages
)

// A fixed seed keeps the demo identical across runs and machines, so that
// screenshots, tests and data/demo-programme.csv agree.
const demoSeed1, demoSeed2 = 0x4A61676144657361, 599 // "JagaDesa", total villages

// DemoProgramme returns a SYNTHETIC programme list for demos and tests,
// because the real list is not public. It draws only desa (never kelurahan),
// matches the published counts exactly (2022: 53 villages in 7 regencies;
// 2023: 331 in 29; 2024: 215 in 29; no village twice), always includes
// Krandegan (Purworejo) and Kemuning (Karanganyar) as desa digital in 2024,
// flags 30% of 2023 as extreme-poor, gives each (year, regency) lot one ISP
// from a plausible list, 100 Mbps, and remote_3t false everywhere (no Jawa
// Tengah regency is on the national 3T list; operators set it per village).
// It is deterministic. It returns nil when reg cannot hold that shape (not
// the Jawa Tengah registry), rather than a list that misstates the counts.
// Rows are sorted by year, then code.
func DemoProgramme(reg *Registry) []jagadesa.Programme {
	if reg == nil {
		return nil
	}
	rng := rand.New(rand.NewPCG(demoSeed1, demoSeed2))

	// Desa per regency, regencies in code order (villages are sorted).
	var regencies []string
	pool := make(map[string][]string)
	for _, v := range reg.Villages() {
		if v.Kind != "desa" {
			continue
		}
		if len(pool[v.RegencyCode]) == 0 {
			regencies = append(regencies, v.RegencyCode)
		}
		pool[v.RegencyCode] = append(pool[v.RegencyCode], v.Code)
	}
	used := make(map[string]bool)
	var anchors []jagadesa.Village
	for _, code := range []string{KrandeganCode, KemuningCode} {
		v, ok := reg.Village(code)
		if !ok || v.Kind != "desa" {
			return nil
		}
		anchors = append(anchors, v)
		used[code] = true
	}
	for _, c := range regencies {
		p := pool[c]
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	}
	free := make(map[string]int, len(regencies)) // unused desa left per regency
	for _, c := range regencies {
		free[c] = len(pool[c])
	}
	for _, a := range anchors {
		free[a.RegencyCode]--
	}
	cursor := make(map[string]int, len(regencies))

	var out []jagadesa.Programme
	for _, ch := range demoCohorts {
		if len(regencies) < ch.regencies {
			return nil
		}
		var fixed []jagadesa.Village
		if ch.year == anchorYear {
			fixed = anchors
		}

		// The anchors' regencies are in the cohort by definition; the rest
		// are drawn at random.
		quota := make(map[string]int, ch.regencies)
		var chosen []string
		for _, a := range fixed {
			if quota[a.RegencyCode] == 0 {
				chosen = append(chosen, a.RegencyCode)
			}
			quota[a.RegencyCode]++
		}
		for _, i := range rng.Perm(len(regencies)) {
			if len(chosen) == ch.regencies {
				break
			}
			if c := regencies[i]; quota[c] == 0 && free[c] > 0 {
				chosen = append(chosen, c)
				quota[c] = 1
			}
		}
		if len(chosen) != ch.regencies {
			return nil
		}
		slices.Sort(chosen)

		// Every chosen regency gets one village (so the regency count is
		// exact); the remainder is spread at random, within what is left.
		capacity, total := 0, 0
		for _, c := range chosen {
			capacity += free[c] + countIn(fixed, c)
			total += quota[c]
		}
		if capacity < ch.villages || total > ch.villages {
			return nil
		}
		for left := ch.villages - total; left > 0; {
			c := chosen[rng.IntN(len(chosen))]
			if quota[c] < free[c]+countIn(fixed, c) {
				quota[c]++
				left--
			}
		}

		for _, c := range chosen {
			isp := demoISPs[rng.IntN(len(demoISPs))]
			n := 0
			take := func(code string, digital bool) {
				out = append(out, jagadesa.Programme{
					Code: code, Year: ch.year, ISP: isp, ContractMbps: demoContractMbps,
					DigitalVillage: digital,
				})
				n++
			}
			for _, a := range fixed {
				if a.RegencyCode == c {
					take(a.Code, true)
				}
			}
			for n < quota[c] {
				code := pool[c][cursor[c]]
				cursor[c]++
				if used[code] {
					continue
				}
				used[code] = true
				free[c]--
				take(code, false)
			}
		}
	}

	var cohort2023 []int
	for i, p := range out {
		if p.Year == 2023 {
			cohort2023 = append(cohort2023, i)
		}
	}
	rng.Shuffle(len(cohort2023), func(i, j int) { cohort2023[i], cohort2023[j] = cohort2023[j], cohort2023[i] })
	for _, i := range cohort2023[:int(math.Round(demoExtremePoor*float64(len(cohort2023))))] {
		out[i].ExtremePoor = true
	}

	slices.SortFunc(out, func(a, b jagadesa.Programme) int {
		return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Code, b.Code))
	})
	return out
}

func countIn(vs []jagadesa.Village, regency string) int {
	n := 0
	for _, v := range vs {
		if v.RegencyCode == regency {
			n++
		}
	}
	return n
}

// DemoProgrammeCSV returns data/demo-programme.csv, the SYNTHETIC list of
// DemoProgramme as written by WriteProgramme, so a demo can offer the same
// file an operator would upload. Each call returns a fresh copy.
func DemoProgrammeCSV() []byte { return []byte(demoProgrammeCSV) }
