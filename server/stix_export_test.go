package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/stix"
)

// exportStore stands in for the SQL incident store: it filters and pages
// the way server/sqlite does (newest first, Until exclusive, at most 1000
// rows), and records the filters it was asked.
type exportStore struct {
	mu        sync.Mutex
	incidents []jagadesa.Incident
	filters   []jagadesa.Filter
	err       error
}

func (st *exportStore) Incidents(_ context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.filters = append(st.filters, f)
	if st.err != nil {
		return nil, st.err
	}
	var out []jagadesa.Incident
	for _, in := range st.incidents {
		switch {
		case f.Kind != "" && in.Kind != f.Kind,
			f.State != "" && in.State != f.State,
			!f.Since.IsZero() && in.OpenedAt.UnixMilli() < f.Since.UnixMilli(),
			!f.Until.IsZero() && in.OpenedAt.UnixMilli() >= f.Until.UnixMilli():
			continue
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].OpenedAt.UnixMilli(), out[j].OpenedAt.UnixMilli(); a != b {
			return a > b
		}
		return out[i].ID > out[j].ID
	})
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return out[:min(len(out), limit, 1000)], nil
}

var errNotInDouble = errors.New("not used by the export")

func (st *exportStore) CreateIncident(context.Context, *jagadesa.Incident, jagadesa.AuditEntry) error {
	return errNotInDouble
}
func (st *exportStore) UpdateIncident(context.Context, *jagadesa.Incident, jagadesa.AuditEntry) error {
	return errNotInDouble
}
func (st *exportStore) Incident(context.Context, string) (*jagadesa.Incident, error) {
	return nil, errNotInDouble
}
func (st *exportStore) OpenIncidents(context.Context) ([]jagadesa.Incident, error) {
	return nil, errNotInDouble
}
func (st *exportStore) AddNote(context.Context, jagadesa.Note) (jagadesa.Note, error) {
	return jagadesa.Note{}, errNotInDouble
}
func (st *exportStore) Notes(context.Context, string) ([]jagadesa.Note, error) {
	return nil, errNotInDouble
}
func (st *exportStore) Audit(context.Context, string) ([]jagadesa.AuditEntry, error) {
	return nil, errNotInDouble
}

const securityExportPath = "/api/v1/reports/security.stix"

var (
	jatengOnce sync.Once
	jatengReg  *geo.Registry
	jatengErr  error
)

func jateng(t *testing.T) *geo.Registry {
	t.Helper()
	jatengOnce.Do(func() { jatengReg, jatengErr = geo.Load("jateng") })
	if jatengErr != nil {
		t.Fatal(jatengErr)
	}
	return jatengReg
}

// exportServer mounts the handler alone, behind the error renderer, the
// way routes would.
func exportServer(t *testing.T, store incident.Store, now time.Time) (*gin.Engine, *Server) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	s := &Server{Deps: Deps{
		Logger: slog.New(slog.DiscardHandler), Registry: jateng(t), IncidentStore: store,
		Now: func() time.Time { return now }, RetryAfter: 30 * time.Second,
	}}
	if store == nil {
		s.IncidentStore = nil // a typed nil would not be nil
	}
	r := gin.New()
	r.Use(s.renderErrors(), func(c *gin.Context) { c.Set(ctxPrincipal, accounts.AdminPrincipal()) })
	r.GET(securityExportPath, s.handleSecurityExport)
	return r, s
}

func get(r http.Handler, query string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, securityExportPath+query, nil))
	return w
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func securityFixture() []jagadesa.Incident {
	return []jagadesa.Incident{
		{
			ID: "JD-A", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: percobaan login beruntun", Villages: []string{"33.06.08.2007"}, Village: "33.06.08.2007",
			CSIRT: "JatengProv-CSIRT", OpenedAt: mustTime("2026-11-03T02:14:05Z"), StartedAt: mustTime("2026-11-03T02:14:00Z"),
			Evidence: map[string]string{"event": "login_bruteforce", "message": "5 failed dropbear logins", "at": "2026-11-03T02:14:00Z", "source": "192.31.196.9"},
		},
		{
			ID: "JD-B", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateResolved,
			Title: "Insiden keamanan: konfigurasi atau kredensial router berubah", Villages: []string{"33.06.08.2005"}, Village: "33.06.08.2005",
			CSIRT: "JatengProv-CSIRT", OpenedAt: mustTime("2026-11-10T08:00:00Z"), StartedAt: mustTime("2026-11-10T08:00:00Z"),
			ResolvedAt: ptrTime(mustTime("2026-11-10T09:00:00Z")),
			Evidence:   map[string]string{"event": "config_changed", "message": "etc/shadow modified", "at": "2026-11-10T08:00:00Z", "path": "etc/shadow"},
		},
		{
			ID: "JD-C", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Serangan dari 192.31.196.9 ke 3 desa", Villages: []string{"33.01.01.2001", "33.06.08.2005", "33.06.08.2007"},
			CSIRT: "JatengProv-CSIRT", OpenedAt: mustTime("2026-11-03T02:41:00Z"), StartedAt: mustTime("2026-11-03T02:41:00Z"),
			Evidence: map[string]string{"group": "source:192.31.196.9", "source": "192.31.196.9"},
		},
		{ // another kind: not exported
			ID: "JD-D", Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Desa terputus", Villages: []string{"33.06.08.2005"}, OpenedAt: mustTime("2026-11-04T00:00:00Z"),
		},
		{ // out of range (October, WIB)
			ID: "JD-E", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: port baru terbuka di router", Villages: []string{"33.06.08.2005"},
			OpenedAt: mustTime("2026-10-31T16:59:59Z"), Evidence: map[string]string{"event": "port_opened", "socket": "tcp/0.0.0.0:23"},
		},
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func bundleObjects(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var b struct {
		Type    string           `json:"type"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if b.Type != "bundle" {
		t.Fatalf("type %q", b.Type)
	}
	return b.Objects
}

func TestSecurityExportSTIX(t *testing.T) {
	st := &exportStore{incidents: securityFixture()}
	r, _ := exportServer(t, st, mustTime("2026-12-05T00:00:00Z"))
	w := get(r, "?from=2026-11-01&to=2026-11-30")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/stix+json;version=2.1" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="jagadesa-keamanan-20261101-20261130.stix.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	// The range is WIB days, to inclusive, and only security incidents
	// are asked for.
	f := st.filters[0]
	if f.Kind != jagadesa.IncidentSecurity || !f.Since.Equal(mustTime("2026-11-01T00:00:00+07:00")) ||
		!f.Until.Equal(mustTime("2026-12-01T00:00:00+07:00")) || f.State != "" || f.Limit < 1 {
		t.Errorf("filter %+v", f)
	}

	body := w.Body.Bytes()
	sch := exportSchema(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("export fails the STIX 2.1 subset schema: %v", err)
	}
	if err := stix.CheckReferences(body); err != nil {
		t.Fatalf("dangling references: %v", err)
	}

	byType := map[string][]map[string]any{}
	for _, o := range bundleObjects(t, body) {
		typ := o["type"].(string)
		byType[typ] = append(byType[typ], o)
	}
	var ids []string
	for _, in := range byType["incident"] {
		refs := in["external_references"].([]any)
		ids = append(ids, refs[0].(map[string]any)["external_id"].(string))
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "JD-A,JD-B,JD-C" {
		t.Errorf("exported incidents %v, want JD-A, JD-B and JD-C", ids)
	}
	if len(byType["identity"]) != 1 || byType["identity"][0]["name"] != "JatengProv-CSIRT" {
		t.Errorf("producer %v", byType["identity"])
	}
	// The locations come from the real registry.
	kr, _ := jateng(t).Village("33.06.08.2007")
	found := false
	for _, l := range byType["location"] {
		if l["name"] == "Desa Krandegan, Kec. Bayan, Kab. Purworejo" {
			found = l["latitude"] == kr.Lat && l["longitude"] == kr.Lon && l["administrative_area"] == kr.Regency
		}
	}
	if !found || len(byType["location"]) != 3 {
		t.Errorf("want 3 locations with Krandegan at its registry point; got %v", byType["location"])
	}
	if len(byType["indicator"]) != 2 || len(byType["sighting"]) != 2 {
		t.Errorf("%d indicators and %d sightings, want 2 each (JD-A's and the campaign's)", len(byType["indicator"]), len(byType["sighting"]))
	}

	// The same request again gives the same bytes.
	if again := get(r, "?from=2026-11-01&to=2026-11-30"); !bytes.Equal(again.Body.Bytes(), body) {
		t.Error("a second export of the same data differs")
	}
}

func exportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile("stix/testdata/stix21-subset.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("stix21-subset.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("stix21-subset.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestSecurityExportDefaultsAndStatus(t *testing.T) {
	now := mustTime("2026-11-20T05:00:00Z")
	st := &exportStore{incidents: securityFixture()}
	r, _ := exportServer(t, st, now)
	w := get(r, "?status=resolved")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	f := st.filters[0]
	if !f.Since.Equal(now.Add(-30*24*time.Hour)) || !f.Until.Equal(now) || f.State != jagadesa.StateResolved {
		t.Errorf("default filter %+v, want the 30 days before now, resolved", f)
	}
	n := 0
	for _, o := range bundleObjects(t, w.Body.Bytes()) {
		if o["type"] == "incident" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d incidents with status=resolved, want JD-B alone", n)
	}
	// RFC 3339 bounds are taken as given.
	st.filters = nil
	if w := get(r, "?from=2026-11-03T00:00:00Z&to=2026-11-03T12:00:00%2B07:00"); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if f := st.filters[0]; !f.Since.Equal(mustTime("2026-11-03T00:00:00Z")) || !f.Until.Equal(mustTime("2026-11-03T05:00:00Z")) {
		t.Errorf("filter %+v, want 00:00Z to 05:00Z", f)
	}
}

func TestSecurityExportBadQueries(t *testing.T) {
	st := &exportStore{incidents: securityFixture()}
	r, _ := exportServer(t, st, mustTime("2026-11-20T05:00:00Z"))
	for _, tc := range []struct{ query, field string }{
		{"?from=kemarin", "from"},
		{"?to=2026-13-01", "to"},
		{"?from=2026-11-01T00:00:00", "from"}, // no offset
		{"?from=2026-11-10&to=2026-11-09", "to"},
		{"?from=2026-11-03T00:00:00Z&to=2026-11-03T03:00:00%2B07:00", "to"}, // 20:00 Z, before from
		{"?from=2025-01-01&to=2026-01-02", "to"},                            // 367 days
		{"?status=closed", "status"},
	} {
		st.filters = nil
		w := get(r, tc.query)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.query, w.Code)
			continue
		}
		var body struct {
			Error    string            `json:"error"`
			Problems map[string]string `json:"problems"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Problems[tc.field] == "" {
			t.Errorf("%s: body %s, want a problem for %s", tc.query, w.Body, tc.field)
		}
		if len(st.filters) != 0 {
			t.Errorf("%s: the store was queried despite a bad query", tc.query)
		}
	}
	// A full leap year is allowed.
	if w := get(r, "?from=2028-01-01&to=2028-12-31"); w.Code != http.StatusOK {
		t.Errorf("366 days: status %d: %s", w.Code, w.Body)
	}
}

func TestSecurityExportUnavailable(t *testing.T) {
	r, _ := exportServer(t, nil, time.Now())
	w := get(r, "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d (Retry-After %q): %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	r, _ = exportServer(t, &exportStore{err: errors.New("database is locked")}, time.Now())
	if w := get(r, ""); w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "locked") {
		t.Fatalf("store failure: status %d: %s", w.Code, w.Body)
	}
}

// many makes n security incidents opened a second apart from start, the
// ones at the given indexes in the same millisecond as their neighbour.
func many(n int, start time.Time, sameAsPrevious ...int) []jagadesa.Incident {
	out := make([]jagadesa.Incident, n)
	at := start
	for i := range out {
		if i > 0 && !containsInt(sameAsPrevious, i) {
			at = at.Add(time.Second)
		}
		out[i] = jagadesa.Incident{
			ID: fmt.Sprintf("JD-%05d", i), Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: port baru terbuka di router", Villages: []string{"33.06.08.2005"}, Village: "33.06.08.2005",
			OpenedAt: at, StartedAt: at, Evidence: map[string]string{"event": "port_opened", "socket": "tcp/0.0.0.0:23"},
		}
	}
	return out
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestSecurityExportPages(t *testing.T) {
	start := mustTime("2026-11-01T00:00:00Z")
	// 2500 incidents: the store answers 1000 at a time, and incidents
	// 1498–1502 (newest first, the 1000th row falls among them) share a
	// millisecond, so a page boundary cuts through them.
	in := many(2500, start, 1499, 1500, 1501, 1502)
	st := &exportStore{incidents: in}
	r, _ := exportServer(t, st, start.Add(24*time.Hour))
	w := get(r, "?from=2026-11-01&to=2026-11-01")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	seen := map[string]bool{}
	for _, o := range bundleObjects(t, w.Body.Bytes()) {
		if o["type"] == "incident" {
			id := o["external_references"].([]any)[0].(map[string]any)["external_id"].(string)
			if seen[id] {
				t.Fatalf("%s exported twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 2500 {
		t.Fatalf("%d incidents exported over %d store queries, want all 2500", len(seen), len(st.filters))
	}
	if len(st.filters) < 3 {
		t.Errorf("%d store queries for 2500 incidents at 1000 a page", len(st.filters))
	}
	for _, f := range st.filters {
		if f.Limit > 1000 {
			t.Errorf("asked the store for %d rows; it answers at most 1000", f.Limit)
		}
	}

	// More than the export limit: refused, not silently cut.
	st = &exportStore{incidents: many(maxSecurityExport+1, start)}
	r, _ = exportServer(t, st, start.Add(24*time.Hour))
	w = get(r, "?from=2026-11-01&to=2026-11-02")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "5000") {
		t.Fatalf("over the limit: status %d: %s", w.Code, w.Body)
	}
	// Exactly the limit is served.
	st = &exportStore{incidents: many(maxSecurityExport, start)}
	r, _ = exportServer(t, st, start.Add(24*time.Hour))
	if w := get(r, "?from=2026-11-01&to=2026-11-02"); w.Code != http.StatusOK {
		t.Fatalf("at the limit: status %d: %.300s", w.Code, w.Body)
	}
}
