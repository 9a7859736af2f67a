package geo_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/paulmach/orb/maptile"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// wantTileProps is what the villages layer must carry for v, as orb's
// decoder reports it (every number a float64, nil numbers absent).
func wantTileProps(v *geo.MapVillage) map[string]any {
	st := string(v.Status)
	if st == "" {
		st = "unknown"
	}
	p := map[string]any{"code": v.Code, "name": v.Name, "status": st, "monitored": v.Monitored, "cohort": float64(0),
		"approximate": v.Approximate, "remote_3t": false, "extreme_poor": false, "desa_digital": false}
	if pr := v.Programme; pr != nil {
		p["cohort"], p["remote_3t"], p["extreme_poor"], p["desa_digital"] = float64(pr.Year), pr.Remote3T, pr.ExtremePoor, pr.DigitalVillage
	}
	if v.RTTMs != nil {
		p["rtt_ms"] = math.Round(*v.RTTMs*100) / 100
	}
	if v.LossPct != nil {
		p["loss_pct"] = math.Round(*v.LossPct*100) / 100
	}
	return p
}

// Every village of a tile comes back from orb's decoder with every
// property it was given, and only those; the strict generated decoder
// accepts the same bytes and sees the value types the spec's readers
// expect.
func TestTileVillageProperties(t *testing.T) {
	reg, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	vs := mapVillages(reg)
	// Awkward values: a name that needs no escaping in protobuf but would
	// in JSON, an unrounded RTT, a village filtered out.
	k := indexOf(reg, geo.KrandeganCode)
	vs[k].Name = `Krandegan "Baru" <&>`
	vs[k].Monitored, vs[k].Status = true, jagadesa.StatusDown
	vs[k].RTTMs, vs[k].LossPct = f64(12.3456), nil
	vs[k].Programme = &jagadesa.Programme{Code: geo.KrandeganCode, Year: 2024, Remote3T: true, ExtremePoor: true, DigitalVillage: true}
	kv := vs[k]
	tile := maptile.At(orb.Point{kv.Lon, kv.Lat}, 11)
	dropped := ""
	ti := geo.NewTileIndex(reg)
	keep := func(i int) (geo.MapVillage, bool) {
		v := vs[i]
		if i != k && dropped == "" && maptile.At(orb.Point{v.Lon, v.Lat}, 11) == tile {
			dropped = v.Code
		}
		return v, v.Code != dropped
	}
	cov := geo.Aggregate(vs, func(*geo.MapVillage) string { return "all" })["all"]
	b, err := ti.Tile(uint32(tile.Z), tile.X, tile.Y, keep, func(string) *geo.Coverage { return cov })
	if err != nil {
		t.Fatal(err)
	}
	layers, err := mvt.UnmarshalGzipped(b)
	if err != nil {
		t.Fatal(err)
	}
	var vl *mvt.Layer
	for _, l := range layers {
		if l.Name == "villages" {
			vl = l
		}
	}
	if vl == nil {
		t.Fatal("no villages layer")
	}
	// Every village the tile (with its buffer) should hold, except the one
	// the filter dropped.
	want := map[string]*geo.MapVillage{}
	for i := range vs {
		x, y := toTilePx(tile, vs[i].Lon, vs[i].Lat)
		if x >= -64 && y >= -64 && x < 4096+64 && y < 4096+64 && vs[i].Code != dropped {
			want[vs[i].Code] = &vs[i]
		}
	}
	if dropped == "" || len(want) < 10 || len(vl.Features) != len(want) {
		t.Fatalf("%d features, want %d (dropped %q)", len(vl.Features), len(want), dropped)
	}
	for _, f := range vl.Features {
		v := want[f.Properties["code"].(string)]
		if v == nil {
			t.Fatalf("unexpected feature %v", f.Properties)
		}
		wp := wantTileProps(v)
		if len(f.Properties) != len(wp) {
			t.Fatalf("%s: properties %v, want %v", v.Code, f.Properties, wp)
		}
		for name, w := range wp {
			if f.Properties[name] != w {
				t.Fatalf("%s: %s = %#v, want %#v", v.Code, name, f.Properties[name], w)
			}
		}
		x, y := toTilePx(tile, v.Lon, v.Lat)
		if p := f.Geometry.(orb.Point); p != (orb.Point{x, y}) {
			t.Fatalf("%s at %v, want %v,%v", v.Code, p, x, y)
		}
	}
	if p := wantTileProps(&kv); p["rtt_ms"] != 12.35 || p["status"] != "down" {
		t.Fatalf("test setup: %v", p)
	}

	// The strict decoder: value types as the spec's readers expect them.
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	var pb vectortile.Tile
	if err := pb.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if len(pb.Layers) != 2 {
		t.Fatalf("%d layers", len(pb.Layers))
	}
	for _, l := range pb.Layers {
		if l.GetVersion() != 2 || l.GetExtent() != 4096 {
			t.Fatalf("version %d extent %d", l.GetVersion(), l.GetExtent())
		}
		for _, f := range l.Features {
			point := f.GetType() == vectortile.Tile_POINT && len(f.Geometry) == 3 && f.Geometry[0] == 9
			if l.GetName() == "villages" && !point || l.GetName() == "regencies" && f.GetType() != vectortile.Tile_POLYGON || len(f.Tags)%2 != 0 {
				t.Fatalf("%s feature %d: type %v geometry %v tags %v", l.GetName(), f.GetId(), f.GetType(), f.Geometry, f.Tags)
			}
			for i := 0; i < len(f.Tags); i += 2 {
				key, val := l.Keys[f.Tags[i]], l.Values[f.Tags[i+1]]
				var ok bool
				switch key {
				case "code", "name", "status":
					ok = val.StringValue != nil
				case "cohort", "villages", "programme", "monitored", "up", "degraded", "down", "unknown", "compromised":
					ok = val.IntValue != nil || key == "monitored" && l.GetName() == "villages" && val.BoolValue != nil
				case "rtt_ms", "loss_pct", "coverage_pct", "up_pct":
					ok = val.DoubleValue != nil
				default:
					ok = val.BoolValue != nil
				}
				if !ok {
					t.Fatalf("feature %d: %s has value %v", f.GetId(), key, val)
				}
			}
		}
	}
}

// Jambi's villages without a point of their own are in the tiles, flagged.
func TestTileApproximateVillage(t *testing.T) {
	reg, err := geo.Jambi()
	if err != nil {
		t.Fatal(err)
	}
	vs := mapVillages(reg)
	v, _ := reg.Village("15.09.02.2018") // Kemantan, drawn at its kecamatan's point
	tile := maptile.At(orb.Point{v.Lon, v.Lat}, 13)
	b, err := geo.NewTileIndex(reg).Tile(uint32(tile.Z), tile.X, tile.Y,
		func(i int) (geo.MapVillage, bool) { return vs[i], true }, func(string) *geo.Coverage { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range decodeTile(t, b)["villages"].Features {
		if f.Properties["code"] == v.Code {
			if f.Properties["approximate"] != true {
				t.Fatalf("Kemantan: approximate = %v", f.Properties["approximate"])
			}
			return
		}
	}
	t.Fatal("Kemantan is not in its tile")
}

// A tile outside Indonesia is empty but still a valid tile with both
// layers, and a filter that drops everything empties the villages layer.
func TestTileEmpty(t *testing.T) {
	reg, _ := geo.Jateng()
	vs := mapVillages(reg)
	ti := geo.NewTileIndex(reg)
	k, _ := reg.Village(geo.KrandeganCode)
	tile := maptile.At(orb.Point{k.Lon, k.Lat}, 9)
	for _, tc := range []struct {
		name    string
		tile    maptile.Tile
		keep    bool
		regency bool
	}{
		{"sea", maptile.New(0, 0, 3), true, false},
		{"filtered", tile, false, true},
	} {
		b, err := ti.Tile(uint32(tc.tile.Z), tc.tile.X, tc.tile.Y,
			func(i int) (geo.MapVillage, bool) { return vs[i], tc.keep }, func(string) *geo.Coverage { return nil })
		if err != nil {
			t.Fatal(err)
		}
		layers, err := mvt.UnmarshalGzipped(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 2 {
			t.Fatalf("%s: %d layers", tc.name, len(layers))
		}
		for _, l := range layers {
			if l.Name == "villages" && len(l.Features) != 0 || l.Name == "regencies" && (len(l.Features) > 0) != tc.regency {
				t.Fatalf("%s: layer %s has %d features", tc.name, l.Name, len(l.Features))
			}
		}
	}
}

// The regencies layer carries each regency's coverage, and its outlines
// still hold the regency's villages after projection, simplification,
// clipping and encoding.
func TestTileRegencies(t *testing.T) {
	reg, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	vs := mapVillages(reg)
	cov := geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.RegencyCode })
	delete(cov, "33.06") // Purworejo, Krandegan's regency, without coverage: code and name only
	ti := geo.NewTileIndex(reg)
	k, _ := reg.Village(geo.KrandeganCode)
	for _, z := range []maptile.Zoom{3, 7, 9} {
		tile := maptile.At(orb.Point{k.Lon, k.Lat}, z)
		b, err := ti.Tile(uint32(tile.Z), tile.X, tile.Y, func(i int) (geo.MapVillage, bool) { return vs[i], true },
			func(code string) *geo.Coverage { return cov[code] })
		if err != nil {
			t.Fatal(err)
		}
		rl := decodeTile(t, b)["regencies"]
		checked, bare := 0, false
		defer func() {
			if z == 9 && checked < 100 || !bare {
				t.Errorf("z%d: %d villages checked inside outlines; regency without coverage seen: %v", z, checked, bare)
			}
		}()
		if len(rl.Features) < 3 {
			t.Fatalf("z%d: %d regencies", z, len(rl.Features))
		}
		for _, f := range rl.Features {
			code := f.Properties["code"].(string)
			r, ok := reg.Regency(code)
			if !ok || f.Properties["name"] != r.Name || f.ID != float64(codeDigits(code)) {
				t.Fatalf("z%d: regency %v id %v", z, f.Properties, f.ID)
			}
			want := map[string]any{"code": code, "name": r.Name}
			bare = bare || cov[code] == nil
			if c := cov[code]; c != nil {
				for name, n := range map[string]int{"villages": c.Villages, "programme": c.Programme, "monitored": c.Monitored, "up": c.Up,
					"degraded": c.Degraded, "down": c.Down, "unknown": c.Unknown, "compromised": c.Compromised} {
					want[name] = float64(n)
				}
				if c.CoveragePct != nil {
					want["coverage_pct"] = math.Round(*c.CoveragePct*100) / 100
				}
				if c.UpPct != nil {
					want["up_pct"] = math.Round(*c.UpPct*100) / 100
				}
			}
			if len(f.Properties) != len(want) {
				t.Fatalf("z%d %s: properties %v, want %v", z, code, f.Properties, want)
			}
			for name, w := range want {
				if f.Properties[name] != w {
					t.Fatalf("z%d %s: %s = %v, want %v", z, code, name, f.Properties[name], w)
				}
			}
			if z < 9 {
				continue
			}
			// The regency's villages inside this tile are inside its outline
			// (a few at the very border may fall out: outlines are simplified
			// to a third of a pixel).
			in, out := 0, 0
			for _, v := range reg.Villages() {
				x, y := toTilePx(tile, v.Lon, v.Lat)
				if v.RegencyCode != code || x < 0 || y < 0 || x >= 4096 || y >= 4096 {
					continue
				}
				if contains(f.Geometry, orb.Point{x, y}) {
					in++
				} else {
					out++
				}
			}
			checked += in + out
			if out > (in+out)/50 {
				t.Fatalf("z%d %s: %d of %d villages outside the outline", z, code, out, in+out)
			}
		}
	}
}

func codeDigits(code string) uint64 {
	var n uint64
	for _, c := range code {
		if c >= '0' && c <= '9' {
			n = n*10 + uint64(c-'0')
		}
	}
	return n
}
