package reports

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/sla"
)

// AllSeverities marks a CSIRTRow that sums a team's month over every
// severity.
const AllSeverities jagadesa.Severity = ""

// CSIRTRow is one team's incidents of one severity opened in one month:
// what a BSSN CSIRT maturity assessment asks for.
type CSIRTRow struct {
	CSIRT    string            `json:"csirt"`
	Month    string            `json:"month"`    // YYYY-MM in the location given
	Severity jagadesa.Severity `json:"severity"` // AllSeverities on the team's total row
	Opened   int               `json:"opened"`
	// Acknowledged and Resolved count the incidents that have been, by
	// the time of the report; Escalated those sent on to the province.
	Acknowledged int `json:"acknowledged"`
	Resolved     int `json:"resolved"`
	Escalated    int `json:"escalated"`
	// MTTA is acknowledged_at − opened_at and MTTR resolved_at −
	// opened_at, in minutes, over the incidents acknowledged or resolved;
	// nil when there are none.
	MTTAMeanMin   *float64 `json:"mtta_mean_min"`
	MTTAMedianMin *float64 `json:"mtta_median_min"`
	MTTRMeanMin   *float64 `json:"mttr_mean_min"`
	MTTRMedianMin *float64 `json:"mttr_median_min"`
	// Stages reached: stages are passed in order, so an incident in
	// recovery has also been through identification and containment.
	// Every incident opened has reached identification.
	Identification int `json:"identification"`
	Containment    int `json:"containment"`
	Recovery       int `json:"recovery"`
}

// stageRank orders the incident-handling stages; an empty or unknown stage
// is identification, where every incident starts.
func stageRank(s string) int {
	switch s {
	case jagadesa.StageContainment:
		return 1
	case jagadesa.StageRecovery:
		return 2
	}
	return 0
}

// severityRank lists critical first; unknown severities follow the known
// ones and the team's total comes last.
func severityRank(s jagadesa.Severity) int {
	switch s {
	case jagadesa.SeverityCritical:
		return 0
	case jagadesa.SeverityWarning:
		return 1
	case jagadesa.SeverityInfo:
		return 2
	case AllSeverities:
		return 4
	}
	return 3
}

// CSIRTRows sums incidents per team, month (in loc) and severity, with a
// total row per team and month (Severity AllSeverities) after its
// severities. Incidents folded into a regional one are not counted twice.
// Rows are ordered by team, month, then critical, warning, info.
func CSIRTRows(incidents []jagadesa.Incident, loc *time.Location) []CSIRTRow {
	type acc struct {
		row       CSIRTRow
		ack, res  []float64
		reachedAt [3]int
	}
	type key struct {
		team, month string
		sev         jagadesa.Severity
	}
	by := map[key]*acc{}
	for i := range incidents {
		in := &incidents[i]
		if in.MergedInto != "" {
			continue
		}
		month := in.OpenedAt.In(loc).Format("2006-01")
		for _, sev := range []jagadesa.Severity{in.Severity, AllSeverities} {
			k := key{in.CSIRT, month, sev}
			a := by[k]
			if a == nil {
				a = &acc{row: CSIRTRow{CSIRT: in.CSIRT, Month: month, Severity: sev}}
				by[k] = a
			}
			r := &a.row
			r.Opened++
			if in.Escalated {
				r.Escalated++
			}
			if in.AckedAt != nil {
				r.Acknowledged++
				a.ack = append(a.ack, in.AckedAt.Sub(in.OpenedAt).Minutes())
			}
			if in.ResolvedAt != nil {
				r.Resolved++
				a.res = append(a.res, in.ResolvedAt.Sub(in.OpenedAt).Minutes())
			}
			for s := 0; s <= stageRank(in.Stage); s++ {
				a.reachedAt[s]++
			}
		}
	}
	out := make([]CSIRTRow, 0, len(by))
	for _, a := range by {
		r := a.row
		slices.Sort(a.ack)
		slices.Sort(a.res)
		r.MTTAMeanMin, r.MTTAMedianMin = mean(a.ack), median(a.ack)
		r.MTTRMeanMin, r.MTTRMedianMin = mean(a.res), median(a.res)
		r.Identification, r.Containment, r.Recovery = a.reachedAt[0], a.reachedAt[1], a.reachedAt[2]
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b CSIRTRow) int {
		return cmp.Or(
			cmp.Compare(a.CSIRT, b.CSIRT),
			cmp.Compare(a.Month, b.Month),
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			cmp.Compare(a.Severity, b.Severity),
		)
	})
	return out
}

// CSIRTInput is one month's incidents and the names of the teams they were
// routed to.
type CSIRTInput struct {
	Lang        Lang
	Month       string // YYYY-MM, WIB
	Province    string
	GeneratedAt time.Time
	// Incidents should be those opened in the month; any opened outside
	// it (in WIB) are left out and counted in a note.
	Incidents []jagadesa.Incident
	// TeamNames maps a CSIRT's identifier (Incident.CSIRT) to its name.
	TeamNames map[string]string
}

// CSIRTDocument builds the monthly incident-handling report per team and
// severity.
func CSIRTDocument(in CSIRTInput) (Document, error) {
	doc, label, err := header(in.Lang, in.Month, in.GeneratedAt)
	if err != nil {
		return Document{}, fmt.Errorf("csirt report: %w", err)
	}
	l := doc.Lang
	doc.Title = l.pick("Laporan Penanganan Insiden CSIRT", "CSIRT Incident Handling Report")
	if in.Province != "" {
		doc.Title += " — " + in.Province
	}
	doc.Subtitle = l.pick("Bulan ", "Month: ") + label + l.pick(" · per tim dan tingkat keparahan", " · by team and severity")

	var rows []CSIRTRow
	outside := 0
	for _, r := range CSIRTRows(in.Incidents, sla.WIB) {
		if r.Month != in.Month {
			if r.Severity == AllSeverities {
				outside += r.Opened
			}
			continue
		}
		rows = append(rows, r)
	}
	cols := []Column{
		{Heading: l.pick("Tim", "Team"), Width: 22},
		{Heading: l.pick("Tingkat keparahan", "Severity"), Width: 10},
		{Heading: l.pick("Dibuka", "Opened"), Format: Integer, Width: 7},
		{Heading: l.pick("Diakui", "Acknowledged"), Format: Integer, Width: 9},
		{Heading: l.pick("Diselesaikan", "Resolved"), Format: Integer, Width: 8},
		{Heading: l.pick("Dieskalasi", "Escalated"), Format: Integer, Width: 8},
		{Heading: l.pick("MTTA rata-rata (menit)", "MTTA mean (min)"), Format: Decimal1, Width: 9},
		{Heading: l.pick("MTTA median (menit)", "MTTA median (min)"), Format: Decimal1, Width: 9},
		{Heading: l.pick("MTTR rata-rata (menit)", "MTTR mean (min)"), Format: Decimal1, Width: 9},
		{Heading: l.pick("MTTR median (menit)", "MTTR median (min)"), Format: Decimal1, Width: 9},
		{Heading: l.pick("Tahap identifikasi", "Reached identification"), Format: Integer, Width: 10},
		{Heading: l.pick("Tahap penanggulangan", "Reached containment"), Format: Integer, Width: 11},
		{Heading: l.pick("Tahap pemulihan", "Reached recovery"), Format: Integer, Width: 9},
	}
	var cells [][]Cell
	for _, r := range rows {
		team := in.TeamNames[r.CSIRT]
		if team == "" {
			team = r.CSIRT
		}
		if team == "" {
			team = l.pick("tanpa tim", "no team")
		}
		cells = append(cells, []Cell{
			txt(team), txt(severityLabel(l, r.Severity)),
			num(float64(r.Opened)), num(float64(r.Acknowledged)), num(float64(r.Resolved)), num(float64(r.Escalated)),
			optNum(r.MTTAMeanMin), optNum(r.MTTAMedianMin), optNum(r.MTTRMeanMin), optNum(r.MTTRMedianMin),
			num(float64(r.Identification)), num(float64(r.Containment)), num(float64(r.Recovery)),
		})
	}
	notes := []string{
		l.pick("MTTA = waktu diakui − waktu dibuka; MTTR = waktu diselesaikan − waktu dibuka; dalam menit, di antara insiden yang sudah diakui atau diselesaikan. “–”: belum ada.",
			"MTTA = acknowledged − opened; MTTR = resolved − opened; in minutes, over the incidents acknowledged or resolved. “–”: none yet."),
		l.pick("Tahap dilalui berurutan: identifikasi (saat dibuka), penanggulangan (saat diakui), pemulihan (saat diselesaikan). Insiden di tahap pemulihan juga dihitung pada tahap sebelumnya.",
			"Stages are passed in order: identification (on opening), containment (on acknowledgement), recovery (on resolution). An incident in recovery also counts at the earlier stages."),
		l.pick("Insiden dihitung pada bulan dibukanya (WIB). Insiden yang digabung ke insiden regional tidak dihitung dua kali. Baris “semua” menjumlahkan semua tingkat keparahan tim itu.",
			"Incidents count in the month they were opened (WIB). Incidents folded into a regional one are not counted twice. The “all” row sums the team's severities."),
	}
	if outside > 0 {
		notes = append(notes, l.pick(fmt.Sprintf("%d insiden yang dibuka di luar bulan ini tidak dihitung.", outside),
			fmt.Sprintf("%d incidents opened outside this month are left out.", outside)))
	}
	doc.Sections = []Section{{
		Heading: l.pick("1. Insiden per tim dan tingkat keparahan", "1. Incidents by team and severity"),
		Sheet:   l.pick("Per tim", "By team"),
		Table:   Table{Columns: cols, Rows: cells},
		Notes:   notes,
	}}
	return doc, nil
}

func severityLabel(l Lang, s jagadesa.Severity) string {
	switch s {
	case jagadesa.SeverityCritical:
		return l.pick("kritis", "critical")
	case jagadesa.SeverityWarning:
		return l.pick("peringatan", "warning")
	case jagadesa.SeverityInfo:
		return "info"
	case AllSeverities:
		return l.pick("semua", "all")
	}
	return string(s)
}
