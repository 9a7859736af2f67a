package geo

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

var update = flag.Bool("update", false, "rewrite data/demo-programme.csv from DemoProgramme")

func TestDemoProgrammeCounts(t *testing.T) {
	reg := mustJateng(t)
	p := DemoProgramme(reg)
	if p == nil {
		t.Fatal("DemoProgramme returned nil for the Jawa Tengah registry")
	}
	villages := map[int]int{}
	regencies := map[int]map[string]bool{}
	for _, x := range p {
		v, _ := reg.Village(x.Code)
		villages[x.Year]++
		if regencies[x.Year] == nil {
			regencies[x.Year] = map[string]bool{}
		}
		regencies[x.Year][v.RegencyCode] = true
	}
	tests := []struct {
		year, villages, regencies int
	}{
		{2022, 53, 7},
		{2023, 331, 29},
		{2024, 215, 29},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.year), func(t *testing.T) {
			if villages[tt.year] != tt.villages {
				t.Errorf("%d villages, want %d", villages[tt.year], tt.villages)
			}
			if len(regencies[tt.year]) != tt.regencies {
				t.Errorf("%d regencies, want %d", len(regencies[tt.year]), tt.regencies)
			}
		})
	}
	if len(p) != 599 {
		t.Errorf("%d villages in total, want 599", len(p))
	}
}

func TestDemoProgrammeContent(t *testing.T) {
	reg := mustJateng(t)
	p := DemoProgramme(reg)
	seen := map[string]bool{}
	poor2023, poorOther := 0, 0
	for _, x := range p {
		v, ok := reg.Village(x.Code)
		switch {
		case !ok:
			t.Errorf("%s: not in the registry", x.Code)
		case v.Kind != "desa":
			t.Errorf("%s %s: kind %s, want desa", x.Code, v.Name, v.Kind)
		}
		if seen[x.Code] {
			t.Errorf("%s: listed twice", x.Code)
		}
		seen[x.Code] = true
		if x.ContractMbps != 100 || x.Remote3T || !slices.Contains(demoISPs, x.ISP) {
			t.Errorf("%s: unexpected row %+v", x.Code, x)
		}
		if x.DigitalVillage != (x.Code == KrandeganCode || x.Code == KemuningCode) {
			t.Errorf("%s: desa_digital=%v", x.Code, x.DigitalVillage)
		}
		if x.ExtremePoor {
			if x.Year == 2023 {
				poor2023++
			} else {
				poorOther++
			}
		}
	}
	if poor2023 != 99 || poorOther != 0 {
		t.Errorf("extreme_poor: %d in 2023 (want 99 = 30%% of 331), %d in other years (want 0)", poor2023, poorOther)
	}
	for _, want := range []struct{ code, name, regency string }{
		{KrandeganCode, "Krandegan", "Kabupaten Purworejo"},
		{KemuningCode, "Kemuning", "Kabupaten Karanganyar"},
	} {
		t.Run(want.name, func(t *testing.T) {
			v, ok := reg.Village(want.code)
			if !ok || v.Name != want.name || v.Regency != want.regency {
				t.Fatalf("%s is %+v, want %s in %s", want.code, v, want.name, want.regency)
			}
			i := slices.IndexFunc(p, func(x jagadesa.Programme) bool { return x.Code == want.code })
			if i < 0 {
				t.Fatalf("%s not in the demo list", want.name)
			}
			if !p[i].DigitalVillage || p[i].Year != 2024 {
				t.Errorf("%s: %+v, want desa_digital in 2024", want.name, p[i])
			}
		})
	}
}

func TestDemoProgrammeDeterministic(t *testing.T) {
	reg := mustJateng(t)
	a, b := DemoProgramme(reg), DemoProgramme(reg)
	if !slices.Equal(a, b) {
		t.Fatal("two calls gave different lists")
	}
	sorted := slices.IsSortedFunc(a, func(x, y jagadesa.Programme) int {
		if x.Year != y.Year {
			return x.Year - y.Year
		}
		return strings.Compare(x.Code, y.Code)
	})
	if !sorted {
		t.Error("not sorted by year, then code")
	}
}

// TestDemoProgrammeCSV keeps the embedded file in step with DemoProgramme.
// Regenerate with: go generate ./geo (or go test ./geo -run TestDemoProgrammeCSV -update).
func TestDemoProgrammeCSV(t *testing.T) {
	reg := mustJateng(t)
	var buf bytes.Buffer
	if err := WriteProgramme(&buf, DemoProgramme(reg)); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("data/demo-programme.csv", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote data/demo-programme.csv; rerun without -update to check the embedded copy")
		return
	}
	if got := DemoProgrammeCSV(); !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("embedded data/demo-programme.csv (%d bytes) differs from DemoProgramme (%d bytes); run go generate ./geo", len(got), buf.Len())
	}
	if !bytes.HasPrefix(DemoProgrammeCSV(), []byte(progHeaderFee)) {
		t.Error("embedded CSV does not start with the header")
	}
	got, err := ReadProgramme(bytes.NewReader(DemoProgrammeCSV()), reg)
	if err != nil {
		t.Fatalf("embedded CSV does not read back: %v", err)
	}
	if len(got) != 599 {
		t.Errorf("embedded CSV has %d rows, want 599", len(got))
	}
}

func TestDemoProgrammeNil(t *testing.T) {
	if DemoProgramme(nil) != nil {
		t.Error("DemoProgramme(nil) is not nil")
	}
}
