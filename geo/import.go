package geo

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/jagadesa/jagadesa"
)

// jagadesa registry import builds a province's registry from the public
// sources the embedded provinces come from, github.com/cahyadsn/wilayah
// (Kemendagri codes and names) and github.com/cahyadsn/wilayah_boundaries
// (regency boundaries, kecamatan and village polygons with their
// centroids), and stores it under the data directory in the embedded
// provinces' file formats:
//
//	DATA/registry/NN/villages.csv             as data/jambi/jambi-villages.csv
//	DATA/registry/NN/regencies.geojson        as data/jambi/jambi-regencies.geojson
//	DATA/registry/NN/villages-coord-missing.csv  as data/jambi/jambi-villages-coord-missing.csv (when needed)
//	DATA/registry/NN/ATTRIBUTION.md, LICENSE-*.txt  sources and their MIT licences
//	DATA/registry/NN/manifest.json            what was imported, counts, SHA-256 of each file
//
// LoadFrom reads them back.

//go:embed data/indonesia/LICENSE-wilayah.txt
var wilayahLicense []byte

//go:embed data/licenses/LICENSE-wilayah_boundaries.txt
var wilayahBoundariesLicense []byte

// registryFormat is the version of the imported file layout.
const registryFormat = 1

// importCredit is the credit line of an imported province.
const importCredit = "Kode & nama wilayah: Kemendagri via github.com/cahyadsn/wilayah (MIT). " +
	"Batas & titik desa: github.com/cahyadsn/wilayah_boundaries (MIT)."

// maxImportProblems bounds the problems one import reports.
const maxImportProblems = 20

// ImportOptions says what an import reads.
type ImportOptions struct {
	// From holds the Kemendagri codes and names: a villages.csv with the
	// columns of shared data/indonesia/villages.csv (or the folder holding
	// it), or db/wilayah.sql of github.com/cahyadsn/wilayah (or a copy of
	// that repository).
	From string
	// Boundaries is a copy of github.com/cahyadsn/wilayah_boundaries (its
	// db/kab, db/kec and db/kel folders, or the db folder itself). The
	// regency file of every imported province is required; without the
	// kecamatan or village files, villages are placed at their kecamatan's
	// or regency's point and marked approximate.
	Boundaries string
	// Provinces are the province codes (NN) to import; none: every
	// province in From.
	Provinces []string
	// Now stamps the manifests; zero: the current time.
	Now time.Time
}

// ImportedProvince is what an import wrote for one province; it is stored
// as the province's manifest.json.
type ImportedProvince struct {
	Format    int    `json:"format"`
	ID        string `json:"id"` // e.g. sumatera-utara
	Code      string `json:"code"`
	Name      string `json:"name"`
	Villages  int    `json:"villages"`
	Districts int    `json:"districts"`
	Regencies int    `json:"regencies"`
	// Points says where the villages' points come from.
	Points PointCounts `json:"points"`
	// OutsideRegency counts village points that lie outside their
	// regency's polygon (the sources' boundaries do not quite agree).
	OutsideRegency int               `json:"outside_regency"`
	ImportedAt     time.Time         `json:"imported_at"`
	Attribution    string            `json:"attribution"`
	Sources        []ImportSource    `json:"sources"`
	Files          map[string]string `json:"files"` // name → SHA-256 of its content
	Warnings       []string          `json:"warnings,omitempty"`
}

// PointCounts says how an imported province's villages got their points.
type PointCounts struct {
	Village  int `json:"village"`  // the village polygon's point (exact)
	Moved    int `json:"moved"`    // of Village: the centroid lay outside the polygon; an inside point is used
	District int `json:"district"` // approximate: the kecamatan's point (no village polygon)
	Regency  int `json:"regency"`  // approximate: the regency's point (no village or kecamatan polygon)
}

// ImportSource is one input file of an import.
type ImportSource struct {
	Role   string `json:"role"` // codes, regencies, districts, villages
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// problems collects an import's problems, up to maxImportProblems.
type problems struct{ errs []error }

func (p *problems) add(format string, args ...any) {
	if len(p.errs) <= maxImportProblems {
		p.errs = append(p.errs, fmt.Errorf(format, args...))
	}
}

func (p *problems) full() bool { return len(p.errs) > maxImportProblems }

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := p.errs
	if len(errs) > maxImportProblems {
		errs = append(errs[:maxImportProblems:maxImportProblems], fmt.Errorf("stopped after %d problems", maxImportProblems))
	}
	return errors.Join(errs...)
}

// wArea is a province, regency or kecamatan of the codes source.
type wArea struct {
	name  string
	where string // file and line, for messages
}

type wVillage struct {
	code, name, kind string
	where            string
}

// codeList is the Kemendagri list read from From.
type codeList struct {
	provinces, regencies, districts map[string]wArea
	villages                        []wVillage // sorted by code
	sources                         []ImportSource
	license                         []byte // the source's LICENSE, if beside it
}

// Import reads the sources, checks them, and writes each province under
// dataDir/registry/NN. It writes nothing unless every province is
// complete and valid; each province's folder is replaced in one rename.
func Import(dataDir string, opt ImportOptions) ([]ImportedProvince, error) {
	if dataDir == "" {
		return nil, errors.New("geo: import: no data directory")
	}
	if opt.From == "" {
		return nil, errors.New("geo: import: no codes source (--from)")
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	list, err := readCodeList(opt.From)
	if err != nil {
		return nil, err
	}
	codes, err := selectProvinces(list, opt.Provinces)
	if err != nil {
		return nil, err
	}
	if opt.Boundaries == "" {
		return nil, fmt.Errorf("geo: import: no boundaries (--boundaries): a copy of github.com/cahyadsn/wilayah_boundaries is needed for the regency polygons (db/kab/wilayah_boundaries_kab_%s.sql)", codes[0])
	}
	if st, err := os.Stat(opt.Boundaries); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("geo: import: --boundaries %s is not a folder", opt.Boundaries)
	}
	type built struct {
		info  ImportedProvince
		files map[string][]byte
	}
	var out []built
	for _, code := range codes {
		info, files, err := buildProvince(list, code, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, built{info, files})
	}
	var infos []ImportedProvince
	for _, b := range out {
		if err := writeProvinceDir(dataDir, b.info.Code, b.files); err != nil {
			return infos, fmt.Errorf("geo: import: writing province %s: %w", b.info.Code, err)
		}
		infos = append(infos, b.info)
	}
	return infos, nil
}

func selectProvinces(list *codeList, want []string) ([]string, error) {
	var all []string
	for c := range list.provinces {
		all = append(all, c)
	}
	slices.Sort(all)
	if len(want) == 0 {
		if len(all) == 0 {
			return nil, errors.New("geo: import: the codes source lists no province")
		}
		return all, nil
	}
	var out []string
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if len(w) != 2 || !isDigits(w) {
			return nil, fmt.Errorf("geo: import: province %q: want a two-digit province code such as 11 or 33", w)
		}
		if _, ok := list.provinces[w]; !ok {
			return nil, fmt.Errorf("geo: import: province %s is not in the codes source (it has %s)", w, strings.Join(all, ", "))
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("geo: import: no province given")
	}
	return out, nil
}

// readCodeList finds and reads the codes source.
func readCodeList(from string) (*codeList, error) {
	st, err := os.Stat(from)
	if err != nil {
		return nil, fmt.Errorf("geo: import: --from: %w", err)
	}
	path := from
	if st.IsDir() {
		path = ""
		for _, c := range []string{"villages.csv", "indonesia/villages.csv", "db/wilayah.sql", "wilayah.sql"} {
			if _, err := os.Stat(filepath.Join(from, c)); err == nil {
				path = filepath.Join(from, c)
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("geo: import: %s holds neither villages.csv (as shared data/indonesia) nor db/wilayah.sql (github.com/cahyadsn/wilayah)", from)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geo: import: %w", err)
	}
	list := &codeList{provinces: map[string]wArea{}, regencies: map[string]wArea{}, districts: map[string]wArea{}}
	list.sources = append(list.sources, ImportSource{Role: "codes", Path: path, SHA256: sha256Hex(data)})
	var p problems
	if strings.HasSuffix(path, ".sql") {
		err = list.readSQL(path, data, &p)
		for _, l := range []string{"../LICENSE", "LICENSE"} {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), l)); err == nil {
				list.license = b
				break
			}
		}
	} else {
		err = list.readCSV(path, data, &p)
		if err == nil && !p.full() {
			if b, rerr := os.ReadFile(filepath.Join(filepath.Dir(path), "regencies.csv")); rerr == nil {
				rpath := filepath.Join(filepath.Dir(path), "regencies.csv")
				list.sources = append(list.sources, ImportSource{Role: "codes", Path: rpath, SHA256: sha256Hex(b)})
				err = list.checkRegenciesCSV(rpath, b, &p)
			}
		}
		for _, l := range []string{"LICENSE-wilayah.txt", "LICENSE"} {
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), l)); err == nil {
				list.license = b
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("geo: import: %w", err)
	}
	if err := p.err(); err != nil {
		return nil, fmt.Errorf("geo: import: %s is not a valid codes source:\n%w", path, err)
	}
	if len(list.villages) == 0 {
		return nil, fmt.Errorf("geo: import: %s lists no village", path)
	}
	return list, nil
}

// codesHeader is the column order of shared data/indonesia/villages.csv.
var codesHeader = nationalHeader

func (l *codeList) readCSV(path string, data []byte, p *problems) error {
	name := filepath.Base(path)
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = len(codesHeader)
	head, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s is empty", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff")
	}
	if !slices.Equal(head, codesHeader) {
		return fmt.Errorf("%s line 1: header is %q, want %q", name, strings.Join(head, ","), strings.Join(codesHeader, ","))
	}
	seen := map[string]string{}
	for !p.full() {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err) // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		where := fmt.Sprintf("%s line %d", name, line)
		code, vname, kind := rec[0], rec[1], rec[2]
		if !jagadesa.ValidVillageCode(code) {
			p.add("%s: code %q is not a village code NN.NN.NN.NNNN", where, clipText(code))
			continue
		}
		if prev, dup := seen[code]; dup {
			p.add("%s: village %s already on %s", where, code, prev)
			continue
		}
		seen[code] = where
		for _, c := range []struct{ col, got, want string }{
			{"district_code", rec[3], code[:8]}, {"regency_code", rec[5], code[:5]}, {"province_code", rec[7], code[:2]},
		} {
			if c.got != c.want {
				p.add("%s: column %s is %q, but %s is in %s", where, c.col, clipText(c.got), code, c.want)
			}
		}
		if msg := badName(vname); msg != "" {
			p.add("%s: column name: %s", where, msg)
		}
		if want := kindOf(code); kind != want {
			p.add("%s: column kind is %q, but %s is a %s (village number starting with %c)", where, clipText(kind), code, want, code[9])
		}
		l.area(l.districts, code[:8], rec[4], "district", where, p)
		l.area(l.regencies, code[:5], rec[6], "regency", where, p)
		l.area(l.provinces, code[:2], rec[8], "province", where, p)
		l.villages = append(l.villages, wVillage{code: code, name: vname, kind: kind, where: where})
	}
	slices.SortFunc(l.villages, func(a, b wVillage) int { return strings.Compare(a.code, b.code) })
	return nil
}

// area records a parent's name as the CSV repeats it on every village,
// and reports a name that disagrees with the one first given.
func (l *codeList) area(m map[string]wArea, code, name, what, where string, p *problems) {
	if a, ok := m[code]; ok {
		if a.name != name {
			p.add("%s: column %s is %q, but %s names %s %q", where, what, clipText(name), a.where, code, a.name)
		}
		return
	}
	if msg := badName(name); msg != "" {
		p.add("%s: column %s: %s", where, what, msg)
	}
	m[code] = wArea{name: name, where: where}
}

var regenciesHeader = []string{"code", "name", "province_code", "province", "districts", "villages"}

// checkRegenciesCSV checks the regencies.csv beside villages.csv: every
// regency listed once, with the name and counts the villages give it.
func (l *codeList) checkRegenciesCSV(path string, data []byte, p *problems) error {
	name := filepath.Base(path)
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = len(regenciesHeader)
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !slices.Equal(head, regenciesHeader) {
		return fmt.Errorf("%s line 1: header is %q, want %q", name, strings.Join(head, ","), strings.Join(regenciesHeader, ","))
	}
	villages, districts := map[string]int{}, map[string]map[string]bool{}
	for _, v := range l.villages {
		villages[v.code[:5]]++
		if districts[v.code[:5]] == nil {
			districts[v.code[:5]] = map[string]bool{}
		}
		districts[v.code[:5]][v.code[:8]] = true
	}
	listed := map[string]string{}
	for !p.full() {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		where := fmt.Sprintf("%s line %d", name, line)
		code := rec[0]
		if !validRegencyCode(code) {
			p.add("%s: code %q is not a regency code NN.NN", where, clipText(code))
			continue
		}
		if prev, dup := listed[code]; dup {
			p.add("%s: regency %s already on %s", where, code, prev)
			continue
		}
		listed[code] = where
		a, ok := l.regencies[code]
		switch {
		case !ok:
			p.add("%s: regency %s (%s) has no village in villages.csv", where, code, clipText(rec[1]))
			continue
		case rec[1] != a.name:
			p.add("%s: name %q, but %s names %s %q", where, clipText(rec[1]), a.where, code, a.name)
		}
		if rec[2] != code[:2] {
			p.add("%s: province_code %q is not the prefix of %s", where, clipText(rec[2]), code)
		}
		if n, err := strconv.Atoi(rec[4]); err != nil || n != len(districts[code]) {
			p.add("%s: %s has %q districts, villages.csv %d", where, code, clipText(rec[4]), len(districts[code]))
		}
		if n, err := strconv.Atoi(rec[5]); err != nil || n != villages[code] {
			p.add("%s: %s has %q villages, villages.csv %d", where, code, clipText(rec[5]), villages[code])
		}
	}
	for code, a := range l.regencies {
		if _, ok := listed[code]; !ok && !p.full() {
			p.add("%s: regency %s (%s) of %s is not listed", name, code, a.name, a.where)
		}
	}
	return nil
}

// readSQL reads db/wilayah.sql: (kode, nama) rows of every level, told
// apart by the shape of the code.
func (l *codeList) readSQL(path string, data []byte, p *problems) error {
	name := filepath.Base(path)
	var villages []wVillage
	seen := map[string]string{}
	_, err := scanSQLInserts(name, data, "wilayah", []string{"kode", "nama"}, func(line int, vals []sqlValue) error {
		if p.full() {
			return errors.New("too many problems")
		}
		where := fmt.Sprintf("%s line %d", name, line)
		code, nm := vals[0].s, vals[1].s
		if prev, dup := seen[code]; dup {
			p.add("%s: code %s already on %s", where, code, prev)
			return nil
		}
		seen[code] = where
		if msg := badName(nm); msg != "" {
			p.add("%s: name of %s: %s", where, clipText(code), msg)
		}
		switch {
		case len(code) == 2 && isDigits(code):
			l.provinces[code] = wArea{name: nm, where: where}
		case validRegencyCode(code):
			l.regencies[code] = wArea{name: nm, where: where}
		case validDistrictCode(code):
			l.districts[code] = wArea{name: nm, where: where}
		case jagadesa.ValidVillageCode(code):
			villages = append(villages, wVillage{code: code, name: nm, kind: kindOf(code), where: where})
		default:
			p.add("%s: code %q is none of NN, NN.NN, NN.NN.NN, NN.NN.NN.NNNN", where, clipText(code))
		}
		return nil
	})
	if err != nil && !p.full() {
		return err
	}
	// Every code's parent must be listed.
	for _, v := range villages {
		if _, ok := l.districts[v.code[:8]]; !ok {
			p.add("%s: village %s has no kecamatan %s in the file", v.where, v.code, v.code[:8])
		}
		if kindOf(v.code) == "" {
			p.add("%s: village %s: number starts with %c; want 1 (kelurahan), 2 or 3 (desa)", v.where, v.code, v.code[9])
		}
	}
	for code, a := range l.districts {
		if _, ok := l.regencies[code[:5]]; !ok {
			p.add("%s: kecamatan %s has no regency %s in the file", a.where, code, code[:5])
		}
	}
	for code, a := range l.regencies {
		if _, ok := l.provinces[code[:2]]; !ok {
			p.add("%s: regency %s has no province %s in the file", a.where, code, code[:2])
		}
	}
	slices.SortFunc(villages, func(a, b wVillage) int { return strings.Compare(a.code, b.code) })
	l.villages = villages
	return nil
}

// kindOf is the kind a village code gives: a number starting with 1 is a
// kelurahan, with 2 a desa and with 3 a desa adat (a desa).
func kindOf(code string) string {
	switch code[9] {
	case '1':
		return "kelurahan"
	case '2', '3':
		return "desa"
	}
	return ""
}

func validDistrictCode(s string) bool {
	return len(s) == 8 && s[2] == '.' && s[5] == '.' && isDigits(s[:2]) && isDigits(s[3:5]) && isDigits(s[6:])
}

// badName says what is wrong with a place name, or "".
func badName(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "empty"
	case !utf8.ValidString(s):
		return "not UTF-8"
	case strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }):
		return fmt.Sprintf("%q has control characters", clipText(s))
	case utf8.RuneCountInString(s) > 100:
		return fmt.Sprintf("%q is longer than 100 characters", clipText(s))
	}
	return ""
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// bRow is one row of a wilayah_boundaries file.
type bRow struct {
	lat, lon float64
	hasPoint bool
	mp       orb.MultiPolygon
	where    string
}

// boundaryFiles finds a province's wilayah_boundaries files: level kab,
// kec or kel. Missing files are no error here.
func boundaryFiles(root, level, code string) []string {
	for _, dir := range []string{filepath.Join(root, "db", level), filepath.Join(root, level)} {
		var matches []string
		if level == "kel" {
			matches, _ = filepath.Glob(filepath.Join(dir, code, "wilayah_boundaries_kel_"+code+".*.sql"))
		} else if f := filepath.Join(dir, "wilayah_boundaries_"+level+"_"+code+".sql"); fileExists(f) {
			matches = []string{f}
		}
		if len(matches) > 0 {
			slices.Sort(matches)
			return matches
		}
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

var boundaryColumns = []string{"kode", "nama", "lat", "lng", "path"}

// readBoundaries reads wilayah_boundaries files into rows by code, keeping
// the codes valid(code) accepts; others are counted in ignored.
func readBoundaries(files []string, role string, valid func(string) bool, sources *[]ImportSource, p *problems) (rows map[string]bRow, ignored []string, err error) {
	rows = map[string]bRow{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		*sources = append(*sources, ImportSource{Role: role, Path: f, SHA256: sha256Hex(data)})
		name := filepath.Base(f)
		_, err = scanSQLInserts(name, data, "wilayah_boundaries", boundaryColumns, func(line int, vals []sqlValue) error {
			if p.full() {
				return errors.New("too many problems")
			}
			where := fmt.Sprintf("%s line %d", name, line)
			code := vals[0].s
			if !valid(code) {
				ignored = append(ignored, where+": "+clipText(code))
				return nil
			}
			if prev, dup := rows[code]; dup {
				p.add("%s: %s already on %s", where, code, prev.where)
				return nil
			}
			r := bRow{where: where}
			if !vals[2].null && !vals[3].null && vals[2].s != "" && vals[3].s != "" {
				lat, err1 := strconv.ParseFloat(vals[2].s, 64)
				lon, err2 := strconv.ParseFloat(vals[3].s, 64)
				switch {
				case err1 != nil || err2 != nil:
					p.add("%s: %s: lat %q, lng %q are not numbers", where, code, clipText(vals[2].s), clipText(vals[3].s))
					return nil
				case !(lat >= minLat && lat <= maxLat && lon >= minLon && lon <= maxLon):
					p.add("%s: %s: lat %v, lng %v is outside Indonesia", where, code, lat, lon)
					return nil
				}
				r.lat, r.lon, r.hasPoint = lat, lon, true
			}
			mp, err := parsePath(vals[4].s)
			if err != nil {
				p.add("%s: %s: %v", where, code, err)
				return nil
			}
			r.mp = mp
			if !r.hasPoint && len(mp) > 0 {
				c, _ := planar.CentroidArea(mp)
				r.lat, r.lon, r.hasPoint = c[1], c[0], true
			}
			rows[code] = r
			return nil
		})
		if err != nil && !p.full() {
			return nil, nil, err
		}
	}
	return rows, ignored, nil
}

// buildProvince makes one province's files and checks that they load.
func buildProvince(list *codeList, code string, opt ImportOptions) (ImportedProvince, map[string][]byte, error) {
	prov := list.provinces[code]
	info := ImportedProvince{Format: registryFormat, ID: slugOf(prov.name), Code: code, Name: prov.name,
		ImportedAt: opt.Now.UTC().Truncate(time.Second), Attribution: importCredit, Files: map[string]string{}}
	if slices.Contains(ProvinceIDs(), info.ID) || info.ID == NationalSyntheticID || info.ID == "" {
		info.ID += "-" + code // jambi is the embedded province; jambi-15 the imported one
	}
	info.Sources = append(info.Sources, list.sources...)
	fail := func(err error) (ImportedProvince, map[string][]byte, error) {
		return info, nil, fmt.Errorf("geo: import: province %s (%s): %w", code, prov.name, err)
	}

	var villages []wVillage
	regencies := map[string]bool{}
	districts := map[string]bool{}
	for _, v := range list.villages {
		if v.code[:2] == code {
			villages = append(villages, v)
			regencies[v.code[:5]] = true
			districts[v.code[:8]] = true
		}
	}
	if len(villages) == 0 {
		return fail(errors.New("the codes source lists no village in it"))
	}
	info.Villages, info.Districts, info.Regencies = len(villages), len(districts), len(regencies)

	var p problems
	kab := boundaryFiles(opt.Boundaries, "kab", code)
	if len(kab) == 0 {
		return fail(fmt.Errorf("no regency boundaries: %s has no db/kab/wilayah_boundaries_kab_%s.sql", opt.Boundaries, code))
	}
	inProvince := func(valid func(string) bool) func(string) bool {
		return func(c string) bool { return valid(c) && c[:2] == code }
	}
	kabRows, kabIgnored, err := readBoundaries(kab, "regencies", inProvince(validRegencyCode), &info.Sources, &p)
	if err != nil {
		return fail(err)
	}
	kecRows, kecIgnored, err := readBoundaries(boundaryFiles(opt.Boundaries, "kec", code), "districts", inProvince(validDistrictCode), &info.Sources, &p)
	if err != nil {
		return fail(err)
	}
	kelFiles := boundaryFiles(opt.Boundaries, "kel", code)
	kelRows, kelIgnored, err := readBoundaries(kelFiles, "villages", inProvince(jagadesa.ValidVillageCode), &info.Sources, &p)
	if err != nil {
		return fail(err)
	}
	if err := p.err(); err != nil {
		return fail(fmt.Errorf("the boundaries are not valid:\n%w", err))
	}
	warnUnknown := func(what string, ignored []string, rows map[string]bRow, known func(string) bool) {
		var unknown []string
		for c, r := range rows {
			if !known(c) {
				unknown = append(unknown, r.where+": "+c)
			}
		}
		slices.Sort(unknown)
		unknown = append(ignored, unknown...)
		if len(unknown) > 0 {
			info.Warnings = append(info.Warnings, fmt.Sprintf("%d %s boundaries ignored: not in the codes source (first: %s)", len(unknown), what, unknown[0]))
		}
	}
	warnUnknown("regency", kabIgnored, kabRows, func(c string) bool { return regencies[c] })
	warnUnknown("kecamatan", kecIgnored, kecRows, func(c string) bool { return districts[c] })
	warnUnknown("village", kelIgnored, kelRows, func(c string) bool { _, ok := slices.BinarySearchFunc(villages, c, cmpVillage); return ok })
	if len(kelFiles) == 0 {
		info.Warnings = append(info.Warnings, fmt.Sprintf("no village boundaries (db/kel/%s): every village is placed at its kecamatan's or regency's point, marked approximate", code))
	}

	// Regency polygons and points.
	type regOut struct {
		code, name string
		geom       orb.Geometry
		point      orb.Point
	}
	var regs []regOut
	regIndex := map[string]int{}
	var regCodes []string
	for c := range regencies {
		regCodes = append(regCodes, c)
	}
	slices.Sort(regCodes)
	for _, c := range regCodes {
		r, ok := kabRows[c]
		if !ok || len(r.mp) == 0 {
			p.add("regency %s (%s) has no boundary in %s", c, list.regencies[c].name, filepath.Base(kab[0]))
			continue
		}
		g, err := cleanGeometry(r.mp)
		if err != nil {
			p.add("%s: regency %s: %v", r.where, c, err)
			continue
		}
		pt, _ := boundaryPoint(r.lat, r.lon, r.mp)
		regIndex[c] = len(regs)
		regs = append(regs, regOut{code: c, name: list.regencies[c].name, geom: g, point: pt})
	}
	if err := p.err(); err != nil {
		return fail(err)
	}

	// Village points.
	var vbuf, mbuf bytes.Buffer
	vw, mw := csv.NewWriter(&vbuf), csv.NewWriter(&mbuf)
	vw.Write(villageHeader)
	mw.Write(fallbackHeader)
	ff := func(f float64) string { return strconv.FormatFloat(round6(f), 'f', -1, 64) }
	var firstOutside string
	for _, v := range villages {
		district := list.districts[v.code[:8]].name
		regency := list.regencies[v.code[:5]].name
		row := []string{v.code, v.name, v.kind, v.code[:8], district, v.code[:5], regency, "", ""}
		var pt orb.Point
		if r, ok := kelRows[v.code]; ok && r.hasPoint {
			var moved bool
			pt, moved = boundaryPoint(r.lat, r.lon, r.mp)
			info.Points.Village++
			if moved {
				info.Points.Moved++
			}
			row[7], row[8] = ff(pt[1]), ff(pt[0])
		} else {
			if r, ok := kecRows[v.code[:8]]; ok && r.hasPoint {
				pt, _ = boundaryPoint(r.lat, r.lon, r.mp)
				info.Points.District++
			} else {
				pt = regs[regIndex[v.code[:5]]].point
				info.Points.Regency++
			}
			mw.Write([]string{v.code, v.name, v.kind, v.code[:8], district, ff(pt[1]), ff(pt[0])})
		}
		vw.Write(row)
		if g := regs[regIndex[v.code[:5]]].geom; !g.Bound().Contains(pt) || !geometryContains(g, pt) {
			if info.OutsideRegency == 0 {
				firstOutside = v.code
			}
			info.OutsideRegency++
		}
	}
	vw.Flush()
	mw.Flush()
	if err := errors.Join(vw.Error(), mw.Error()); err != nil {
		return fail(err)
	}
	if info.OutsideRegency > 0 {
		info.Warnings = append(info.Warnings, fmt.Sprintf("%d village points lie outside their regency's polygon (first: %s): the sources' boundaries disagree there", info.OutsideRegency, firstOutside))
	}
	if info.Points.Regency > 0 && len(kecRows) == 0 {
		info.Warnings = append(info.Warnings, fmt.Sprintf("no kecamatan boundaries (db/kec/wilayah_boundaries_kec_%s.sql): %d villages are placed at their regency's point", code, info.Points.Regency))
	}

	fc := geojson.NewFeatureCollection()
	for _, r := range regs {
		f := geojson.NewFeature(r.geom)
		f.Properties = geojson.Properties{"code": r.code, "name": r.name}
		fc.Append(f)
	}
	gj, err := json.Marshal(fc)
	if err != nil {
		return fail(err)
	}

	files := map[string][]byte{
		"villages.csv":                   vbuf.Bytes(),
		"regencies.geojson":              append(gj, '\n'),
		"LICENSE-wilayah.txt":            wilayahLicense,
		"LICENSE-wilayah_boundaries.txt": wilayahBoundariesLicense,
	}
	if list.license != nil {
		files["LICENSE-wilayah.txt"] = list.license
	}
	if b, err := os.ReadFile(filepath.Join(opt.Boundaries, "LICENSE")); err == nil {
		files["LICENSE-wilayah_boundaries.txt"] = b
	}
	if info.Points.District+info.Points.Regency > 0 {
		files["villages-coord-missing.csv"] = mbuf.Bytes()
	}
	files["ATTRIBUTION.md"] = attributionFor(&info, files)
	for name, b := range files {
		info.Files[name] = sha256Hex(b)
	}
	man, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fail(err)
	}
	files["manifest.json"] = append(man, '\n')

	// What is written must load as serve will load it.
	if _, err := loadImportedFiles(info, files); err != nil {
		return fail(fmt.Errorf("the files made do not load: %w", err))
	}
	return info, files, nil
}

func cmpVillage(v wVillage, code string) int { return strings.Compare(v.code, code) }

func geometryContains(g orb.Geometry, pt orb.Point) bool {
	switch g := g.(type) {
	case orb.Polygon:
		return planar.PolygonContains(g, pt)
	case orb.MultiPolygon:
		return planar.MultiPolygonContains(g, pt)
	}
	return false
}

// attributionFor writes an imported province's ATTRIBUTION.md.
func attributionFor(info *ImportedProvince, files map[string][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# ATTRIBUTION / LICENSES (%s, province %s)\n\n", info.Name, info.Code)
	fmt.Fprintf(&b, "Imported by `jagadesa registry import` on %s. Files in this folder and where their content comes from:\n\n", info.ImportedAt.Format(time.RFC3339))
	b.WriteString("| File | Derived from | License of the source |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| villages.csv | Kemendagri codes and names of the %d villages, their kecamatan and regency: github.com/cahyadsn/wilayah. Points (%d villages): the centroid of the village polygon in github.com/cahyadsn/wilayah_boundaries (db/kel), rounded to 6 decimals; %d centroids that lie outside their polygon were replaced by a point inside it. | MIT, both (texts below) |\n",
		info.Villages, info.Points.Village, info.Points.Moved)
	if _, ok := files["villages-coord-missing.csv"]; ok {
		fmt.Fprintf(&b, "| villages-coord-missing.csv | the %d villages with no village polygon at hand: the point of their kecamatan (%d; db/kec) or, lacking that, of their regency (%d; db/kab) in github.com/cahyadsn/wilayah_boundaries. Their lat/lon are empty in villages.csv and the map draws them as approximate. | MIT |\n",
			info.Points.District+info.Points.Regency, info.Points.District, info.Points.Regency)
	}
	fmt.Fprintf(&b, "| regencies.geojson | the %d regency polygons of github.com/cahyadsn/wilayah_boundaries (db/kab), rounded to 5 decimals; names from github.com/cahyadsn/wilayah | MIT, both (texts below) |\n", info.Regencies)
	b.WriteString("| LICENSE-wilayah.txt, LICENSE-wilayah_boundaries.txt | the two sources' licences, verbatim | |\n\n")
	b.WriteString("Source files read (SHA-256):\n\n")
	for _, s := range info.Sources {
		fmt.Fprintf(&b, "- %s: `%s` %s\n", s.Role, s.Path, s.SHA256)
	}
	fmt.Fprintf(&b, "\nCredit line shown on the map:\n%q\n", info.Attribution)
	b.WriteString("\n---------------------------------------------------------------------------\n## github.com/cahyadsn/wilayah: LICENSE\n\n")
	b.Write(files["LICENSE-wilayah.txt"])
	b.WriteString("\n---------------------------------------------------------------------------\n## github.com/cahyadsn/wilayah_boundaries: LICENSE\n\n")
	b.Write(files["LICENSE-wilayah_boundaries.txt"])
	return b.Bytes()
}

// writeProvinceDir writes files into dataDir/registry/code: first into a
// new folder beside it, synced, which then takes the old one's place, so a
// reader sees the old province or the new one, never a mix.
func writeProvinceDir(dataDir, code string, files map[string][]byte) (err error) {
	root := filepath.Join(dataDir, "registry")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, "."+code+".new-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := writeSynced(filepath.Join(tmp, n), files[n]); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	final := filepath.Join(root, code)
	var old string
	if _, err := os.Stat(final); err == nil {
		old = filepath.Join(root, fmt.Sprintf(".%s.old-%d", code, time.Now().UnixNano()))
		if err := os.Rename(final, old); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return err
	}
	if err := syncDir(root); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
