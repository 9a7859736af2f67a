package server

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzip"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
)

// snapshotTTL is how long one view of every village's live state is reused
// across map requests. A map opening fetches a dozen tiles and two GeoJSON
// files at once; they should all show the same moment, and building it once
// costs a few milliseconds instead of a dozen times that. Live status moves
// on the scale of a probe round (60 s), so 2 s of reuse hides nothing.
const snapshotTTL = 2 * time.Second

// tiles returns the vector-tile index, built on first use: a server that
// never draws a map does not pay for it.
func (s *Server) tiles() *geo.TileIndex {
	s.tileOnce.Do(func() { s.tileIdx = geo.NewTileIndex(s.Registry) })
	return s.tileIdx
}

// mapSnapshot is every registry village with its live state at one moment,
// index-aligned with Registry.Villages().
type mapSnapshot struct {
	at       time.Time
	villages []geo.MapVillage

	mu       sync.Mutex
	coverage map[string]map[string]*geo.Coverage // filter key → regency code → coverage
}

type snapshotCache struct {
	mu       sync.Mutex
	snap     *mapSnapshot
	building bool // a rebuild runs in the background
}

// snapshotStale is how old a snapshot may be and still be served while a
// newer one is built in the background.
const snapshotStale = 30 * time.Second

// snapshot returns the current view of every village, rebuilt at most once
// per snapshotTTL. Past that, the last one is still served (up to
// snapshotStale) while one rebuild runs in the background: at national
// size a rebuild (83,763 villages and every probe) took up to a second on
// a loaded server, and every map request waited for it (GeoJSON p95 0.75 s
// against a p50 of 32 ms in the national load run). Only a server without
// a recent snapshot builds one while the request waits.
func (s *Server) snapshot(ctx context.Context) (*mapSnapshot, error) {
	s.snaps.mu.Lock()
	now := s.Now()
	if sn := s.snaps.snap; sn != nil && now.Sub(sn.at) >= 0 {
		switch age := now.Sub(sn.at); {
		case age < snapshotTTL:
			s.snaps.mu.Unlock()
			return sn, nil
		case age < snapshotStale:
			if !s.snaps.building {
				s.snaps.building = true
				go func() {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
					defer cancel()
					fresh, err := s.buildSnapshot(ctx)
					s.snaps.mu.Lock()
					defer s.snaps.mu.Unlock()
					s.snaps.building = false
					if err != nil {
						s.Logger.Warn("map snapshot not rebuilt", "err", err)
						return
					}
					if s.snaps.snap == nil || fresh.at.After(s.snaps.snap.at) {
						s.snaps.snap = fresh
					}
				}()
			}
			s.snaps.mu.Unlock()
			return sn, nil
		}
	}
	// None, or too old to show: build it now, one request at a time.
	defer s.snaps.mu.Unlock()
	sn, err := s.buildSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	s.snaps.snap = sn
	return sn, nil
}

// buildSnapshot reads every village's registry, programme and live status.
func (s *Server) buildSnapshot(ctx context.Context) (*mapSnapshot, error) {
	now := s.Now()
	probes, err := s.Probes.Probes(ctx)
	if err != nil {
		return nil, err
	}
	withProbe := make(map[string]bool, len(probes))
	for _, p := range probes {
		withProbe[p.Village] = true
	}
	overlay := s.overlay()
	all := s.Registry.Villages()
	sn := &mapSnapshot{at: now, villages: make([]geo.MapVillage, len(all)), coverage: map[string]map[string]*geo.Coverage{}}
	for i, v := range all {
		mv := &sn.villages[i]
		mv.Village = v
		if p, ok := s.Programme[v.Code]; ok {
			p := p
			mv.Programme = &p
		}
		mv.Monitored = mv.Programme != nil || withProbe[v.Code]
		if idm, ok := s.Registry.IDM(v.Code); ok {
			idm := idm
			mv.IDM = &idm
		}
		if !mv.Monitored {
			mv.Status = jagadesa.StatusUnknown
			continue
		}
		live := s.Status.Get(v.Code)
		mv.Status, mv.LastSeen, mv.RTTMs, mv.LossPct = live.Status, live.LastSeen, live.RTTMs, live.LossPct
		mv.Status, _, _ = withOverlay(mv.Status, overlay[v.Code])
	}
	return sn, nil
}

// regencyCoverage aggregates the villages a filter selects per regency,
// once per snapshot and filter.
func (sn *mapSnapshot) regencyCoverage(f mapFilter) map[string]*geo.Coverage {
	key := f.key()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if cov, ok := sn.coverage[key]; ok {
		return cov
	}
	cov := geo.Aggregate(sn.selected(f), func(v *geo.MapVillage) string { return v.RegencyCode })
	sn.coverage[key] = cov
	return cov
}

// selected returns the villages a filter keeps, in code order. Without a
// filter that is the snapshot itself, not a copy: callers only read it.
func (sn *mapSnapshot) selected(f mapFilter) []geo.MapVillage {
	if f.unfiltered() {
		return sn.villages
	}
	// Counted first: room for every village of a national snapshot made
	// for each province's request was 48 MB of garbage a request.
	n := 0
	for i := range sn.villages {
		if f.match(&sn.villages[i]) {
			n++
		}
	}
	out := make([]geo.MapVillage, 0, n)
	for i := range sn.villages {
		if len(out) < n && f.match(&sn.villages[i]) {
			out = append(out, sn.villages[i])
		}
	}
	return out
}

// mapFilter is the query every map endpoint shares.
type mapFilter struct {
	province  string // two-digit code
	regency   string // NN.NN
	status    jagadesa.Status
	programme string // "", "yes", "no"
	cohort    int
	flag      string // "", "3t", "miskin", "digital", "approximate"
	monitored bool   // scope=monitored
	// within is the asker's jurisdiction (accounts.Principal): villages
	// outside it are never drawn, listed or counted. scope names it in the
	// cache key.
	within     func(code string) bool
	scope      string
	everywhere bool // within accepts every village
}

// unfiltered reports whether f keeps every village.
func (f mapFilter) unfiltered() bool {
	return f.everywhere && f.province == "" && f.regency == "" && f.status == "" && f.programme == "" &&
		f.cohort == 0 && f.flag == "" && !f.monitored
}

func (f mapFilter) key() string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%s|%t|%s", f.province, f.regency, f.status, f.programme, f.cohort, f.flag, f.monitored, f.scope)
}

func (f mapFilter) match(v *geo.MapVillage) bool {
	switch {
	case f.within == nil || !f.within(v.Code):
		return false
	case f.province != "" && !strings.HasPrefix(v.Code, f.province+"."):
		return false
	case f.regency != "" && v.RegencyCode != f.regency:
		return false
	case f.monitored && !v.Monitored:
		return false
	case f.status != "" && (!v.Monitored || v.Status != f.status):
		return false
	case f.programme == "yes" && v.Programme == nil, f.programme == "no" && v.Programme != nil:
		return false
	case f.cohort != 0 && (v.Programme == nil || v.Programme.Year != f.cohort):
		return false
	}
	switch f.flag {
	case "3t":
		return v.Programme != nil && v.Programme.Remote3T
	case "miskin":
		return v.Programme != nil && v.Programme.ExtremePoor
	case "digital":
		return v.Programme != nil && v.Programme.DigitalVillage
	case "approximate":
		return v.Approximate
	}
	return true
}

// parseMapFilter reads the shared query: province (id like jateng, or code
// like 33), regency (NN.NN), status, programme (yes|no), cohort (year),
// flag (3t|miskin|digital), scope (all|monitored).
func (s *Server) parseMapFilter(c *gin.Context, defaultScope string) (mapFilter, error) {
	who := principal(c)
	f := mapFilter{within: who.VillageFilter(), scope: who.String(), everywhere: who.Everywhere()}
	p := jagadesa.Problems{}
	if v := c.Query("province"); v != "" {
		for _, pi := range s.Registry.Provinces() {
			if v == pi.ID || v == pi.Code {
				f.province = pi.Code
			}
		}
		if f.province == "" {
			p["province"] = "unknown province " + strconv.Quote(clip(v, 40)) + "; this server has " + s.provinceList()
		}
	}
	if v := c.Query("regency"); v != "" {
		if _, ok := s.Registry.Regency(v); !ok {
			p["regency"] = "unknown regency code " + strconv.Quote(clip(v, 40)) + " (want NN.NN)"
		}
		f.regency = v
	}
	if v := c.Query("status"); v != "" {
		st, err := jagadesa.ParseStatus(v)
		if err != nil {
			p["status"] = err.Error()
		}
		f.status = st
	}
	switch v := c.Query("programme"); v {
	case "", "all":
	case "yes", "no":
		f.programme = v
	default:
		p["programme"] = "must be yes, no or all"
	}
	if v := c.Query("cohort"); v != "" {
		y, err := strconv.Atoi(v)
		if err != nil || y < 2000 || y > 2100 {
			p["cohort"] = "must be a programme year like 2023"
		}
		f.cohort = y
	}
	switch v := c.Query("flag"); v {
	case "", "3t", "miskin", "digital", "approximate":
		f.flag = v
	default:
		p["flag"] = "must be 3t, miskin, digital or approximate"
	}
	switch v := c.DefaultQuery("scope", defaultScope); v {
	case "all":
	case "monitored":
		f.monitored = true
	default:
		p["scope"] = "must be all or monitored"
	}
	if len(p) > 0 {
		return f, invalid(p, "bad map query")
	}
	return f, nil
}

func (s *Server) provinceList() string {
	var ids []string
	for _, pi := range s.Registry.Provinces() {
		ids = append(ids, pi.ID+" ("+pi.Code+")")
	}
	return strings.Join(ids, ", ")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// mapRequest reads the map filter of a request and the live snapshot it
// applies to; false means the error is already recorded.
func (s *Server) mapRequest(c *gin.Context) (mapFilter, *mapSnapshot, bool) {
	f, err := s.parseMapFilter(c, "all")
	if err != nil {
		_ = c.Error(err)
		return f, nil, false
	}
	sn, err := s.snapshot(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return f, nil, false
	}
	return f, sn, true
}

// handleVillagesGeoJSON serves every village the filter keeps (by default
// the whole registry, programme villages marked) as RFC 7946 GeoJSON.
func (s *Server) handleVillagesGeoJSON(c *gin.Context) {
	f, sn, ok := s.mapRequest(c)
	if !ok {
		return
	}
	vs := sn.selected(f)
	s.writeGeo(c, "application/geo+json", 560*len(vs), func(w io.Writer) error { return geo.WriteVillagesGeoJSON(w, vs) }, "private, max-age=10")
}

// handleRegenciesGeoJSON serves regency polygons with the coverage of the
// villages the filter keeps, for the choropleth.
func (s *Server) handleRegenciesGeoJSON(c *gin.Context) {
	f, sn, ok := s.mapRequest(c)
	if !ok {
		return
	}
	regs := s.Registry.Regencies()
	if f.province != "" || f.regency != "" || !f.everywhere {
		kept := make([]geo.Regency, 0, len(regs))
		for _, r := range regs {
			if (f.province == "" || strings.HasPrefix(r.Code, f.province+".")) && (f.regency == "" || r.Code == f.regency) && f.within(r.Code) {
				kept = append(kept, r)
			}
		}
		regs = kept
	}
	cov := sn.regencyCoverage(f)
	s.writeGeo(c, "application/geo+json", 1<<20, func(w io.Writer) error { return geo.WriteRegenciesGeoJSON(w, regs, cov) }, "private, max-age=10")
}

// handleTile serves one Mapbox Vector Tile with a villages and a regencies
// layer, filtered like villages.geojson.
func (s *Server) handleTile(c *gin.Context) {
	z, x, y, err := parseTilePath(c.Param("z"), c.Param("x"), c.Param("y"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	f, sn, ok := s.mapRequest(c)
	if !ok {
		return
	}
	cov := sn.regencyCoverage(f)
	tile, err := s.tiles().Tile(z, x, y,
		func(i int) (geo.MapVillage, bool) { return sn.villages[i], f.match(&sn.villages[i]) },
		func(code string) *geo.Coverage { return cov[code] })
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Content-Encoding", "gzip")
	s.writeBody(c, "application/vnd.mapbox-vector-tile", tile, "private, max-age=10")
}

// writeGeo renders a document, through gzip when the client accepts it
// (klauspost/compress at its fastest level: about twice the speed of the
// standard library's, which matters for a 4.7 MB GeoJSON), and sends it.
func (s *Server) writeGeo(c *gin.Context, contentType string, sizeHint int, render func(io.Writer) error, cacheControl string) {
	c.Header("Vary", "Accept-Encoding")
	var buf bytes.Buffer
	if strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		buf.Grow(sizeHint / 10)
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(&buf)
		if err := render(zw); err != nil {
			_ = c.Error(err)
			return
		}
		if err := zw.Close(); err != nil {
			_ = c.Error(err)
			return
		}
		c.Header("Content-Encoding", "gzip")
	} else {
		buf.Grow(sizeHint)
		if err := render(&buf); err != nil {
			_ = c.Error(err)
			return
		}
	}
	s.writeBody(c, contentType, buf.Bytes(), cacheControl)
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeBody sends body with a strong ETag of its bytes, answering 304 to a
// client that already has them: map clients poll, and most polls find
// nothing changed.
func (s *Server) writeBody(c *gin.Context, contentType string, body []byte, cacheControl string) {
	// CRC-32C runs at memory speed (a 4.7 MB GeoJSON in well under a
	// millisecond; FNV took 5 ms); with the length it is a fine cache key.
	etag := `"` + strconv.FormatUint(uint64(crc32.Checksum(body, castagnoli)), 36) + "-" + strconv.FormatInt(int64(len(body)), 36) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", cacheControl)
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, contentType, body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// handleProvinces lists the provinces this server watches, for the map's
// province switch, its bounds and its data credit.
func (s *Server) handleProvinces(c *gin.Context) {
	c.JSON(http.StatusOK, s.Registry.Provinces())
}

// regencyView is one regency as its page shows it.
type regencyView struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Province string `json:"province"`
	*geo.Coverage
}

// handleRegencies lists every regency with its coverage.
func (s *Server) handleRegencies(c *gin.Context) {
	f, sn, ok := s.mapRequest(c)
	if !ok {
		return
	}
	cov := sn.regencyCoverage(f)
	out := []regencyView{}
	for _, r := range s.Registry.Regencies() {
		if f.province != "" && !strings.HasPrefix(r.Code, f.province+".") || !f.within(r.Code) {
			continue
		}
		out = append(out, regencyView{Code: r.Code, Name: r.Name, Province: r.Code[:2], Coverage: orEmpty(cov[r.Code])})
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "regencies": out})
}

// handleRegency is a regency page: its coverage, a row per kecamatan, the
// worst villages and the programme cohorts side by side.
func (s *Server) handleRegency(c *gin.Context) {
	code := c.Param("code")
	r, ok := s.Registry.Regency(code)
	if !ok {
		if !validRegencyCode(code) {
			_ = c.Error(invalid(jagadesa.Problems{"code": "must be a regency code like 33.06"}, "bad regency code"))
			return
		}
		_ = c.Error(notFound("regency %s is not in the registry", code))
		return
	}
	if who := principal(c); !who.VillageFilter()(code) {
		_ = c.Error(who.Forbidden("see regency " + code))
		return
	}
	sn, err := s.snapshot(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	// The asker may see the regency (checked above), so all of it.
	vs := sn.selected(mapFilter{regency: code, within: func(string) bool { return true }})
	all := geo.Aggregate(vs, func(*geo.MapVillage) string { return "all" })["all"]
	byDistrict := geo.Aggregate(vs, func(v *geo.MapVillage) string { return v.DistrictCode })
	names := map[string]string{}
	for _, v := range vs {
		names[v.DistrictCode] = v.District
	}
	districts := make([]regencyView, 0, len(byDistrict))
	for dc, cov := range byDistrict {
		districts = append(districts, regencyView{Code: dc, Name: names[dc], Province: code[:2], Coverage: cov})
	}
	sort.Slice(districts, func(i, j int) bool { return districts[i].Code < districts[j].Code })

	worst := make([]villageView, 0, 10)
	ranked := make([]*geo.MapVillage, 0, len(vs))
	for i := range vs {
		if vs[i].Monitored {
			ranked = append(ranked, &vs[i])
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return worse(ranked[i], ranked[j]) })
	overlay := s.overlay()
	for _, v := range ranked[:min(10, len(ranked))] {
		vv := s.villageView(v.Village, overlay)
		vv.Targets = nil
		worst = append(worst, vv)
	}
	cohorts := orEmpty(all).Cohorts
	if cohorts == nil {
		cohorts = map[string]*geo.Coverage{}
	}
	c.JSON(http.StatusOK, gin.H{
		"regency":   regencyView{Code: r.Code, Name: r.Name, Province: r.Code[:2], Coverage: orEmpty(all)},
		"districts": districts,
		"worst":     worst,
		"cohorts":   cohorts,
	})
}

func orEmpty(c *geo.Coverage) *geo.Coverage {
	if c == nil {
		return &geo.Coverage{}
	}
	return c
}

// severity orders statuses from the most to the least in need of a look.
var severity = map[jagadesa.Status]int{
	jagadesa.StatusCompromised: 0, jagadesa.StatusDown: 1, jagadesa.StatusDegraded: 2,
	jagadesa.StatusUnknown: 3, jagadesa.StatusUp: 4,
}

// worse ranks a village before b when its status is more severe, then by
// higher loss, then by higher latency.
func worse(a, b *geo.MapVillage) bool {
	sa, sb := severity[a.Status], severity[b.Status]
	if a.Status == "" {
		sa = severity[jagadesa.StatusUnknown]
	}
	if b.Status == "" {
		sb = severity[jagadesa.StatusUnknown]
	}
	if sa != sb {
		return sa < sb
	}
	if la, lb := val(a.LossPct), val(b.LossPct); la != lb {
		return la > lb
	}
	return val(a.RTTMs) > val(b.RTTMs)
}

func val(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func validRegencyCode(s string) bool {
	if len(s) != 5 || s[2] != '.' {
		return false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
