package geo

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/paulmach/orb"

	"github.com/jagadesa/jagadesa"
)

// NationalSyntheticID is the --provinces name of the SYNTHETIC national
// registry (CONTRACT.md).
const NationalSyntheticID = "national-synthetic"

// indonesiaVillagesGz is data/indonesia/villages.csv.gz: every village
// code and name of Indonesia (cahyadsn/wilayah, MIT; see
// data/indonesia/ATTRIBUTION.md), gzipped because only the synthetic
// national registry reads it.
//
//go:embed data/indonesia/villages.csv.gz
var indonesiaVillagesGz []byte

//go:embed data/indonesia/ATTRIBUTION.md
var indonesiaAttribution string

// nationalHeader is the column order of data/indonesia/villages.csv.
var nationalHeader = []string{"code", "name", "kind", "district_code", "district", "regency_code", "regency", "province_code", "province"}

// nationalCredit is the credit line of the synthetic national registry.
const nationalCredit = "SINTETIS / SYNTHETIC (uji beban / benchmarks): titik desa dan batas kabupaten/kota buatan (sel grid), " +
	"bukan peta nyata. Kode & nama wilayah: Kepmendagri 300.2.2-2430/2025 via github.com/cahyadsn/wilayah (MIT)."

// extraVillageName names the village the synthetic registry adds to the
// real list: CONTRACT.md fixes the national count at 83,763
// (NationalVillages), while Kepmendagri 300.2.2-2138/2025 lists 83,762.
const extraVillageName = "Desa Sintetis Tambahan (SINTETIS)"

// A province's place in the synthetic layout: the island groups are boxes
// that do not overlap, each cut into one strip per province (across the
// long side, in the order listed), and each strip into one grid cell per
// regency. Where a province lies on its island is only roughly right.
type syntheticIsland struct {
	minLon, minLat, maxLon, maxLat float64
	byLat                          bool     // strips run north to south; else west to east
	provinces                      []string // province codes, in strip order
}

var syntheticIslands = []syntheticIsland{
	{95.2, -5.9, 106.2, 5.8, true, []string{"11", "12", "21", "14", "13", "15", "19", "16", "17", "18"}}, // Sumatera
	{105.2, -8.8, 114.6, -5.9, false, []string{"36", "31", "32", "33", "34", "35"}},                      // Jawa
	{114.6, -11.0, 125.0, -8.0, false, []string{"51", "52", "53"}},                                       // Bali, Nusa Tenggara
	{108.6, -4.2, 119.0, 4.4, false, []string{"61", "62", "63", "64", "65"}},                             // Kalimantan
	{119.2, -6.0, 125.3, 2.0, true, []string{"71", "75", "72", "76", "73", "74"}},                        // Sulawesi
	{125.4, -8.5, 131.0, 2.7, true, []string{"82", "81"}},                                                // Maluku
	{131.0, -9.2, 141.0, -0.3, false, []string{"96", "92", "94", "93", "95", "91"}},                      // Papua
}

// nationalSeed fixes the synthetic points: the same registry on every run.
const nationalSeed1, nationalSeed2 = 0x4A61676144657361, NationalVillages

var nationalSynthetic = sync.OnceValues(buildNationalSynthetic)

// NationalSynthetic returns the SYNTHETIC national registry for
// benchmarks: the real codes and names of all 83,762 villages (desa and
// kelurahan), 7,285 kecamatan, 514 regencies and 38 provinces of
// Kepmendagri 300.2.2-2138/2025 (via cahyadsn/wilayah, embedded), plus one
// made-up desa so that it holds NationalVillages (83,763, the count
// CONTRACT.md names). Its geography is made up: each regency is a
// rectangular grid cell inside a rough box of its island, and its villages
// are spread over that cell. It is built once, in memory, on first use, and
// is the same on every run; every caller shares it.
func NationalSynthetic() (*Registry, error) { return nationalSynthetic() }

// NationalSyntheticAttribution is the ATTRIBUTION.md of the codes and
// names the synthetic national registry uses.
func NationalSyntheticAttribution() string { return indonesiaAttribution }

type natProvince struct {
	code, name  string
	villages    int
	first, last int // regency indices
	bound       orb.Bound
}

func buildNationalSynthetic() (*Registry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(indonesiaVillagesGz))
	if err != nil {
		return nil, fmt.Errorf("geo: national villages: %w", err)
	}
	cr := csv.NewReader(zr)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(nationalHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("geo: national villages: %w", err)
	}
	if !slices.Equal(head, nationalHeader) {
		return nil, fmt.Errorf("geo: national villages: header %q, want %q", strings.Join(head, ","), strings.Join(nationalHeader, ","))
	}

	reg := &Registry{province: "SYNTHETIC Indonesia", idm: map[string]IDM{}}
	reg.villages = make([]jagadesa.Village, 0, NationalVillages)
	var provs []natProvince
	var district, regency string // the previous row's names, shared by the rows after it
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("geo: national villages: %w", err)
		}
		line, _ := cr.FieldPos(0)
		code := rec[0]
		if !jagadesa.ValidVillageCode(code) || rec[3] != code[:8] || rec[5] != code[:5] || rec[7] != code[:2] {
			return nil, fmt.Errorf("geo: national villages line %d: codes %q, %q, %q, %q do not nest", line, code, rec[3], rec[5], rec[7])
		}
		if n := len(reg.villages); n > 0 && reg.villages[n-1].Code >= code {
			return nil, fmt.Errorf("geo: national villages line %d: %s is not after %s", line, code, reg.villages[n-1].Code)
		}
		if rec[2] != "desa" && rec[2] != "kelurahan" || rec[1] == "" {
			return nil, fmt.Errorf("geo: national villages line %d: kind %q, name %q", line, rec[2], rec[1])
		}
		if rec[4] != district {
			district = strings.Clone(rec[4])
		}
		if rec[6] != regency {
			regency = strings.Clone(rec[6])
		}
		code = strings.Clone(code)
		kind := "desa"
		if rec[2] == "kelurahan" {
			kind = "kelurahan"
		}
		reg.villages = append(reg.villages, jagadesa.Village{
			Code: code, Name: strings.Clone(rec[1]), Kind: kind,
			DistrictCode: code[:8], District: district, RegencyCode: code[:5], Regency: regency,
		})
		if len(provs) == 0 || provs[len(provs)-1].code != code[:2] {
			provs = append(provs, natProvince{code: code[:2], name: strings.Clone(rec[8])})
		}
		provs[len(provs)-1].villages++
	}
	extra := NationalVillages - len(reg.villages)
	if extra < 0 {
		return nil, fmt.Errorf("geo: national villages: %d, more than the %d of NationalVillages", len(reg.villages), NationalVillages)
	}
	for range extra {
		code, err := addExtraVillage(reg)
		if err != nil {
			return nil, err
		}
		for i := range provs {
			if provs[i].code == code[:2] {
				provs[i].villages++
			}
		}
	}

	// Regencies in code order, each with the range of its villages.
	type span struct{ first, end int }
	var spans []span
	for i, v := range reg.villages {
		if i == 0 || v.RegencyCode != reg.villages[i-1].RegencyCode {
			reg.regencies = append(reg.regencies, Regency{Code: v.RegencyCode, Name: v.Regency, enc: &lazyJSON{}})
			spans = append(spans, span{i, i})
		}
		spans[len(spans)-1].end = i + 1
	}
	byCode := make(map[string]*natProvince, len(provs))
	for i := range provs {
		p := &provs[i]
		byCode[p.code] = p
		p.first = -1
		for j, r := range reg.regencies {
			if r.Code[:2] == p.code {
				if p.first < 0 {
					p.first = j
				}
				p.last = j
			}
		}
	}
	// Province strips.
	placed := 0
	for _, is := range syntheticIslands {
		total := 0.0
		for _, c := range is.provinces {
			p := byCode[c]
			if p == nil {
				return nil, fmt.Errorf("geo: synthetic layout names province %s, which the national list lacks", c)
			}
			total += stripWeight(p.villages)
		}
		at := 0.0
		for _, c := range is.provinces {
			p := byCode[c]
			f0, f1 := at/total, (at+stripWeight(p.villages))/total
			at += stripWeight(p.villages)
			if is.byLat {
				h := is.maxLat - is.minLat
				p.bound = orb.Bound{Min: orb.Point{is.minLon, is.maxLat - f1*h}, Max: orb.Point{is.maxLon, is.maxLat - f0*h}}
			} else {
				w := is.maxLon - is.minLon
				p.bound = orb.Bound{Min: orb.Point{is.minLon + f0*w, is.minLat}, Max: orb.Point{is.minLon + f1*w, is.maxLat}}
			}
			placed++
		}
	}
	if placed != len(provs) {
		return nil, fmt.Errorf("geo: synthetic layout places %d provinces, the national list has %d", placed, len(provs))
	}

	// Regency cells and village points.
	rng := rand.New(rand.NewPCG(nationalSeed1, nationalSeed2))
	for pi := range provs {
		p := &provs[pi]
		n := p.last - p.first + 1
		w, h := p.bound.Max.Lon()-p.bound.Min.Lon(), p.bound.Max.Lat()-p.bound.Min.Lat()
		cols := max(1, int(math.Ceil(math.Sqrt(float64(n)*w/h))))
		rows := (n + cols - 1) / cols
		cw, ch := w/float64(cols), h/float64(rows)
		for k := 0; k < n; k++ {
			r := &reg.regencies[p.first+k]
			x0 := p.bound.Min.Lon() + float64(k%cols)*cw
			y1 := p.bound.Max.Lat() - float64(k/cols)*ch // rows from the north
			y0 := y1 - ch
			poly := orb.Polygon{orb.Ring{{x0, y0}, {x0 + cw, y0}, {x0 + cw, y1}, {x0, y1}, {x0, y0}}}
			r.Geometry, r.Bound = poly, poly.Bound()
			spreadVillages(reg.villages[spans[p.first+k].first:spans[p.first+k].end], x0, y0, cw, ch, rng)
		}
	}

	reg.villageIndex = make(map[string]int, len(reg.villages))
	for i, v := range reg.villages {
		reg.villageIndex[v.Code] = i
	}
	reg.regencyIndex = make(map[string]int, len(reg.regencies))
	for i, r := range reg.regencies {
		reg.regencyIndex[r.Code] = i
	}
	for _, p := range provs {
		info := ProvinceInfo{ID: slugOf(p.name), Code: p.code, Name: p.name, Villages: p.villages,
			Regencies: p.last - p.first + 1, Attribution: nationalCredit,
			BBox: [4]float64{p.bound.Min.Lon(), p.bound.Min.Lat(), p.bound.Max.Lon(), p.bound.Max.Lat()}}
		for _, c := range catalogue {
			if c.info.Code == p.code {
				info.ID, info.CSIRT = c.info.ID, c.info.CSIRT
			}
		}
		reg.provinces = append(reg.provinces, info)
	}
	return reg, nil
}

// stripWeight is a province's share of its island: less than proportional
// to its villages, so that small provinces stay visible.
func stripWeight(villages int) float64 { return math.Pow(float64(villages), 0.7) }

// spreadVillages puts villages on a jittered lattice inside the cell, clear
// of its edges, so every point lies inside its regency.
func spreadVillages(vs []jagadesa.Village, x0, y0, w, h float64, rng *rand.Rand) {
	k := len(vs)
	cols := max(1, int(math.Ceil(math.Sqrt(float64(k)*w/h))))
	rows := (k + cols - 1) / cols
	for j := range vs {
		c, r := j%cols, j/cols
		fx := (float64(c) + 0.5 + (rng.Float64()-0.5)*0.6) / float64(cols)
		fy := (float64(r) + 0.5 + (rng.Float64()-0.5)*0.6) / float64(rows)
		vs[j].Lon = round6(x0 + w*(0.05+0.9*fx))
		vs[j].Lat = round6(y0 + h*(0.95-0.9*fy))
	}
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// addExtraVillage adds a made-up desa: in the kecamatan of the last desa
// of the list, numbered 2999 (or the highest free number below), and
// returns its code.
func addExtraVillage(reg *Registry) (string, error) {
	last := -1
	for i := len(reg.villages) - 1; i >= 0; i-- {
		if reg.villages[i].Kind == "desa" {
			last = i
			break
		}
	}
	if last < 0 {
		return "", errors.New("geo: national villages: no desa")
	}
	base := reg.villages[last]
	for n := 2999; n > 2000; n-- {
		code := fmt.Sprintf("%s.%04d", base.DistrictCode, n)
		i, found := slices.BinarySearchFunc(reg.villages, code, func(v jagadesa.Village, c string) int { return strings.Compare(v.Code, c) })
		if found {
			continue
		}
		v := base
		v.Code, v.Name = code, extraVillageName
		v.DistrictCode, v.RegencyCode = code[:8], code[:5]
		reg.villages = slices.Insert(reg.villages, i, v)
		return code, nil
	}
	return "", errors.New("geo: national villages: no free number for the extra village")
}

// slugOf makes a province id from its name: "Sumatera Utara" → sumatera-utara.
func slugOf(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}
