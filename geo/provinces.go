package geo

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"

	"github.com/jagadesa/jagadesa"
)

//go:embed data/jateng/jateng-idm2024.csv
var jatengIDMCSV []byte

//go:embed data/jambi/jambi-villages.csv
var jambiVillagesCSV []byte

//go:embed data/jambi/jambi-regencies.geojson
var jambiRegenciesGeoJSON []byte

//go:embed data/jambi/jambi-villages-coord-missing.csv
var jambiMissingCSV []byte

//go:embed data/jambi/jambi-idm2024.csv
var jambiIDMCSV []byte

// creditLine is the data credit the maps show, as the upstream data's
// ATTRIBUTION.md suggests it (the same sources serve both provinces).
const creditLine = "Kode & nama wilayah: Kepmendagri 300.2.2-2430/2025 via github.com/cahyadsn/wilayah (MIT). " +
	"Batas & titik desa: github.com/cahyadsn/wilayah_boundaries (MIT). Status IDM 2024: Kemendes PDTT (data.go.id)."

// ProvinceInfo describes one province a registry covers.
type ProvinceInfo struct {
	ID          string     `json:"id"`   // jateng, jambi
	Code        string     `json:"code"` // 33, 15
	Name        string     `json:"name"`
	CSIRT       string     `json:"csirt"` // the provincial CSIRT
	Villages    int        `json:"villages"`
	Regencies   int        `json:"regencies"`
	Approximate int        `json:"approximate"` // villages drawn at a fallback point
	BBox        [4]float64 `json:"bbox"`        // min lon, min lat, max lon, max lat of the regency polygons
	Attribution string     `json:"attribution"`
}

// IDM is a desa's Indeks Desa Membangun 2024 (Kemendes PDTT): the mean of
// its social (IKS), economic (IKE) and ecological (IKL) resilience indices,
// and the status band it falls in. Kelurahan have none.
type IDM struct {
	Score  float64 `json:"score"`
	IKS    float64 `json:"iks"`
	IKE    float64 `json:"ike"`
	IKL    float64 `json:"ikl"`
	Status string  `json:"status"` // Sangat Tertinggal, Tertinggal, Berkembang, Maju, Mandiri
}

type provinceData struct {
	info                     ProvinceInfo
	villages, regencies, idm []byte
	missing                  []byte // fallback points; nil when every village has a point
}

var catalogue = []provinceData{
	{info: ProvinceInfo{ID: "jateng", Code: "33", Name: "Jawa Tengah", CSIRT: "JatengProv-CSIRT", Attribution: creditLine},
		villages: jatengVillagesCSV, regencies: jatengRegenciesGeoJSON, idm: jatengIDMCSV},
	{info: ProvinceInfo{ID: "jambi", Code: "15", Name: "Jambi", CSIRT: "JambiProv-CSIRT", Attribution: creditLine},
		villages: jambiVillagesCSV, regencies: jambiRegenciesGeoJSON, idm: jambiIDMCSV, missing: jambiMissingCSV},
}

// jateng and jambi parse their embedded data on first use only, so
// binaries that never touch geography do not pay for it at start-up.
var (
	jateng = sync.OnceValues(func() (*Registry, error) { return loadProvince(catalogue[0]) })
	jambi  = sync.OnceValues(func() (*Registry, error) { return loadProvince(catalogue[1]) })
)

// Jateng returns the Jawa Tengah registry built from the data embedded in
// the binary, so the product runs without any data directory. Every caller
// shares one registry; an error here means the embedded files are broken,
// which tests catch before release.
func Jateng() (*Registry, error) { return jateng() }

// Jambi returns the Jambi registry (1,585 villages; 17 of them drawn at a
// kecamatan fallback point, see Approximate).
func Jambi() (*Registry, error) { return jambi() }

// ProvinceIDs lists the provinces the binary carries.
func ProvinceIDs() []string {
	ids := make([]string, len(catalogue))
	for i, p := range catalogue {
		ids[i] = p.info.ID
	}
	return ids
}

// Load returns one registry covering the listed provinces (ids as in
// ProvinceIDs), in the order given. Village and regency codes never collide
// across provinces: the province code is their prefix.
func Load(ids ...string) (*Registry, error) {
	var regs []*Registry
	seen := map[string]bool{}
	for _, id := range ids {
		id = strings.TrimSpace(strings.ToLower(id))
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		var reg *Registry
		var err error
		switch id {
		case "jateng":
			reg, err = Jateng()
		case "jambi":
			reg, err = Jambi()
		default:
			return nil, fmt.Errorf("geo: unknown province %q; this build has %s", id, strings.Join(ProvinceIDs(), ", "))
		}
		if err != nil {
			return nil, err
		}
		regs = append(regs, reg)
	}
	switch len(regs) {
	case 0:
		return nil, fmt.Errorf("geo: no province given; this build has %s", strings.Join(ProvinceIDs(), ", "))
	case 1:
		return regs[0], nil
	}
	return merge(regs), nil
}

// merge joins registries of different provinces into one.
func merge(regs []*Registry) *Registry {
	out := &Registry{villageIndex: map[string]int{}, regencyIndex: map[string]int{}, idm: map[string]IDM{}}
	var names []string
	for _, r := range regs {
		names = append(names, r.province)
		out.provinces = append(out.provinces, r.provinces...)
		out.villages = append(out.villages, r.villages...)
		out.regencies = append(out.regencies, r.regencies...)
		for k, v := range r.idm {
			out.idm[k] = v
		}
	}
	out.province = strings.Join(names, ", ")
	slices.SortFunc(out.villages, func(a, b jagadesa.Village) int { return strings.Compare(a.Code, b.Code) })
	slices.SortFunc(out.regencies, func(a, b Regency) int { return strings.Compare(a.Code, b.Code) })
	for i, v := range out.villages {
		out.villageIndex[v.Code] = i
	}
	for i, r := range out.regencies {
		out.regencyIndex[r.Code] = i
	}
	return out
}

func loadProvince(pd provinceData) (*Registry, error) {
	reg := &Registry{province: pd.info.Name}
	if pd.missing != nil {
		fb, err := readFallbacks(bytes.NewReader(pd.missing))
		if err != nil {
			return nil, fmt.Errorf("geo: %s fallback points: %w", pd.info.Name, err)
		}
		reg.fallback = fb
	}
	if err := reg.loadRegencies(bytes.NewReader(pd.regencies)); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, pd.info.Name)
	}
	if err := reg.loadVillages(bytes.NewReader(pd.villages)); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, pd.info.Name)
	}
	for _, rg := range reg.regencies {
		if !reg.hasVillageIn(rg.Code) {
			return nil, fmt.Errorf("geo: regency %s (%s) has a boundary but no villages", rg.Code, rg.Name)
		}
	}
	used := 0
	for _, v := range reg.villages {
		if !strings.HasPrefix(v.Code, pd.info.Code+".") {
			return nil, fmt.Errorf("geo: village %s is not in province %s (%s)", v.Code, pd.info.Code, pd.info.Name)
		}
		if v.Approximate {
			used++
		}
	}
	if used != len(reg.fallback) {
		return nil, fmt.Errorf("geo: %s: %d fallback points given, %d used: every fallback must belong to a village without a point", pd.info.Name, len(reg.fallback), used)
	}
	reg.fallback = nil
	idm, err := readIDM(bytes.NewReader(pd.idm), reg)
	if err != nil {
		return nil, fmt.Errorf("geo: %s IDM 2024: %w", pd.info.Name, err)
	}
	reg.idm = idm
	info := pd.info
	info.Villages, info.Regencies, info.Approximate = len(reg.villages), len(reg.regencies), used
	var b orb.Bound
	for i, rg := range reg.regencies {
		if i == 0 {
			b = rg.Bound
		} else {
			b = b.Union(rg.Bound)
		}
	}
	info.BBox = [4]float64{b.Min.Lon(), b.Min.Lat(), b.Max.Lon(), b.Max.Lat()}
	reg.provinces = []ProvinceInfo{info}
	return reg, nil
}

var fallbackHeader = []string{"code", "name", "kind", "district_code", "district", "district_fallback_lat", "district_fallback_lon"}

func readFallbacks(r io.Reader) (map[string][2]float64, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(fallbackHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	if !slices.Equal(head, fallbackHeader) {
		return nil, fmt.Errorf("header %q, want %q", strings.Join(head, ","), strings.Join(fallbackHeader, ","))
	}
	out := map[string][2]float64{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		lat, err := parseCoord(rec[5], minLat, maxLat)
		if err != nil {
			return nil, fmt.Errorf("line %d: lat: %w", line, err)
		}
		lon, err := parseCoord(rec[6], minLon, maxLon)
		if err != nil {
			return nil, fmt.Errorf("line %d: lon: %w", line, err)
		}
		if !jagadesa.ValidVillageCode(rec[0]) || rec[3] != rec[0][:8] {
			return nil, fmt.Errorf("line %d: code %q / district %q", line, rec[0], rec[3])
		}
		out[rec[0]] = [2]float64{lat, lon}
	}
}

var idmHeader = []string{"code", "name", "name_in_idm", "district_code", "district", "regency_code", "regency", "idm_2024", "iks_2024", "ike_2024", "ikl_2024", "status_idm_2024", "idm_note"}

// idmStatuses are IDM's status bands, lowest first.
var idmStatuses = []string{"Sangat Tertinggal", "Tertinggal", "Berkembang", "Maju", "Mandiri"}

func readIDM(r io.Reader, reg *Registry) (map[string]IDM, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(idmHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	if !slices.Equal(head, idmHeader) {
		return nil, fmt.Errorf("header %q, want %q", strings.Join(head, ","), strings.Join(idmHeader, ","))
	}
	out := map[string]IDM{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		v, ok := reg.Village(rec[0])
		if !ok {
			return nil, fmt.Errorf("line %d: village %s is not in the registry", line, rec[0])
		}
		if v.Kind != "desa" {
			return nil, fmt.Errorf("line %d: %s is a %s; IDM rates desa only", line, rec[0], v.Kind)
		}
		var x IDM
		for i, dst := range []*float64{&x.Score, &x.IKS, &x.IKE, &x.IKL} {
			f, err := strconv.ParseFloat(rec[7+i], 64)
			if err != nil || !(f >= 0 && f <= 1) {
				return nil, fmt.Errorf("line %d: column %s: %q is not a number in 0..1", line, idmHeader[7+i], rec[7+i])
			}
			*dst = f
		}
		x.Status = rec[11]
		if !slices.Contains(idmStatuses, x.Status) {
			return nil, fmt.Errorf("line %d: status %q, want one of %s", line, x.Status, strings.Join(idmStatuses, ", "))
		}
		if _, dup := out[rec[0]]; dup {
			return nil, fmt.Errorf("line %d: %s appears twice", line, rec[0])
		}
		out[rec[0]] = x
	}
}

// Provinces describes the provinces the registry covers, in load order.
// Registries built with LoadRegistry from files carry none.
func (reg *Registry) Provinces() []ProvinceInfo { return slices.Clone(reg.provinces) }

// ProvinceOf returns the province, among those the registry covers, of a
// village, kecamatan or regency code: the province code is the first two
// digits of every code below it.
func (reg *Registry) ProvinceOf(code string) (ProvinceInfo, bool) {
	if len(code) < 2 || len(code) > 2 && code[2] != '.' {
		return ProvinceInfo{}, false
	}
	for _, p := range reg.provinces {
		if p.Code == code[:2] {
			return p, true
		}
	}
	return ProvinceInfo{}, false
}

// IDM returns a desa's IDM 2024 entry.
func (reg *Registry) IDM(code string) (IDM, bool) {
	x, ok := reg.idm[code]
	return x, ok
}

// Approximate lists the villages drawn at a fallback point because no
// point of their own is public. They are counted and shown, never dropped.
func (reg *Registry) Approximate() []jagadesa.Village {
	var out []jagadesa.Village
	for _, v := range reg.villages {
		if v.Approximate {
			out = append(out, v)
		}
	}
	return out
}
