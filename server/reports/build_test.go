package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/sla"
)

func TestFormatNumber(t *testing.T) {
	for _, c := range []struct {
		x    float64
		dec  int
		lang Lang
		want string
	}{
		{1234567, 0, ID, "1.234.567"},
		{1234567, 0, EN, "1,234,567"},
		{99.5, 2, ID, "99,50"},
		{99.5, 2, EN, "99.50"},
		{-0.01, 1, ID, "0,0"},
		{-1234.56, 1, ID, "-1.234,6"},
		{999, 0, ID, "999"},
		{0, 0, EN, "0"},
	} {
		if got := formatNumber(c.x, c.dec, c.lang); got != c.want {
			t.Errorf("formatNumber(%v, %d, %s) = %q, want %q", c.x, c.dec, c.lang, got, c.want)
		}
	}
}

func TestParseLang(t *testing.T) {
	for in, want := range map[string]Lang{"": ID, "id": ID, "EN": EN, " en ": EN} {
		if got, err := ParseLang(in); err != nil || got != want {
			t.Errorf("ParseLang(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseLang("fr"); err == nil {
		t.Error("ParseLang accepted fr")
	}
}

func TestSLADocument(t *testing.T) {
	in := slaFixture(t, 40)
	doc, err := SLADocument(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Sections) != 3 {
		t.Fatalf("%d sections, want ISP, regency and annex", len(doc.Sections))
	}
	isp, reg, annex := doc.Sections[0], doc.Sections[1], doc.Sections[2]

	// One row per roll-up group, carrying the group's own counts.
	if len(isp.Table.Rows) != len(in.ByISP) || len(reg.Table.Rows) != len(in.ByRegency) {
		t.Fatalf("%d ISP rows and %d regency rows, want %d and %d", len(isp.Table.Rows), len(reg.Table.Rows), len(in.ByISP), len(in.ByRegency))
	}
	col := func(s Section, heading string) int {
		for j, c := range s.Table.Columns {
			if c.Heading == heading {
				return j
			}
		}
		t.Fatalf("section %q has no column %q", s.Heading, heading)
		return -1
	}
	for i, g := range in.ByISP {
		row := isp.Table.Rows[i]
		if *row[col(isp, "Desa")].Num != float64(g.Villages) || *row[col(isp, "Memenuhi semua parameter")].Num != float64(g.AllMet) ||
			*row[col(isp, "Di bawah pada ≥ 1 parameter")].Num != float64(g.Below) || *row[col(isp, "Tanpa data")].Num != float64(g.NoData) {
			t.Errorf("ISP %s counts differ from its roll-up", g.Key)
		}
		if *row[col(isp, "Restitusi (Rp)")].Num != float64(g.RestitutionIDR) {
			t.Errorf("ISP %s restitution %v, want %d", g.Key, *row[col(isp, "Restitusi (Rp)")].Num, g.RestitutionIDR)
		}
	}
	// The empty ISP is the roll-up's "unknown", shown in Indonesian.
	if isp.Table.Rows[len(isp.Table.Rows)-1][0].Text != "tidak diketahui" {
		t.Errorf("last ISP row is %q, want tidak diketahui", isp.Table.Rows[len(isp.Table.Rows)-1][0].Text)
	}
	if reg.Table.Rows[0][0].Text != "33.01" || reg.Table.Rows[0][1].Text != "Cilacap" {
		t.Errorf("first regency row %q %q, want 33.01 Cilacap", reg.Table.Rows[0][0].Text, reg.Table.Rows[0][1].Text)
	}

	// No column anywhere is an availability across villages.
	for _, s := range doc.Sections[:2] {
		for _, c := range s.Table.Columns {
			if strings.Contains(strings.ToLower(c.Heading), "ketersediaan") && !strings.HasPrefix(c.Heading, "Memenuhi") {
				t.Errorf("summary column %q looks like an availability figure of a group", c.Heading)
			}
		}
	}

	// The annex lists exactly the villages below, each with its own
	// availability, lowest first.
	byCode := map[string]sla.Result{}
	below := 0
	for _, r := range in.Villages {
		byCode[r.Code] = r
		if r.Status == sla.Below {
			below++
		}
	}
	if below == 0 || below == len(in.Villages) {
		t.Fatalf("fixture has %d of %d villages below; want some of each", below, len(in.Villages))
	}
	if len(annex.Table.Rows) != below {
		t.Fatalf("annex lists %d villages, want %d", len(annex.Table.Rows), below)
	}
	avail := col(annex, "Ketersediaan (%)")
	prev := -1.0
	sawUnknownFee := false
	for _, row := range annex.Table.Rows {
		r, ok := byCode[row[0].Text]
		if !ok || r.Status != sla.Below {
			t.Fatalf("annex lists %s, which is not below", row[0].Text)
		}
		if row[1].Text != in.VillageNames[r.Code] {
			t.Errorf("village %s named %q, want %q", r.Code, row[1].Text, in.VillageNames[r.Code])
		}
		if r.AvailabilityPct == nil {
			if row[avail].Num != nil {
				t.Errorf("village %s without availability shows %v", r.Code, *row[avail].Num)
			}
			prev = 101
			continue
		}
		if *row[avail].Num != *r.AvailabilityPct {
			t.Errorf("village %s availability %v, want its own %v", r.Code, *row[avail].Num, *r.AvailabilityPct)
		}
		if *r.AvailabilityPct < prev {
			t.Errorf("annex not ordered by availability: %v after %v", *r.AvailabilityPct, prev)
		}
		prev = *r.AvailabilityPct
		restitution := row[len(row)-1]
		if r.RestitutionDue && r.RestitutionIDR == nil {
			sawUnknownFee = true
			if restitution.Num != nil || restitution.Text != "biaya tak diketahui" {
				t.Errorf("village %s owed restitution with unknown fee shows %+v", r.Code, restitution)
			}
		}
	}
	if !sawUnknownFee {
		t.Error("fixture has no village owed restitution with an unknown fee")
	}
	if !strings.Contains(strings.Join(isp.Notes, " "), "Di bawah 70% bulan ini") {
		t.Errorf("ISP notes do not name the ISPs under Giga's threshold: %q", isp.Notes)
	}

	en := in
	en.Lang = EN
	docEN, err := SLADocument(en)
	if err != nil {
		t.Fatal(err)
	}
	if docEN.Sections[0].Heading != "1. Summary by ISP" || docEN.Subtitle != "Month: November 2026 · by ISP and by regency" {
		t.Errorf("English document: %q / %q", docEN.Sections[0].Heading, docEN.Subtitle)
	}
}

func TestSLADocumentRefusesOtherMonths(t *testing.T) {
	in := slaFixture(t, 6)
	in.Month = "2026-10"
	if _, err := SLADocument(in); err == nil || !strings.Contains(err.Error(), "not 2026-10") {
		t.Errorf("results of November accepted for October: %v", err)
	}
	in = slaFixture(t, 6)
	in.ByISP, in.ByRegency = in.ByRegency, in.ByISP
	if _, err := SLADocument(in); err == nil {
		t.Error("swapped roll-ups accepted")
	}
	in = slaFixture(t, 6)
	in.Month = "2026-13"
	if _, err := SLADocument(in); err == nil {
		t.Error("month 2026-13 accepted")
	}
	in = slaFixture(t, 6)
	in.GeneratedAt = time.Time{}
	if _, err := SLADocument(in); err == nil {
		t.Error("a report without generated-at accepted: it could not be reproducible")
	}
}

func TestReadinessRows(t *testing.T) {
	score := func(village string, s float64) readiness.Result {
		return readiness.Result{Village: village, Score: fp(s), Complete: true, Missing: []string{}}
	}
	partial := func(village string, missing ...string) readiness.Result {
		return readiness.Result{Village: village, PartialScore: fp(99), Missing: missing}
	}
	results := []readiness.Result{
		score("a1", 10), score("a2", 80), score("a3", 30), score("a4", 25), // bands 0, 3, 1, 1 (25 is in 25–50)
		partial("a5", readiness.PillarUse, readiness.PillarGovernance),
		score("b1", 60), score("b2", 50), score("b3", 100), score("b4", 75), // 2, 2, 3, 3
		partial("b5", readiness.PillarVillage),
		score("x1", 0), // no regency
	}
	regs := map[string]string{"a1": "A", "a2": "A", "a3": "A", "a4": "A", "a5": "A", "b1": "B", "b2": "B", "b3": "B", "b4": "B", "b5": "B"}
	rows := ReadinessRows(results, regs, "?", "ALL")
	want := []ReadinessRow{
		// The partial villages' 99 enters no median and no band.
		{Regency: "?", Villages: 1, Complete: 1, Median: fp(0), Bands: [4]int{1, 0, 0, 0}},
		{Regency: "A", Villages: 5, Complete: 4, Median: fp(27.5), Bands: [4]int{1, 2, 0, 1}, Missing: [4]int{0, 1, 0, 1}},
		{Regency: "B", Villages: 5, Complete: 4, Median: fp(67.5), Bands: [4]int{0, 0, 2, 2}, Missing: [4]int{0, 0, 1, 0}},
		// 0 10 25 30 50 60 75 80 100: median 50.
		{Regency: "ALL", Villages: 11, Complete: 9, Median: fp(50), Bands: [4]int{2, 2, 2, 3}, Missing: [4]int{0, 1, 1, 1}},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		g := rows[i]
		if g.Regency != w.Regency || g.Villages != w.Villages || g.Complete != w.Complete || g.Bands != w.Bands || g.Missing != w.Missing ||
			g.Median == nil || *g.Median != *w.Median {
			t.Errorf("row %d = %+v (median %v), want %+v (median %v)", i, g, deref(g.Median), w, *w.Median)
		}
	}
	if rows := ReadinessRows([]readiness.Result{partial("a5", readiness.PillarUse)}, regs, "?", "ALL"); rows[0].Median != nil {
		t.Errorf("a regency without complete villages has median %v, want none", *rows[0].Median)
	}
}

func TestReadinessDocument(t *testing.T) {
	in := readinessFixture(t, 60)
	in.RankN = 5
	doc, err := ReadinessDocument(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Sections) != 3 {
		t.Fatalf("%d sections, want summary, top and bottom", len(doc.Sections))
	}
	sum := doc.Sections[0]
	if len(sum.Table.Rows) != len(fixtureRegencies)+1 {
		t.Fatalf("%d summary rows, want %d regencies and the province", len(sum.Table.Rows), len(fixtureRegencies))
	}
	total := sum.Table.Rows[len(sum.Table.Rows)-1]
	if total[0].Text != "Seluruh provinsi" || *total[1].Num != 60 {
		t.Errorf("province row %q with %v villages", total[0].Text, *total[1].Num)
	}
	var complete []float64
	for _, r := range in.Results {
		if r.Complete {
			complete = append(complete, *r.Score)
		}
	}
	if *total[2].Num != float64(len(complete)) || len(complete) == 0 || len(complete) == 60 {
		t.Fatalf("province row has %v complete, fixture has %d of 60", *total[2].Num, len(complete))
	}
	if sum.Table.Columns[4].Heading != "Skor 0–25" || sum.Table.Columns[7].Heading != "Skor 75–100" {
		t.Errorf("band headings %q … %q", sum.Table.Columns[4].Heading, sum.Table.Columns[7].Heading)
	}

	top, bottom := doc.Sections[1], doc.Sections[2]
	if len(top.Table.Rows) != 5 || len(bottom.Table.Rows) != 5 {
		t.Fatalf("top %d and bottom %d rows, want 5 each", len(top.Table.Rows), len(bottom.Table.Rows))
	}
	maxScore, minScore := complete[0], complete[0]
	for _, s := range complete {
		maxScore, minScore = max(maxScore, s), min(minScore, s)
	}
	if *top.Table.Rows[0][4].Num != maxScore || *top.Table.Rows[0][0].Num != 1 {
		t.Errorf("top row rank %v score %v, want 1 and %v", *top.Table.Rows[0][0].Num, *top.Table.Rows[0][4].Num, maxScore)
	}
	if *bottom.Table.Rows[0][4].Num != minScore || *bottom.Table.Rows[0][0].Num != float64(len(complete)) {
		t.Errorf("bottom row rank %v score %v, want %d and %v", *bottom.Table.Rows[0][0].Num, *bottom.Table.Rows[0][4].Num, len(complete), minScore)
	}
	for i := 1; i < 5; i++ {
		if *top.Table.Rows[i][4].Num > *top.Table.Rows[i-1][4].Num || *bottom.Table.Rows[i][4].Num < *bottom.Table.Rows[i-1][4].Num {
			t.Errorf("rankings out of order at %d", i)
		}
	}

	dup := readinessFixture(t, 3)
	dup.Results = append(dup.Results, dup.Results[0])
	if _, err := ReadinessDocument(dup); err == nil {
		t.Error("a village twice was accepted")
	}
}
