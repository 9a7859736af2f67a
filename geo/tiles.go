package geo

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/simplify"

	"github.com/jagadesa/jagadesa"
)

// Vector tiles follow the Mapbox Vector Tile specification 2.1: a 4096-unit
// extent, a buffer so circles drawn at a tile's edge are not cut, exterior
// rings with positive area in tile coordinates (y down) and holes negative.
const (
	tileExtent = 4096
	tileBuffer = 64 // extent units: 4 screen pixels on a 256-px tile
	// MaxZoom is the deepest tile served: at z22 a tile is under 10 m wide.
	MaxZoom = 22
	// indexZoom is the zoom of the spatial index's grid (256 × 256 cells).
	indexZoom = 8
	// thinBelow: under this zoom a tile keeps one village per thinCell ×
	// thinCell block of tile units (4 × 4 screen pixels), the one most in
	// need of attention; from it on, every village is drawn.
	thinBelow = 8
	thinCell  = 64
	// simplifyMaxZoom: regency outlines are simplified to about a pixel at
	// each zoom up to this one and drawn at its detail beyond.
	simplifyMaxZoom = 14
)

// TileIndex answers vector-tile requests for one registry: village points
// in a grid index, and regency outlines in Web Mercator, simplified once per
// zoom level on first use. Safe for concurrent use.
type TileIndex struct {
	reg   *Registry
	x, y  []float64 // villages in normalized Web Mercator (0..1, y down)
	ids   []uint64  // villages' MVT feature ids
	cells [][]int32 // indexZoom grid: village indices per cell

	regencies []tileRegency
}

type tileRegency struct {
	code, name string
	id         uint64    // MVT feature id: the code's digits
	bound      orb.Bound // normalized Mercator
	merc       orb.Geometry
	byZoom     [simplifyMaxZoom + 1]struct {
		once sync.Once
		g    orb.Geometry
	}
}

func mercator(lon, lat float64) (float64, float64) {
	lat = math.Max(-85.05112878, math.Min(85.05112878, lat))
	x := (lon + 180) / 360
	s := math.Sin(lat * math.Pi / 180)
	y := 0.5 - math.Log((1+s)/(1-s))/(4*math.Pi)
	return x, y
}

// NewTileIndex indexes a registry's villages and regencies.
func NewTileIndex(reg *Registry) *TileIndex {
	vs := reg.Villages()
	n := 1 << indexZoom
	ti := &TileIndex{reg: reg, x: make([]float64, len(vs)), y: make([]float64, len(vs)), ids: make([]uint64, len(vs)), cells: make([][]int32, n*n)}
	for i, v := range vs {
		x, y := mercator(v.Lon, v.Lat)
		ti.x[i], ti.y[i] = x, y
		ti.ids[i] = codeID(v.Code)
		c := cellOf(x, n) + cellOf(y, n)*n
		ti.cells[c] = append(ti.cells[c], int32(i))
	}
	for _, r := range reg.Regencies() {
		m := project(r.Geometry)
		ti.regencies = append(ti.regencies, tileRegency{code: r.Code, name: r.Name, id: codeID(r.Code), merc: m, bound: m.Bound()})
	}
	return ti
}

func cellOf(v float64, n int) int {
	return max(0, min(n-1, int(v*float64(n))))
}

// project maps a lon/lat geometry to normalized Mercator.
func project(g orb.Geometry) orb.Geometry {
	pt := func(p orb.Point) orb.Point { x, y := mercator(p[0], p[1]); return orb.Point{x, y} }
	ring := func(r orb.Ring) orb.Ring {
		out := make(orb.Ring, len(r))
		for i, p := range r {
			out[i] = pt(p)
		}
		return out
	}
	poly := func(p orb.Polygon) orb.Polygon {
		out := make(orb.Polygon, len(p))
		for i, r := range p {
			out[i] = ring(r)
		}
		return out
	}
	switch g := g.(type) {
	case orb.Polygon:
		return poly(g)
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = poly(p)
		}
		return out
	}
	return g
}

func (r *tileRegency) at(z uint32) orb.Geometry {
	z = min(z, simplifyMaxZoom)
	e := &r.byZoom[z]
	e.once.Do(func() {
		// About a third of a screen pixel at this zoom, in normalized units.
		tol := 1 / (256 * 3 * float64(uint64(1)<<z))
		e.g = simplify.DouglasPeucker(tol).Simplify(orb.Clone(r.merc))
	})
	return e.g
}

// TileError is a tile address that does not exist.
type TileError struct{ Z, X, Y uint32 }

func (e *TileError) Error() string {
	return fmt.Sprintf("tile %d/%d/%d does not exist (z ≤ %d, x and y < 2^z)", e.Z, e.X, e.Y, MaxZoom)
}

// Tile encodes tile z/x/y as a gzipped Mapbox Vector Tile with two layers,
// "regencies" (outlines with their coverage, feature id = the code's
// digits) and "villages" (points, feature id = the code's digits,
// 33.06.08.2007 → 3306082007). village(i) gives the i-th registry village's
// live state and whether the request's filter keeps it; regency(code) its
// coverage (nil: code and name only). A z/x/y that does not exist is a
// *TileError.
//
// Under zoom 8 a tile keeps one village per 4 × 4-pixel block, chosen by
// severity (compromised, down, degraded, monitored, then the rest; the
// lowest code among equals), so a province-wide view stays light and never
// hides a village in trouble behind a healthy neighbour; from zoom 8 every
// village is drawn. Choosing still asks village(i) about every village in
// the tile, so the cost of a low-zoom tile grows with the villages under
// it: about 6-7 ms for the 84,000 of a SYNTHETIC national registry.
func (ti *TileIndex) Tile(z, x, y uint32, village func(i int) (MapVillage, bool), regency func(code string) *Coverage) ([]byte, error) {
	if z > MaxZoom || x >= 1<<z || y >= 1<<z {
		return nil, &TileError{z, x, y}
	}
	scale := float64(uint64(1) << z)
	// Tile bounds with the buffer, in normalized Mercator.
	buf := float64(tileBuffer) / tileExtent / scale
	minX, minY := float64(x)/scale-buf, float64(y)/scale-buf
	maxX, maxY := float64(x+1)/scale+buf, float64(y+1)/scale+buf
	toTile := func(mx, my float64) orb.Point {
		return orb.Point{math.Round((mx*scale - float64(x)) * tileExtent), math.Round((my*scale - float64(y)) * tileExtent)}
	}

	n := 1 << indexZoom
	// Thinning grid: thinCell blocks over the tile and its buffer, each
	// holding the best village so far (index+1, 0 = empty) and its rank.
	const side = (tileExtent+2*tileBuffer)/thinCell + 1
	var thinIdx [side * side]int32
	var thinRank [side * side]int8
	thin := z < thinBelow
	villages := getMVTLayer()
	defer putMVTLayer(villages)
	for cy := cellOf(minY, n); cy <= cellOf(maxY, n); cy++ {
		for cx := cellOf(minX, n); cx <= cellOf(maxX, n); cx++ {
			for _, i32 := range ti.cells[cx+cy*n] {
				i := int(i32)
				px, py := ti.x[i], ti.y[i]
				if px < minX || px >= maxX || py < minY || py >= maxY {
					continue
				}
				mv, keep := village(i)
				if !keep {
					continue
				}
				p := toTile(px, py)
				if thin {
					bx := min(side-1, max(0, int((p[0]+tileBuffer)/thinCell)))
					by := min(side-1, max(0, int((p[1]+tileBuffer)/thinCell)))
					k := bx + by*side
					r := int8(rank(&mv))
					if cur := thinIdx[k]; cur != 0 && (thinRank[k] < r || thinRank[k] == r && int(cur-1) < i) {
						continue
					}
					thinIdx[k], thinRank[k] = i32+1, r
					continue
				}
				villages.addVillage(&mv, ti.ids[i], p)
			}
		}
	}
	if thin {
		// In registry order, so the same state always gives the same bytes
		// (and the same ETag).
		picked := make([]int, 0, 512)
		for _, k := range thinIdx {
			if k != 0 {
				picked = append(picked, int(k-1))
			}
		}
		slices.Sort(picked)
		for _, i := range picked {
			mv, _ := village(i)
			villages.addVillage(&mv, ti.ids[i], toTile(ti.x[i], ti.y[i]))
		}
	}

	regs := getMVTLayer()
	defer putMVTLayer(regs)
	clipTo := orb.Bound{Min: orb.Point{-tileBuffer, -tileBuffer}, Max: orb.Point{tileExtent + tileBuffer, tileExtent + tileBuffer}}
	tb := orb.Bound{Min: orb.Point{minX, minY}, Max: orb.Point{maxX, maxY}}
	for k := range ti.regencies {
		r := &ti.regencies[k]
		if !r.bound.Intersects(tb) {
			continue
		}
		g := toTileGeometry(r.at(z), toTile)
		g = clip.Geometry(clipTo, g)
		g = orient(g)
		if g == nil || isEmpty(g) {
			continue
		}
		regs.addRegency(r.code, r.name, r.id, g, regency(r.code))
	}
	out := regs.appendTile(make([]byte, 0, len(regs.feats)+len(regs.vals)+len(villages.feats)+len(villages.vals)+512), "regencies", regencyKeys)
	return gzipBytes(villages.appendTile(out, "villages", villageKeys))
}

// rank orders villages for thinning: lower is kept first.
func rank(v *MapVillage) int {
	if !v.Monitored {
		return 5
	}
	switch v.status() {
	case jagadesa.StatusCompromised:
		return 0
	case jagadesa.StatusDown:
		return 1
	case jagadesa.StatusDegraded:
		return 2
	case jagadesa.StatusUp:
		return 4
	}
	return 3
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func toTileGeometry(g orb.Geometry, toTile func(x, y float64) orb.Point) orb.Geometry {
	ring := func(r orb.Ring) orb.Ring {
		out := make(orb.Ring, 0, len(r))
		for _, p := range r {
			q := toTile(p[0], p[1])
			if n := len(out); n > 0 && out[n-1] == q {
				continue // rounding to tile units can repeat a point
			}
			out = append(out, q)
		}
		return out
	}
	poly := func(p orb.Polygon) orb.Polygon {
		out := make(orb.Polygon, 0, len(p))
		for _, r := range p {
			if rr := ring(r); len(rr) >= 4 {
				out = append(out, rr)
			}
		}
		return out
	}
	switch g := g.(type) {
	case orb.Polygon:
		return poly(g)
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, 0, len(g))
		for _, p := range g {
			if pp := poly(p); len(pp) > 0 {
				out = append(out, pp)
			}
		}
		return out
	}
	return g
}

// orient makes exterior rings positive (orb's CCW) and holes negative in
// tile coordinates, as the MVT specification requires; projecting lon/lat
// (y up) to tile space (y down) flips every ring.
func orient(g orb.Geometry) orb.Geometry {
	fix := func(p orb.Polygon) orb.Polygon {
		out := p[:0]
		for i, r := range p {
			if len(r) < 4 || r.Orientation() == 0 {
				continue // degenerate after clipping
			}
			want := orb.CCW
			if i > 0 {
				want = orb.CW
			}
			if r.Orientation() != want {
				r.Reverse()
			}
			out = append(out, r)
		}
		if len(out) == 0 || len(p[0]) < 4 || p[0].Orientation() != orb.CCW {
			return nil
		}
		return out
	}
	switch g := g.(type) {
	case orb.Polygon:
		if len(g) == 0 {
			return nil
		}
		if p := fix(g); p != nil {
			return p
		}
		return nil
	case orb.MultiPolygon:
		out := g[:0]
		for _, p := range g {
			if len(p) == 0 {
				continue
			}
			if fp := fix(p); fp != nil {
				out = append(out, fp)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return g
}

func isEmpty(g orb.Geometry) bool {
	switch g := g.(type) {
	case orb.Polygon:
		return len(g) == 0
	case orb.MultiPolygon:
		return len(g) == 0
	}
	return g == nil
}

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

func gzipBytes(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(raw)/3 + 64)
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	zw.Reset(&b)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
