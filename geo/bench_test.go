package geo_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// The benchmarks measure the map's server-side targets: villages.geojson
// for all of Jawa Tengah in ≤ 50 ms, one vector tile in ≤ 15 ms at national
// scale. Every village has a live state in them (monitored, a status, RTT
// and loss, the programme for one in seven), the heaviest case.

var (
	benchMu   sync.Mutex
	benchRegs = map[string]*geo.Registry{}
	benchIdx  = map[string]*geo.TileIndex{}
)

func benchRegistry(b *testing.B, name string) (*geo.Registry, *geo.TileIndex) {
	benchMu.Lock()
	defer benchMu.Unlock()
	if reg := benchRegs[name]; reg != nil {
		return reg, benchIdx[name]
	}
	var reg *geo.Registry
	switch name {
	case "national":
		reg = geo.SyntheticNational(geo.NationalVillages, 1)
	default:
		var err error
		if reg, err = geo.Load(strings.Split(name, ",")...); err != nil {
			b.Fatal(err)
		}
	}
	benchRegs[name], benchIdx[name] = reg, geo.NewTileIndex(reg)
	return reg, benchIdx[name]
}

// liveVillages gives every village of reg a live state.
func liveVillages(reg *geo.Registry) []geo.MapVillage {
	seen := time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)
	statuses := []jagadesa.Status{jagadesa.StatusUp, jagadesa.StatusUp, jagadesa.StatusUp, jagadesa.StatusUp,
		jagadesa.StatusDegraded, jagadesa.StatusDown, jagadesa.StatusUnknown, jagadesa.StatusCompromised}
	vs := make([]geo.MapVillage, reg.Len())
	for i, v := range reg.Villages() {
		mv := geo.MapVillage{Village: v, Monitored: true, Status: statuses[i%len(statuses)], LastSeen: &seen,
			RTTMs: f64(15 + float64(i%997)/7), LossPct: f64(float64(i%13) / 2)}
		if i%7 == 0 {
			mv.Programme = &jagadesa.Programme{Code: v.Code, Year: 2022 + i%3, ISP: "Jatengnet", ContractMbps: 100}
		}
		if x, ok := reg.IDM(v.Code); ok {
			mv.IDM = &x
		}
		vs[i] = mv
	}
	return vs
}

func gzipSize(b []byte) int {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed) // as the server sends it
	zw.Write(b)
	zw.Close()
	return z.Len()
}

func benchVillagesGeoJSON(b *testing.B, ids ...string) {
	var vs []geo.MapVillage
	for _, id := range ids {
		reg, _ := benchRegistry(b, id)
		vs = append(vs, liveVillages(reg)...)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := geo.WriteVillagesGeoJSON(&buf, vs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(vs)), "villages")
	b.ReportMetric(float64(buf.Len())/1024, "KiB")
	b.ReportMetric(float64(gzipSize(buf.Bytes()))/1024, "KiB-gzip")
}

// BenchmarkVillagesGeoJSON_Jateng: target ≤ 50 ms.
func BenchmarkVillagesGeoJSON_Jateng(b *testing.B) { benchVillagesGeoJSON(b, "jateng") }

func BenchmarkVillagesGeoJSON_Jambi(b *testing.B) { benchVillagesGeoJSON(b, "jambi") }

func BenchmarkVillagesGeoJSON_Both(b *testing.B) { benchVillagesGeoJSON(b, "jateng", "jambi") }

func BenchmarkRegenciesGeoJSON(b *testing.B) {
	reg, _ := benchRegistry(b, "jateng")
	cov := geo.Aggregate(liveVillages(reg), func(v *geo.MapVillage) string { return v.RegencyCode })
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := geo.WriteRegenciesGeoJSON(&buf, reg.Regencies(), cov); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/1024, "KiB")
	b.ReportMetric(float64(gzipSize(buf.Bytes()))/1024, "KiB-gzip")
}

// BenchmarkAggregate is coverage per regency, which a server computes for
// the regency layer of every tile unless it keeps it per status snapshot.
func BenchmarkAggregate(b *testing.B) {
	for _, name := range []string{"jateng", "national"} {
		b.Run(name, func(b *testing.B) {
			reg, _ := benchRegistry(b, name)
			vs := liveVillages(reg)
			b.ReportAllocs()
			for b.Loop() {
				geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.RegencyCode })
			}
		})
	}
}

// nationalTiles are the tiles at zoom z of the SYNTHETIC national registry
// that hold villages, most villages first, with their counts.
func nationalTiles(reg *geo.Registry, z maptile.Zoom) ([]maptile.Tile, map[maptile.Tile]int) {
	n := map[maptile.Tile]int{}
	for _, v := range reg.Villages() {
		n[maptile.At(orb.Point{v.Lon, v.Lat}, z)]++
	}
	tiles := make([]maptile.Tile, 0, len(n))
	for t := range n {
		tiles = append(tiles, t)
	}
	slices.SortFunc(tiles, func(a, b maptile.Tile) int {
		if n[a] != n[b] {
			return n[b] - n[a]
		}
		return int(a.Quadkey()) - int(b.Quadkey())
	})
	return tiles, n
}

func benchTile(b *testing.B, tile maptile.Tile) { benchTileOf(b, "national", tile) }

func benchTileOf(b *testing.B, name string, tile maptile.Tile) {
	reg, ti := benchRegistry(b, name)
	vs := liveVillages(reg)
	cov := geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.RegencyCode })
	all := func(i int) (geo.MapVillage, bool) { return vs[i], true }
	covOf := func(code string) *geo.Coverage { return cov[code] }
	// The first tile of a zoom level simplifies every regency outline for
	// it, once per process; the benchmark measures the tiles after that.
	out, err := ti.Tile(uint32(tile.Z), tile.X, tile.Y, all, covOf)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if out, err = ti.Tile(uint32(tile.Z), tile.X, tile.Y, all, covOf); err != nil {
			b.Fatal(err)
		}
	}
	l := decodeTile(b, out)
	b.ReportMetric(float64(len(out))/1024, "KiB-gzip")
	b.ReportMetric(float64(len(l["villages"].Features)), "points")
}

// benchNationalZoom serves, at zoom z, the densest tile and a typical one
// (the median of the tiles that hold villages).
func benchNationalZoom(b *testing.B, z maptile.Zoom) {
	reg, _ := benchRegistry(b, "national")
	tiles, n := nationalTiles(reg, z)
	for _, tc := range []struct {
		name string
		tile maptile.Tile
	}{{"densest", tiles[0]}, {"typical", tiles[len(tiles)/2]}} {
		b.Run(fmt.Sprintf("%s_%dvillages", tc.name, n[tc.tile]), func(b *testing.B) { benchTile(b, tc.tile) })
	}
}

// BenchmarkTile_National_z5 and its siblings serve tiles of a SYNTHETIC
// registry of all 83,763 villages of Indonesia: the target is ≤ 15 ms.
func BenchmarkTile_National_z5(b *testing.B)  { benchNationalZoom(b, 5) }
func BenchmarkTile_National_z8(b *testing.B)  { benchNationalZoom(b, 8) }
func BenchmarkTile_National_z10(b *testing.B) { benchNationalZoom(b, 10) }
func BenchmarkTile_National_z12(b *testing.B) { benchNationalZoom(b, 12) }

// BenchmarkTile_National_Worst serves the densest tile of every zoom where
// a tile holds thousands of villages: under zoom 8 every village in the
// tile is looked at (the filter and the thinning need its state) even
// though at most one per 4 × 4-pixel block is drawn.
func BenchmarkTile_National_Worst(b *testing.B) {
	reg, _ := benchRegistry(b, "national")
	for z := maptile.Zoom(0); z <= 8; z++ {
		tiles, n := nationalTiles(reg, z)
		b.Run(fmt.Sprintf("z%d_%dvillages", z, n[tiles[0]]), func(b *testing.B) { benchTile(b, tiles[0]) })
	}
}

// BenchmarkTile_Jateng serves real tiles: Jawa Tengah and Jambi together,
// the tile over Krandegan at each zoom. Real regency outlines have far
// more points than the synthetic rectangles, so mid-zoom tiles are larger.
func BenchmarkTile_Jateng(b *testing.B) {
	reg, _ := benchRegistry(b, "jateng,jambi")
	k, _ := reg.Village(geo.KrandeganCode)
	for _, z := range []maptile.Zoom{5, 6, 7, 8, 10, 12} {
		b.Run(fmt.Sprintf("z%d", z), func(b *testing.B) { benchTileOf(b, "jateng,jambi", maptile.At(orb.Point{k.Lon, k.Lat}, z)) })
	}
}
