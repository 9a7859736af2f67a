package geo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jagadesa/jagadesa"
)

// programmeHeader is the operator file format. The header is required so that
// a file with its columns in another order is refused rather than read with
// years in the ISP column.
var programmeHeader = []string{"code", "year", "isp", "contract_mbps", "remote_3t", "extreme_poor", "desa_digital", "monthly_fee_idr"}

// programmeColumns is how many columns a file must have: the eighth,
// monthly_fee_idr (the link's monthly fee, for SLA restitution), may be
// left out entirely, as files made before it were.
const requiredProgrammeColumns = 7

// maxMonthlyFee bounds the fee column (rupiah a month): more is a typo.
const maxMonthlyFee = 1_000_000_000

// Bounds of the checks in ReadProgramme. Years before 2022 predate the
// programme; the upper bound leaves room for the 2025-2029 plan. Contract
// speeds outside 1..10000 Mbps are typing mistakes, not contracts.
const (
	minProgrammeYear, maxProgrammeYear = 2022, 2030
	minContractMbps, maxContractMbps   = 1, 10000
	maxProgrammeProblems               = 20
	maxISPLen                          = 100 // characters; ISP names are short
)

// ProgrammeError is one problem in an operator's programme file. It is a type
// so an upload page can point at the cell to fix instead of showing a wall of
// text; errors.As finds each one inside the joined error of ReadProgramme.
type ProgrammeError struct {
	Line   int    // 1-based line in the file, as a spreadsheet shows it
	Column string // column name from the header, empty for whole-row problems
	Err    error  // what is wrong with the value
}

// Error renders the problem in the words an operator fixing a spreadsheet needs.
func (e *ProgrammeError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("programme line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("programme line %d, column %s: %v", e.Line, e.Column, e.Err)
}

// Unwrap lets errors.Is and errors.As look past the location to the cause.
func (e *ProgrammeError) Unwrap() error { return e.Err }

// ReadProgramme reads the list of villages in the Internet Desa programme
// from the CSV an operator supplies, because the official per-village list is
// not public. Every code must exist in reg. Rather than stop at the first bad
// cell it reports up to 20 problems in one errors.Join, so an operator can fix
// a spreadsheet in one pass. Each cell or row problem is a *ProgrammeError; a
// broken CSV quote ends reading and is reported as the csv package's error.
// On any problem it returns no rows, so a half-valid list is never imported.
func ReadProgramme(r io.Reader, reg *Registry) ([]jagadesa.Programme, error) {
	if reg == nil {
		return nil, errors.New("geo: ReadProgramme needs a registry to check village codes")
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // a short row is reported as a problem, not a fatal parse error
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ProgrammeError{Line: 1, Err: fmt.Errorf("empty file, want header %s", strings.Join(programmeHeader, ","))}
	}
	if err != nil {
		return nil, fmt.Errorf("programme: %w", err)
	}
	for i := range header {
		header[i] = strings.ToLower(strings.TrimSpace(header[i]))
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // Excel's "CSV UTF-8" adds a BOM
	}
	if !slices.Equal(header, programmeHeader) && !slices.Equal(header, programmeHeader[:requiredProgrammeColumns]) {
		return nil, &ProgrammeError{Line: 1, Err: fmt.Errorf("header is %q, want %q (the last column optional)", strings.Join(header, ","), strings.Join(programmeHeader, ","))}
	}
	columns := len(header)

	var (
		out      []jagadesa.Programme
		problems []error
		seen     = make(map[string]int) // code -> line it was first listed on
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A broken quote makes every later line suspect, so stop here.
			problems = append(problems, fmt.Errorf("programme: %w", err))
			break
		}
		line, _ := cr.FieldPos(0)
		if blankRecord(rec) {
			continue // spreadsheets export trailing ",,,,,," rows
		}
		if len(rec) != columns {
			problems = append(problems, &ProgrammeError{Line: line, Err: fmt.Errorf("%d fields, want %d", len(rec), columns)})
		} else {
			p, rowProblems := parseProgrammeRow(rec, line, reg)
			if first, dup := seen[p.Code]; dup && p.Code != "" {
				rowProblems = append(rowProblems, &ProgrammeError{Line: line, Column: "code", Err: fmt.Errorf("village %s already listed on line %d", p.Code, first)})
			} else if p.Code != "" {
				seen[p.Code] = line
			}
			problems = append(problems, rowProblems...)
			if len(problems) == 0 {
				out = append(out, p)
			}
		}
		if len(problems) >= maxProgrammeProblems {
			problems = append(problems[:maxProgrammeProblems], fmt.Errorf("programme: stopped at line %d after %d problems", line, maxProgrammeProblems))
			break
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return out, nil
}

// parseProgrammeRow checks every cell of one row and returns all of its
// problems. The returned Code is set whenever the code is known to the
// registry, so duplicates are caught even on rows with other mistakes.
func parseProgrammeRow(rec []string, line int, reg *Registry) (jagadesa.Programme, []error) {
	var (
		p    jagadesa.Programme
		errs []error
	)
	bad := func(col int, format string, args ...any) {
		errs = append(errs, &ProgrammeError{Line: line, Column: programmeHeader[col], Err: fmt.Errorf(format, args...)})
	}
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}

	if code := rec[0]; !jagadesa.ValidVillageCode(code) {
		bad(0, "%.40q is not a village code NN.NN.NN.NNNN", code)
	} else if _, ok := reg.Village(code); !ok {
		bad(0, "unknown village code %s in %s", code, reg.Province())
	} else {
		p.Code = code
	}

	if y, err := strconv.Atoi(rec[1]); err != nil {
		bad(1, "%.40q is not a year", rec[1])
	} else if y < minProgrammeYear || y > maxProgrammeYear {
		bad(1, "%d is outside %d..%d", y, minProgrammeYear, maxProgrammeYear)
	} else {
		p.Year = y
	}

	// The ISP name is shown on the map and in notifications, and grouped
	// on: it must be one line of visible text (no control or bidi-override
	// characters, no invalid UTF-8), not bytes or a paragraph.
	if isp := rec[2]; !utf8.ValidString(isp) || strings.ContainsFunc(isp, notGraphic) || utf8.RuneCountInString(isp) > maxISPLen {
		bad(2, "%.40q is not an ISP name (at most %d printable characters)", isp, maxISPLen)
	} else {
		p.ISP = isp
	}

	if m, err := strconv.Atoi(rec[3]); err != nil {
		bad(3, "%.40q is not a whole number of Mbps", rec[3])
	} else if m < minContractMbps || m > maxContractMbps {
		bad(3, "%d Mbps is outside %d..%d", m, minContractMbps, maxContractMbps)
	} else {
		p.ContractMbps = m
	}

	flags := []*bool{&p.Remote3T, &p.ExtremePoor, &p.DigitalVillage}
	for i, dst := range flags {
		col := 4 + i
		b, ok := parseFlag(rec[col])
		if !ok {
			bad(col, "%.40q is not a yes/no value (want true/false, 1/0, ya/tidak or blank)", rec[col])
			continue
		}
		*dst = b
	}
	if len(rec) > 7 && rec[7] != "" {
		// Indonesian spreadsheets write thousands with dots: 12.500.000.
		fee, err := strconv.ParseInt(strings.ReplaceAll(rec[7], ".", ""), 10, 64)
		switch {
		case err != nil:
			bad(7, "%.40q is not a whole number of rupiah", rec[7])
		case fee < 0 || fee > maxMonthlyFee:
			bad(7, "%d is outside 0..%d rupiah a month", fee, maxMonthlyFee)
		default:
			p.MonthlyFeeIDR = fee
		}
	}
	return p, errs
}

// parseFlag accepts the spellings operators actually type: English and
// spreadsheet booleans and Indonesian ya/tidak. Blank means no, because a
// spreadsheet leaves unticked cells empty.
func parseFlag(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "1", "ya":
		return true, true
	case "false", "0", "tidak", "":
		return false, true
	}
	return false, false
}

func notGraphic(r rune) bool { return !unicode.IsGraphic(r) }

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// WriteProgramme writes p in the format ReadProgramme reads, header first, so
// an exported list can be edited in a spreadsheet and imported again. It
// writes rows as given and does not validate them.
func WriteProgramme(w io.Writer, p []jagadesa.Programme) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(programmeHeader); err != nil {
		return err
	}
	row := make([]string, len(programmeHeader))
	for _, x := range p {
		row[0] = x.Code
		row[1] = strconv.Itoa(x.Year)
		row[2] = x.ISP
		row[3] = strconv.Itoa(x.ContractMbps)
		row[4] = strconv.FormatBool(x.Remote3T)
		row[5] = strconv.FormatBool(x.ExtremePoor)
		row[6] = strconv.FormatBool(x.DigitalVillage)
		row[7] = ""
		if x.MonthlyFeeIDR > 0 {
			row[7] = strconv.FormatInt(x.MonthlyFeeIDR, 10)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
