// Package geo is the one place that knows village geography: the Kemendagri
// village registry, the regency boundaries drawn on the maps, and the
// programme list that says which villages were given a link. It is also the
// only package allowed to import orb, so the probe and the root package stay
// free of geometry dependencies.
package geo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jagadesa/jagadesa"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Regency is one kabupaten or kota with its boundary. The boundary is kept
// with the registry so the map and the containment checks use one source.
type Regency struct {
	Code     string       // NN.NN, the prefix of every village code in the regency
	Name     string       // e.g. "Kabupaten Purworejo"
	Geometry orb.Geometry // orb.Polygon or orb.MultiPolygon, [lon, lat] order
	Bound    orb.Bound    // precomputed so viewport filtering does not walk every ring

	enc *lazyJSON // the geometry as GeoJSON, once encoded
}

// Registry is an immutable, validated view of one province's villages and
// regencies. It is safe for concurrent use because nothing mutates it after
// loading.
type Registry struct {
	province     string
	provinces    []ProvinceInfo
	villages     []jagadesa.Village // sorted by code
	villageIndex map[string]int
	regencies    []Regency // sorted by code
	regencyIndex map[string]int
	idm          map[string]IDM
	// fallback points for villages with no point of their own (code →
	// [lat, lon]); used only while loading.
	fallback map[string][2]float64
}

// villageHeader is the column order of jateng-villages.csv. Fields are read by
// position, so a reordered file must fail loudly instead of swapping lat and lon.
var villageHeader = []string{"code", "name", "kind", "district_code", "district", "regency_code", "regency", "lat", "lon"}

// Indonesia's extent with a small margin. A registry of Indonesian villages
// that accepted any point on Earth would let swapped, zeroed or sign-flipped
// coordinates through, and those would only show up as villages in the sea.
const (
	minLat, maxLat = -12.0, 7.0
	minLon, maxLon = 94.0, 142.0
)

// LoadRegistry parses and validates a village CSV (header as in
// jateng-villages.csv) and a GeoJSON FeatureCollection of regency polygons
// with properties code and name. It stops at the first problem, because
// reference data with one bad row is not trustworthy, and names the CSV line
// or the GeoJSON feature so the data can be fixed.
func LoadRegistry(province string, villagesCSV, regenciesGeoJSON io.Reader) (*Registry, error) {
	if strings.TrimSpace(province) == "" {
		return nil, errors.New("geo: province name is empty")
	}
	reg := &Registry{province: province}
	if err := reg.loadRegencies(regenciesGeoJSON); err != nil {
		return nil, err
	}
	if err := reg.loadVillages(villagesCSV); err != nil {
		return nil, err
	}
	for _, rg := range reg.regencies {
		if !reg.hasVillageIn(rg.Code) {
			return nil, fmt.Errorf("geo: regency %s (%s) has a boundary but no villages", rg.Code, rg.Name)
		}
	}
	return reg, nil
}

// regencyProps is decoded straight into a struct so a missing or mistyped
// property surfaces as an empty string we can report, not a type assertion panic.
type regencyProps struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

func (reg *Registry) loadRegencies(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("geo: reading regency GeoJSON: %w", err)
	}
	var fc geojson.FeatureCollectionOf[regencyProps]
	if err := fc.UnmarshalJSON(data); err != nil {
		return fmt.Errorf("geo: regency GeoJSON: %w", err)
	}
	if len(fc.Features) == 0 {
		return errors.New("geo: regency GeoJSON has no features")
	}
	reg.regencies = make([]Regency, 0, len(fc.Features))
	reg.regencyIndex = make(map[string]int, len(fc.Features))
	for i, f := range fc.Features {
		if f == nil {
			return fmt.Errorf("geo: regency feature %d is null", i)
		}
		p := f.Properties
		if !validRegencyCode(p.Code) {
			return fmt.Errorf("geo: regency feature %d: code %q is not NN.NN", i, p.Code)
		}
		if strings.TrimSpace(p.Name) == "" {
			return fmt.Errorf("geo: regency feature %d (%s): empty name", i, p.Code)
		}
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			if len(g) == 0 || len(g[0]) < 4 {
				return fmt.Errorf("geo: regency feature %d (%s): empty polygon", i, p.Code)
			}
		case orb.MultiPolygon:
			if len(g) == 0 || len(g[0]) == 0 || len(g[0][0]) < 4 {
				return fmt.Errorf("geo: regency feature %d (%s): empty multipolygon", i, p.Code)
			}
		case nil:
			return fmt.Errorf("geo: regency feature %d (%s): no geometry", i, p.Code)
		default:
			return fmt.Errorf("geo: regency feature %d (%s): geometry is %s, want Polygon or MultiPolygon", i, p.Code, g.GeoJSONType())
		}
		if _, dup := reg.regencyIndex[p.Code]; dup {
			return fmt.Errorf("geo: regency feature %d: code %s appears twice", i, p.Code)
		}
		reg.regencyIndex[p.Code] = -1 // placeholder until sorted
		reg.regencies = append(reg.regencies, Regency{Code: p.Code, Name: p.Name, Geometry: f.Geometry, Bound: f.Geometry.Bound(), enc: &lazyJSON{}})
	}
	slices.SortFunc(reg.regencies, func(a, b Regency) int { return strings.Compare(a.Code, b.Code) })
	for i, rg := range reg.regencies {
		reg.regencyIndex[rg.Code] = i
	}
	return nil
}

func (reg *Registry) loadVillages(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(villageHeader)
	header, err := cr.Read()
	if err == io.EOF {
		return errors.New("geo: villages CSV is empty")
	}
	if err != nil {
		return fmt.Errorf("geo: villages CSV: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // spreadsheet exports add a BOM
	}
	if !slices.Equal(header, villageHeader) {
		return fmt.Errorf("geo: villages CSV line 1: header is %q, want %q", strings.Join(header, ","), strings.Join(villageHeader, ","))
	}

	reg.villageIndex = make(map[string]int, 8192)
	var lines []int // CSV line of each village, for duplicate messages
	sorted := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("geo: villages CSV: %w", err) // csv.ParseError carries the line
		}
		line, _ := cr.FieldPos(0)
		v, err := reg.parseVillage(rec)
		if err != nil {
			return fmt.Errorf("geo: villages CSV line %d: %w", line, err)
		}
		if prev, dup := reg.villageIndex[v.Code]; dup {
			return fmt.Errorf("geo: villages CSV line %d: code %s already on line %d", line, v.Code, lines[prev])
		}
		if n := len(reg.villages); n > 0 && reg.villages[n-1].Code > v.Code {
			sorted = false
		}
		reg.villageIndex[v.Code] = len(reg.villages)
		reg.villages = append(reg.villages, v)
		lines = append(lines, line)
	}
	if len(reg.villages) == 0 {
		return errors.New("geo: villages CSV has a header but no villages")
	}
	// The published file is already in code order; sorting only when needed
	// keeps the index stable for an operator's file that is not.
	if !sorted {
		slices.SortFunc(reg.villages, func(a, b jagadesa.Village) int { return strings.Compare(a.Code, b.Code) })
		for i, v := range reg.villages {
			reg.villageIndex[v.Code] = i
		}
	}
	return nil
}

func (reg *Registry) parseVillage(rec []string) (jagadesa.Village, error) {
	v := jagadesa.Village{
		Code:         rec[0],
		Name:         rec[1],
		Kind:         rec[2],
		DistrictCode: rec[3],
		District:     rec[4],
		RegencyCode:  rec[5],
		Regency:      rec[6],
	}
	if !jagadesa.ValidVillageCode(v.Code) {
		return v, fmt.Errorf("column code: %q is not a village code NN.NN.NN.NNNN", v.Code)
	}
	if strings.TrimSpace(v.Name) == "" {
		return v, fmt.Errorf("column name: empty name for %s", v.Code)
	}
	if v.Kind != "desa" && v.Kind != "kelurahan" {
		return v, fmt.Errorf("column kind: %q, want desa or kelurahan", v.Kind)
	}
	if v.DistrictCode != v.Code[:8] {
		return v, fmt.Errorf("column district_code: %q is not the prefix of %s", v.DistrictCode, v.Code)
	}
	if strings.TrimSpace(v.District) == "" {
		return v, fmt.Errorf("column district: empty district for %s", v.Code)
	}
	if v.RegencyCode != v.Code[:5] {
		return v, fmt.Errorf("column regency_code: %q is not the prefix of %s", v.RegencyCode, v.Code)
	}
	i, ok := reg.regencyIndex[v.RegencyCode]
	if !ok {
		return v, fmt.Errorf("column regency_code: %s has no boundary in the regency GeoJSON", v.RegencyCode)
	}
	if want := reg.regencies[i].Name; v.Regency != want {
		return v, fmt.Errorf("column regency: %q, but the regency GeoJSON names %s %q", v.Regency, v.RegencyCode, want)
	}
	if rec[7] == "" && rec[8] == "" {
		fb, ok := reg.fallback[v.Code]
		if !ok {
			return v, errors.New("columns lat, lon: empty, and no fallback point is given for this village")
		}
		v.Lat, v.Lon, v.Approximate = fb[0], fb[1], true
		return v, nil
	}
	var err error
	if v.Lat, err = parseCoord(rec[7], minLat, maxLat); err != nil {
		return v, fmt.Errorf("column lat: %w", err)
	}
	if v.Lon, err = parseCoord(rec[8], minLon, maxLon); err != nil {
		return v, fmt.Errorf("column lon: %w", err)
	}
	return v, nil
}

func parseCoord(s string, lo, hi float64) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	// Written as a negated range test so NaN, which ParseFloat accepts, fails.
	if !(f >= lo && f <= hi) {
		return 0, fmt.Errorf("%v is outside %v..%v (Indonesia)", f, lo, hi)
	}
	return f, nil
}

func validRegencyCode(s string) bool {
	return len(s) == 5 && s[2] == '.' && isDigits(s[:2]) && isDigits(s[3:])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (reg *Registry) hasVillageIn(regencyCode string) bool {
	// Villages are sorted by code and the regency code is their prefix, so a
	// binary search finds the first candidate.
	i, _ := slices.BinarySearchFunc(reg.villages, regencyCode, func(v jagadesa.Village, c string) int {
		return strings.Compare(v.Code, c)
	})
	return i < len(reg.villages) && reg.villages[i].RegencyCode == regencyCode
}

// Province names the province the registry covers, for page titles and exports.
func (reg *Registry) Province() string { return reg.province }

// Village looks a village up by its Kemendagri code. Codes, not names, are the
// key because names repeat (there are five Krandegan in Jawa Tengah).
func (reg *Registry) Village(code string) (jagadesa.Village, bool) {
	i, ok := reg.villageIndex[code]
	if !ok {
		return jagadesa.Village{}, false
	}
	return reg.villages[i], true
}

// Villages returns every village in code order. The slice is the registry's
// own storage, shared to avoid copying 8,563 entries per request: callers must
// not modify it.
func (reg *Registry) Villages() []jagadesa.Village { return reg.villages }

// Regencies returns every regency in code order. The slice and the
// geometries are the registry's own storage: callers must not modify them.
func (reg *Registry) Regencies() []Regency { return reg.regencies }

// Regency looks a regency up by its NN.NN code.
func (reg *Registry) Regency(code string) (Regency, bool) {
	i, ok := reg.regencyIndex[code]
	if !ok {
		return Regency{}, false
	}
	return reg.regencies[i], true
}

// Len is the number of villages, the denominator of province-wide coverage.
func (reg *Registry) Len() int { return len(reg.villages) }
