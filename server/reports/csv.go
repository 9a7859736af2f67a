package reports

import (
	"encoding/csv"
	"fmt"
	"io"

	"github.com/jagadesa/jagadesa"
)

// utf8BOM lets spreadsheet programs read the file as UTF-8: the headings
// hold characters such as ≥ and –.
const utf8BOM = "\ufeff"

// WriteCSV renders the document as one CSV file: the title block, then
// each section as a one-cell heading line, the header, the rows and the
// notes (one cell each), sections separated by an empty line. Numbers are
// written for machines (a point, no grouping; an unknown one is blank or
// its explanation); text
// cells go through jagadesa.CSVSafe, so that no cell runs as a formula.
func WriteCSV(w io.Writer, doc Document) error {
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if _, err := io.WriteString(w, utf8BOM); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	cw := csv.NewWriter(w)
	line := func(cells ...string) {
		for i := range cells {
			cells[i] = jagadesa.CSVSafe(cells[i])
		}
		_ = cw.Write(cells) // the error sticks; cw.Error reports it
	}
	gap := func() error {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
	line(doc.Title)
	line(doc.Subtitle)
	line(doc.GeneratedLabel())
	for _, s := range doc.Sections {
		if err := gap(); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
		line(s.Heading)
		head := make([]string, len(s.Table.Columns))
		for j, c := range s.Table.Columns {
			head[j] = c.Heading
		}
		line(head...)
		for _, row := range s.Table.Rows {
			rec := make([]string, len(row))
			for j, c := range s.Table.Columns {
				v := row[j]
				if c.Format.numeric() && v.Num != nil {
					rec[j] = machineNumber(*v.Num, c.Format)
					continue
				}
				rec[j] = jagadesa.CSVSafe(v.Text)
			}
			_ = cw.Write(rec)
		}
		for _, n := range s.Notes {
			line(n)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}
