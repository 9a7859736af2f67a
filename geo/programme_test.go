package geo

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

const progHeader = "code,year,isp,contract_mbps,remote_3t,extreme_poor,desa_digital\n"

// progHeaderFee is the header WriteProgramme writes: with the optional fee.
const progHeaderFee = "code,year,isp,contract_mbps,remote_3t,extreme_poor,desa_digital,monthly_fee_idr\n"

func TestReadProgrammeGood(t *testing.T) {
	reg := mustJateng(t)
	tests := []struct {
		name string
		csv  string
		want []jagadesa.Programme
	}{
		{"header only", progHeader, nil},
		{"booleans in every spelling", progHeader +
			"33.06.08.2007,2024,Telkom Indonesia,100,false,false,true\n" +
			"33.13.07.2005,2024,Lintasarta,100,0,1,ya\n" +
			"33.06.08.2005,2022,Icon+ (PLN),50,TIDAK,Ya,\n" +
			"33.01.01.2001,2023,\"Jatengnet, Semarang\",100,TRUE,False,1\n",
			[]jagadesa.Programme{
				{Code: "33.06.08.2007", Year: 2024, ISP: "Telkom Indonesia", ContractMbps: 100, DigitalVillage: true},
				{Code: "33.13.07.2005", Year: 2024, ISP: "Lintasarta", ContractMbps: 100, ExtremePoor: true, DigitalVillage: true},
				{Code: "33.06.08.2005", Year: 2022, ISP: "Icon+ (PLN)", ContractMbps: 50, ExtremePoor: true},
				{Code: "33.01.01.2001", Year: 2023, ISP: "Jatengnet, Semarang", ContractMbps: 100, Remote3T: true, DigitalVillage: true},
			}},
		{"BOM, spaces, CRLF and blank spreadsheet rows", "\ufeff" + strings.ReplaceAll(progHeader, "\n", "\r\n") +
			" 33.06.08.2007 , 2030 , Telkom Indonesia , 10000 , , , \r\n" +
			",,,,,,\r\n" +
			"33.13.07.2005,2022,,1,tidak,tidak,ya\r\n",
			[]jagadesa.Programme{
				{Code: "33.06.08.2007", Year: 2030, ISP: "Telkom Indonesia", ContractMbps: 10000},
				{Code: "33.13.07.2005", Year: 2022, ContractMbps: 1, DigitalVillage: true},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadProgramme(strings.NewReader(tt.csv), reg)
			if err != nil {
				t.Fatalf("ReadProgramme: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadProgrammeBad(t *testing.T) {
	reg := mustJateng(t)
	good := "33.06.08.2007,2024,Telkom Indonesia,100,false,false,true\n"
	tests := []struct {
		name string
		csv  string
		want []string // substrings of the error, in order of appearance
	}{
		{"empty file", "", []string{"line 1", "empty file"}},
		{"no header", good, []string{"line 1", "header"}},
		{"columns reordered", "code,isp,year,contract_mbps,remote_3t,extreme_poor,desa_digital\n" + good, []string{"line 1", "header"}},
		{"unknown code", progHeader + good + "33.06.08.2999,2024,Telkom Indonesia,100,,,\n",
			[]string{"line 3, column code", "unknown village code 33.06.08.2999"}},
		{"malformed code", progHeader + "3306082007,2024,Telkom Indonesia,100,,,\n",
			[]string{"line 2, column code", "not a village code"}},
		{"duplicate", progHeader + good + "33.13.07.2005,2024,Lintasarta,100,,,\n" + good,
			[]string{"line 4, column code", "already listed on line 2"}},
		{"year too early", progHeader + "33.06.08.2007,2021,Telkom Indonesia,100,,,\n",
			[]string{"line 2, column year", "2021 is outside 2022..2030"}},
		{"year too late", progHeader + "33.06.08.2007,2031,Telkom Indonesia,100,,,\n",
			[]string{"line 2, column year", "outside"}},
		{"year not a number", progHeader + "33.06.08.2007,2024a,Telkom Indonesia,100,,,\n",
			[]string{"line 2, column year", "not a year"}},
		{"bad bool", progHeader + "33.06.08.2007,2024,Telkom Indonesia,100,yes,,\n",
			[]string{"line 2, column remote_3t", `"yes"`}},
		{"bad bool last column", progHeader + "33.06.08.2007,2024,Telkom Indonesia,100,,,y\n",
			[]string{"line 2, column desa_digital"}},
		{"mbps zero", progHeader + "33.06.08.2007,2024,Telkom Indonesia,0,,,\n",
			[]string{"line 2, column contract_mbps", "outside 1..10000"}},
		{"mbps too high", progHeader + "33.06.08.2007,2024,Telkom Indonesia,10001,,,\n",
			[]string{"line 2, column contract_mbps", "outside"}},
		{"mbps not integer", progHeader + "33.06.08.2007,2024,Telkom Indonesia,100.5,,,\n",
			[]string{"line 2, column contract_mbps", "not a whole number"}},
		{"short row", progHeader + "33.06.08.2007,2024,Telkom Indonesia\n",
			[]string{"line 2", "3 fields, want 7"}},
		{"broken quote", progHeader + good + "33.13.07.2005,2024,\"Lintasarta,100,,,\n",
			[]string{"line 3"}},
		{"several problems in one pass", progHeader +
			"33.06.08.2999,2021,x,0,maybe,,\n" +
			good +
			"33.13.07.2005,2024,Lintasarta,100,,,nope\n",
			[]string{"line 2, column code", "line 2, column year", "line 2, column contract_mbps", "line 2, column remote_3t", "line 4, column desa_digital"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadProgramme(strings.NewReader(tt.csv), reg)
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			if got != nil {
				t.Errorf("rows returned alongside error: %+v", got)
			}
			msg, at := err.Error(), 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q does not contain %q (after offset %d)", msg, w, at)
				}
				at += i
			}
		})
	}
}

func TestReadProgrammeErrorType(t *testing.T) {
	reg := mustJateng(t)
	_, err := ReadProgramme(strings.NewReader(progHeader+"33.06.08.2007,2024,Telkom Indonesia,abc,,,\n"), reg)
	var pe *ProgrammeError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v does not wrap *ProgrammeError", err)
	}
	if pe.Line != 2 || pe.Column != "contract_mbps" {
		t.Errorf("got line %d column %q, want line 2 column contract_mbps", pe.Line, pe.Column)
	}
}

func TestReadProgrammeStopsAtTwentyProblems(t *testing.T) {
	reg := mustJateng(t)
	var b strings.Builder
	b.WriteString(progHeader)
	for i := range 50 {
		fmt.Fprintf(&b, "%s,%d,Telkom Indonesia,100,,,\n", reg.Villages()[i].Code, 1900+i) // 50 bad years
	}
	_, err := ReadProgramme(strings.NewReader(b.String()), reg)
	if err == nil {
		t.Fatal("no error")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not an errors.Join", err)
	}
	errs := joined.Unwrap()
	var cells int
	for _, e := range errs {
		var pe *ProgrammeError
		if errors.As(e, &pe) {
			cells++
		}
	}
	if cells != 20 {
		t.Errorf("%d cell problems reported, want 20", cells)
	}
	if last := errs[len(errs)-1].Error(); !strings.Contains(last, "stopped at line 21") {
		t.Errorf("last error %q, want a note that reading stopped at line 21", last)
	}
}

func TestReadProgrammeNilRegistry(t *testing.T) {
	if _, err := ReadProgramme(strings.NewReader(progHeader), nil); err == nil {
		t.Fatal("no error with nil registry")
	}
}

func TestProgrammeRoundTrip(t *testing.T) {
	reg := mustJateng(t)
	tests := []struct {
		name string
		p    []jagadesa.Programme
	}{
		{"empty", nil},
		{"quoted ISP and all flags", []jagadesa.Programme{
			{Code: KrandeganCode, Year: 2024, ISP: `ISP "Satu", Tbk`, ContractMbps: 100, Remote3T: true, ExtremePoor: true, DigitalVillage: true},
			{Code: KemuningCode, Year: 2022, ISP: "", ContractMbps: 1},
		}},
		{"demo", DemoProgramme(reg)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteProgramme(&buf, tt.p); err != nil {
				t.Fatalf("WriteProgramme: %v", err)
			}
			if !strings.HasPrefix(buf.String(), progHeaderFee) {
				t.Fatalf("output does not start with the header: %q", buf.String()[:min(buf.Len(), 80)])
			}
			got, err := ReadProgramme(&buf, reg)
			if err != nil {
				t.Fatalf("ReadProgramme: %v", err)
			}
			if !slices.Equal(got, tt.p) {
				t.Errorf("round trip changed the list:\ngot  %+v\nwant %+v", got, tt.p)
			}
		})
	}
}

// The fee column is optional; with it, dotted thousands are read as
// Indonesian spreadsheets write them, and a bad fee names its cell.
func TestProgrammeFee(t *testing.T) {
	reg := mustJateng(t)
	got, err := ReadProgramme(strings.NewReader(progHeaderFee+"33.06.08.2007,2024,Telkom Indonesia,100,,,,12.500.000\n33.13.07.2005,2024,Telkom Indonesia,100,,,,\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].MonthlyFeeIDR != 12_500_000 || got[1].MonthlyFeeIDR != 0 {
		t.Errorf("fees %d %d", got[0].MonthlyFeeIDR, got[1].MonthlyFeeIDR)
	}
	_, err = ReadProgramme(strings.NewReader(progHeaderFee+"33.06.08.2007,2024,Telkom Indonesia,100,,,,dua juta\n"), reg)
	var pe *ProgrammeError
	if !errors.As(err, &pe) || pe.Column != "monthly_fee_idr" {
		t.Errorf("bad fee: %v", err)
	}
	if _, err := ReadProgramme(strings.NewReader(progHeaderFee+"33.06.08.2007,2024,Telkom Indonesia,100,,,\n"), reg); err == nil {
		t.Error("a 7-field row under an 8-column header was accepted")
	}
}
