package geo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/jagadesa/jagadesa/geo"
)

// The fixture: 16 real villages of DI Yogyakarta (see
// testdata/registry-import/ATTRIBUTION.md). 34.71.01.1004 has no village
// polygon (its kecamatan's point is used), 34.71.03.1005 neither a village
// nor a kecamatan polygon (its regency's point).
const fixture = "testdata/registry-import"

var importTime = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func fixtureOptions(dir string) geo.ImportOptions {
	return geo.ImportOptions{
		From:       filepath.Join(dir, "indonesia"),
		Boundaries: filepath.Join(dir, "wilayah_boundaries"),
		Provinces:  []string{"34"},
		Now:        importTime,
	}
}

func TestImportFixtureAndLoadItBack(t *testing.T) {
	data := t.TempDir()
	infos, err := geo.Import(data, fixtureOptions(fixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 {
		t.Fatalf("%d provinces imported", len(infos))
	}
	in := infos[0]
	want := geo.PointCounts{Village: 14, District: 1, Regency: 1}
	if in.Code != "34" || in.ID != "daerah-istimewa-yogyakarta" || in.Villages != 16 || in.Districts != 4 || in.Regencies != 2 ||
		in.Points.Village != want.Village || in.Points.District != want.District || in.Points.Regency != want.Regency || in.OutsideRegency != 0 {
		t.Fatalf("import summary %+v", in)
	}
	dir := filepath.Join(geo.RegistryDir(data), "34")
	for _, f := range []string{"villages.csv", "regencies.geojson", "villages-coord-missing.csv", "ATTRIBUTION.md", "LICENSE-wilayah.txt", "LICENSE-wilayah_boundaries.txt", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	attr, _ := os.ReadFile(filepath.Join(dir, "ATTRIBUTION.md"))
	for _, s := range []string{"github.com/cahyadsn/wilayah ", "github.com/cahyadsn/wilayah_boundaries", "Copyright (c) 2017-2025 Cahya DSN", "Copyright (c) 2024 Cahya DSN", "MIT"} {
		if !bytes.Contains(attr, []byte(s)) {
			t.Errorf("ATTRIBUTION.md lacks %q", s)
		}
	}
	entries, _ := os.ReadDir(geo.RegistryDir(data))
	if len(entries) != 1 {
		t.Fatalf("registry dir holds %d entries, want only 34 (no temporary folders)", len(entries))
	}

	reg, err := geo.LoadFrom(data, "34")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 16 || len(reg.Regencies()) != 2 || len(reg.Approximate()) != 2 {
		t.Fatalf("%d villages, %d regencies, %d approximate", reg.Len(), len(reg.Regencies()), len(reg.Approximate()))
	}
	p := reg.Provinces()
	if len(p) != 1 || p[0].ID != "daerah-istimewa-yogyakarta" || p[0].Name != "Daerah Istimewa Yogyakarta" || p[0].Approximate != 2 || !strings.Contains(p[0].Attribution, "cahyadsn") {
		t.Fatalf("provinces %+v", p)
	}
	// Upstream's centroid of Gadingsari (34.02.02.2001), rounded to 6 decimals.
	v, ok := reg.Village("34.02.02.2001")
	if !ok || v.Name != "Gadingsari" || v.Kind != "desa" || v.District != "Sanden" || v.Regency != "Kabupaten Bantul" || v.Approximate ||
		v.Lat != -7.979883 || v.Lon != 110.252566 {
		t.Fatalf("34.02.02.2001: %+v", v)
	}
	for code, approx := range map[string]bool{"34.71.01.1004": true, "34.71.03.1005": true, "34.71.01.1001": false} {
		v, _ := reg.Village(code)
		if v.Approximate != approx {
			t.Errorf("%s approximate = %v", code, v.Approximate)
		}
	}
	// Every point lies inside its regency (the fallback points too).
	for _, v := range reg.Villages() {
		r, _ := reg.Regency(v.RegencyCode)
		if !planar.PolygonContains(r.Geometry.(orb.Polygon), orb.Point{v.Lon, v.Lat}) {
			t.Errorf("%s (%v, %v) outside %s", v.Code, v.Lat, v.Lon, r.Code)
		}
		if r.Geometry.(orb.Polygon)[0].Orientation() != orb.CCW {
			t.Errorf("%s: outer ring not counterclockwise", r.Code)
		}
	}

	// By id, and beside an embedded province.
	if r, err := geo.LoadFrom(data, "daerah-istimewa-yogyakarta"); err != nil || r.Len() != 16 {
		t.Fatalf("by id: %v", err)
	}
	both, err := geo.LoadFrom(data, "jateng", "34")
	if err != nil {
		t.Fatal(err)
	}
	if both.Len() != 8563+16 || len(both.Provinces()) != 2 {
		t.Fatalf("jateng,34: %d villages, %d provinces", both.Len(), len(both.Provinces()))
	}
	if _, ok := both.ProvinceOf("34.71"); !ok {
		t.Fatal("ProvinceOf 34.71")
	}
	list, err := geo.ImportedProvinces(data)
	if err != nil || len(list) != 1 || list[0].Code != "34" || !list[0].ImportedAt.Equal(importTime) {
		t.Fatalf("ImportedProvinces: %+v, %v", list, err)
	}
}

// The same villages from cahyadsn/wilayah's SQL give the same files.
func TestImportFromWilayahSQL(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := geo.Import(a, fixtureOptions(fixture)); err != nil {
		t.Fatal(err)
	}
	opt := fixtureOptions(fixture)
	opt.From = filepath.Join(fixture, "wilayah")
	if _, err := geo.Import(b, opt); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"villages.csv", "regencies.geojson", "villages-coord-missing.csv"} {
		x, _ := os.ReadFile(filepath.Join(a, "registry", "34", f))
		y, _ := os.ReadFile(filepath.Join(b, "registry", "34", f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the CSV and the SQL source", f)
		}
	}
}

func TestLoadFromEmbeddedIsLoad(t *testing.T) {
	a, err := geo.LoadFrom(t.TempDir(), "jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	b, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != b.Len() || a.Province() != b.Province() || len(a.Provinces()) != 2 {
		t.Fatalf("LoadFrom %d %q, Load %d %q", a.Len(), a.Province(), b.Len(), b.Province())
	}
	if r, err := geo.LoadFrom(t.TempDir(), "33"); err != nil || r.Len() != 8563 {
		t.Fatalf("33 is the embedded Jawa Tengah: %v", err)
	}
}

func TestLoadFromRefuses(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"11"}, `unknown province "11"`},
		{[]string{"aceh"}, "jagadesa registry import"},
		{[]string{"national-synthetic", "jateng"}, "give it alone"},
	} {
		if _, err := geo.LoadFrom(data, tc.ids...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.ids, err, tc.want)
		}
	}
}

// An edit after the import is caught on load.
func TestImportedFilesAreChecked(t *testing.T) {
	data := t.TempDir()
	if _, err := geo.Import(data, fixtureOptions(fixture)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "registry", "34", "villages.csv")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte("Gadingsari"), []byte("Gadingsara"), 1), 0o644)
	if _, err := geo.LoadFrom(data, "34"); err == nil || !strings.Contains(err.Error(), "villages.csv has changed since the import") {
		t.Fatalf("error %v", err)
	}
}

// A second import replaces the first in one rename; a failed one leaves
// it as it was.
func TestImportReplaces(t *testing.T) {
	data := t.TempDir()
	if _, err := geo.Import(data, fixtureOptions(fixture)); err != nil {
		t.Fatal(err)
	}
	opt := fixtureOptions(fixture)
	opt.Now = importTime.Add(time.Hour)
	if _, err := geo.Import(data, opt); err != nil {
		t.Fatal(err)
	}
	list, _ := geo.ImportedProvinces(data)
	if len(list) != 1 || !list[0].ImportedAt.Equal(opt.Now) {
		t.Fatalf("after the second import: %+v", list)
	}
	bad := copyFixture(t)
	editFile(t, filepath.Join(bad, "indonesia", "villages.csv"), "34.71.01.1001,Kricak", "34.71.01.1001,")
	opt = fixtureOptions(bad)
	if _, err := geo.Import(data, opt); err == nil {
		t.Fatal("a bad source was imported")
	}
	list, _ = geo.ImportedProvinces(data)
	entries, _ := os.ReadDir(geo.RegistryDir(data))
	if len(list) != 1 || !list[0].ImportedAt.Equal(importTime.Add(time.Hour)) || len(entries) != 1 {
		t.Fatalf("the failed import changed the registry: %+v, %d entries", list, len(entries))
	}
	if _, err := geo.LoadFrom(data, "34"); err != nil {
		t.Fatal(err)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	villages := func(dir string) string { return filepath.Join(dir, "indonesia", "villages.csv") }
	wsql := func(dir string) string { return filepath.Join(dir, "wilayah", "db", "wilayah.sql") }
	kab := func(dir string) string {
		return filepath.Join(dir, "wilayah_boundaries", "db", "kab", "wilayah_boundaries_kab_34.sql")
	}
	kel := func(dir string) string {
		return filepath.Join(dir, "wilayah_boundaries", "db", "kel", "34", "wilayah_boundaries_kel_34.71.sql")
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, dir string, opt *geo.ImportOptions)
		want []string // every one must be in the error
	}{
		{"header", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "code,name,kind", "code,nama,kind")
		}, []string{"villages.csv line 1: header"}},
		{"code shape", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "34.71.01.1001,", "34.71.01.101,")
		}, []string{`villages.csv line 6: code "34.71.01.101" is not a village code NN.NN.NN.NNNN`}},
		{"duplicate", func(t *testing.T, d string, _ *geo.ImportOptions) {
			appendLine(t, villages(d), "34.71.01.1001,Kricak,kelurahan,34.71.01,Tegalrejo,34.71,Kota Yogyakarta,34,Daerah Istimewa Yogyakarta")
		}, []string{"villages.csv line 18: village 34.71.01.1001 already on villages.csv line 6"}},
		{"parent code", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "34.71.02.1001,Bumijo,kelurahan,34.71.02,", "34.71.02.1001,Bumijo,kelurahan,34.71.01,")
		}, []string{`villages.csv line 10: column district_code is "34.71.01", but 34.71.02.1001 is in 34.71.02`}},
		{"kind", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "34.02.02.2001,Gadingsari,desa", "34.02.02.2001,Gadingsari,kelurahan")
		}, []string{`villages.csv line 2: column kind is "kelurahan", but 34.02.02.2001 is a desa`}},
		{"two names for one kecamatan", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "34.71.01.1002,Karangwaru,kelurahan,34.71.01,Tegalrejo", "34.71.01.1002,Karangwaru,kelurahan,34.71.01,Tegal Rejo")
		}, []string{`villages.csv line 7: column district is "Tegal Rejo", but villages.csv line 6 names 34.71.01 "Tegalrejo"`}},
		{"empty name, and every problem at once", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, villages(d), "34.71.01.1003,Tegalrejo,", "34.71.01.1003, ,")
			editFile(t, villages(d), "34.71.03.1002,Kotabaru,kelurahan", "34.71.03.1002,Kotabaru,desa")
		}, []string{"villages.csv line 8: column name: empty", "villages.csv line 14: column kind"}},
		{"sql: missing parent", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.From = filepath.Join(d, "wilayah")
			editFile(t, wsql(d), "('34.71.03','Gondokusuman'),\n", "")
		}, []string{"wilayah.sql line 50: village 34.71.03.1001 has no kecamatan 34.71.03 in the file"}},
		{"sql: duplicate", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.From = filepath.Join(d, "wilayah")
			editFile(t, wsql(d), "('34.71.02.1001','Bumijo')", "('34.71.02.1002','Bumijo')")
		}, []string{"wilayah.sql line 48: code 34.71.02.1002 already on wilayah.sql line 47"}},
		{"sql: broken tuple", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.From = filepath.Join(d, "wilayah")
			editFile(t, wsql(d), "('34.71.02.1001','Bumijo'),", "('34.71.02.1001','Bumijo',)")
		}, []string{`wilayah.sql line 47: a value was expected, found ")`}},
		{"boundary: no regency polygon", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, kab(d), "('34.71','Kota Yogyakarta'", "('34.72','Kota Yogyakarta'")
		}, []string{"regency 34.71 (Kota Yogyakarta) has no boundary in wilayah_boundaries_kab_34.sql"}},
		{"boundary: bad polygon", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, kab(d), "('34.71','Kota Yogyakarta',-7.803297519308451,110.37435793496881,'[[[", "('34.71','Kota Yogyakarta',-7.803297519308451,110.37435793496881,'[[[[")
		}, []string{"wilayah_boundaries_kab_34.sql line 35: 34.71: path is not a JSON multipolygon"}},
		{"boundary: point outside Indonesia", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, kel(d), "('34.71.01.1001','Kricak',-7.773598780779162,", "('34.71.01.1001','Kricak',7.773598780779162,")
		}, []string{"wilayah_boundaries_kel_34.71.sql line 34: 34.71.01.1001: lat 7.773598780779162, lng 110.3571889625452 is outside Indonesia"}},
		{"boundary: duplicate", func(t *testing.T, d string, _ *geo.ImportOptions) {
			editFile(t, kel(d), "('34.71.01.1002','Karangwaru'", "('34.71.01.1001','Karangwaru'")
		}, []string{"wilayah_boundaries_kel_34.71.sql line 35: 34.71.01.1001 already on wilayah_boundaries_kel_34.71.sql line 34"}},
		{"boundary: unterminated", func(t *testing.T, d string, _ *geo.ImportOptions) {
			b, _ := os.ReadFile(kel(d))
			os.WriteFile(kel(d), b[:len(b)-10], 0o644)
		}, []string{"wilayah_boundaries_kel_34.71.sql line 43: string is never closed"}},
		{"unknown province", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.Provinces = []string{"99"}
		}, []string{"province 99 is not in the codes source (it has 34)"}},
		{"not a province code", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.Provinces = []string{"3x"}
		}, []string{`province "3x": want a two-digit province code`}},
		{"no boundaries", func(t *testing.T, d string, opt *geo.ImportOptions) {
			opt.Boundaries = ""
		}, []string{"--boundaries", "wilayah_boundaries_kab_34.sql"}},
		{"no regency file", func(t *testing.T, d string, _ *geo.ImportOptions) {
			os.Remove(kab(d))
		}, []string{"no regency boundaries", "db/kab/wilayah_boundaries_kab_34.sql"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyFixture(t)
			opt := fixtureOptions(dir)
			tc.edit(t, dir, &opt)
			data := t.TempDir()
			_, err := geo.Import(data, opt)
			if err == nil {
				t.Fatal("imported")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
			if _, err := os.Stat(geo.RegistryDir(data)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed import wrote %s", geo.RegistryDir(data))
			}
		})
	}
}

// Without the kecamatan and village files every village is placed at its
// regency's point, marked approximate, and the import says so.
func TestImportWithRegencyBoundariesOnly(t *testing.T) {
	dir := copyFixture(t)
	os.RemoveAll(filepath.Join(dir, "wilayah_boundaries", "db", "kel"))
	os.RemoveAll(filepath.Join(dir, "wilayah_boundaries", "db", "kec"))
	data := t.TempDir()
	infos, err := geo.Import(data, fixtureOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if p := infos[0].Points; p.Regency != 16 || p.Village != 0 || len(infos[0].Warnings) == 0 {
		t.Fatalf("%+v", infos[0])
	}
	reg, err := geo.LoadFrom(data, "34")
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Approximate()) != 16 {
		t.Fatalf("%d approximate", len(reg.Approximate()))
	}
	var m geo.ImportedProvince
	b, _ := os.ReadFile(filepath.Join(data, "registry", "34", "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil || m.Points.Regency != 16 {
		t.Fatalf("manifest %s", b)
	}
}

func copyFixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(fixture, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixture, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, line+"\n"...), 0o644)
}
