package reports

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/jagadesa/jagadesa/server/readiness"
)

// ScoreBands are the edges of the distribution columns: a score falls in
// [lower, upper), except 100, which falls in the last band.
var ScoreBands = [...]float64{0, 25, 50, 75, 100}

// DefaultRankN is how many villages the top and bottom annexes list.
const DefaultRankN = 10

// ReadinessInput is one month's readiness index of the monitored villages.
type ReadinessInput struct {
	Lang        Lang
	Month       string // YYYY-MM
	Province    string
	GeneratedAt time.Time
	Results     []readiness.Result
	// Regencies maps a village code to its regency's name, VillageNames to
	// the village's name. A village without a regency is grouped under
	// "tidak diketahui"; one without a name is shown by its code.
	Regencies    map[string]string
	VillageNames map[string]string
	// RankN is how many villages each ranking annex lists; 0 means
	// DefaultRankN.
	RankN int
}

// ReadinessRow is one regency's readiness in the month.
type ReadinessRow struct {
	Regency  string
	Villages int      // villages with a result
	Complete int      // villages with all four pillars, so with a score
	Median   *float64 // median score of the complete villages
	Bands    [4]int   // complete villages per ScoreBands band
	// Missing counts villages without each pillar, in the order
	// connectivity, use, village, governance.
	Missing [4]int
}

var pillarKeys = [4]string{readiness.PillarConnectivity, readiness.PillarUse, readiness.PillarVillage, readiness.PillarGovernance}

// bandOf returns the ScoreBands band of a score.
func bandOf(score float64) int {
	for i := len(ScoreBands) - 2; i > 0; i-- {
		if score >= ScoreBands[i] {
			return i
		}
	}
	return 0
}

// ReadinessRows sums the results per regency (ordered by name) and, last,
// for all of them together under total. Only complete villages have a
// score, so only they enter the median and the bands: a partial score is a
// different index (docs/readiness.md).
func ReadinessRows(results []readiness.Result, regencies map[string]string, unknown, total string) []ReadinessRow {
	type acc struct {
		row    ReadinessRow
		scores []float64
	}
	by := map[string]*acc{}
	all := &acc{row: ReadinessRow{Regency: total}}
	for _, r := range results {
		reg := regencies[r.Village]
		if reg == "" {
			reg = unknown
		}
		a := by[reg]
		if a == nil {
			a = &acc{row: ReadinessRow{Regency: reg}}
			by[reg] = a
		}
		for _, a := range []*acc{a, all} {
			a.row.Villages++
			for _, m := range r.Missing {
				if i := slices.Index(pillarKeys[:], m); i >= 0 {
					a.row.Missing[i]++
				}
			}
			if r.Complete && r.Score != nil {
				a.row.Complete++
				a.row.Bands[bandOf(*r.Score)]++
				a.scores = append(a.scores, *r.Score)
			}
		}
	}
	out := make([]ReadinessRow, 0, len(by)+1)
	for _, a := range append(sortedAccs(by), all) {
		slices.Sort(a.scores)
		a.row.Median = median(a.scores)
		out = append(out, a.row)
	}
	return out
}

func sortedAccs[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// ReadinessDocument builds the monthly readiness report: per regency the
// villages scored, how many are complete, their median and distribution,
// and which pillars are missing; then the top and bottom complete villages.
func ReadinessDocument(in ReadinessInput) (Document, error) {
	doc, label, err := header(in.Lang, in.Month, in.GeneratedAt)
	if err != nil {
		return Document{}, fmt.Errorf("readiness report: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range in.Results {
		if seen[r.Village] {
			return Document{}, fmt.Errorf("readiness report: village %s appears twice", r.Village)
		}
		seen[r.Village] = true
	}
	l := doc.Lang
	doc.Title = l.pick("Laporan Kesiapan Digital Desa", "Village Digital Readiness Report")
	if in.Province != "" {
		doc.Title += " — " + in.Province
	}
	doc.Subtitle = l.pick("Bulan ", "Month: ") + label + l.pick(" · per kabupaten/kota", " · by regency")

	unknown := l.pick("tidak diketahui", "unknown")
	total := l.pick("Seluruh provinsi", "Whole province")
	cols := []Column{
		{Heading: l.pick("Kabupaten/kota", "Regency/city"), Width: 20},
		{Heading: l.pick("Desa dinilai", "Villages scored"), Format: Integer, Width: 8},
		{Heading: l.pick("Lengkap (4 pilar)", "Complete (4 pillars)"), Format: Integer, Width: 9},
		{Heading: l.pick("Median skor lengkap", "Median complete score"), Format: Decimal1, Width: 9},
	}
	for i := 0; i+1 < len(ScoreBands); i++ {
		cols = append(cols, Column{Heading: l.pick("Skor ", "Score ") + fmt.Sprintf("%g–%g", ScoreBands[i], ScoreBands[i+1]), Format: Integer, Width: 8})
	}
	for _, p := range pillarKeys {
		cols = append(cols, Column{Heading: l.pick("Tanpa pilar ", "Missing ") + pillarLabel(l, p), Format: Integer, Width: 10})
	}
	var rows [][]Cell
	for _, r := range ReadinessRows(in.Results, in.Regencies, unknown, total) {
		row := []Cell{txt(r.Regency), num(float64(r.Villages)), num(float64(r.Complete)), optNum(r.Median)}
		for _, n := range r.Bands {
			row = append(row, num(float64(n)))
		}
		for _, n := range r.Missing {
			row = append(row, num(float64(n)))
		}
		rows = append(rows, row)
	}
	summary := Section{
		Heading: l.pick("1. Kesiapan per kabupaten/kota", "1. Readiness by regency"),
		Sheet:   l.pick("Per kabupaten", "By regency"),
		Table:   Table{Columns: cols, Rows: rows},
		Notes: []string{
			l.pick("Kesiapan = 0,4·C + 0,2·U + 0,2·V + 0,2·G (konektivitas, pemanfaatan, perkembangan desa/IDM, tata kelola digital), tiap pilar 0–100 dengan batas tetap.",
				"Readiness = 0.4·C + 0.2·U + 0.2·V + 0.2·G (connectivity, use, village development/IDM, digital governance), each pillar 0–100 against fixed goalposts."),
			l.pick("Hanya desa lengkap (keempat pilar ada) yang punya skor; median dan sebaran hanya memakai mereka. Skor parsial adalah indeks lain dan tidak dimasukkan. Data hilang tidak pernah dianggap nol.",
				"Only complete villages (all four pillars present) have a score; the median and distribution use them only. A partial score is a different index and is left out. Missing data is never taken as zero."),
			l.pick("Kelas skor: batas bawah termasuk, batas atas tidak (skor 25 masuk 25–50); skor 100 masuk 75–100. Kelurahan tidak punya IDM, sehingga pilar V-nya selalu hilang.",
				"Score bands include their lower edge, not their upper (25 is in 25–50); 100 is in 75–100. Kelurahan have no IDM, so their V pillar is always missing."),
		},
	}

	n := in.RankN
	if n <= 0 {
		n = DefaultRankN
	}
	var complete []readiness.Result
	for _, r := range in.Results {
		if r.Complete && r.Score != nil {
			complete = append(complete, r)
		}
	}
	slices.SortFunc(complete, func(a, b readiness.Result) int {
		if c := cmp.Compare(*b.Score, *a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Village, b.Village)
	})
	top := complete[:min(n, len(complete))]
	bottom := slices.Clone(complete[len(complete)-min(n, len(complete)):])
	slices.Reverse(bottom)
	rank := func(rs []readiness.Result, heading, sheet string, fromBottom bool) Section {
		cols := []Column{
			{Heading: l.pick("Peringkat", "Rank"), Format: Integer, Width: 8},
			{Heading: l.pick("Kode desa", "Village code"), Width: 13},
			{Heading: l.pick("Desa", "Village"), Width: 18},
			{Heading: l.pick("Kabupaten/kota", "Regency/city"), Width: 18},
			{Heading: l.pick("Skor", "Score"), Format: Decimal1, Width: 8},
		}
		for _, p := range pillarKeys {
			cols = append(cols, Column{Heading: pillarLabel(l, p), Format: Decimal1, Width: 11})
		}
		var rows [][]Cell
		for i, r := range rs {
			pos := i + 1
			if fromBottom {
				pos = len(complete) - i
			}
			name := in.VillageNames[r.Village]
			if name == "" {
				name = r.Village
			}
			reg := in.Regencies[r.Village]
			if reg == "" {
				reg = unknown
			}
			rows = append(rows, []Cell{num(float64(pos)), txt(r.Village), txt(name), txt(reg), optNum(r.Score),
				optNum(r.Pillars.Connectivity), optNum(r.Pillars.Use), optNum(r.Pillars.Village), optNum(r.Pillars.Governance)})
		}
		return Section{Heading: heading, Sheet: sheet, Table: Table{Columns: cols, Rows: rows}, Notes: []string{
			l.pick(fmt.Sprintf("Peringkat di antara %d desa lengkap se-provinsi; skor sama diurutkan menurut kode desa.", len(complete)),
				fmt.Sprintf("Rank among the province's %d complete villages; equal scores are ordered by village code.", len(complete))),
		}}
	}
	doc.Sections = []Section{
		summary,
		rank(top, l.pick(fmt.Sprintf("Lampiran A: %d desa teratas", len(top)), fmt.Sprintf("Annex A: top %d villages", len(top))),
			l.pick("Lampiran A teratas", "Annex A top"), false),
		rank(bottom, l.pick(fmt.Sprintf("Lampiran B: %d desa terbawah", len(bottom)), fmt.Sprintf("Annex B: bottom %d villages", len(bottom))),
			l.pick("Lampiran B terbawah", "Annex B bottom"), true),
	}
	return doc, nil
}

func pillarLabel(l Lang, key string) string {
	switch key {
	case readiness.PillarConnectivity:
		return l.pick("C konektivitas", "C connectivity")
	case readiness.PillarUse:
		return l.pick("U pemanfaatan", "U use")
	case readiness.PillarVillage:
		return l.pick("V perkembangan desa", "V village development")
	case readiness.PillarGovernance:
		return l.pick("G tata kelola", "G governance")
	}
	return key
}
