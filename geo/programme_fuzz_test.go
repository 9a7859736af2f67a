package geo

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzReadProgramme feeds arbitrary files to the programme importer. It
// must never panic; what it accepts must be a clean list (known, distinct
// village codes, years and speeds in range, a printable ISP name without
// surrounding spaces) that WriteProgramme writes and ReadProgramme reads
// back unchanged; what it refuses it refuses whole, with every problem
// located on a line of the file, at most 20 of them and a note.
func FuzzReadProgramme(f *testing.F) {
	reg := mustJateng(f)
	for _, s := range []string{
		progHeader,
		progHeader + "33.06.08.2007,2024,Telkom Indonesia,100,false,false,true\n",
		"\ufeff" + strings.ReplaceAll(progHeader, "\n", "\r\n") + " 33.06.08.2007 , 2030 , Telkom Indonesia , 10000 , , , \r\n,,,,,,\r\n",
		progHeader + "33.01.01.2001,2023,\"Jatengnet, Semarang\",100,TRUE,False,1\n33.13.07.2005,2024,Lintasarta,100,0,1,ya\n",
		progHeader + "33.06.08.2007,2024,\"ISP \"\"Satu\"\"\nbaris dua\",100,,,\n",
		progHeader + "33.06.08.2007,2024,Telkom,100,,,\n33.06.08.2007,2024,Telkom,100,,,\n",
		progHeader + "33.06.08.2999,2021,x,0,maybe,,\n33.13.07.2005,2024,\"Lintasarta,100,,,\n",
		progHeader + "33.06.08.2007,+2024,\x00\xff,0100,,,\n",
		progHeader + "33.06.08.2007,2024,\u202eKLET,100,,,\n",
		"code;year;isp;contract_mbps;remote_3t;extreme_poor;desa_digital\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadProgramme(bytes.NewReader(data), reg)
		if err != nil {
			if got != nil {
				t.Fatalf("%d rows returned alongside %v", len(got), err)
			}
			checkProgrammeError(t, err)
			return
		}
		seen := map[string]bool{}
		for i, p := range got {
			if _, ok := reg.Village(p.Code); !ok || seen[p.Code] {
				t.Fatalf("row %d: code %q unknown or repeated", i, p.Code)
			}
			seen[p.Code] = true
			if p.Year < minProgrammeYear || p.Year > maxProgrammeYear || p.ContractMbps < minContractMbps || p.ContractMbps > maxContractMbps {
				t.Fatalf("row %d: year %d or contract %d Mbps out of range", i, p.Year, p.ContractMbps)
			}
			if p.ISP != strings.TrimSpace(p.ISP) || !utf8.ValidString(p.ISP) || strings.ContainsFunc(p.ISP, func(r rune) bool { return !unicode.IsGraphic(r) }) ||
				utf8.RuneCountInString(p.ISP) > maxISPLen {
				t.Fatalf("row %d: ISP %q accepted", i, p.ISP)
			}
		}
		var buf bytes.Buffer
		if err := WriteProgramme(&buf, got); err != nil {
			t.Fatal(err)
		}
		again, err := ReadProgramme(&buf, reg)
		if err != nil {
			t.Fatalf("the accepted list, written out, is refused: %v\n%q", err, buf.Bytes())
		}
		if !slices.Equal(again, got) {
			t.Fatalf("round trip changed the list\n got %+v\nwant %+v", again, got)
		}
	})
}

// checkProgrammeError checks the shape of ReadProgramme's error: each part
// is a *ProgrammeError on a line of the file, in a header column, or one of
// the importer's own "programme:" notes, and there are at most 20 problems
// and a note that reading stopped.
func checkProgrammeError(t *testing.T, err error) {
	t.Helper()
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	if len(parts) == 0 || len(parts) > maxProgrammeProblems+1 {
		t.Fatalf("%d problems reported, want 1..%d", len(parts), maxProgrammeProblems+1)
	}
	for _, e := range parts {
		var pe *ProgrammeError
		switch {
		case errors.As(e, &pe):
			if pe.Line < 1 || (pe.Column != "" && !slices.Contains(programmeHeader, pe.Column)) || pe.Err == nil {
				t.Fatalf("problem %q has line %d, column %q", e, pe.Line, pe.Column)
			}
		case !strings.HasPrefix(e.Error(), "programme: "):
			t.Fatalf("problem %q (%T) is neither located nor a programme note", e, e)
		}
	}
}

// TestReadProgrammeRefusesGarbageISP: the ISP column was taken as it came,
// so NUL bytes, invalid UTF-8, newlines, bidi overrides or a whole
// paragraph reached the map and the notifications. FuzzReadProgramme found
// the first; the others are the same mistake.
func TestReadProgrammeRefusesGarbageISP(t *testing.T) {
	reg := mustJateng(t)
	for _, isp := range []string{"\x00", "Telkom\xff", "\"Telkom\nIndonesia\"", "\u202eKLET", "Tel\u200bkom", strings.Repeat("x", maxISPLen+1)} {
		_, err := ReadProgramme(strings.NewReader(progHeader+"33.06.08.2007,2024,"+isp+",100,,,\n"), reg)
		var pe *ProgrammeError
		if !errors.As(err, &pe) || pe.Column != "isp" || pe.Line != 2 {
			t.Errorf("ISP %q: error %v, want one on line 2, column isp", isp, err)
		}
	}
	for _, isp := range []string{"Icon+ (PLN)", "PT. Telekomunikasi Indonesia, Tbk", "Désa.net 村", strings.Repeat("x", maxISPLen)} {
		got, err := ReadProgramme(strings.NewReader(progHeader+"33.06.08.2007,2024,\""+isp+"\",100,,,\n"), reg)
		if err != nil || len(got) != 1 || got[0].ISP != isp {
			t.Errorf("ISP %q: %+v, %v", isp, got, err)
		}
	}
}
