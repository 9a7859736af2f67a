package reports

import (
	_ "embed"
	"fmt"
	"io"
	"strings"

	"codeberg.org/go-pdf/fpdf"
)

// DejaVu Sans Condensed is embedded because the core PDF fonts only cover
// cp1252, which lacks ≤, ≥ and −; fpdf embeds only the glyphs a report
// uses. Licence: fonts/LICENSE.
var (
	//go:embed fonts/DejaVuSansCondensed.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSansCondensed-Bold.ttf
	fontBold []byte
)

// A4 landscape, in millimetres.
const (
	pageW        = 297.0
	pageH        = 210.0
	marginSide   = 10.0
	marginTop    = 8.0
	marginBottom = 14.0
	bodyW        = pageW - 2*marginSide
	bodyPt       = 7.5
	lineH        = 3.4
	cellPad      = 1.0
	family       = "dejavu"
)

// pdfRenderer lays a Document out on pages.
type pdfRenderer struct {
	f   *fpdf.Fpdf
	doc Document
}

// WritePDF renders the document as an A4 landscape PDF: a header with the
// title, month and generation time (WIB) on every page, "Halaman X dari Y"
// at the foot, and tables that break across pages with their header row
// repeated. The same document gives the same bytes.
func WritePDF(w io.Writer, doc Document) error {
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	f := fpdf.New("L", "mm", "A4", "")
	f.SetCatalogSort(true)
	// fpdf writes these dates without a zone, which readers take as UTC.
	f.SetCreationDate(doc.GeneratedAt.UTC())
	f.SetModificationDate(doc.GeneratedAt.UTC())
	f.SetTitle(doc.Title, true)
	f.SetSubject(doc.Subtitle, true)
	f.SetAuthor("JagaDesa", true)
	f.SetCreator("JagaDesa", true)
	f.SetProducer("JagaDesa", true)
	f.SetLang(string(doc.Lang))
	f.AliasNbPages("{nb}")
	f.AddUTF8FontFromBytes(family, "", fontRegular)
	f.AddUTF8FontFromBytes(family, "B", fontBold)
	f.SetMargins(marginSide, marginTop, marginSide)
	f.SetCellMargin(cellPad)
	f.SetAutoPageBreak(true, marginBottom)
	f.SetDrawColor(170, 170, 170)
	f.SetLineWidth(0.15)

	r := &pdfRenderer{f: f, doc: doc}
	f.SetHeaderFunc(r.pageHeader)
	f.SetFooterFunc(r.pageFooter)
	f.AddPage()
	for i, s := range doc.Sections {
		r.section(i, s)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if err := f.Output(w); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

func (r *pdfRenderer) pageHeader() {
	f, d := r.f, r.doc
	f.SetTextColor(0, 0, 0)
	f.SetXY(marginSide, marginTop)
	f.SetFont(family, "B", 12)
	f.CellFormat(bodyW*0.75, 6, d.Title, "", 0, "L", false, 0, "")
	f.SetFont(family, "", 8)
	f.SetXY(marginSide, marginTop)
	f.CellFormat(bodyW, 6, d.GeneratedLabel(), "", 0, "R", false, 0, "")
	f.SetXY(marginSide, marginTop+6)
	f.SetFont(family, "", 9)
	f.CellFormat(bodyW, 5, d.Subtitle, "", 0, "L", false, 0, "")
	y := marginTop + 12
	f.Line(marginSide, y, pageW-marginSide, y)
	f.SetXY(marginSide, y+3)
}

func (r *pdfRenderer) pageFooter() {
	f := r.f
	f.SetY(-10)
	f.SetFont(family, "", 8)
	f.SetTextColor(80, 80, 80)
	page := fmt.Sprintf(r.doc.Lang.pick("Halaman %d dari {nb}", "Page %d of {nb}"), f.PageNo())
	f.CellFormat(bodyW, 5, "JagaDesa", "", 0, "L", false, 0, "")
	f.SetX(marginSide)
	f.CellFormat(bodyW, 5, page, "", 0, "R", false, 0, "")
	f.SetTextColor(0, 0, 0)
}

// bottom is where a row must end to stay on the page.
func (r *pdfRenderer) bottom() float64 { return pageH - marginBottom }

// widths shares the page among the columns in proportion to their
// character widths, but gives each column at least its longest heading word
// and its widest number, so that no word or number is cut in the middle.
func (r *pdfRenderer) widths(t Table) []float64 {
	cols := t.Columns
	need := make([]float64, len(cols))
	r.f.SetFont(family, "B", bodyPt)
	for j, c := range cols {
		for _, word := range strings.Fields(c.Heading) {
			need[j] = max(need[j], r.f.GetStringWidth(word))
		}
	}
	r.f.SetFont(family, "", bodyPt)
	for _, row := range t.Rows {
		for j, c := range cols {
			if c.Format.numeric() {
				need[j] = max(need[j], r.f.GetStringWidth(display(row[j], c.Format, r.doc.Lang)))
			}
		}
	}
	for j := range need {
		need[j] += 2*cellPad + 0.5
	}
	out := make([]float64, len(cols))
	fixed := make([]bool, len(cols))
	// Columns that need more than their share get what they need; the rest
	// share what is left. A few rounds settle it.
	for range len(cols) + 1 {
		left, weight := bodyW, 0.0
		for j, c := range cols {
			if fixed[j] {
				left -= out[j]
			} else {
				weight += max(c.Width, 1)
			}
		}
		changed := false
		for j, c := range cols {
			if fixed[j] {
				continue
			}
			out[j] = left * max(c.Width, 1) / weight
			if out[j] < need[j] {
				out[j], fixed[j], changed = need[j], true, true
			}
		}
		if !changed {
			break
		}
	}
	// Too many columns for the page: shrink all alike rather than run off
	// its edge (words are then wrapped inside).
	var total float64
	for _, w := range out {
		total += w
	}
	if total > bodyW {
		for j := range out {
			out[j] *= bodyW / total
		}
	}
	return out
}

// lines wraps s to the width w in the current font.
func (r *pdfRenderer) lines(s string, w float64) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		ls := r.f.SplitText(para, w) // less fpdf's cell margin, cellPad
		if len(ls) == 0 {
			ls = []string{""}
		}
		out = append(out, ls...)
	}
	return out
}

func (r *pdfRenderer) section(i int, s Section) {
	f := r.f
	cols := s.Table.Columns
	ws := r.widths(s.Table)

	f.SetFont(family, "B", bodyPt)
	headLines := make([][]string, len(cols))
	headH := 0.0
	for j, c := range cols {
		headLines[j] = r.lines(c.Heading, ws[j])
		headH = max(headH, float64(len(headLines[j]))*lineH+2*cellPad)
	}

	// Start a section on a new page unless its heading, header and a few
	// rows fit.
	if i > 0 {
		f.Ln(4)
	}
	if f.GetY()+7+headH+4*lineH > r.bottom() {
		f.AddPage()
	}
	heading := func(cont bool) {
		f.SetFont(family, "B", 10)
		h := s.Heading
		if cont {
			h += r.doc.Lang.pick(" (lanjutan)", " (continued)")
		}
		f.SetX(marginSide)
		f.CellFormat(bodyW, 6, h, "", 1, "L", false, 0, "")
		f.Ln(1)
	}
	drawHead := func() {
		f.SetFont(family, "B", bodyPt)
		f.SetFillColor(221, 230, 240)
		y := f.GetY()
		x := marginSide
		for j, c := range cols {
			f.Rect(x, y, ws[j], headH, "FD")
			align := "L"
			if c.Format.numeric() {
				align = "R"
			}
			for k, line := range headLines[j] {
				f.SetXY(x, y+cellPad+float64(k)*lineH)
				f.CellFormat(ws[j], lineH, line, "", 0, align, false, 0, "")
			}
			x += ws[j]
		}
		f.SetXY(marginSide, y+headH)
	}
	heading(false)
	drawHead()

	f.SetFont(family, "", bodyPt)
	if len(s.Table.Rows) == 0 {
		f.SetX(marginSide)
		f.CellFormat(bodyW, lineH+2*cellPad, r.doc.Lang.pick("Tidak ada baris.", "No rows."), "1", 1, "C", false, 0, "")
	}
	for n, row := range s.Table.Rows {
		cellLines := make([][]string, len(cols))
		h := 0.0
		for j, c := range cols {
			cellLines[j] = r.lines(display(row[j], c.Format, r.doc.Lang), ws[j])
			h = max(h, float64(len(cellLines[j]))*lineH+2*cellPad)
		}
		if f.GetY()+h > r.bottom() {
			f.AddPage()
			heading(true)
			drawHead()
			f.SetFont(family, "", bodyPt)
		}
		y := f.GetY()
		x := marginSide
		style := "D"
		if n%2 == 1 {
			f.SetFillColor(244, 246, 248)
			style = "FD"
		}
		for j, c := range cols {
			f.Rect(x, y, ws[j], h, style)
			align := "L"
			if c.Format.numeric() {
				align = "R"
			}
			for k, line := range cellLines[j] {
				f.SetXY(x, y+cellPad+float64(k)*lineH)
				f.CellFormat(ws[j], lineH, line, "", 0, align, false, 0, "")
			}
			x += ws[j]
		}
		f.SetXY(marginSide, y+h)
	}

	if len(s.Notes) > 0 {
		f.Ln(2)
		f.SetFont(family, "", bodyPt)
		f.SetTextColor(60, 60, 60)
		for _, note := range s.Notes {
			f.SetX(marginSide)
			f.MultiCell(bodyW, lineH, "• "+note, "", "L", false)
		}
		f.SetTextColor(0, 0, 0)
	}
}
