package geo

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"

	"github.com/jagadesa/jagadesa"
)

// The SHA-256 of data/indonesia/villages.csv.gz uncompressed, which is
// shared data/indonesia/villages.csv (see data/indonesia/ATTRIBUTION.md).
const nationalListSHA256 = "63ce4ec0226fe16caecff92e17de0f8000c077a0e096b783614d6e9aaec7f77c"

func TestNationalListIsTheSharedFile(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(indonesiaVillagesGz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != nationalListSHA256 {
		t.Fatalf("villages.csv.gz holds %s, want %s", got, nationalListSHA256)
	}
	// Beside the shared data, compare with it too.
	if shared, err := os.ReadFile("../../shared/data/indonesia/villages.csv"); err == nil && !bytes.Equal(shared, raw) {
		t.Fatal("data/indonesia/villages.csv.gz is not the shared villages.csv")
	}
}

func TestNationalSynthetic(t *testing.T) {
	reg, err := NationalSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != NationalVillages || NationalVillages != 83763 || len(reg.Regencies()) != 514 || len(reg.Provinces()) != 38 {
		t.Fatalf("%d villages, %d regencies, %d provinces", reg.Len(), len(reg.Regencies()), len(reg.Provinces()))
	}
	vs := reg.Villages()
	seen := make(map[string]bool, len(vs))
	extra := 0
	for i, v := range vs {
		if !jagadesa.ValidVillageCode(v.Code) || i > 0 && vs[i-1].Code >= v.Code || seen[v.Code] {
			t.Fatalf("village %d: %q after %q", i, v.Code, vs[max(0, i-1)].Code)
		}
		seen[v.Code] = true
		if v.DistrictCode != v.Code[:8] || v.RegencyCode != v.Code[:5] || v.Name == "" || v.District == "" || v.Kind != "desa" && v.Kind != "kelurahan" || v.Approximate {
			t.Fatalf("village %+v", v)
		}
		if j, ok := reg.villageIndex[v.Code]; !ok || j != i {
			t.Fatalf("index of %s", v.Code)
		}
		r, ok := reg.Regency(v.RegencyCode)
		if !ok || r.Name != v.Regency || !planar.PolygonContains(r.Geometry.(orb.Polygon), orb.Point{v.Lon, v.Lat}) {
			t.Fatalf("%s (%v, %v) is outside its regency %s", v.Code, v.Lat, v.Lon, v.RegencyCode)
		}
		if v.Name == extraVillageName {
			extra++
		}
	}
	if extra != 1 {
		t.Fatalf("%d made-up villages, want 1", extra)
	}
	// Regencies: valid, unique, each with villages, none overlapping another.
	regs := reg.Regencies()
	for i, r := range regs {
		if !validRegencyCode(r.Code) || i > 0 && regs[i-1].Code >= r.Code || !reg.hasVillageIn(r.Code) {
			t.Fatalf("regency %d: %s", i, r.Code)
		}
		if o := r.Geometry.(orb.Polygon)[0].Orientation(); o != orb.CCW {
			t.Fatalf("%s: outer ring not counterclockwise", r.Code)
		}
		for _, q := range regs[:i] {
			a, c := r.Bound, q.Bound
			if a.Min.X() < c.Max.X()-1e-9 && c.Min.X() < a.Max.X()-1e-9 && a.Min.Y() < c.Max.Y()-1e-9 && c.Min.Y() < a.Max.Y()-1e-9 {
				t.Fatalf("regencies %s and %s overlap", r.Code, q.Code)
			}
		}
	}
	villages, regencies := 0, 0
	for _, p := range reg.Provinces() {
		villages += p.Villages
		regencies += p.Regencies
		if !strings.Contains(p.Attribution, "SYNTHETIC") || p.ID == "" {
			t.Fatalf("province %+v", p)
		}
	}
	if villages != NationalVillages || regencies != 514 {
		t.Fatalf("provinces sum to %d villages, %d regencies", villages, regencies)
	}
	if p, ok := reg.ProvinceOf("33.06.08.2007"); !ok || p.ID != "jateng" || p.CSIRT == "" {
		t.Fatalf("33: %+v", p)
	}
	// Real codes and names.
	if v, ok := reg.Village(KrandeganCode); !ok || v.Name != "Krandegan" || v.Regency != "Kabupaten Purworejo" {
		t.Fatalf("Krandegan: %+v", v)
	}
}

func TestNationalSyntheticIsDeterministic(t *testing.T) {
	a, err := buildNationalSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildNationalSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.villages, b.villages) || !reflect.DeepEqual(a.provinces, b.provinces) || len(a.regencies) != len(b.regencies) {
		t.Fatal("two builds differ")
	}
	for i := range a.regencies {
		if !reflect.DeepEqual(a.regencies[i].Geometry, b.regencies[i].Geometry) || a.regencies[i].Name != b.regencies[i].Name {
			t.Fatalf("regency %s differs", a.regencies[i].Code)
		}
	}
	pa, pb := SyntheticProgramme(a), SyntheticProgramme(b)
	if !reflect.DeepEqual(pa, pb) {
		t.Fatal("two synthetic programmes differ")
	}
}

// Build time and memory of the synthetic national registry, logged for
// the record (go test -run NationalSyntheticCost -v ./geo).
func TestNationalSyntheticCost(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	reg, err := buildNationalSynthetic()
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(reg)
	t.Logf("national-synthetic: %d villages, %d regencies built in %v; %.1f MiB allocated, %.1f MiB live after GC",
		reg.Len(), len(reg.Regencies()), took.Round(time.Millisecond), float64(allocated)/(1<<20), float64(live)/(1<<20))
	if took > 5*time.Second || live > 300<<20 {
		t.Fatalf("too slow or too big: %v, %d bytes", took, live)
	}
}

func BenchmarkNationalSyntheticBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildNationalSynthetic(); err != nil {
			b.Fatal(err)
		}
	}
}

// One smoke call of each map function on the national registry, with
// every village in the synthetic programme.
func TestNationalSyntheticMaps(t *testing.T) {
	reg, err := NationalSynthetic()
	if err != nil {
		t.Fatal(err)
	}
	prog := SyntheticProgramme(reg)
	if len(prog) != reg.Len() {
		t.Fatalf("%d programme villages, want %d", len(prog), reg.Len())
	}
	byCode := make(map[string]*jagadesa.Programme, len(prog))
	for i := range prog {
		p := &prog[i]
		if p.Year < 2022 || p.Year > 2024 || p.ContractMbps != 100 || p.ISP == "" {
			t.Fatalf("programme row %+v", p)
		}
		byCode[p.Code] = p
	}
	// The list is a valid operator file.
	var csvb bytes.Buffer
	if err := WriteProgramme(&csvb, prog); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadProgramme(&csvb, reg); err != nil || len(back) != len(prog) {
		t.Fatalf("ReadProgramme: %d rows, %v", len(back), err)
	}

	vs := make([]MapVillage, reg.Len())
	for i, v := range reg.Villages() {
		vs[i] = MapVillage{Village: v, Programme: byCode[v.Code], Monitored: i%3 == 0, Status: jagadesa.StatusUp}
	}
	cov := Aggregate(vs, func(v *MapVillage) string { return v.RegencyCode })
	total := 0
	for _, c := range cov {
		total += c.Villages
	}
	if len(cov) != 514 || total != NationalVillages {
		t.Fatalf("coverage of %d regencies, %d villages", len(cov), total)
	}

	var buf bytes.Buffer
	if err := WriteVillagesGeoJSON(&buf, vs); err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(buf.Bytes(), &fc); err != nil || len(fc.Features) != NationalVillages {
		t.Fatalf("villages GeoJSON: %d features, %v", len(fc.Features), err)
	}
	buf.Reset()
	if err := WriteRegenciesGeoJSON(&buf, reg.Regencies(), cov); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &fc); err != nil || len(fc.Features) != 514 {
		t.Fatalf("regencies GeoJSON: %d features, %v", len(fc.Features), err)
	}

	ti := NewTileIndex(reg)
	krandegan, _ := reg.Village(KrandeganCode)
	for _, z := range []maptile.Zoom{4, 12} {
		tile := maptile.At(orb.Point{krandegan.Lon, krandegan.Lat}, z)
		b, err := ti.Tile(uint32(tile.Z), tile.X, tile.Y, func(i int) (MapVillage, bool) { return vs[i], true },
			func(code string) *Coverage { return cov[code] })
		if err != nil || len(b) < 100 {
			t.Fatalf("tile %v: %d bytes, %v", tile, len(b), err)
		}
	}
}
