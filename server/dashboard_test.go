package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/influx"
)

// dash is a server watching both provinces, with the dashboard's files and
// the history store wired, as `jagadesa serve --provinces jateng,jambi` runs.
type dash struct {
	*env
	reg *geo.Registry
}

var testWeb = fstest.MapFS{
	"index.html":         {Data: []byte(`<!doctype html><html lang="id"><head><script src="/assets/app.js"></script></head><body></body></html>`)},
	"assets/app.js":      {Data: []byte(`console.log("jagadesa")`)},
	"assets/vendor/x.js": {Data: []byte(`// vendored`)},
}

func setupDash(t *testing.T) *dash {
	t.Helper()
	reg, err := geo.Load("jateng", "jambi")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, reg, func(d *server.Deps) { d.History, d.Web = d.Points.(*influx.Store), testWeb })
	return &dash{env: e, reg: reg}
}

func (d *dash) get(path string, hdr map[string]string) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest("GET", d.url+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// The default transport would add Accept-Encoding and unzip silently;
	// these tests look at what the server really sends.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d *dash) villagesGeoJSON(query string) *geojson.FeatureCollection {
	d.t.Helper()
	resp, body := d.get("/api/v1/map/villages.geojson"+query, nil)
	if resp.StatusCode != 200 {
		d.t.Fatalf("villages.geojson%s: %d %s", query, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/geo+json" {
		d.t.Fatalf("content type %q", ct)
	}
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil {
		d.t.Fatalf("not GeoJSON: %v", err)
	}
	return fc
}

func TestVillagesGeoJSON(t *testing.T) {
	d := setupDash(t)
	if code, body := d.doBytes("POST", "/api/v1/reports", d.tokA, nil, []byte(mustJSON(t, goodReport(villageA, 2)))); code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}

	all := d.villagesGeoJSON("")
	if len(all.Features) != d.reg.Len() || d.reg.Len() != 8563+1585 {
		t.Fatalf("%d features for %d villages", len(all.Features), d.reg.Len())
	}
	byCode := map[string]*geojson.Feature{}
	programme := 0
	for _, f := range all.Features {
		pt, ok := f.Geometry.(orb.Point)
		if !ok {
			t.Fatalf("feature %v is %T, want a Point", f.ID, f.Geometry)
		}
		code := f.Properties.MustString("code")
		if f.ID != code {
			t.Fatalf("feature id %v, code %s", f.ID, code)
		}
		v, _ := d.reg.Village(code)
		// RFC 7946: longitude first.
		if pt.Lon() != round6(v.Lon) || pt.Lat() != round6(v.Lat) {
			t.Fatalf("%s at %v, registry %v,%v", code, pt, v.Lon, v.Lat)
		}
		if f.Properties["programme"] == true {
			programme++
		}
		byCode[code] = f
	}
	if programme != 599 {
		t.Fatalf("%d programme villages marked, want 599", programme)
	}
	a := byCode[villageA].Properties
	if a["status"] != "up" || a["monitored"] != true || a["cohort"] != float64(2024) || a["rtt_ms"] == nil || a["idm_status"] == nil {
		t.Fatalf("Krandegan = %v", a)
	}
	// A village outside the programme without a probe is shown, unmonitored.
	for code, f := range byCode {
		if f.Properties["programme"] == false && code != villageA && code != villageB {
			if f.Properties["monitored"] != false || f.Properties["status"] != "unknown" || f.Properties["cohort"] != nil {
				t.Fatalf("unmonitored %s = %v", code, f.Properties)
			}
			break
		}
	}

	// Filters.
	jambi := d.villagesGeoJSON("?province=jambi")
	approx := 0
	for _, f := range jambi.Features {
		if !strings.HasPrefix(f.Properties.MustString("code"), "15.") {
			t.Fatalf("province=jambi returned %v", f.ID)
		}
		if f.Properties["approximate"] == true {
			approx++
		}
	}
	if len(jambi.Features) != 1585 || approx != 17 {
		t.Fatalf("jambi: %d villages, %d approximate; want 1585 and 17", len(jambi.Features), approx)
	}
	// The villages without a point of their own, listed: all 17 in Tebo.
	approxList := d.villagesGeoJSON("?flag=approximate")
	for _, f := range approxList.Features {
		if f.Properties["regency"] != "Kabupaten Tebo" || f.Properties["approximate"] != true {
			t.Fatalf("flag=approximate returned %v", f.Properties)
		}
	}
	if len(approxList.Features) != 17 {
		t.Fatalf("flag=approximate: %d villages, want 17", len(approxList.Features))
	}
	if n := len(d.villagesGeoJSON("?province=33&programme=yes").Features); n != 599 {
		t.Fatalf("programme=yes: %d", n)
	}
	if n := len(d.villagesGeoJSON("?cohort=2022").Features); n != 53 {
		t.Fatalf("cohort=2022: %d, want 53", n)
	}
	up := d.villagesGeoJSON("?status=up")
	if len(up.Features) != 1 || up.Features[0].ID != villageA {
		t.Fatalf("status=up: %d features", len(up.Features))
	}
	digital := d.villagesGeoJSON("?flag=digital&regency=33.06")
	found := false
	for _, f := range digital.Features {
		if f.Properties["desa_digital"] != true || f.Properties["regency_code"] != "33.06" {
			t.Fatalf("flag=digital returned %v", f.Properties)
		}
		found = found || f.ID == villageA
	}
	if !found {
		t.Fatal("Krandegan, a desa digital, missing from flag=digital")
	}
	for _, q := range []string{"?province=bali", "?status=sideways", "?cohort=abc", "?flag=rich", "?regency=99.99", "?scope=some", "?programme=maybe"} {
		resp, body := d.get("/api/v1/map/villages.geojson"+q, nil)
		var e struct {
			Error    string            `json:"error"`
			Problems map[string]string `json:"problems"`
		}
		if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || len(e.Problems) != 1 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
	}

	// Gzip when asked, and a strong ETag that answers 304.
	resp, body := d.get("/api/v1/map/villages.geojson?province=jambi", map[string]string{"Accept-Encoding": "gzip"})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("not gzipped")
	}
	if _, err := geojson.UnmarshalFeatureCollection(gunzip(t, body)); err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	resp, _ = d.get("/api/v1/map/villages.geojson?province=jambi", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag})
	if etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %q: %d", etag, resp.StatusCode)
	}

	// Staff only.
	if code, _ := d.do("GET", "/api/v1/map/villages.geojson", "", nil, ""); code != 401 {
		t.Fatalf("anonymous: %d", code)
	}
	if code, _ := d.do("GET", "/api/v1/map/villages.geojson", d.tokA, nil, ""); code != 403 {
		t.Fatalf("probe token: %d", code)
	}
}

func round6(f float64) float64 {
	b, _ := json.Marshal(json.Number(fmt.Sprintf("%.6f", f)))
	var out float64
	_ = json.Unmarshal(b, &out)
	return out
}

func TestRegenciesGeoJSONAndPages(t *testing.T) {
	d := setupDash(t)
	if code, body := d.doBytes("POST", "/api/v1/reports", d.tokA, nil, []byte(mustJSON(t, goodReport(villageA, 2)))); code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	resp, body := d.get("/api/v1/map/regencies.geojson", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Features) != 35+11 {
		t.Fatalf("%d regencies", len(fc.Features))
	}
	programme := 0.0
	for _, f := range fc.Features {
		switch f.Geometry.(type) {
		case orb.Polygon, orb.MultiPolygon:
		default:
			t.Fatalf("%v: %T", f.ID, f.Geometry)
		}
		programme += f.Properties.MustFloat64("programme")
		if f.ID == "33.06" {
			p := f.Properties
			if p.MustFloat64("up") != 1 || p.MustFloat64("monitored") < 1 || p["median_rtt_ms"] == nil {
				t.Fatalf("Purworejo = %v", p)
			}
		}
	}
	if programme != 599 {
		t.Fatalf("programme villages over all regencies: %v", programme)
	}
	resp, body = d.get("/api/v1/map/regencies.geojson?province=15", nil)
	if fc, err = geojson.UnmarshalFeatureCollection(body); err != nil || len(fc.Features) != 11 || resp.StatusCode != 200 {
		t.Fatalf("jambi regencies: %d %v", resp.StatusCode, err)
	}

	// The regency page.
	resp, body = d.get("/api/v1/regencies/33.06", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var page struct {
		Regency struct {
			Code, Name string
			Villages   int
			Up         int
			Programme  int
		}
		Districts []struct {
			Code, Name string
			Villages   int
		}
		Worst []struct {
			Code   string
			Status string
		}
		Cohorts map[string]struct{ Programme int }
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, dd := range page.Districts {
		if !strings.HasPrefix(dd.Code, "33.06.") || dd.Name == "" {
			t.Fatalf("district %+v", dd)
		}
		sum += dd.Villages
	}
	if page.Regency.Name != "Kabupaten Purworejo" || page.Regency.Up != 1 || sum != page.Regency.Villages || len(page.Districts) != 16 {
		t.Fatalf("regency %+v, %d districts summing to %d", page.Regency, len(page.Districts), sum)
	}
	cohortSum := 0
	for _, c := range page.Cohorts {
		cohortSum += c.Programme
	}
	if cohortSum != page.Regency.Programme || page.Cohorts["2024"].Programme == 0 {
		t.Fatalf("cohorts %+v vs programme %d", page.Cohorts, page.Regency.Programme)
	}
	// Never-heard programme villages are "unknown", the reporting one "up":
	// the worst list puts unknown before up.
	if n := len(page.Worst); n == 0 || n > 10 || page.Worst[n-1].Status == "up" && n < page.Regency.Programme {
		t.Fatalf("worst %+v", page.Worst)
	}
	for _, q := range []string{"/api/v1/regencies/33.99", "/api/v1/regencies/bogus"} {
		resp, _ := d.get(q, nil)
		if want := map[bool]int{true: 404, false: 400}[strings.Contains(q, "33.99")]; resp.StatusCode != want {
			t.Fatalf("%s: %d, want %d", q, resp.StatusCode, want)
		}
	}

	// Provinces.
	resp, body = d.get("/api/v1/provinces", nil)
	var provs []geo.ProvinceInfo
	if err := json.Unmarshal(body, &provs); err != nil || len(provs) != 2 {
		t.Fatalf("provinces %s (%v)", body, err)
	}
	if provs[0].ID != "jateng" || provs[0].Villages != 8563 || provs[1].ID != "jambi" || provs[1].Approximate != 17 || !strings.Contains(provs[0].Attribution, "cahyadsn") {
		t.Fatalf("provinces %+v", provs)
	}
}

func TestTiles(t *testing.T) {
	d := setupDash(t)
	v, _ := d.reg.Village(villageA)
	z := maptile.Zoom(10)
	tile := maptile.At(orb.Point{v.Lon, v.Lat}, z)
	path := fmt.Sprintf("/api/v1/tiles/%d/%d/%d.mvt", tile.Z, tile.X, tile.Y)
	resp, body := d.get(path, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%s: %d %v %s", path, resp.StatusCode, resp.Header, body)
	}
	layers, err := mvt.UnmarshalGzipped(body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*mvt.Layer{}
	for _, l := range layers {
		names[l.Name] = l
	}
	vl, rl := names["villages"], names["regencies"]
	if vl == nil || rl == nil || len(rl.Features) == 0 {
		t.Fatalf("layers %v", names)
	}
	found := false
	for _, f := range vl.Features {
		if f.Properties["code"] == villageA {
			found = true
			if f.Properties["cohort"] == nil || f.Properties["monitored"] != true {
				t.Fatalf("Krandegan in the tile: %v", f.Properties)
			}
		}
	}
	if !found {
		t.Fatalf("Krandegan not in its tile %v (%d villages)", tile, len(vl.Features))
	}
	// A filter applies to tiles too: no 2022 village is Krandegan.
	_, body = d.get(path+"?cohort=2022", nil)
	layers, err = mvt.UnmarshalGzipped(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		for _, f := range l.Features {
			if l.Name == "villages" && f.Properties["code"] == villageA {
				t.Fatal("cohort=2022 kept Krandegan")
			}
		}
	}
	etag := resp.Header.Get("ETag")
	if resp, _ = d.get(path, map[string]string{"If-None-Match": etag}); etag == "" || resp.StatusCode != 304 {
		t.Fatalf("tile revalidation: %d", resp.StatusCode)
	}
	for _, bad := range []string{"/api/v1/tiles/3/8/0.mvt", "/api/v1/tiles/23/0/0.mvt", "/api/v1/tiles/a/0/0.mvt", "/api/v1/tiles/1/0/0.png", "/api/v1/tiles/-1/0/0.mvt"} {
		if resp, body := d.get(bad, nil); resp.StatusCode != 400 {
			t.Fatalf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestVillageHistoryEndpoint(t *testing.T) {
	d := setupDash(t)
	if code, body := d.doBytes("POST", "/api/v1/reports", d.tokA, nil, []byte(mustJSON(t, goodReport(villageA, 5)))); code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	resp, body := d.get("/api/v1/villages/"+villageA+"/history?range=1h", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var h jagadesa.History
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	if h.StepS != 60 || len(h.Targets) != 1 || len(h.RTT["jatengprov.go.id"]) < 4 || len(h.Uptime) < 60 {
		t.Fatalf("history: step %d, targets %v, %d windows, %d steps", h.StepS, h.Targets, len(h.RTT["jatengprov.go.id"]), len(h.Uptime))
	}
	counts := map[string]int{}
	for _, u := range h.Uptime {
		counts[u.State]++
	}
	// Five rounds a minute apart: (about) five steps up, the rest of the hour silent.
	if counts["up"] < 4 || counts["up"] > 6 || counts["nodata"] < 50 {
		t.Fatalf("uptime states %v", counts)
	}
	if resp, _ := d.get("/api/v1/villages/"+villageA+"/history?range=2y", nil); resp.StatusCode != 400 {
		t.Fatalf("bad range: %d", resp.StatusCode)
	}
	if resp, _ := d.get("/api/v1/villages/33.99.99.2099/history", nil); resp.StatusCode != 404 {
		t.Fatalf("unknown village: %d", resp.StatusCode)
	}
	// The single-village view carries IDM.
	_, body = d.get("/api/v1/villages/"+villageA, nil)
	var vv struct {
		IDM *geo.IDM `json:"idm"`
	}
	if err := json.Unmarshal(body, &vv); err != nil || vv.IDM == nil || vv.IDM.Status == "" {
		t.Fatalf("village view idm: %s", body)
	}
}

func TestSessionAndPages(t *testing.T) {
	d := setupDash(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(body string) *http.Response {
		t.Helper()
		resp, err := c.Post(d.url+"/api/v1/session", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	get := func(path string) int {
		t.Helper()
		resp, err := c.Get(d.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/api/v1/villages") != 401 || get("/api/v1/session") != 401 {
		t.Fatal("anonymous browser got in")
	}
	if r := post(`{"token":"wrong-token-wrong-token"}`); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Fatalf("wrong token: %d", r.StatusCode)
	}
	if r := post(`{"token":""}`); r.StatusCode != 400 {
		t.Fatalf("empty token: %d", r.StatusCode)
	}
	if r := post(`{"token":` + strings.Repeat("x", 5000) + `}`); r.StatusCode != 413 && r.StatusCode != 400 {
		t.Fatalf("huge body: %d", r.StatusCode)
	}
	r := post(`{"token":"` + adminToken + `"}`)
	if r.StatusCode != 204 || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d %v", r.StatusCode, r.Cookies())
	}
	ck := r.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Value == adminToken || strings.Contains(ck.Value, adminToken) {
		t.Fatalf("cookie %+v", ck)
	}
	if get("/api/v1/villages") != 200 || get("/api/v1/session") != 200 || get("/api/v1/map/regencies.geojson") != 200 {
		t.Fatal("session not accepted")
	}
	req, _ := http.NewRequest("DELETE", d.url+"/api/v1/session", nil)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout: %v", err)
	}
	// The old cookie is dead even if a browser kept it.
	req, _ = http.NewRequest("GET", d.url+"/api/v1/villages", nil)
	req.AddCookie(ck)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("cookie after logout: %v", err)
	}

	// Pages: every dashboard route is the one page, with its security headers.
	for _, p := range []string{"/", "/login", "/desa/" + villageA, "/kabupaten/33.06"} {
		resp, err := http.Get(d.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`<html lang="id">`)) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("%s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	resp, err := http.Get(d.url + "/assets/app.js")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("ETag") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: %v %v", err, resp.Header)
	}
	req, _ = http.NewRequest("GET", d.url+"/assets/app.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 304 {
		t.Fatalf("app.js revalidation: %v", err)
	}
	for _, p := range []string{"/assets/nope.js", "/assets/../index.html", "/assets/%2e%2e/index.html"} {
		resp, err := http.Get(d.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

// goodReport is report() without loss, so the village is "up".
func goodReport(village string, n int) *jagadesa.Report {
	r := report(village, n)
	for i := range r.Samples {
		if x := r.Samples[i].ICMP; x != nil {
			x.Received = x.Sent
			x.RTTsMs = append(x.RTTsMs, 21)
		}
	}
	return r
}

// GDAL (ogrinfo), an independent implementation of both formats, reads
// what the server sends: the village GeoJSON with every feature, and a
// vector tile with both layers and Krandegan in it.
func TestMapOutputsReadByGDAL(t *testing.T) {
	ogrinfo, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Fatal("ogrinfo (Debian's gdal-bin) is required; scripts/test.sh installs it: ", err)
	}
	d := setupDash(t)
	dir := t.TempDir()
	_, body := d.get("/api/v1/map/villages.geojson?province=jambi", nil)
	path := filepath.Join(dir, "villages.geojson")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ogrinfo, "-ro", "-al", "-so", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Feature Count: 1585") || !strings.Contains(string(out), "Geometry: Point") {
		t.Fatalf("ogrinfo on villages.geojson: %v\n%s", err, out)
	}
	v, _ := d.reg.Village(villageA)
	tile := maptile.At(orb.Point{v.Lon, v.Lat}, 12)
	_, body = d.get(fmt.Sprintf("/api/v1/tiles/%d/%d/%d.mvt", tile.Z, tile.X, tile.Y), nil)
	raw := gunzip(t, body)
	path = filepath.Join(dir, "tile.mvt")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(ogrinfo, "-ro", "-al", path, "-oo", fmt.Sprintf("X=%d", tile.X), "-oo", fmt.Sprintf("Y=%d", tile.Y), "-oo", fmt.Sprintf("Z=%d", tile.Z)).CombinedOutput()
	s := string(out)
	if err != nil || !strings.Contains(s, "Layer name: villages") || !strings.Contains(s, "Layer name: regencies") ||
		!strings.Contains(s, "code (String) = "+villageA) || !strings.Contains(s, "Kabupaten Purworejo") || strings.Contains(s, "ERROR") {
		t.Fatalf("ogrinfo on a tile: %v\n%.3000s", err, s)
	}
	// GDAL puts Krandegan where the registry does (within a tile unit at z12, ~2.4 m).
	i := strings.Index(s, "code (String) = "+villageA)
	j := i + strings.Index(s[i:], "POINT (") // ogrinfo prints a feature's geometry after its fields
	var mx, my float64
	_, err = fmt.Sscanf(s[j:], "POINT (%f %f)", &mx, &my)
	// GDAL answers in Web Mercator metres (EPSG:3857).
	const r = 6378137.0
	lon, lat := mx/r*180/math.Pi, math.Atan(math.Sinh(my/r))*180/math.Pi
	if err != nil || math.Abs(lon-v.Lon) > 1e-4 || math.Abs(lat-v.Lat) > 1e-4 {
		t.Fatalf("GDAL reads Krandegan at %v %v (%v), registry %v %v", lon, lat, err, v.Lon, v.Lat)
	}
}
