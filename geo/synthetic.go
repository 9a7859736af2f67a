package geo

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"

	"github.com/jagadesa/jagadesa"
)

// NationalVillages is the number of villages (desa and kelurahan) in
// Indonesia, the scale the map must serve if every province joined.
const NationalVillages = 83763

// island is a rough box of one of Indonesia's main land areas and its
// share of the country's villages, for the SYNTHETIC national registry.
type island struct {
	name           string
	minLon, minLat float64
	maxLon, maxLat float64
	share          float64
}

// Shares are approximate (villages per island group, rounded), enough to
// make Java dense and Papua sparse as they really are.
var islands = []island{
	{"Sumatera", 95.3, -5.9, 106.0, 5.6, 0.29},
	{"Jawa", 105.2, -8.6, 114.6, -5.9, 0.30},
	{"Bali-Nusa Tenggara", 114.4, -10.9, 125.1, -8.0, 0.06},
	{"Kalimantan", 108.8, -4.2, 119.0, 4.3, 0.09},
	{"Sulawesi", 118.8, -5.6, 125.2, 1.9, 0.11},
	{"Maluku", 124.0, -8.3, 134.9, 2.6, 0.04},
	{"Papua", 130.8, -9.1, 141.0, -0.3, 0.11},
}

// SyntheticNational builds a SYNTHETIC registry of n villages spread over
// Indonesia's main islands in rectangular synthetic regencies, for
// benchmarks at national scale. Nothing in it is real: names, codes and
// boundaries are made up; the same seed gives the same registry.
func SyntheticNational(n int, seed uint64) *Registry {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	reg := &Registry{province: "SYNTHETIC Indonesia", villageIndex: map[string]int{}, regencyIndex: map[string]int{}, idm: map[string]IDM{}}
	province := 11
	placed := 0
	for ii, is := range islands {
		count := int(math.Round(float64(n) * is.share))
		if ii == len(islands)-1 {
			count = n - placed
		}
		placed += count
		// About 160 villages per regency, as nationally (83,763 / 514).
		regencies := max(1, count/163)
		cols := int(math.Ceil(math.Sqrt(float64(regencies) * (is.maxLon - is.minLon) / (is.maxLat - is.minLat))))
		rows := int(math.Ceil(float64(regencies) / float64(cols)))
		w, h := (is.maxLon-is.minLon)/float64(cols), (is.maxLat-is.minLat)/float64(rows)
		left := count
		for r := 0; r < regencies; r++ {
			if r > 0 && r%99 == 0 {
				province++ // at most 99 regencies per province code
			}
			code := fmt.Sprintf("%02d.%02d", province, r%99+1)
			x0, y0 := is.minLon+float64(r%cols)*w, is.minLat+float64(r/cols)*h
			poly := orb.Polygon{orb.Ring{{x0, y0}, {x0 + w, y0}, {x0 + w, y0 + h}, {x0, y0 + h}, {x0, y0}}}
			rg := Regency{Code: code, Name: fmt.Sprintf("SINTETIS %s %d", is.name, r+1), Geometry: poly, Bound: poly.Bound(), enc: &lazyJSON{}}
			reg.regencyIndex[code] = len(reg.regencies)
			reg.regencies = append(reg.regencies, rg)
			k := left / (regencies - r)
			left -= k
			// Villages cluster around a few towns in the regency.
			cx, cy := x0+w*(0.2+0.6*rng.Float64()), y0+h*(0.2+0.6*rng.Float64())
			for i := 0; i < k; i++ {
				lon := math.Max(x0, math.Min(x0+w, cx+rng.NormFloat64()*w/5))
				lat := math.Max(y0, math.Min(y0+h, cy+rng.NormFloat64()*h/5))
				d := i/40 + 1
				v := jagadesa.Village{
					Code:        fmt.Sprintf("%s.%02d.%04d", code, d, 2001+i%40),
					Name:        fmt.Sprintf("Desa Sintetis %d", i+1),
					Kind:        "desa",
					Regency:     rg.Name,
					RegencyCode: code,
					Lat:         lat, Lon: lon,
				}
				v.DistrictCode = v.Code[:8]
				v.District = fmt.Sprintf("Kecamatan Sintetis %d", d)
				reg.villageIndex[v.Code] = len(reg.villages)
				reg.villages = append(reg.villages, v)
			}
		}
		province++
	}
	return reg
}
