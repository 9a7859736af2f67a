package geo_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

func TestJambiAndProvinces(t *testing.T) {
	jambi, err := geo.Jambi()
	if err != nil {
		t.Fatal(err)
	}
	if jambi.Len() != 1585 || len(jambi.Regencies()) != 11 {
		t.Fatalf("Jambi: %d villages, %d regencies", jambi.Len(), len(jambi.Regencies()))
	}
	approx := jambi.Approximate()
	if len(approx) != 17 {
		t.Fatalf("%d approximate villages, want 17", len(approx))
	}
	for _, v := range approx {
		// All in Kabupaten Tebo, each at its kecamatan's fallback point,
		// which lies inside Tebo.
		r, _ := jambi.Regency(v.RegencyCode)
		if v.RegencyCode != "15.09" || !v.Approximate || !contains(r.Geometry, orb.Point{v.Lon, v.Lat}) {
			t.Fatalf("approximate village %+v", v)
		}
	}
	kemantan, ok := jambi.Village("15.09.02.2018")
	if !ok || !kemantan.Approximate || kemantan.Lat != -1.553195 || kemantan.Lon != 102.728757 {
		t.Fatalf("Kemantan = %+v", kemantan)
	}
	both, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	if both.Len() != 8563+1585 || len(both.Regencies()) != 46 || both.Province() != "Jawa Tengah, Jambi" {
		t.Fatalf("merged: %d villages, %d regencies, %q", both.Len(), len(both.Regencies()), both.Province())
	}
	if v, ok := both.Village(geo.KrandeganCode); !ok || v.Name != "Krandegan" {
		t.Fatal("merged registry lost Krandegan")
	}
	vs := both.Villages()
	for i := 1; i < len(vs); i++ {
		if vs[i-1].Code >= vs[i].Code {
			t.Fatalf("merged villages not in code order at %d", i)
		}
	}
	ps := both.Provinces()
	if len(ps) != 2 || ps[0].ID != "jateng" || ps[0].CSIRT != "JatengProv-CSIRT" || ps[1].CSIRT != "JambiProv-CSIRT" || ps[1].Approximate != 17 || ps[0].Villages != 8563 {
		t.Fatalf("provinces %+v", ps)
	}
	// Jawa Tengah's box: about 108.5–111.7 E, 8.2–5.7 S (Karimunjawa reaches 5.7 S).
	if b := ps[0].BBox; b[0] < 108 || b[0] > 109 || b[2] < 111 || b[2] > 112 || b[1] < -8.5 || b[3] > -5 {
		t.Fatalf("Jawa Tengah bbox %v", b)
	}
	for code, want := range map[string]string{geo.KrandeganCode: "JatengProv-CSIRT", "15.09.02.2018": "JambiProv-CSIRT",
		"15.09": "JambiProv-CSIRT", "33": "JatengProv-CSIRT", "34.01": "", "3": "", "330": "", "": ""} {
		if p, ok := both.ProvinceOf(code); p.CSIRT != want || ok != (want != "") {
			t.Fatalf("ProvinceOf(%q) = %q, %v; want %q", code, p.CSIRT, ok, want)
		}
	}
	if p, ok := jambi.ProvinceOf(geo.KrandeganCode); ok {
		t.Fatalf("Jambi's registry places Krandegan in %s", p.Name)
	}
	if !strings.Contains(ps[1].Attribution, "cahyadsn/wilayah_boundaries") {
		t.Fatalf("credit line %q", ps[1].Attribution)
	}
	for _, bad := range [][]string{{"bali"}, {}, {""}} {
		if _, err := geo.Load(bad...); err == nil || !strings.Contains(err.Error(), "jateng, jambi") {
			t.Fatalf("Load(%q): %v", bad, err)
		}
	}
	// Asking twice for a province is asking once.
	if r, err := geo.Load("jambi", "JAMBI"); err != nil || r.Len() != 1585 {
		t.Fatalf("Load(jambi, JAMBI): %v", err)
	}
}

func contains(g orb.Geometry, p orb.Point) bool {
	switch g := g.(type) {
	case orb.Polygon:
		return planar.PolygonContains(g, p)
	case orb.MultiPolygon:
		return planar.MultiPolygonContains(g, p)
	}
	return false
}

func TestIDM(t *testing.T) {
	for _, tc := range []struct {
		load  func() (*geo.Registry, error)
		desa  int
		code  string
		score float64
	}{
		{geo.Jateng, 7810, "33.01.01.2001", 0.7225},
		{geo.Jambi, 1414, "15.01.01.2001", 0.6841},
	} {
		reg, err := tc.load()
		if err != nil {
			t.Fatal(err)
		}
		n, desa := 0, 0
		for _, v := range reg.Villages() {
			x, ok := reg.IDM(v.Code)
			if v.Kind == "desa" {
				desa++
			}
			if !ok {
				continue
			}
			n++
			if v.Kind != "desa" || x.Score <= 0 || x.Score > 1 || x.Status == "" {
				t.Fatalf("%s: %+v", v.Code, x)
			}
		}
		if n != tc.desa || desa != tc.desa {
			t.Fatalf("%s: %d villages with IDM, %d desa; want %d", reg.Province(), n, desa, tc.desa)
		}
		if x, _ := reg.IDM(tc.code); x.Score != tc.score {
			t.Fatalf("%s IDM %v, want %v", tc.code, x.Score, tc.score)
		}
	}
	reg, _ := geo.Jateng()
	if x, _ := reg.IDM(geo.KrandeganCode); x.Status == "" || math.Abs(x.Score-(x.IKS+x.IKE+x.IKL)/3) > 0.001 {
		t.Fatalf("Krandegan IDM %+v: the score is the mean of IKS, IKE and IKL", x)
	}
}

func f64(v float64) *float64 { return &v }

// mapVillages gives every village of reg a varied live state.
func mapVillages(reg *geo.Registry) []geo.MapVillage {
	seen := time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)
	statuses := []jagadesa.Status{jagadesa.StatusUp, jagadesa.StatusDegraded, jagadesa.StatusDown, jagadesa.StatusUnknown, jagadesa.StatusCompromised}
	out := make([]geo.MapVillage, reg.Len())
	for i, v := range reg.Villages() {
		mv := geo.MapVillage{Village: v}
		if i%7 == 0 {
			mv.Programme = &jagadesa.Programme{Code: v.Code, Year: 2022 + i%3, ISP: "Jatengnet", ContractMbps: 100, Remote3T: i%2 == 0, DigitalVillage: i%5 == 0}
			mv.Monitored = true
			mv.Status = statuses[i%len(statuses)]
			mv.LastSeen, mv.RTTMs, mv.LossPct = &seen, f64(20+float64(i%50)/3), f64(float64(i%4))
		}
		if x, ok := reg.IDM(v.Code); ok {
			mv.IDM = &x
		}
		out[i] = mv
	}
	return out
}

func TestAggregate(t *testing.T) {
	vs := []geo.MapVillage{
		{Village: jagadesa.Village{Code: "a"}, Monitored: true, Status: jagadesa.StatusUp, RTTMs: f64(10), LossPct: f64(0), Programme: &jagadesa.Programme{Year: 2023}},
		{Village: jagadesa.Village{Code: "b"}, Monitored: true, Status: jagadesa.StatusDown, RTTMs: f64(30), LossPct: f64(4), Programme: &jagadesa.Programme{Year: 2023}},
		{Village: jagadesa.Village{Code: "c"}, Monitored: true, Status: jagadesa.StatusDegraded, RTTMs: f64(20), Programme: &jagadesa.Programme{Year: 2024}},
		{Village: jagadesa.Village{Code: "d"}, Monitored: true}, // a probe outside the programme, never heard
		{Village: jagadesa.Village{Code: "e"}, Programme: &jagadesa.Programme{Year: 2024}},
		{Village: jagadesa.Village{Code: "f"}},
	}
	c := geo.Aggregate(vs, func(*geo.MapVillage) string { return "x" })["x"]
	if c.Villages != 6 || c.Programme != 4 || c.Monitored != 4 || c.Up != 1 || c.Down != 1 || c.Degraded != 1 || c.Unknown != 1 {
		t.Fatalf("counts %+v", c)
	}
	// 3 of 4 programme villages monitored; 1 of 4 monitored up; median RTT
	// of 10, 20, 30; median loss of 0 and 4.
	if *c.CoveragePct != 75 || *c.UpPct != 25 || *c.MedianRTTMs != 20 || *c.MedianLossPct != 2 {
		t.Fatalf("coverage %v up %v rtt %v loss %v", *c.CoveragePct, *c.UpPct, *c.MedianRTTMs, *c.MedianLossPct)
	}
	if len(c.Cohorts) != 2 || c.Cohorts["2023"].Programme != 2 || c.Cohorts["2023"].Down != 1 || c.Cohorts["2024"].Monitored != 1 || *c.Cohorts["2024"].CoveragePct != 50 {
		t.Fatalf("cohorts %+v %+v", c.Cohorts["2023"], c.Cohorts["2024"])
	}
	// Groups that come and go in the input are still summed whole.
	byParity := geo.Aggregate(vs, func(v *geo.MapVillage) string {
		return map[bool]string{true: "ace", false: "bdf"}[strings.Contains("ace", v.Code)]
	})
	if a, b := byParity["ace"], byParity["bdf"]; len(byParity) != 2 || a.Villages != 3 || b.Villages != 3 || a.Up != 1 || b.Down != 1 || *a.MedianRTTMs != 15 || *b.MedianRTTMs != 30 {
		t.Fatalf("interleaved groups %+v %+v", a, b)
	}
	empty := geo.Aggregate(vs[5:], func(*geo.MapVillage) string { return "x" })["x"]
	if empty.CoveragePct != nil || empty.UpPct != nil || empty.MedianRTTMs != nil {
		t.Fatalf("empty coverage %+v", empty)
	}
}

// Every village of both provinces round-trips through our hand-written
// GeoJSON, read back by orb's decoder and by encoding/json.
func TestVillagesGeoJSONRoundTrip(t *testing.T) {
	reg, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	vs := mapVillages(reg)
	// Names that need escaping.
	vs[1].Name = `Tanjung "Baru" <Ilir> & Ulu\` + "\t\u2028é"
	var buf bytes.Buffer
	if err := geo.WriteVillagesGeoJSON(&buf, vs); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatal("not valid JSON")
	}
	if bytes.Contains(buf.Bytes(), []byte("<Ilir>")) {
		t.Fatal("< and > must be escaped so the file is safe inside HTML")
	}
	fc, err := geojson.UnmarshalFeatureCollection(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Features) != len(vs) {
		t.Fatalf("%d features for %d villages", len(fc.Features), len(vs))
	}
	props := strings.Fields(`code name kind district_code district regency_code regency province approximate status
		monitored programme cohort isp contract_mbps remote_3t extreme_poor desa_digital idm_status idm_score rtt_ms loss_pct last_seen`)
	for i, f := range fc.Features {
		v := vs[i]
		p := f.Properties
		if !sameKeys(p, props) {
			t.Fatalf("%s: properties %v, want exactly %v", v.Code, p, props)
		}
		pt := f.Geometry.(orb.Point)
		if f.ID != v.Code || math.Abs(pt.Lon()-v.Lon) > 5e-7 || math.Abs(pt.Lat()-v.Lat) > 5e-7 {
			t.Fatalf("%d: id %v at %v, want %s at %v,%v", i, f.ID, pt, v.Code, v.Lon, v.Lat)
		}
		want := map[string]any{"code": v.Code, "name": v.Name, "kind": v.Kind, "district_code": v.DistrictCode, "district": v.District,
			"regency_code": v.RegencyCode, "regency": v.Regency, "province": v.Code[:2], "approximate": v.Approximate,
			"monitored": v.Monitored, "programme": v.Programme != nil}
		for k, w := range want {
			if p[k] != w {
				t.Fatalf("%s: %s = %v, want %v", v.Code, k, p[k], w)
			}
		}
		st := string(v.Status)
		if st == "" {
			st = "unknown"
		}
		if p["status"] != st {
			t.Fatalf("%s status %v", v.Code, p["status"])
		}
		if v.Programme != nil {
			if p["cohort"] != float64(v.Programme.Year) || p["isp"] != "Jatengnet" || p["contract_mbps"] != float64(100) || p["remote_3t"] != v.Programme.Remote3T || p["desa_digital"] != v.Programme.DigitalVillage {
				t.Fatalf("%s programme props %v", v.Code, p)
			}
			if math.Abs(p["rtt_ms"].(float64)-*v.RTTMs) > 0.005 || p["loss_pct"] != *v.LossPct || p["last_seen"] != "2026-11-22T03:04:05Z" {
				t.Fatalf("%s live props %v", v.Code, p)
			}
		} else if p["cohort"] != nil || p["rtt_ms"] != nil || p["last_seen"] != nil || p["remote_3t"] != false {
			t.Fatalf("%s: %v", v.Code, p)
		}
		if v.IDM != nil && (p["idm_status"] != v.IDM.Status || p["idm_score"] != v.IDM.Score) {
			t.Fatalf("%s idm %v %v", v.Code, p["idm_status"], p["idm_score"])
		}
		if v.IDM == nil && (p["idm_status"] != nil || p["idm_score"] != nil) {
			t.Fatalf("%s idm should be null", v.Code)
		}
	}
}

func TestRegenciesGeoJSON(t *testing.T) {
	reg, _ := geo.Load("jateng", "jambi")
	vs := mapVillages(reg)
	cov := geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.RegencyCode })
	var buf bytes.Buffer
	if err := geo.WriteRegenciesGeoJSON(&buf, reg.Regencies(), cov); err != nil {
		t.Fatal(err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Features) != 46 {
		t.Fatalf("%d features", len(fc.Features))
	}
	props := strings.Fields(`code name province villages programme monitored up degraded down unknown compromised
		coverage_pct up_pct median_rtt_ms median_loss_pct cohort_2022 cohort_2023 cohort_2024`)
	for i, f := range fc.Features {
		r := reg.Regencies()[i]
		c := cov[r.Code]
		p := f.Properties
		if !sameKeys(p, props) {
			t.Fatalf("%s: properties %v, want exactly %v", r.Code, p, props)
		}
		if p["province"] != r.Code[:2] || p["median_rtt_ms"] != math.Round(*c.MedianRTTMs*100)/100 || p["up_pct"] != math.Round(*c.UpPct*100)/100 {
			t.Fatalf("%s: %v", r.Code, p)
		}
		if f.ID != r.Code || p["name"] != r.Name || p.MustFloat64("villages") != float64(c.Villages) || p.MustFloat64("down") != float64(c.Down) {
			t.Fatalf("%s: %v", r.Code, p)
		}
		if c.Cohorts["2023"] != nil && p.MustFloat64("cohort_2023") != float64(c.Cohorts["2023"].Programme) {
			t.Fatalf("%s cohort_2023 %v", r.Code, p["cohort_2023"])
		}
		if !orb.Equal(f.Geometry, r.Geometry) {
			t.Fatalf("%s geometry changed in transit", r.Code)
		}
		// RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise.
		for _, poly := range polygons(f.Geometry) {
			for k, ring := range poly {
				want := orb.CCW
				if k > 0 {
					want = orb.CW
				}
				if ring.Orientation() != want {
					t.Fatalf("%s ring %d is %v", r.Code, k, ring.Orientation())
				}
			}
		}
	}
}

func sameKeys(p geojson.Properties, keys []string) bool {
	if len(p) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := p[k]; !ok {
			return false
		}
	}
	return true
}

func polygons(g orb.Geometry) []orb.Polygon {
	switch g := g.(type) {
	case orb.Polygon:
		return []orb.Polygon{g}
	case orb.MultiPolygon:
		return g
	}
	return nil
}

func decodeTile(t testing.TB, b []byte) map[string]*mvt.Layer {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	layers, err := mvt.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*mvt.Layer{}
	for _, l := range layers {
		out[l.Name] = l
	}
	return out
}

func TestTiles(t *testing.T) {
	reg, _ := geo.Load("jateng", "jambi")
	vs := mapVillages(reg)
	cov := geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.RegencyCode })
	ti := geo.NewTileIndex(reg)
	all := func(i int) (geo.MapVillage, bool) { return vs[i], true }
	covOf := func(code string) *geo.Coverage { return cov[code] }

	k, _ := reg.Village(geo.KrandeganCode)
	for _, z := range []maptile.Zoom{10, 12, 14, 16} {
		tile := maptile.At(orb.Point{k.Lon, k.Lat}, z)
		b, err := ti.Tile(uint32(tile.Z), tile.X, tile.Y, all, covOf)
		if err != nil {
			t.Fatal(err)
		}
		layers := decodeTile(t, b)
		vl, rl := layers["villages"], layers["regencies"]
		if vl == nil || rl == nil || vl.Version != 2 || vl.Extent != 4096 {
			t.Fatalf("z%d layers %v", z, layers)
		}
		found := false
		for _, f := range vl.Features {
			if f.Properties["code"] == geo.KrandeganCode {
				found = true
				if f.ID != float64(3306082007) { // orb decodes ids as float64
					t.Fatalf("feature id %v", f.ID)
				}
				// Back to lon/lat, the point is where the village is (within a tile unit).
				p := f.Geometry.(orb.Point)
				ll := pointToLonLat(tile, p)
				if math.Abs(ll.Lon()-k.Lon) > 360/math.Pow(2, float64(z))/4096*2 || math.Abs(ll.Lat()-k.Lat) > 360/math.Pow(2, float64(z))/4096*2 {
					t.Fatalf("z%d: Krandegan at %v, registry %v,%v", z, ll, k.Lon, k.Lat)
				}
			}
		}
		if !found {
			t.Fatalf("z%d: Krandegan not in its tile (%d villages)", z, len(vl.Features))
		}
		// Purworejo's outline is there, with its coverage, and valid rings.
		purworejo := false
		for _, f := range rl.Features {
			if f.Properties["code"] == "33.06" {
				purworejo = true
				if f.Properties["villages"] != float64(cov["33.06"].Villages) {
					t.Fatalf("Purworejo props %v", f.Properties)
				}
			}
			for _, poly := range polygons(f.Geometry) {
				for ri, ring := range poly {
					if len(ring) < 4 || !ring.Closed() {
						t.Fatalf("z%d %v: ring %d open or too short", z, f.Properties["code"], ri)
					}
					want := orb.CCW // MVT: exterior positive in tile space
					if ri > 0 {
						want = orb.CW
					}
					if ring.Orientation() != want {
						t.Fatalf("z%d %v: ring %d orientation %v", z, f.Properties["code"], ri, ring.Orientation())
					}
				}
			}
		}
		if !purworejo {
			t.Fatalf("z%d: Purworejo missing from the regency layer", z)
		}
		// The neighbour tile two columns east does not have Krandegan.
		b, _ = ti.Tile(uint32(tile.Z), tile.X+2, tile.Y, all, covOf)
		for _, f := range decodeTile(t, b)["villages"].Features {
			if f.Properties["code"] == geo.KrandeganCode {
				t.Fatalf("z%d: Krandegan in a tile two columns away", z)
			}
		}
	}
	b, _ := ti.Tile(12, 0, 0, all, covOf) // open sea near 180°W: empty but valid
	if l := decodeTile(t, b); len(l["villages"].Features) != 0 || len(l["regencies"].Features) != 0 {
		t.Fatal("empty tile is not empty")
	}
	for _, bad := range [][3]uint32{{23, 0, 0}, {3, 8, 0}, {3, 0, 8}} {
		if _, err := ti.Tile(bad[0], bad[1], bad[2], all, covOf); err == nil {
			t.Fatalf("tile %v accepted", bad)
		}
	}
	// Thinning at low zoom: one village per 4 × 4-pixel block, never a
	// healthy one where the block has one in trouble.
	tile := maptile.At(orb.Point{k.Lon, k.Lat}, 6)
	b, _ = ti.Tile(6, tile.X, tile.Y, all, covOf)
	severity := map[string]int{"compromised": 0, "down": 1, "degraded": 2, "unknown": 3, "up": 4}
	rankOf := func(v *geo.MapVillage) int {
		if !v.Monitored {
			return 5
		}
		st := string(v.Status)
		if st == "" {
			st = "unknown"
		}
		return severity[st]
	}
	best := map[[2]int]int{}
	for i := range vs {
		px, py := toTilePx(tile, vs[i].Lon, vs[i].Lat)
		if px < 0 || py < 0 || px >= 4096 || py >= 4096 {
			continue
		}
		c := [2]int{int(px) / 64, int(py) / 64}
		if r, ok := best[c]; !ok || rankOf(&vs[i]) < r {
			best[c] = rankOf(&vs[i])
		}
	}
	features := decodeTile(t, b)["villages"].Features
	inside := 0
	for _, f := range features {
		p := f.Geometry.(orb.Point)
		if p[0] < 0 || p[1] < 0 || p[0] >= 4096 || p[1] >= 4096 {
			continue // in the buffer
		}
		inside++
		v, _ := reg.Village(f.Properties["code"].(string))
		mv := vs[indexOf(reg, v.Code)]
		c := [2]int{int(p[0]) / 64, int(p[1]) / 64}
		if rankOf(&mv) != best[c] {
			t.Fatalf("z6 block %v kept %s (%s) over a village of rank %d", c, v.Code, mv.Status, best[c])
		}
	}
	if inside != len(best) {
		t.Fatalf("z6: %d villages drawn for %d occupied blocks", inside, len(best))
	}
	// Same input, same bytes: the ETag is stable.
	b2, _ := ti.Tile(6, tile.X, tile.Y, all, covOf)
	if !bytes.Equal(b, b2) {
		t.Fatal("tile bytes differ between identical requests")
	}
}

func pointToLonLat(tile maptile.Tile, p orb.Point) orb.Point {
	n := math.Pow(2, float64(tile.Z))
	x := (float64(tile.X) + p[0]/4096) / n
	y := (float64(tile.Y) + p[1]/4096) / n
	lon := x*360 - 180
	lat := math.Atan(math.Sinh(math.Pi*(1-2*y))) * 180 / math.Pi
	return orb.Point{lon, lat}
}

func TestSyntheticNational(t *testing.T) {
	reg := geo.SyntheticNational(geo.NationalVillages, 1)
	if reg.Len() != geo.NationalVillages {
		t.Fatalf("%d villages", reg.Len())
	}
	vs := reg.Villages()
	for i, v := range vs {
		if !jagadesa.ValidVillageCode(v.Code) || (i > 0 && vs[i-1].Code >= v.Code) {
			t.Fatalf("village %d: %q after %q", i, v.Code, vs[max(0, i-1)].Code)
		}
		r, ok := reg.Regency(v.RegencyCode)
		if !ok || !r.Bound.Contains(orb.Point{v.Lon, v.Lat}) {
			t.Fatalf("%s outside its regency", v.Code)
		}
	}
	if n := len(reg.Regencies()); n < 450 || n > 600 {
		t.Fatalf("%d regencies", n)
	}
}

func toTilePx(tile maptile.Tile, lon, lat float64) (float64, float64) {
	n := math.Pow(2, float64(tile.Z))
	x := (lon + 180) / 360
	sin := math.Sin(lat * math.Pi / 180)
	y := 0.5 - math.Log((1+sin)/(1-sin))/(4*math.Pi)
	return math.Round((x*n - float64(tile.X)) * 4096), math.Round((y*n - float64(tile.Y)) * 4096)
}

func indexOf(reg *geo.Registry, code string) int {
	for i, v := range reg.Villages() {
		if v.Code == code {
			return i
		}
	}
	return -1
}
