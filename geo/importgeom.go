package geo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// parsePath reads a wilayah_boundaries path: a JSON Polygon
// ([[[lat,lng],…],…]) or MultiPolygon ([[[[lat,lng],…]]]), in [lat, lng]
// order as upstream writes it, into an orb.MultiPolygon in [lon, lat]. An
// empty path is (nil, nil): the row has a point but no polygon.
func parsePath(s string) (orb.MultiPolygon, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	depth := 0
	for depth < len(s) && s[depth] == '[' {
		depth++
	}
	var parts [][][][]float64
	switch depth {
	case 3:
		var poly [][][]float64
		if err := json.Unmarshal([]byte(s), &poly); err != nil {
			return nil, fmt.Errorf("path is not a JSON polygon: %w", err)
		}
		parts = [][][][]float64{poly}
	case 4:
		if err := json.Unmarshal([]byte(s), &parts); err != nil {
			return nil, fmt.Errorf("path is not a JSON multipolygon: %w", err)
		}
	default:
		return nil, fmt.Errorf("path starts with %d [, want 3 (polygon) or 4 (multipolygon)", depth)
	}
	mp := make(orb.MultiPolygon, 0, len(parts))
	for _, poly := range parts {
		p := make(orb.Polygon, 0, len(poly))
		for _, ring := range poly {
			r := make(orb.Ring, 0, len(ring))
			for _, pt := range ring {
				if len(pt) != 2 {
					return nil, fmt.Errorf("path has a point with %d numbers, want 2 (lat, lng)", len(pt))
				}
				lat, lon := pt[0], pt[1]
				if !(lat >= minLat && lat <= maxLat && lon >= minLon && lon <= maxLon) {
					return nil, fmt.Errorf("path point [%v, %v] is outside Indonesia (lat %v..%v, lng %v..%v)", lat, lon, minLat, maxLat, minLon, maxLon)
				}
				r = append(r, orb.Point{lon, lat})
			}
			p = append(p, r)
		}
		mp = append(mp, p)
	}
	return mp, nil
}

// cleanGeometry rounds a boundary to 5 decimals (about a metre, as the
// embedded regency files), drops repeated points, closes rings and winds
// them as RFC 7946 wants; rings
// left with fewer than four points are dropped, and a part whose outer
// ring goes is dropped with its holes. It returns an orb.Polygon for one
// part, an orb.MultiPolygon for more, or an error when nothing is left.
func cleanGeometry(mp orb.MultiPolygon) (orb.Geometry, error) {
	var out orb.MultiPolygon
	for _, poly := range mp {
		var p orb.Polygon
		for i, ring := range poly {
			r := make(orb.Ring, 0, len(ring)+1)
			for _, pt := range ring {
				q := orb.Point{round5(pt[0]), round5(pt[1])}
				if len(r) > 0 && r[len(r)-1] == q {
					continue
				}
				r = append(r, q)
			}
			if len(r) > 0 && r[0] != r[len(r)-1] {
				r = append(r, r[0])
			}
			if len(r) < 4 {
				if i == 0 {
					break // no outer ring: drop the part
				}
				continue
			}
			// RFC 7946 winding: outer rings counterclockwise, holes clockwise.
			if o := r.Orientation(); i == 0 && o == orb.CW || i > 0 && o == orb.CCW {
				r.Reverse()
			}
			p = append(p, r)
		}
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	switch len(out) {
	case 0:
		return nil, errors.New("no ring with at least 4 distinct points")
	case 1:
		return out[0], nil
	}
	return out, nil
}

func round5(f float64) float64 { return math.Round(f*1e5) / 1e5 }

// pointIn returns hint when it lies inside mp, and otherwise a point inside
// mp's largest part, with moved = true. Upstream's lat/lng is the polygon's
// centroid, which for a concave or many-part village can lie outside it (50
// of Jambi's 1,568): the map would then draw the village in its neighbour.
func pointIn(mp orb.MultiPolygon, hint orb.Point) (p orb.Point, moved bool) {
	if len(mp) == 0 || planar.MultiPolygonContains(mp, hint) {
		return hint, false
	}
	best, area := 0, -1.0
	for i, poly := range mp {
		if a := planar.Area(poly); a > area {
			best, area = i, a
		}
	}
	poly := mp[best]
	if len(poly) == 0 || len(poly[0]) == 0 {
		return hint, false
	}
	b := poly.Bound()
	ys := []float64{hint[1], (b.Min[1] + b.Max[1]) / 2}
	for k := 1; k < 8; k++ {
		ys = append(ys, b.Min[1]+float64(k)/8*(b.Max[1]-b.Min[1]))
	}
	for _, y := range ys {
		if y <= b.Min[1] || y >= b.Max[1] {
			continue
		}
		if q, ok := widestSpan(poly, y); ok && planar.PolygonContains(poly, q) {
			return q, true
		}
	}
	return poly[0][0], true
}

// widestSpan cuts the polygon with the horizontal line at y and returns the
// middle of the widest stretch of the line inside it (even-odd rule).
func widestSpan(poly orb.Polygon, y float64) (orb.Point, bool) {
	var xs []float64
	for _, ring := range poly {
		for i := 0; i+1 < len(ring); i++ {
			a, b := ring[i], ring[i+1]
			if (a[1] > y) != (b[1] > y) {
				xs = append(xs, a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]))
			}
		}
	}
	if len(xs) < 2 {
		return orb.Point{}, false
	}
	slices.Sort(xs)
	bestW, bestX := 0.0, 0.0
	for i := 0; i+1 < len(xs); i += 2 {
		if w := xs[i+1] - xs[i]; w > bestW {
			bestW, bestX = w, (xs[i]+xs[i+1])/2
		}
	}
	return orb.Point{bestX, y}, bestW > 0
}

// boundaryPoint is a place's point from a boundary row: its lat/lng, moved
// inside its polygon when it lies outside.
func boundaryPoint(lat, lon float64, mp orb.MultiPolygon) (orb.Point, bool) {
	return pointIn(mp, orb.Point{lon, lat})
}
