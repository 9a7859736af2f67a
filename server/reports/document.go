// Package reports builds the monthly reports staff send on — SLA per ISP
// and regency, digital readiness per regency, incident handling per CSIRT —
// and renders them as PDF, XLSX and CSV, in Bahasa Indonesia first and
// English second.
//
// A report is built once as a Document (plain tables of typed cells) by
// SLADocument, ReadinessDocument or CSIRTDocument, from plain inputs; the
// three renderers only lay it out. Rendering is reproducible: the same
// document, including its GeneratedAt, gives the same bytes, because every
// date written into the files comes from GeneratedAt, never the clock.
package reports

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

// Lang is the language a report is written in.
type Lang string

// Languages: Bahasa Indonesia first, English second.
const (
	ID Lang = "id"
	EN Lang = "en"
)

// ParseLang reads a ?lang= parameter; empty means Indonesian.
func ParseLang(s string) (Lang, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "id":
		return ID, nil
	case "en":
		return EN, nil
	}
	return "", fmt.Errorf("lang %q: want id or en", s)
}

// pick returns the Indonesian or the English text.
func (l Lang) pick(id, en string) string {
	if l == EN {
		return en
	}
	return id
}

// Format says how a column's cells are shown and stored.
type Format int

// Formats. Percentages are numbers from 0 to 100, as in the JSON API, with
// "(%)" in the heading.
const (
	Text     Format = iota
	Integer         // counts
	Decimal1        // minutes, Mbps
	Percent1        // shares of villages
	Percent2        // availability, where 99.45 and 99.5 differ
	Rupiah          // whole rupiah
)

func (f Format) decimals() int {
	switch f {
	case Decimal1, Percent1:
		return 1
	case Percent2:
		return 2
	}
	return 0
}

func (f Format) numeric() bool { return f != Text }

// Column is one column of a table. Width is in characters of the body
// font, as a spreadsheet counts it; the PDF scales the widths to fill
// the page.
type Column struct {
	Heading string
	Format  Format
	Width   float64
}

// Cell is one value. A numeric column's cell holds Num; a nil Num is shown
// as Text when there is one (e.g. "biaya tidak diketahui") and as a dash or
// an empty cell otherwise, never as 0. A text column's cell holds Text.
type Cell struct {
	Text string
	Num  *float64
}

// Table is a header and rows of cells, one cell per column.
type Table struct {
	Columns []Column
	Rows    [][]Cell
}

// Section is one table with its heading and the notes that explain it.
// Sheet names its worksheet in the XLSX (at most 31 characters).
type Section struct {
	Heading string
	Sheet   string
	Table   Table
	Notes   []string
}

// Document is one report, ready to render.
type Document struct {
	Lang        Lang
	Title       string
	Subtitle    string
	Month       string    // YYYY-MM, WIB
	GeneratedAt time.Time // shown in WIB; also the files' creation dates
	Sections    []Section
}

// Validate checks what every renderer relies on.
func (d Document) Validate() error {
	var errs []error
	if d.Lang != ID && d.Lang != EN {
		errs = append(errs, fmt.Errorf("lang %q: want id or en", d.Lang))
	}
	if d.GeneratedAt.IsZero() {
		errs = append(errs, errors.New("generated-at is required: it dates the files, so that they are reproducible"))
	}
	for i, s := range d.Sections {
		for j, row := range s.Table.Rows {
			if len(row) != len(s.Table.Columns) {
				errs = append(errs, fmt.Errorf("section %d (%s) row %d: %d cells for %d columns", i, s.Heading, j, len(row), len(s.Table.Columns)))
			}
		}
	}
	return errors.Join(errs...)
}

// GeneratedLabel says when the report was made, in WIB.
func (d Document) GeneratedLabel() string {
	return d.Lang.pick("Dibuat ", "Generated ") + d.GeneratedAt.In(sla.WIB).Format("2006-01-02 15:04") + " WIB"
}

// txt is a text cell.
func txt(s string) Cell { return Cell{Text: s} }

// num is a number cell.
func num(x float64) Cell { return Cell{Num: &x} }

// optNum is a number cell, or a dash cell when p is nil.
func optNum(p *float64) Cell {
	if p == nil {
		return Cell{}
	}
	return num(*p)
}

// display writes a cell as a person reads it: numbers with the language's
// separators (1.234,5 in Indonesian, 1,234.5 in English) and a dash for a
// missing number.
func display(c Cell, f Format, lang Lang) string {
	if !f.numeric() {
		return c.Text
	}
	if c.Num == nil {
		if c.Text != "" {
			return c.Text
		}
		return "–"
	}
	return formatNumber(*c.Num, f.decimals(), lang)
}

// formatNumber rounds x to decimals places and groups thousands.
func formatNumber(x float64, decimals int, lang Lang) string {
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	if v, err := strconv.ParseFloat(s, 64); err == nil && v == 0 {
		s = strings.TrimPrefix(s, "-") // -0.0 is 0.0 to a reader
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	thousands, point := ".", ","
	if lang == EN {
		thousands, point = ",", "."
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString(point)
		b.WriteString(frac)
	}
	return b.String()
}

// machineNumber writes x for a CSV reader: a point, no grouping.
func machineNumber(x float64, f Format) string {
	s := strconv.FormatFloat(x, 'f', f.decimals(), 64)
	if v, err := strconv.ParseFloat(s, 64); err == nil && v == 0 {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

var monthsID = [...]string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli",
	"Agustus", "September", "Oktober", "November", "Desember"}

// monthLabel writes YYYY-MM as "Maret 2026" or "March 2026".
func monthLabel(month string, lang Lang) (string, error) {
	t, err := sla.ParseMonth(month)
	if err != nil {
		return "", err
	}
	if lang == EN {
		return t.Format("January 2006"), nil
	}
	return monthsID[t.Month()-1] + " " + strconv.Itoa(t.Year()), nil
}

// median of xs (sorted ascending), or nil when empty.
func median(sorted []float64) *float64 {
	n := len(sorted)
	if n == 0 {
		return nil
	}
	m := sorted[n/2]
	if n%2 == 0 {
		m = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return &m
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	if math.IsNaN(m) {
		return nil
	}
	return &m
}

// header builds the document frame shared by the three reports.
func header(lang Lang, month string, generatedAt time.Time) (Document, string, error) {
	if lang == "" {
		lang = ID
	}
	if lang != ID && lang != EN {
		return Document{}, "", fmt.Errorf("lang %q: want id or en", lang)
	}
	label, err := monthLabel(month, lang)
	if err != nil {
		return Document{}, "", err
	}
	if generatedAt.IsZero() {
		return Document{}, "", errors.New("generated-at is required")
	}
	return Document{Lang: lang, Month: month, GeneratedAt: generatedAt}, label, nil
}
