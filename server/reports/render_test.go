package reports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// keep copies an artifact to $JAGADESA_REPORTS_OUT when it is set, so a
// person can look at the rendered reports.
func keep(t *testing.T, name string, data []byte) {
	t.Helper()
	if dir := os.Getenv("JAGADESA_REPORTS_OUT"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func documents(t *testing.T) map[string]Document {
	t.Helper()
	slaDoc, err := SLADocument(slaFixture(t, 90))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := ReadinessDocument(readinessFixture(t, 60))
	if err != nil {
		t.Fatal(err)
	}
	cd, err := CSIRTDocument(CSIRTInput{Lang: ID, Month: "2026-11", Province: "Jawa Tengah", GeneratedAt: generatedAt,
		Incidents: csirtIncidents(), TeamNames: map[string]string{prov: "CSIRT Provinsi Jawa Tengah", pwr: "CSIRT Kabupaten Purworejo"}})
	if err != nil {
		t.Fatal(err)
	}
	en, err := CSIRTDocument(CSIRTInput{Lang: EN, Month: "2026-11", GeneratedAt: generatedAt, Incidents: csirtIncidents()})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Document{"sla": slaDoc, "readiness": rd, "csirt": cd, "csirt-en": en}
}

func render(t *testing.T, doc Document, write func(*bytes.Buffer, Document) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, doc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var writers = map[string]func(*bytes.Buffer, Document) error{
	"pdf":  func(b *bytes.Buffer, d Document) error { return WritePDF(b, d) },
	"xlsx": func(b *bytes.Buffer, d Document) error { return WriteXLSX(b, d) },
	"csv":  func(b *bytes.Buffer, d Document) error { return WriteCSV(b, d) },
}

// TestReproducible: the same document and generated-at give the same
// bytes in every format, and the generated-at, not the clock, dates them.
func TestReproducible(t *testing.T) {
	for name, doc := range documents(t) {
		for format, write := range writers {
			first := render(t, doc, write)
			for range 3 {
				// Rebuild the document too: map order must not leak.
				again := documents(t)[name]
				if b := render(t, again, write); !bytes.Equal(first, b) {
					t.Fatalf("%s %s: two renderings differ (%d and %d bytes)", name, format, len(first), len(b))
				}
			}
			later := doc
			later.GeneratedAt = generatedAt.Add(time.Hour)
			if b := render(t, later, write); bytes.Equal(first, b) {
				t.Errorf("%s %s: generated-at does not reach the file", name, format)
			}
		}
	}
	pdf := render(t, documents(t)["csirt"], writers["pdf"])
	if !bytes.Contains(pdf, []byte("/CreationDate (D:20261201010000")) {
		t.Errorf("PDF creation date is not the generated-at (2026-12-01 01:00 UTC)")
	}
	x, err := excelize.OpenReader(bytes.NewReader(render(t, documents(t)["csirt"], writers["xlsx"])))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	props, err := x.GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	if props.Created != "2026-12-01T01:00:00Z" || props.Modified != props.Created || props.Language != "id-ID" {
		t.Errorf("XLSX properties created %q modified %q language %q", props.Created, props.Modified, props.Language)
	}
}

func TestXLSX(t *testing.T) {
	in := slaFixture(t, 40)
	doc, err := SLADocument(in)
	if err != nil {
		t.Fatal(err)
	}
	data := render(t, doc, writers["xlsx"])
	keep(t, "sla.xlsx", data)
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	sheets := f.GetSheetList()
	if strings.Join(sheets, "|") != "Per ISP|Per kabupaten|Lampiran desa di bawah" {
		t.Fatalf("sheets %q", sheets)
	}
	get := func(sheet, ref string) string {
		t.Helper()
		v, err := f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if get("Per ISP", "A1") != doc.Title || !strings.Contains(get("Per ISP", "A2"), "Dibuat 2026-12-01 08:00 WIB") {
		t.Errorf("title block %q / %q", get("Per ISP", "A1"), get("Per ISP", "A2"))
	}
	if get("Per ISP", "A4") != "ISP" || get("Per ISP", "C4") != "Memenuhi semua parameter" {
		t.Errorf("header row: %q %q", get("Per ISP", "A4"), get("Per ISP", "C4"))
	}

	// Header bold, frozen below the header row.
	styleID, err := f.GetCellStyle("Per ISP", "B4")
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(styleID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Font == nil || !st.Font.Bold {
		t.Error("header cell is not bold")
	}
	panes, err := f.GetPanes("Lampiran desa di bawah")
	if err != nil {
		t.Fatal(err)
	}
	if !panes.Freeze || panes.YSplit != XLSXHeaderRow || panes.TopLeftCell != "A5" {
		t.Errorf("panes %+v, want frozen under row 4", panes)
	}
	if w, err := f.GetColWidth("Lampiran desa di bawah", "B"); err != nil || w < 15 {
		t.Errorf("village name column width %v (%v), want it set", w, err)
	}

	// Numbers are numbers, with a number format; the village's own
	// availability survives unrounded.
	g := in.ByISP[0]
	for ref, want := range map[string]float64{"B5": float64(g.Villages), "C5": float64(g.AllMet), "D5": float64(g.Below), "M5": float64(g.RestitutionIDR)} {
		typ, err := f.GetCellType("Per ISP", ref)
		if err != nil {
			t.Fatal(err)
		}
		if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
			t.Errorf("%s is stored as type %v, not a number", ref, typ)
		}
		if got, err := strconv.ParseFloat(get("Per ISP", ref), 64); err != nil || got != want {
			t.Errorf("%s = %q, want %v", ref, get("Per ISP", ref), want)
		}
	}
	styleID, _ = f.GetCellStyle("Per ISP", "M5")
	if st, _ := f.GetStyle(styleID); st.CustomNumFmt == nil || *st.CustomNumFmt != "#,##0" {
		t.Errorf("rupiah cell has no #,##0 format: %+v", st.CustomNumFmt)
	}
	annex := doc.Sections[2]
	code := get("Lampiran desa di bawah", "A5")
	for _, r := range in.Villages {
		if r.Code != code {
			continue
		}
		got, err := strconv.ParseFloat(get("Lampiran desa di bawah", "E5"), 64)
		// Spreadsheets keep 15 significant digits.
		if err != nil || math.Abs(got-*r.AvailabilityPct) > 1e-9 {
			t.Errorf("availability of %s stored as %q, want %v", code, get("Lampiran desa di bawah", "E5"), *r.AvailabilityPct)
		}
		if v, _ := f.GetCellValue("Lampiran desa di bawah", "E5"); !regexp.MustCompile(`^\d+\.\d\d$`).MatchString(v) {
			t.Errorf("availability formatted as %q, want two decimals", v)
		}
	}
	// An unknown number is an empty cell or its explanation, never 0.
	for i, row := range annex.Table.Rows {
		ref, _ := excelize.CoordinatesToCellName(len(row), XLSXHeaderRow+1+i)
		if row[len(row)-1].Num == nil && get("Lampiran desa di bawah", ref) != row[len(row)-1].Text {
			t.Errorf("%s = %q, want %q", ref, get("Lampiran desa di bawah", ref), row[len(row)-1].Text)
		}
	}
	// The notes follow the table after an empty row.
	last := XLSXHeaderRow + len(annex.Table.Rows)
	ref, _ := excelize.CoordinatesToCellName(1, last+2)
	if get("Lampiran desa di bawah", ref) != annex.Notes[0] {
		t.Errorf("%s = %q, want the first note", ref, get("Lampiran desa di bawah", ref))
	}
}

func TestCSV(t *testing.T) {
	in := slaFixture(t, 12)
	in.VillageNames[in.Villages[5].Code] = `=HYPERLINK("http://x","klik")`
	in.VillageNames[in.Villages[7].Code] = "-2+3"
	for i := range in.Villages {
		in.Villages[i].Status = "below" // list every village in the annex
	}
	doc, err := SLADocument(in)
	if err != nil {
		t.Fatal(err)
	}
	data := render(t, doc, writers["csv"])
	if !bytes.HasPrefix(data, []byte("\ufeff")) {
		t.Error("no UTF-8 byte order mark")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][0] != doc.Title || recs[2][0] != "Dibuat 2026-12-01 08:00 WIB" {
		t.Errorf("title block %q", recs[:3])
	}
	// Sections are separated by an empty line, each starting with its heading.
	blocks := strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n\n")
	if len(blocks) != 1+len(doc.Sections) {
		t.Fatalf("%d blocks, want title + %d sections", len(blocks), len(doc.Sections))
	}
	for i, s := range doc.Sections {
		if !strings.HasPrefix(blocks[i+1], s.Heading+"\n") {
			t.Errorf("block %d starts %q, want %q", i+1, blocks[i+1][:min(40, len(blocks[i+1]))], s.Heading)
		}
	}
	text := string(data)
	if strings.Contains(text, "\n=HYPERLINK") || strings.Contains(text, `,"=HYPERLINK`) || strings.Contains(text, ",-2+3") {
		t.Error("a formula reached the CSV unescaped")
	}
	if !strings.Contains(text, `"'=HYPERLINK(""http://x"",""klik"")"`) || !strings.Contains(text, ",'-2+3,") {
		t.Error("formula-like names are not made text with a leading apostrophe")
	}
	// Numbers are for machines: a point, no grouping; rupiah whole.
	var restitution string
	for _, rec := range recs {
		if len(rec) == len(doc.Sections[0].Table.Columns) && rec[0] == "Telkom Indonesia" {
			restitution = rec[12]
		}
	}
	if !regexp.MustCompile(`^\d+$`).MatchString(restitution) {
		t.Errorf("Telkom's restitution written %q, want whole rupiah without separators", restitution)
	}
	if !regexp.MustCompile(`\n33\.\d\d\.\d\d\.20\d\d,[^,]*,[^,]*,[^,]*,\d+\.\d\d,98\.00,`).MatchString(text) {
		t.Error("no annex line with availability and target written as 99.99 and 98.00")
	}
}

// TestPDF checks the PDF with poppler, the PDF ecosystem's own tools: the
// text is extractable with its Indonesian headings and symbols, every page
// says "Halaman X dari Y" with the right Y, a table that breaks across
// pages repeats its header, and page 1 renders.
func TestPDF(t *testing.T) {
	for _, tool := range []string{"pdfinfo", "pdftotext", "pdftoppm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package poppler-utils): PDF checks skipped", tool)
		}
	}
	dir := t.TempDir()
	docs := documents(t)
	for _, name := range []string{"sla", "readiness", "csirt", "csirt-en"} {
		data := render(t, docs[name], writers["pdf"])
		path := filepath.Join(dir, name+".pdf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		keep(t, name+".pdf", data)

		info := run(t, "pdfinfo", path)
		m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindStringSubmatch(info)
		if m == nil {
			t.Fatalf("%s: pdfinfo gives no page count:\n%s", name, info)
		}
		pages, _ := strconv.Atoi(m[1])
		if !regexp.MustCompile(`(?m)^Page size:\s+841\.\d+ x 595\.\d+ pts \(A4\)`).MatchString(info) {
			t.Errorf("%s: not A4 landscape:\n%s", name, info)
		}
		if !strings.Contains(info, "Title:") || !strings.Contains(info, docs[name].Title) {
			t.Errorf("%s: title not in the document info:\n%s", name, info)
		}

		for p := 1; p <= pages; p++ {
			text := run(t, "pdftotext", "-layout", "-f", strconv.Itoa(p), "-l", strconv.Itoa(p), path, "-")
			page, generated := "Halaman %d dari %d", "Dibuat 2026-12-01 08:00 WIB"
			if docs[name].Lang == EN {
				page, generated = "Page %d of %d", "Generated 2026-12-01 08:00 WIB"
			}
			if want := fmt.Sprintf(page, p, pages); !strings.Contains(text, want) {
				t.Errorf("%s page %d: no %q", name, p, want)
			}
			if !strings.Contains(text, docs[name].Title) || !strings.Contains(text, generated) {
				t.Errorf("%s page %d: no header with title and generation time", name, p)
			}
		}
		all := run(t, "pdftotext", "-layout", path, "-")
		for _, s := range docs[name].Sections {
			if !strings.Contains(all, s.Heading) {
				t.Errorf("%s: heading %q not extractable", name, s.Heading)
			}
		}

		switch name {
		case "sla":
			// 90 villages: the annex runs over several pages, each
			// continuing page repeating the heading and the header row.
			if pages < 3 {
				t.Fatalf("sla: %d pages, want the annex to break across pages", pages)
			}
			for _, want := range []string{"≥ 1 parameter", "Ringkasan per ISP", "biaya tak diketahui", "Bulan November 2026"} {
				if !strings.Contains(all, want) {
					t.Errorf("sla: %q not in the text", want)
				}
			}
			last := run(t, "pdftotext", "-layout", "-f", strconv.Itoa(pages), "-l", strconv.Itoa(pages), path, "-")
			if !strings.Contains(last, "Lampiran: desa di bawah SLA (lanjutan)") || !strings.Contains(last, "Kode desa") {
				t.Errorf("sla: last page does not repeat the annex heading and header:\n%s", last)
			}
		case "readiness":
			if !strings.Contains(all, "Skor 0–25") || !strings.Contains(all, "Seluruh provinsi") {
				t.Error("readiness: band headings with – or the province row not extractable")
			}
		case "csirt-en":
			if pages != 1 || !strings.Contains(all, "containment") || !strings.Contains(all, "critical") {
				t.Errorf("csirt-en: %d pages; English headings or severities not extractable:\n%s", pages, all)
			}
		case "csirt":
			if pages != 1 {
				t.Errorf("csirt: %d pages, want 1", pages)
			}
			if !strings.Contains(all, "CSIRT Kabupaten Purworejo") || !strings.Contains(all, "penanggulangan") {
				t.Error("csirt: team name or stage not extractable")
			}
		}

		prefix := filepath.Join(dir, name)
		run(t, "pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", path, prefix)
		img, err := os.ReadFile(prefix + ".png")
		if err != nil {
			t.Fatal(err)
		}
		keep(t, name+"-page1.png", img)
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		// A4 landscape at 60 dpi: 841.89 × 595.28 pt is 701.6 × 496.1 px.
		if cfg.Width < 701 || cfg.Width > 702 || cfg.Height < 496 || cfg.Height > 497 {
			t.Errorf("%s page 1 renders %d×%d, want about 702×497", name, cfg.Width, cfg.Height)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
