package reports

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Where each worksheet puts things: the report's title block, the section
// heading, then the table's header row (frozen) and its rows.
const (
	xlsxTitleRow   = 1
	xlsxSubRow     = 2
	xlsxHeadingRow = 3
	xlsxHeaderRow  = 4
	xlsxFirstRow   = 5
)

// XLSXHeaderRow is the worksheet row of every table's header; data starts
// on the row below.
const XLSXHeaderRow = xlsxHeaderRow

// numFmt is the spreadsheet number format of each numeric Format; the
// reader's locale chooses the separators.
var numFmt = map[Format]string{
	Integer:  "#,##0",
	Decimal1: "#,##0.0",
	Percent1: "0.0",
	Percent2: "0.00",
	Rupiah:   "#,##0",
}

// WriteXLSX renders the document as a workbook with one worksheet per
// section: numbers stored as numbers with number formats, a bold header row
// that stays in view when scrolling, an auto-filter and column widths. The
// same document gives the same bytes.
func WriteXLSX(w io.Writer, doc Document) error {
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	f := excelize.NewFile()
	defer f.Close()

	styles, err := xlsxStyles(f)
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	used := map[string]bool{}
	for i, s := range doc.Sections {
		name := sheetName(s, i, used)
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
		if err := writeSheet(f, name, doc, s, styles); err != nil {
			return fmt.Errorf("xlsx: sheet %q: %w", name, err)
		}
	}
	if len(doc.Sections) == 0 {
		if err := f.SetCellStr("Sheet1", "A1", doc.Title); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
	}
	f.SetActiveSheet(0)

	at := doc.GeneratedAt.UTC().Format(time.RFC3339)
	if err := f.SetDocProps(&excelize.DocProperties{
		Title:          doc.Title,
		Subject:        doc.Subtitle,
		Creator:        "JagaDesa",
		LastModifiedBy: "JagaDesa",
		Created:        at,
		Modified:       at,
		Language:       doc.Lang.pick("id-ID", "en-US"),
		Description:    doc.GeneratedLabel(),
	}); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

type xlsxStyleSet struct {
	title, sub, heading, header, note int
	body                              map[Format]int
}

func xlsxStyles(f *excelize.File) (xlsxStyleSet, error) {
	var s xlsxStyleSet
	var err error
	newStyle := func(st *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(st)
		return id
	}
	s.title = newStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	s.sub = newStyle(&excelize.Style{Font: &excelize.Font{Size: 10, Color: "404040"}})
	s.heading = newStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 12}})
	s.header = newStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDE6F0"}},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"},
		Border:    []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}},
	})
	s.note = newStyle(&excelize.Style{Font: &excelize.Font{Italic: true, Color: "404040"}})
	s.body = map[Format]int{Text: newStyle(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top"}})}
	// In a fixed order: style ids are numbered as they are made, and the
	// same document must give the same bytes.
	for _, format := range []Format{Integer, Decimal1, Percent1, Percent2, Rupiah} {
		code := numFmt[format]
		s.body[format] = newStyle(&excelize.Style{CustomNumFmt: &code, Alignment: &excelize.Alignment{Vertical: "top"}})
	}
	return s, err
}

// sheetName is the section's Sheet (or heading) made a legal, unique
// worksheet name: at most 31 characters, none of : \ / ? * [ ].
func sheetName(s Section, i int, used map[string]bool) string {
	name := s.Sheet
	if name == "" {
		name = s.Heading
	}
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '-'
		}
		return r
	}, strings.Trim(name, "'"))
	if name == "" {
		name = fmt.Sprintf("Section %d", i+1)
	}
	name = truncateRunes(name, 31)
	for n := 2; used[strings.ToLower(name)]; n++ {
		suffix := fmt.Sprintf(" (%d)", n)
		name = truncateRunes(name, 31-utf8.RuneCountInString(suffix)) + suffix
	}
	used[strings.ToLower(name)] = true
	return name
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func writeSheet(f *excelize.File, sheet string, doc Document, s Section, st xlsxStyleSet) error {
	cell := func(col, row int) string {
		name, _ := excelize.CoordinatesToCellName(col, row)
		return name
	}
	set := func(col, row int, v string, style int) error {
		if err := f.SetCellStr(sheet, cell(col, row), v); err != nil {
			return err
		}
		return f.SetCellStyle(sheet, cell(col, row), cell(col, row), style)
	}
	if err := set(1, xlsxTitleRow, doc.Title, st.title); err != nil {
		return err
	}
	if err := set(1, xlsxSubRow, doc.Subtitle+" · "+doc.GeneratedLabel(), st.sub); err != nil {
		return err
	}
	if err := set(1, xlsxHeadingRow, s.Heading, st.heading); err != nil {
		return err
	}
	cols := s.Table.Columns
	for j, c := range cols {
		if err := set(j+1, xlsxHeaderRow, c.Heading, st.header); err != nil {
			return err
		}
		colName, err := excelize.ColumnNumberToName(j + 1)
		if err != nil {
			return err
		}
		if err := f.SetColWidth(sheet, colName, colName, max(c.Width, 4)+2); err != nil {
			return err
		}
	}
	// Tall enough for the longest wrapped heading (about 13 points a line).
	lines := 1
	for _, c := range cols {
		perLine := int(max(c.Width, 4)) + 1
		lines = max(lines, (utf8.RuneCountInString(c.Heading)+perLine-1)/perLine)
	}
	if err := f.SetRowHeight(sheet, xlsxHeaderRow, float64(13*lines+4)); err != nil {
		return err
	}
	for i, row := range s.Table.Rows {
		r := xlsxFirstRow + i
		for j, c := range cols {
			v, ref := row[j], cell(j+1, r)
			var err error
			switch {
			case c.Format.numeric() && v.Num != nil && (c.Format == Integer || c.Format == Rupiah):
				err = f.SetCellInt(sheet, ref, int64(math.Round(*v.Num)))
			case c.Format.numeric() && v.Num != nil:
				err = f.SetCellFloat(sheet, ref, *v.Num, -1, 64)
			case v.Text != "":
				err = f.SetCellStr(sheet, ref, v.Text)
			}
			if err != nil {
				return err
			}
		}
	}
	last := xlsxFirstRow + len(s.Table.Rows) - 1
	if len(s.Table.Rows) > 0 {
		for j, c := range cols {
			if err := f.SetCellStyle(sheet, cell(j+1, xlsxFirstRow), cell(j+1, last), st.body[c.Format]); err != nil {
				return err
			}
		}
		if err := f.AutoFilter(sheet, cell(1, xlsxHeaderRow)+":"+cell(len(cols), last), nil); err != nil {
			return err
		}
	}
	for k, note := range s.Notes {
		if err := set(1, last+2+k, note, st.note); err != nil {
			return err
		}
	}
	return f.SetPanes(sheet, &excelize.Panes{
		Freeze:      true,
		YSplit:      xlsxHeaderRow,
		TopLeftCell: cell(1, xlsxFirstRow),
		ActivePane:  "bottomLeft",
	})
}
