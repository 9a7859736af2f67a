package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

// GigaNoticePct: Giga's guide calls for a formal notice to the ISP when
// fewer than this share of its sites comply (docs/sla.md).
const GigaNoticePct = 70.0

// SLAInput is one month of village SLA results and their roll-ups, as
// server/sla computes them.
type SLAInput struct {
	Lang        Lang
	Month       string // YYYY-MM
	Province    string
	GeneratedAt time.Time
	Villages    []sla.Result
	ByISP       []sla.Group // sla.Rollup(villages, sla.ByISP)
	ByRegency   []sla.Group // sla.Rollup(villages, sla.ByRegency)
	// VillageNames and RegencyNames map Kemendagri codes to names; a code
	// without a name is shown as the code.
	VillageNames map[string]string
	RegencyNames map[string]string
}

// SLADocument builds the monthly SLA report: a summary per ISP, the same per
// regency, and an annex listing every village below its SLA with its own
// availability. It never shows an availability averaged across villages:
// such a number describes no village and hides the ones that are down.
func SLADocument(in SLAInput) (Document, error) {
	doc, label, err := header(in.Lang, in.Month, in.GeneratedAt)
	if err != nil {
		return Document{}, fmt.Errorf("sla report: %w", err)
	}
	if err := checkSLA(in); err != nil {
		return Document{}, fmt.Errorf("sla report: %w", err)
	}
	l := doc.Lang
	doc.Title = l.pick("Laporan SLA Internet Desa", "Village Internet SLA Report")
	if in.Province != "" {
		doc.Title += " — " + in.Province
	}
	doc.Subtitle = l.pick("Bulan ", "Month: ") + label + l.pick(" · per ISP dan per kabupaten/kota", " · by ISP and by regency")

	regencyName := func(code string) string {
		if code == sla.UnknownKey {
			return l.pick("tidak diketahui", "unknown")
		}
		if n := in.RegencyNames[code]; n != "" {
			return n
		}
		return code
	}
	isp := func(k string) string {
		if k == sla.UnknownKey || k == "" {
			return l.pick("tidak diketahui", "unknown")
		}
		return k
	}

	byISP := groupSection(l, in.ByISP, []Column{{Heading: "ISP", Width: 18}}, func(g sla.Group) []Cell {
		return []Cell{txt(isp(g.Key))}
	})
	byISP.Heading = l.pick("1. Ringkasan per ISP", "1. Summary by ISP")
	byISP.Sheet = l.pick("Per ISP", "By ISP")
	byISP.Notes = append(byISP.Notes, gigaNote(l, in.ByISP, isp))

	byReg := groupSection(l, in.ByRegency, []Column{
		{Heading: l.pick("Kode", "Code"), Width: 7},
		{Heading: l.pick("Kabupaten/kota", "Regency/city"), Width: 18},
	}, func(g sla.Group) []Cell {
		return []Cell{txt(g.Key), txt(regencyName(g.Key))}
	})
	byReg.Heading = l.pick("2. Ringkasan per kabupaten/kota", "2. Summary by regency")
	byReg.Sheet = l.pick("Per kabupaten", "By regency")

	doc.Sections = []Section{byISP, byReg, belowAnnex(l, in, regencyName, isp)}
	return doc, nil
}

// checkSLA refuses inputs that would mix months or groupings: a report
// that counts another month's villages is worse than none.
func checkSLA(in SLAInput) error {
	for _, r := range in.Villages {
		if r.Month != in.Month {
			return fmt.Errorf("village %s is for %s, not %s", r.Code, r.Month, in.Month)
		}
	}
	for _, set := range []struct {
		by     sla.GroupBy
		groups []sla.Group
	}{{sla.ByISP, in.ByISP}, {sla.ByRegency, in.ByRegency}} {
		for _, g := range set.groups {
			if g.By != set.by {
				return fmt.Errorf("group %s is by %s, not %s", g.Key, g.By, set.by)
			}
			if g.Month != in.Month {
				return fmt.Errorf("group %s is for %s, not %s", g.Key, g.Month, in.Month)
			}
		}
	}
	return nil
}

// paramLabel names an SLA parameter.
func paramLabel(l Lang, p string) string {
	switch p {
	case sla.ParamAvailability:
		return l.pick("ketersediaan", "availability")
	case sla.ParamThroughput:
		return "throughput"
	case sla.ParamLatency:
		return l.pick("latensi", "latency")
	case sla.ParamLoss:
		return l.pick("paket hilang", "packet loss")
	case sla.ParamRestore:
		return l.pick("pemulihan", "time to restore")
	}
	return p
}

func verdictLabel(l Lang, v sla.Verdict) string {
	switch v {
	case sla.Pass:
		return l.pick("lulus", "pass")
	case sla.Fail:
		return l.pick("gagal", "fail")
	}
	return l.pick("tanpa data", "no data")
}

// groupSection is the summary table shared by the ISP and regency
// sections: key columns, then counts, shares among the measured, downtime
// and restitution.
func groupSection(l Lang, groups []sla.Group, keyCols []Column, key func(sla.Group) []Cell) Section {
	cols := append(slices.Clone(keyCols),
		Column{Heading: l.pick("Desa", "Villages"), Format: Integer, Width: 7},
		Column{Heading: l.pick("Memenuhi semua parameter", "Met every parameter"), Format: Integer, Width: 9},
		Column{Heading: l.pick("Di bawah pada ≥ 1 parameter", "Below on ≥ 1 parameter"), Format: Integer, Width: 9},
		Column{Heading: l.pick("Tanpa data", "No data"), Format: Integer, Width: 7},
		Column{Heading: l.pick("Memenuhi semua (% desa berdata)", "Met every parameter (% with data)"), Format: Percent1, Width: 10},
	)
	for _, p := range sla.Parameters {
		cols = append(cols, Column{Heading: l.pick("Memenuhi ", "Met ") + paramLabel(l, p) + " (%)", Format: Percent1, Width: 10})
	}
	cols = append(cols,
		Column{Heading: l.pick("Menit putus terhitung", "Counted downtime (min)"), Format: Decimal1, Width: 10},
		Column{Heading: l.pick("Restitusi (Rp)", "Restitution (IDR)"), Format: Rupiah, Width: 13},
		Column{Heading: l.pick("Berhak restitusi, biaya tak diketahui (desa)", "Owed restitution, fee unknown (villages)"), Format: Integer, Width: 11},
	)
	rows := make([][]Cell, 0, len(groups))
	for _, g := range groups {
		row := append(key(g),
			num(float64(g.Villages)), num(float64(g.AllMet)), num(float64(g.Below)), num(float64(g.NoData)),
			optNum(g.ShareAllMetPct))
		shares := map[string]*float64{}
		for _, p := range g.Parameters {
			shares[p.Parameter] = p.SharePct
		}
		for _, p := range sla.Parameters {
			row = append(row, optNum(shares[p]))
		}
		row = append(row, num(g.DowntimeMin), num(float64(g.RestitutionIDR)), num(float64(g.RestitutionUnknown)))
		rows = append(rows, row)
	}
	return Section{
		Table: Table{Columns: cols, Rows: rows},
		Notes: []string{
			l.pick("Bagian = desa yang memenuhi ÷ desa yang terukur (memenuhi + tidak memenuhi). Desa tanpa data dihitung, tidak ditebak; “–” berarti tidak ada desa yang terukur.",
				"Share = villages that met ÷ villages measured (met + failed). Villages without data are counted, not guessed; “–” means none was measured."),
			l.pick("Ketersediaan tidak pernah dirata-ratakan antardesa: rata-rata desa tidak menggambarkan satu desa pun dan menyembunyikan desa yang putus. Ketersediaan tiap desa di bawah SLA ada di lampiran.",
				"Availability is never averaged across villages: such a mean describes no village and hides the ones that are down. Each village below its SLA is listed with its own availability in the annex."),
			l.pick("Putus terhitung: hanya gangguan link lebih dari 5 menit, dihitung utuh; listrik padam, pemeliharaan terumumkan dan keadaan kahar dikecualikan. Restitusi = biaya bulanan × jam putus terhitung ÷ jam dalam bulan, hanya bila ketersediaan di bawah target kontrak.",
				"Counted downtime: only link outages longer than 5 minutes, counted whole; power cuts, announced maintenance and force majeure are excluded. Restitution = monthly fee × counted downtime hours ÷ hours in the month, only when availability is below the contract target."),
		},
	}
}

// gigaNote names the ISPs under Giga's notice threshold.
func gigaNote(l Lang, groups []sla.Group, name func(string) string) string {
	var under []string
	for _, g := range groups {
		if g.ShareAllMetPct != nil && *g.ShareAllMetPct < GigaNoticePct {
			under = append(under, fmt.Sprintf("%s (%s %%)", name(g.Key), formatNumber(*g.ShareAllMetPct, 1, l)))
		}
	}
	if len(under) == 0 {
		return l.pick("Panduan Giga: pemberitahuan resmi ke ISP bila < 70% lokasi patuh. Bulan ini tidak ada ISP di bawah 70%.",
			"Giga's guide: formal notice to an ISP when < 70% of its sites comply. No ISP is under 70% this month.")
	}
	return l.pick("Panduan Giga: pemberitahuan resmi ke ISP bila < 70% lokasi patuh. Di bawah 70% bulan ini: ",
		"Giga's guide: formal notice to an ISP when < 70% of its sites comply. Under 70% this month: ") + strings.Join(under, ", ") + "."
}

// belowAnnex lists every village below its SLA, worst availability first.
func belowAnnex(l Lang, in SLAInput, regencyName, isp func(string) string) Section {
	var below []sla.Result
	for _, r := range in.Villages {
		if r.Status == sla.Below {
			below = append(below, r)
		}
	}
	slices.SortFunc(below, func(a, b sla.Result) int {
		switch {
		case a.AvailabilityPct == nil && b.AvailabilityPct != nil:
			return 1
		case a.AvailabilityPct != nil && b.AvailabilityPct == nil:
			return -1
		case a.AvailabilityPct != nil && b.AvailabilityPct != nil && *a.AvailabilityPct != *b.AvailabilityPct:
			return cmp.Compare(*a.AvailabilityPct, *b.AvailabilityPct)
		}
		return cmp.Compare(a.Code, b.Code)
	})
	cols := []Column{
		{Heading: l.pick("Kode desa", "Village code"), Width: 13},
		{Heading: l.pick("Desa", "Village"), Width: 16},
		{Heading: l.pick("Kabupaten/kota", "Regency/city"), Width: 14},
		{Heading: "ISP", Width: 12},
		{Heading: l.pick("Ketersediaan (%)", "Availability (%)"), Format: Percent2, Width: 10},
		{Heading: l.pick("Target (%)", "Target (%)"), Format: Percent2, Width: 8},
		{Heading: l.pick("Menit putus terhitung", "Counted downtime (min)"), Format: Decimal1, Width: 10},
		{Heading: "Throughput", Width: 9},
		{Heading: l.pick("Unduh rata-rata (Mbps)", "Mean download (Mbps)"), Format: Decimal1, Width: 9},
		{Heading: l.pick("Parameter gagal", "Failed parameters"), Width: 18},
		{Heading: l.pick("Restitusi (Rp)", "Restitution (IDR)"), Format: Rupiah, Width: 13},
	}
	rows := make([][]Cell, 0, len(below))
	for _, r := range below {
		name := in.VillageNames[r.Code]
		if name == "" {
			name = r.Code
		}
		var failed []string
		for _, p := range r.Failed {
			failed = append(failed, paramLabel(l, p))
		}
		restitution := optNum(int64Ptr(r.RestitutionIDR))
		if r.RestitutionIDR == nil && r.RestitutionDue {
			restitution.Text = l.pick("biaya tak diketahui", "fee unknown")
		}
		rows = append(rows, []Cell{
			txt(r.Code), txt(name), txt(regencyName(r.Regency)), txt(isp(r.ISP)),
			optNum(r.AvailabilityPct), num(r.AvailabilityTargetPct), num(r.DowntimeMin),
			txt(verdictLabel(l, r.ThroughputVerdict)), optNum(r.Throughput.Download.MeanMbps),
			txt(strings.Join(failed, ", ")), restitution,
		})
	}
	return Section{
		Heading: l.pick("Lampiran: desa di bawah SLA", "Annex: villages below their SLA"),
		Sheet:   l.pick("Lampiran desa di bawah", "Annex villages below"),
		Table:   Table{Columns: cols, Rows: rows},
		Notes: []string{
			l.pick(fmt.Sprintf("%d desa gagal pada ≥ 1 parameter, diurutkan dari ketersediaan terendah. Ketersediaan adalah milik desa itu sendiri: (T − E − D) ÷ (T − E) dalam bulan.", len(below)),
				fmt.Sprintf("%d villages failed ≥ 1 parameter, lowest availability first. Availability is the village's own: (T − E − D) ÷ (T − E) over the month.", len(below))),
			l.pick("Throughput lulus bila rata-rata unduh uji router ≥ 80% kecepatan kontrak. “Biaya tak diketahui”: restitusi terutang tetapi biaya bulanan desa itu belum tercatat.",
				"Throughput passes when the mean of the router's download tests is ≥ 80% of the contracted speed. “Fee unknown”: restitution is owed but the village's monthly fee is not on record."),
		},
	}
}

func int64Ptr(p *int64) *float64 {
	if p == nil {
		return nil
	}
	f := float64(*p)
	return &f
}
