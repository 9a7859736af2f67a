package geo

import (
	"bytes"
	"encoding/csv"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

func mustJateng(tb testing.TB) *Registry {
	tb.Helper()
	reg, err := Jateng()
	if err != nil {
		tb.Fatalf("Jateng: %v", err)
	}
	return reg
}

func TestJatengCounts(t *testing.T) {
	reg := mustJateng(t)
	desa, kelurahan := 0, 0
	for _, v := range reg.Villages() {
		switch v.Kind {
		case "desa":
			desa++
		case "kelurahan":
			kelurahan++
		}
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"province", reg.Province(), "Jawa Tengah"},
		{"Len", reg.Len(), 8563},
		{"len(Villages)", len(reg.Villages()), 8563},
		{"desa", desa, 7810},
		{"kelurahan", kelurahan, 753},
		{"regencies", len(reg.Regencies()), 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestJatengSortedAndIndexed(t *testing.T) {
	reg := mustJateng(t)
	vs := reg.Villages()
	for i := 1; i < len(vs); i++ {
		if vs[i-1].Code >= vs[i].Code {
			t.Fatalf("villages not sorted at %d: %s then %s", i, vs[i-1].Code, vs[i].Code)
		}
	}
	rs := reg.Regencies()
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Code >= rs[i].Code {
			t.Fatalf("regencies not sorted at %d: %s then %s", i, rs[i-1].Code, rs[i].Code)
		}
	}
	for _, v := range vs {
		if got, ok := reg.Village(v.Code); !ok || got != v {
			t.Fatalf("Village(%s) = %+v, %v", v.Code, got, ok)
		}
	}
}

func TestVillageLookup(t *testing.T) {
	reg := mustJateng(t)
	tests := []struct {
		code   string
		wantOK bool
		want   jagadesa.Village
	}{
		{"33.06.08.2005", true, jagadesa.Village{
			Code: "33.06.08.2005", Name: "Pogungkalangan", Kind: "desa",
			DistrictCode: "33.06.08", District: "Bayan",
			RegencyCode: "33.06", Regency: "Kabupaten Purworejo",
			Lat: -7.762852, Lon: 109.928989,
		}},
		{KrandeganCode, true, jagadesa.Village{
			Code: KrandeganCode, Name: "Krandegan", Kind: "desa",
			DistrictCode: "33.06.08", District: "Bayan",
			RegencyCode: "33.06", Regency: "Kabupaten Purworejo",
			Lat: -7.754049, Lon: 109.926455,
		}},
		{KemuningCode, true, jagadesa.Village{
			Code: KemuningCode, Name: "Kemuning", Kind: "desa",
			DistrictCode: "33.13.07", District: "Ngargoyoso",
			RegencyCode: "33.13", Regency: "Kabupaten Karanganyar",
			Lat: -7.597157, Lon: 111.113774,
		}},
		{"33.06.08.9999", false, jagadesa.Village{}},
		{"34.01.01.2001", false, jagadesa.Village{}},
		{"", false, jagadesa.Village{}},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, ok := reg.Village(tt.code)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("Village(%q) = %+v, %v; want %+v, %v", tt.code, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRegencyLookup(t *testing.T) {
	reg := mustJateng(t)
	tests := []struct {
		code, name string
		wantOK     bool
		multi      bool
	}{
		{"33.01", "Kabupaten Cilacap", true, true},
		{"33.06", "Kabupaten Purworejo", true, false},
		{"33.13", "Kabupaten Karanganyar", true, true},
		{"33.74", "Kota Semarang", true, true},
		{"33.76", "Kota Tegal", true, false},
		{"33.30", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			rg, ok := reg.Regency(tt.code)
			if ok != tt.wantOK {
				t.Fatalf("Regency(%q) ok = %v, want %v", tt.code, ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if rg.Name != tt.name {
				t.Errorf("name %q, want %q", rg.Name, tt.name)
			}
			if _, isMulti := rg.Geometry.(orb.MultiPolygon); isMulti != tt.multi {
				t.Errorf("geometry %T, want multipolygon=%v", rg.Geometry, tt.multi)
			}
			if rg.Bound != rg.Geometry.Bound() || rg.Bound.IsEmpty() {
				t.Errorf("bound %v does not match geometry", rg.Bound)
			}
		})
	}
}

// TestVillagesInsideRegency is a real check of the data: every village point
// must fall inside the polygon of the regency its code belongs to.
func TestVillagesInsideRegency(t *testing.T) {
	reg := mustJateng(t)
	perRegency := make(map[string][]jagadesa.Village)
	for _, v := range reg.Villages() {
		perRegency[v.RegencyCode] = append(perRegency[v.RegencyCode], v)
	}
	for _, rg := range reg.Regencies() {
		t.Run(rg.Code+" "+rg.Name, func(t *testing.T) {
			vs := perRegency[rg.Code]
			if len(vs) == 0 {
				t.Fatal("no villages")
			}
			outside := 0
			for _, v := range vs {
				pt := orb.Point{v.Lon, v.Lat}
				var in bool
				switch g := rg.Geometry.(type) {
				case orb.Polygon:
					in = planar.PolygonContains(g, pt)
				case orb.MultiPolygon:
					in = planar.MultiPolygonContains(g, pt)
				default:
					t.Fatalf("geometry %T", g)
				}
				if !in {
					outside++
					if outside <= 5 {
						t.Errorf("%s %s (%v, %v) lies outside %s", v.Code, v.Name, v.Lat, v.Lon, rg.Name)
					}
				}
			}
			if outside > 0 {
				t.Errorf("%d of %d villages outside", outside, len(vs))
			}
		})
	}
}

// firstLines returns the header and the first n data lines of the embedded
// village CSV, as editable lines, so loader errors are tested on real rows.
func firstLines(n int) []string {
	return strings.SplitN(string(jatengVillagesCSV), "\n", n+2)[:n+1]
}

func TestLoadRegistryErrors(t *testing.T) {
	lines := firstLines(4) // lines[0] is line 1 of the file
	replaceField := func(line string, i int, val string) string {
		f := strings.Split(line, ",")
		f[i] = val
		return strings.Join(f, ",")
	}
	tests := []struct {
		name  string
		lines []string
		want  []string // substrings of the error
	}{
		{"bad header", []string{strings.Replace(lines[0], "lat,lon", "lon,lat", 1), lines[1]},
			[]string{"line 1", "header"}},
		{"missing column", []string{strings.TrimSuffix(lines[0], ",lon"), lines[1]},
			[]string{"line 1"}},
		{"duplicate code", []string{lines[0], lines[1], lines[2], lines[1]},
			[]string{"line 4", "33.01.01.2001", "already on line 2"}},
		{"bad lat", []string{lines[0], lines[1], replaceField(lines[2], 7, "-7.5x")},
			[]string{"line 3", "column lat"}},
		{"lat out of range", []string{lines[0], lines[1], lines[2], replaceField(lines[3], 7, "108.7")},
			[]string{"line 4", "column lat", "outside"}},
		{"NaN lon", []string{lines[0], replaceField(lines[1], 8, "NaN")},
			[]string{"line 2", "column lon"}},
		{"bad code", []string{lines[0], lines[1], replaceField(lines[2], 0, "33.01.01.20O2")},
			[]string{"line 3", "column code", "33.01.01.20O2"}},
		{"regency prefix", []string{lines[0], replaceField(replaceField(lines[1], 5, "33.02"), 6, "Kabupaten Banyumas")},
			[]string{"line 2", "column regency_code", "prefix"}},
		{"district prefix", []string{lines[0], replaceField(lines[1], 3, "33.01.02")},
			[]string{"line 2", "column district_code"}},
		{"bad kind", []string{lines[0], replaceField(lines[1], 2, "kota")},
			[]string{"line 2", "column kind"}},
		{"regency name mismatch", []string{lines[0], replaceField(lines[1], 6, "Kabupaten Cilacapp")},
			[]string{"line 2", "column regency"}},
		{"wrong field count", []string{lines[0], lines[1], lines[2] + ",extra"},
			[]string{"line 3"}},
		{"empty", []string{""}, []string{"empty"}},
		{"header only", []string{lines[0]}, []string{"no villages"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Join(tt.lines, "\n") + "\n"
			reg, err := LoadRegistry("Jawa Tengah", strings.NewReader(data), bytes.NewReader(jatengRegenciesGeoJSON))
			if err == nil {
				t.Fatalf("no error, registry with %d villages", reg.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A registry restricted to some regencies is valid only if every regency with
// a boundary has villages; this catches a villages file cut short.
func TestLoadRegistryRegencyWithoutVillages(t *testing.T) {
	data := strings.Join(firstLines(3), "\n") + "\n"
	_, err := LoadRegistry("Jawa Tengah", strings.NewReader(data), bytes.NewReader(jatengRegenciesGeoJSON))
	if err == nil || !strings.Contains(err.Error(), "33.02") {
		t.Fatalf("err = %v, want complaint about regency 33.02 without villages", err)
	}
}

func TestLoadRegistryGeoJSONErrors(t *testing.T) {
	data := strings.Join(firstLines(2), "\n") + "\n"
	tests := []struct {
		name, geojson, want string
	}{
		{"not json", "{", "regency GeoJSON"},
		{"no features", `{"type":"FeatureCollection","features":[]}`, "no features"},
		{"point", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"33.01","name":"Kabupaten Cilacap"},"geometry":{"type":"Point","coordinates":[108.7,-7.5]}}]}`, "want Polygon or MultiPolygon"},
		{"bad code", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"3301","name":"Kabupaten Cilacap"},"geometry":{"type":"Polygon","coordinates":[[[108,-8],[110,-8],[110,-7],[108,-8]]]}}]}`, "feature 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRegistry("Jawa Tengah", strings.NewReader(data), strings.NewReader(tt.geojson))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEmbeddedAttributionVerbatim(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"ATTRIBUTION.md", Attribution(), "cahyadsn/wilayah_boundaries: LICENSE"},
		{"SOURCES.md", Sources(), "# SOURCES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.text, tt.want) {
				t.Errorf("%s does not contain %q", tt.name, tt.want)
			}
		})
	}
}

// Jambi's ATTRIBUTION.md, written for this repository, carries the same
// upstream license texts as Jawa Tengah's, verbatim, and the credit line the
// maps show.
func TestJambiAttribution(t *testing.T) {
	licenses := func(doc string) string {
		i := strings.Index(doc, "## cahyadsn/wilayah: LICENSE")
		if i < 0 {
			t.Fatal("no cahyadsn/wilayah license section")
		}
		return doc[i:]
	}
	jambi, ok := AttributionOf("jambi")
	if !ok || licenses(jambi) != licenses(Attribution()) {
		t.Fatal("Jambi's license texts differ from Jawa Tengah's")
	}
	for _, want := range []string{"MIT License", "Copyright (c) 2017-2025 Cahya DSN", "Copyright (c) 2024 Cahya DSN"} {
		if !strings.Contains(jambi, want) {
			t.Errorf("Jambi's ATTRIBUTION.md lacks %q", want)
		}
	}
	if !strings.Contains(strings.ReplaceAll(jambi, "\n", " "), creditLine) {
		t.Errorf("Jambi's ATTRIBUTION.md lacks the credit line %q", creditLine)
	}
	if src, ok := SourcesOf("jambi"); !ok || src == Sources() || !strings.Contains(src, "15") {
		t.Error("Jambi's SOURCES.md is missing or Jawa Tengah's")
	}
	if _, ok := AttributionOf("bali"); ok {
		t.Error("attribution for a province this build does not carry")
	}
}

func BenchmarkJatengLoad(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(jatengVillagesCSV) + len(jatengRegenciesGeoJSON)))
	for b.Loop() {
		if _, err := LoadRegistry("Jawa Tengah", bytes.NewReader(jatengVillagesCSV), bytes.NewReader(jatengRegenciesGeoJSON)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCoordAdjustmentsApplied proves the embedded villages already carry the
// interior points upstream computed for villages whose centroid lay outside
// them, which is why the loader applies no adjustment. Both provinces'
// files are like that: 200 points in Jawa Tengah, 50 in Jambi.
func TestCoordAdjustmentsApplied(t *testing.T) {
	for _, tc := range []struct {
		file string
		load func() (*Registry, error)
		rows int
	}{
		{"testdata/jateng-villages-coord-adjusted.csv", Jateng, 200},
		{"testdata/jambi-villages-coord-adjusted.csv", Jambi, 50},
	} {
		t.Run(tc.file, func(t *testing.T) {
			reg, err := tc.load()
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rows[0], ","); got != "code,name,source_centroid_lat,source_centroid_lon,interior_point_lat,interior_point_lon" {
				t.Fatalf("unexpected header %q", got)
			}
			if len(rows)-1 != tc.rows {
				t.Errorf("%d adjustments, want %d", len(rows)-1, tc.rows)
			}
			for _, r := range rows[1:] {
				v, ok := reg.Village(r[0])
				if !ok {
					t.Errorf("%s: not in the registry", r[0])
					continue
				}
				lat, _ := strconv.ParseFloat(r[4], 64)
				lon, _ := strconv.ParseFloat(r[5], 64)
				if v.Lat != lat || v.Lon != lon || v.Approximate {
					t.Errorf("%s %s: (%v, %v), want the interior point (%v, %v)", v.Code, v.Name, v.Lat, v.Lon, lat, lon)
				}
			}
		})
	}
}

// Jambi's 17 villages without a point load only at a fallback point given
// for them; the fallback file must not cover villages that have a point or
// leave any out.
func TestFallbackPoints(t *testing.T) {
	jambi := catalogue[1]
	if jambi.info.ID != "jambi" {
		t.Fatalf("catalogue[1] is %s", jambi.info.ID)
	}
	lines := strings.SplitAfter(string(jambi.missing), "\n")
	withPoint := "15.01.01.2001,Pulau Tengah,desa,15.01.01,Gunung Raya,-2.0,101.4\n"
	for _, tc := range []struct {
		name    string
		missing []byte
		want    string
	}{
		{"no fallback file", nil, "no fallback point"},
		{"one fallback left out", []byte(strings.Join(append(lines[:1:1], lines[2:]...), "")), "no fallback point"},
		{"fallback for a village with a point", append(slices.Clone(jambi.missing), withPoint...), "18 fallback points given, 17 used"},
		{"fallback outside Indonesia", []byte(lines[0] + strings.Replace(lines[1], "-1.", "-21.", 1)), "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd := jambi
			pd.missing = tc.missing
			_, err := loadProvince(pd)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	reg, err := loadProvince(jambi)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Approximate()); n != 17 || reg.Provinces()[0].Approximate != 17 {
		t.Fatalf("%d approximate villages", n)
	}
}
