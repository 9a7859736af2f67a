package stix

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/jagadesa/jagadesa"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-bundle.json")

const schemaPath = "testdata/stix21-subset.schema.json"

// compileSchema loads the spec-derived subset schema, asserting formats.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://jagadesa.invalid/schema/stix21-subset.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

var registry = map[string]jagadesa.Village{
	"33.06.08.2007": {Code: "33.06.08.2007", Name: "Krandegan", Kind: "desa", District: "Bayan", RegencyCode: "33.06", Regency: "Kabupaten Purworejo", Lat: -7.754049, Lon: 109.926455},
	"33.06.08.2005": {Code: "33.06.08.2005", Name: "Pogungkalangan", Kind: "desa", District: "Bayan", RegencyCode: "33.06", Regency: "Kabupaten Purworejo", Lat: -7.762852, Lon: 109.928989},
	"33.74.01.1001": {Code: "33.74.01.1001", Name: "Mugassari", Kind: "kelurahan", District: "Semarang Selatan", RegencyCode: "33.74", Regency: "Kota Semarang", Lat: -6.99, Lon: 110.41},
	"33.01.01.2001": {Code: "33.01.01.2001", Name: "Tambakreja", Kind: "desa", District: "Kedungreja", RegencyCode: "33.01", Regency: "Kabupaten Cilacap", Lat: -7.55, Lon: 108.78, Approximate: true},
}

func lookup(code string) (jagadesa.Village, bool) {
	v, ok := registry[code]
	return v, ok
}

var producer = Producer{Name: "JatengProv-CSIRT", Contact: "csirt@jatengprov.go.id"}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

// fixture holds one of each kind of security incident the manager writes,
// and one incident of another kind that must be left out.
//
// The attackers' addresses that must become indicators are in blocks that
// the IANA special-purpose registries list as globally reachable (AS112,
// AMT) rather than anyone's real address; the documentation ranges
// (203.0.113.0/24, 2001:db8::/32, ...) are not globally reachable, so
// they, like CGNAT and private addresses, must not.
func fixture() []jagadesa.Incident {
	return []jagadesa.Incident{
		{
			ID: "JD-20261103-A1", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateResolved,
			Title: "Insiden keamanan: percobaan login beruntun", Villages: []string{"33.06.08.2007"}, Village: "33.06.08.2007",
			Regency: "33.06", CSIRT: "PurworejoKab-CSIRT",
			OpenedAt: ts("2026-11-03T02:14:05Z"), StartedAt: ts("2026-11-03T02:14:00Z"),
			AckedAt: ptr(ts("2026-11-03T02:30:00Z")), ResolvedAt: ptr(ts("2026-11-03T06:00:00.123456Z")),
			Evidence: map[string]string{
				"event": "login_bruteforce", "message": "5 failed dropbear logins", "at": "2026-11-03T02:14:00Z",
				"source": "192.31.196.9", "service": "dropbear", "failures": "5",
				"event#2": "config_changed", "message#2": "etc/shadow modified", "at#2": "2026-11-03T02:20:00Z", "path#2": "etc/shadow",
				"event#3": "login_bruteforce", "message#3": "7 failed dropbear logins", "at#3": "2026-11-03T02:40:00Z",
				"source#3": "192.31.196.9", "failures#3": "7",
				"event#4": "login_new_source", "message#4": "dropbear login from 2001:4:112::5", "at#4": "2026-11-03T02:45:00Z", "source#4": "2001:4:112::5",
				"event#5": "dns_upstream_unexpected", "at#5": "2026-11-03T02:50:00Z", "resolver#5": "192.52.193.53:53",
				"event#6": "threat_domain", "at#6": "2026-11-03T02:55:00Z", "domain#6": "Evil.Example.",
				"event#7": "login_new_source", "at#7": "2026-11-03T02:56:00Z", "source#7": "192.168.88.10", // the LAN: not shared
				"event#8": "threat_domain", "at#8": "2026-11-03T02:57:00Z", "domain#8": "x' OR 1=1", // not a host name
				// Not globally routable, so not shared: a CGNAT address
				// (with a port), a documentation address, a mapped
				// private one.
				"event#9": "login_bruteforce", "at#9": "2026-11-03T02:58:00Z", "source#9": "100.88.12.34:51515",
				"event#10": "dns_upstream_unexpected", "at#10": "2026-11-03T02:59:00Z", "resolver#10": "203.0.113.53",
				"event#11": "login_new_source", "at#11": "2026-11-03T02:59:30Z", "source#11": "::ffff:10.1.2.3",
			},
		},
		{
			// Only a configuration change, in a village drawn at its
			// kecamatan's point: no indicator, a related-to the location.
			ID: "JD-20261104-B2", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: konfigurasi atau kredensial router berubah", Villages: []string{"33.01.01.2001"}, Village: "33.01.01.2001",
			Regency: "33.01", CSIRT: "JatengProv-CSIRT",
			OpenedAt: ts("2026-11-04T10:00:00Z"), StartedAt: ts("2026-11-04T09:59:00Z"),
			Evidence: map[string]string{"event": "config_changed", "message": "etc/config/network modified", "at": "2026-11-04T09:59:00Z", "path": "etc/config/network"},
		},
		{
			// A campaign: one address against three villages.
			ID: "JD-20261103-C3", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Serangan dari 192.31.196.9 ke 3 desa", Villages: []string{"33.74.01.1001", "33.06.08.2005", "33.06.08.2007"}, Village: "33.06.08.2005",
			Regency: "33.06", CSIRT: "JatengProv-CSIRT",
			OpenedAt: ts("2026-11-03T02:41:00Z"), StartedAt: ts("2026-11-03T02:41:00Z"),
			Evidence: map[string]string{"group": "source:192.31.196.9", "source": "192.31.196.9"},
		},
		{
			// A village the registry does not know.
			ID: "JD-20261105-D4", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: port baru terbuka di router", Villages: []string{"99.99.99.9999"}, Village: "99.99.99.9999",
			OpenedAt: ts("2026-11-05T01:00:00Z"), StartedAt: ts("2026-11-05T01:00:00Z"),
			Evidence: map[string]string{"event": "port_opened", "at": "2026-11-05T01:00:00Z", "socket": "tcp/0.0.0.0:23", "source": "192.175.48.77"},
		},
		{
			ID: "JD-20261103-Z9", Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Desa terputus", Villages: []string{"33.06.08.2005"}, OpenedAt: ts("2026-11-03T01:00:00Z"),
		},
		{
			// A campaign from a CGNAT address (another subscriber of the
			// villages' own ISP): the incident and its villages are
			// exported, the address is not.
			ID: "JD-20261106-E5", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
			Title: "Serangan dari 100.72.5.9 ke 3 desa", Villages: []string{"33.74.01.1001", "33.06.08.2005", "33.01.01.2001"}, Village: "33.06.08.2005",
			Regency: "33.06", CSIRT: "JatengProv-CSIRT",
			OpenedAt: ts("2026-11-06T03:00:00Z"), StartedAt: ts("2026-11-06T02:59:00Z"),
			Evidence: map[string]string{"group": "source:100.72.5.9", "source": "100.72.5.9"},
		},
		{
			// Failed logins from a private address only: no indicator.
			ID: "JD-20261107-F6", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen,
			Title: "Insiden keamanan: percobaan login beruntun", Villages: []string{"33.06.08.2005"}, Village: "33.06.08.2005",
			OpenedAt: ts("2026-11-07T04:00:00Z"), StartedAt: ts("2026-11-07T04:00:00Z"),
			Evidence: map[string]string{"event": "login_bruteforce", "at": "2026-11-07T04:00:00Z", "source": "172.16.5.20", "failures": "9"},
		},
	}
}

type object map[string]any

func (o object) str(k string) string { s, _ := o[k].(string); return s }

func (o object) strs(k string) []string {
	var out []string
	list, _ := o[k].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

type parsed struct {
	raw     map[string]any
	objects []object
	byID    map[string]object
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	p := parsed{raw: raw, byID: map[string]object{}}
	list, _ := raw["objects"].([]any)
	for _, o := range list {
		obj := object(o.(map[string]any))
		p.objects = append(p.objects, obj)
		p.byID[obj.str("id")] = obj
	}
	return p
}

func (p parsed) ofType(typ string) []object {
	var out []object
	for _, o := range p.objects {
		if o.str("type") == typ {
			out = append(out, o)
		}
	}
	return out
}

func build(t *testing.T, in []jagadesa.Incident) []byte {
	t.Helper()
	out, err := Bundle(in, lookup, producer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUUIDv5(t *testing.T) {
	// RFC 9562's DNS namespace and the name every UUID library documents.
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got, want := UUIDv5(dns, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d"; got != want {
		t.Fatalf("UUIDv5(dns, python.org) = %s, want %s", got, want)
	}
	a, b := UUIDv5(Namespace, "jagadesa-village:33.06.08.2007"), UUIDv5(Namespace, "jagadesa-village:33.06.08.2005")
	if a == b || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("ids %s, %s: want distinct version-5 RFC-variant UUIDs", a, b)
	}
}

func TestSTIXBundleValidatesAgainstSubsetSchema(t *testing.T) {
	sch := compileSchema(t)
	out := build(t, fixture())
	if err := validate(sch, out); err != nil {
		t.Fatalf("exported bundle fails the schema: %v\n%s", err, out)
	}
	if err := CheckReferences(out); err != nil {
		t.Fatalf("dangling references: %v", err)
	}
	// An empty export (no incident in range) is still a valid bundle: the
	// producer's identity alone.
	empty := build(t, nil)
	if err := validate(sch, empty); err != nil {
		t.Fatalf("empty bundle fails the schema: %v", err)
	}
	if n := len(parse(t, empty).objects); n != 1 {
		t.Fatalf("empty bundle has %d objects, want the identity only", n)
	}
}

func TestSTIXBundleIsDeterministic(t *testing.T) {
	in := fixture()
	first := build(t, in)
	// Another order, and an incident listed twice (overlapping pages).
	shuffled := []jagadesa.Incident{in[3], in[6], in[2], in[0], in[4], in[5], in[1], in[0]}
	if second := build(t, shuffled); !bytes.Equal(first, second) {
		t.Fatalf("a second export of the same incidents differs:\n%s\n---\n%s", first, second)
	}
	golden := filepath.Join("testdata", "golden-bundle.json")
	if *update {
		if err := os.WriteFile(golden, first, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(first, want) {
		t.Fatalf("bundle differs from %s: ids or timestamps changed, so importers would no longer deduplicate (run with -update only if that is intended)", golden)
	}
	// New evidence changes the incident, so the bundle id, but not the
	// ids of what was there before.
	in[1].Evidence["event#2"] = "gateway_mac_changed"
	in[1].Evidence["at#2"] = "2026-11-04T11:00:00Z"
	third := build(t, in)
	p1, p3 := parse(t, first), parse(t, third)
	if p1.raw["id"] == p3.raw["id"] {
		t.Fatal("the bundle id did not change with its content")
	}
	for id := range p1.byID {
		if _, ok := p3.byID[id]; !ok {
			t.Fatalf("object %s vanished after new evidence", id)
		}
	}
	inc := p3.byID["incident--"+UUIDv5(Namespace, "jagadesa-incident:JD-20261104-B2")]
	if inc.str("modified") != "2026-11-04T11:00:00.000Z" {
		t.Fatalf("modified after new evidence = %q, want the evidence time", inc.str("modified"))
	}
}

func TestSTIXBundleContent(t *testing.T) {
	out := build(t, fixture())
	p := parse(t, out)
	if p.raw["type"] != "bundle" || !strings.HasPrefix(p.raw["id"].(string), "bundle--") {
		t.Fatalf("not a bundle: type %v id %v", p.raw["type"], p.raw["id"])
	}
	if _, ok := p.raw["spec_version"]; ok {
		t.Fatal("a 2.1 bundle carries no spec_version")
	}
	counts := map[string]int{}
	for _, o := range p.objects {
		counts[o.str("type")]++
		if o.str("spec_version") != "2.1" {
			t.Errorf("%s: spec_version %q", o.str("id"), o.str("spec_version"))
		}
	}
	// 4 addresses/domains in A, 1 in C, 1 in D, none in E and F; 4 known
	// villages; A to F; villages: A 1, B 1, C 3, D 0 (unknown), E 3, F 1.
	want := map[string]int{"identity": 1, "location": 4, "incident": 6, "indicator": 6, "sighting": 6, "relationship": 6 + 1 + 1 + 3 + 3 + 1}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%d %s objects, want %d (all: %v)", counts[typ], typ, n, counts)
		}
	}

	id := p.ofType("identity")[0]
	if id.str("name") != "JatengProv-CSIRT" || id.str("identity_class") != "organization" {
		t.Errorf("identity %v", id)
	}
	for _, o := range p.objects {
		if o.str("type") != "identity" && o.str("created_by_ref") != id.str("id") {
			t.Errorf("%s: created_by_ref %q, want the producer", o.str("id"), o.str("created_by_ref"))
		}
	}

	locID := func(code string) string { return "location--" + UUIDv5(Namespace, "jagadesa-village:"+code) }
	kr := p.byID[locID("33.06.08.2007")]
	if kr == nil {
		t.Fatal("no location for Krandegan under its deterministic id")
	}
	if kr.str("name") != "Desa Krandegan, Kec. Bayan, Kab. Purworejo" || kr.str("country") != "ID" ||
		kr.str("region") != "south-eastern-asia" || kr.str("administrative_area") != "Kabupaten Purworejo" ||
		kr["latitude"] != -7.754049 || kr["longitude"] != 109.926455 {
		t.Errorf("Krandegan location %v", kr)
	}
	if _, ok := kr["precision"]; ok {
		t.Error("a village with its own point has no precision")
	}
	if tb := p.byID[locID("33.01.01.2001")]; tb["precision"] != 5000.0 {
		t.Errorf("approximate village precision %v, want 5000", tb["precision"])
	}
	if mg := p.byID[locID("33.74.01.1001")]; mg.str("name") != "Kelurahan Mugassari, Kec. Semarang Selatan, Kota Semarang" {
		t.Errorf("kelurahan name %q", mg.str("name"))
	}

	incID := func(id string) string { return "incident--" + UUIDv5(Namespace, "jagadesa-incident:"+id) }
	a := p.byID[incID("JD-20261103-A1")]
	if a.str("name") != "Insiden keamanan: percobaan login beruntun" || a.str("created") != "2026-11-03T02:14:05.000Z" ||
		a.str("modified") != "2026-11-03T06:00:00.123Z" {
		t.Errorf("incident A: name %q created %q modified %q", a.str("name"), a.str("created"), a.str("modified"))
	}
	refs, _ := a["external_references"].([]any)
	if len(refs) != 1 || refs[0].(map[string]any)["source_name"] != "jagadesa" || refs[0].(map[string]any)["external_id"] != "JD-20261103-A1" {
		t.Errorf("external_references %v", a["external_references"])
	}
	for _, line := range []string{"CSIRT: PurworejoKab-CSIRT", "33.06.08.2007 (Desa Krandegan", "2026-11-03T02:20:00.000Z config_changed: etc/shadow modified [path=etc/shadow]"} {
		if !strings.Contains(a.str("description"), line) {
			t.Errorf("incident A description lacks %q:\n%s", line, a.str("description"))
		}
	}
	for _, o := range p.objects {
		if o.str("type") == "incident" && strings.Contains(o.str("name"), "terputus") {
			t.Error("a village_down incident was exported")
		}
	}

	// Indicators of A: by pattern.
	type indicatorWant struct{ kind, validFrom string }
	patterns := map[string]indicatorWant{
		"[ipv4-addr:value = '192.31.196.9']":   {"malicious-activity", "2026-11-03T02:14:00.000Z"},
		"[ipv6-addr:value = '2001:4:112::5']":  {"anomalous-activity", "2026-11-03T02:45:00.000Z"},
		"[ipv4-addr:value = '192.52.193.53']":  {"anomalous-activity", "2026-11-03T02:50:00.000Z"},
		"[domain-name:value = 'evil.example']": {"malicious-activity", "2026-11-03T02:55:00.000Z"},
	}
	sightingOf := map[string]object{}
	for _, s := range p.ofType("sighting") {
		sightingOf[s.str("sighting_of_ref")] = s
	}
	related := map[[2]string]bool{}
	for _, r := range p.ofType("relationship") {
		if r.str("relationship_type") != "related-to" {
			t.Errorf("relationship %s is %q", r.str("id"), r.str("relationship_type"))
		}
		related[[2]string{r.str("source_ref"), r.str("target_ref")}] = true
	}
	seenA := 0
	for _, ind := range p.ofType("indicator") {
		if strings.Contains(ind.str("pattern"), "OR 1=1") {
			t.Errorf("indicator from a non-host name: %s", ind.str("pattern"))
		}
		if v, ok := strings.CutPrefix(ind.str("pattern"), "[ipv"); ok {
			v = v[len("4-addr:value = '"):strings.LastIndexByte(v, '\'')]
			if a, err := netip.ParseAddr(v); err != nil || !GloballyRoutable(a) {
				t.Errorf("indicator of an address that is not globally routable: %s", ind.str("pattern"))
			}
		}
		if ind.str("pattern_type") != "stix" {
			t.Errorf("pattern_type %q", ind.str("pattern_type"))
		}
		if !strings.Contains(ind.str("name"), "JD-20261103-A1") {
			continue
		}
		seenA++
		w, ok := patterns[ind.str("pattern")]
		if !ok {
			t.Errorf("unexpected indicator of A: %s", ind.str("pattern"))
			continue
		}
		if got := ind.strs("indicator_types"); !slices.Equal(got, []string{w.kind}) || ind.str("valid_from") != w.validFrom {
			t.Errorf("%s: types %v valid_from %s, want %s %s", ind.str("pattern"), got, ind.str("valid_from"), w.kind, w.validFrom)
		}
		if !related[[2]string{a.str("id"), ind.str("id")}] {
			t.Errorf("no incident related-to %s", ind.str("pattern"))
		}
		s := sightingOf[ind.str("id")]
		if s == nil {
			t.Errorf("no sighting of %s", ind.str("pattern"))
			continue
		}
		if !slices.Equal(s.strs("where_sighted_refs"), []string{locID("33.06.08.2007")}) {
			t.Errorf("sighting of %s where %v", ind.str("pattern"), s.strs("where_sighted_refs"))
		}
		if ind.str("pattern") == "[ipv4-addr:value = '192.31.196.9']" {
			if s["count"] != 2.0 || s.str("first_seen") != "2026-11-03T02:14:00.000Z" || s.str("last_seen") != "2026-11-03T02:40:00.000Z" {
				t.Errorf("bruteforce sighting count %v first %s last %s, want 2 from 02:14 to 02:40", s["count"], s.str("first_seen"), s.str("last_seen"))
			}
		}
	}
	if seenA != len(patterns) {
		t.Errorf("%d indicators for A, want %d", seenA, len(patterns))
	}

	// B: no indicator, related to its (approximate) village.
	b := p.byID[incID("JD-20261104-B2")]
	if !related[[2]string{b.str("id"), locID("33.01.01.2001")}] {
		t.Error("the configuration-only incident is not related to its village")
	}

	// C: one malicious indicator seen at all three villages.
	c := p.byID[incID("JD-20261103-C3")]
	var campaign object
	for _, ind := range p.ofType("indicator") {
		if related[[2]string{c.str("id"), ind.str("id")}] {
			campaign = ind
		}
	}
	if campaign == nil || campaign.str("pattern") != "[ipv4-addr:value = '192.31.196.9']" ||
		!slices.Equal(campaign.strs("indicator_types"), []string{"malicious-activity"}) {
		t.Fatalf("campaign indicator %v", campaign)
	}
	s := sightingOf[campaign.str("id")]
	wantWhere := []string{locID("33.06.08.2005"), locID("33.06.08.2007"), locID("33.74.01.1001")}
	if s == nil || !slices.Equal(s.strs("where_sighted_refs"), wantWhere) || s["count"] != 3.0 {
		t.Errorf("campaign sighting %v, want where %v count 3", s, wantWhere)
	}
	for _, code := range []string{"33.06.08.2005", "33.06.08.2007", "33.74.01.1001"} {
		if !related[[2]string{c.str("id"), locID(code)}] {
			t.Errorf("campaign not related to %s", code)
		}
	}

	// D: the village is unknown: its indicator's sighting says nowhere,
	// rather than pointing at a location that is not there.
	d := p.byID[incID("JD-20261105-D4")]
	if !strings.Contains(d.str("description"), "99.99.99.9999") {
		t.Errorf("incident D description lacks its village code: %s", d.str("description"))
	}
	for _, ind := range p.ofType("indicator") {
		if related[[2]string{d.str("id"), ind.str("id")}] {
			if sd := sightingOf[ind.str("id")]; sd == nil || sd["where_sighted_refs"] != nil {
				t.Errorf("sighting for an unknown village: %v", sd)
			}
		}
	}

	// E and F: the only attacker is not globally routable (CGNAT, a
	// private address). The incident and its villages are there; no
	// indicator, sighting or relationship names the address anywhere but
	// in the incident's own description.
	for _, x := range []struct {
		id, addr string
		codes    []string
	}{
		{"JD-20261106-E5", "100.72.5.9", []string{"33.01.01.2001", "33.06.08.2005", "33.74.01.1001"}},
		{"JD-20261107-F6", "172.16.5.20", []string{"33.06.08.2005"}},
	} {
		inc := p.byID[incID(x.id)]
		if inc == nil {
			t.Errorf("incident %s was not exported", x.id)
			continue
		}
		if !strings.Contains(inc.str("description"), x.addr) {
			t.Errorf("%s: the description lost the evidence: %s", x.id, inc.str("description"))
		}
		n := 0
		for _, r := range p.ofType("relationship") {
			if r.str("source_ref") == inc.str("id") {
				n++
				if !strings.HasPrefix(r.str("target_ref"), "location--") {
					t.Errorf("%s is related to %s", x.id, r.str("target_ref"))
				}
			}
		}
		if n != len(x.codes) {
			t.Errorf("%s: %d relationships, want one per village (%d)", x.id, n, len(x.codes))
		}
		for _, code := range x.codes {
			if !related[[2]string{inc.str("id"), locID(code)}] {
				t.Errorf("%s not related to village %s", x.id, code)
			}
		}
	}
	for _, o := range p.objects {
		if o.str("type") == "incident" {
			continue
		}
		raw, _ := json.Marshal(o)
		for _, addr := range []string{"100.72.5.9", "172.16.5.20", "100.88.12.34", "203.0.113.53", "10.1.2.3", "192.168.88.10"} {
			if strings.Contains(string(raw), addr) {
				t.Errorf("%s names %s, which is not globally routable", o.str("id"), addr)
			}
		}
	}
}

// TestSTIXSchemaRejectsBrokenBundles breaks a valid bundle in the ways
// the schema is there to catch; each must fail, or the validation above
// proves nothing.
func TestSTIXSchemaRejectsBrokenBundles(t *testing.T) {
	sch := compileSchema(t)
	good := build(t, fixture())
	if err := validate(sch, good); err != nil {
		t.Fatalf("the unbroken bundle fails already: %v", err)
	}
	first := func(p map[string]any, typ string) map[string]any {
		for _, o := range p["objects"].([]any) {
			if m := o.(map[string]any); m["type"] == typ {
				return m
			}
		}
		t.Fatalf("no %s in the bundle", typ)
		return nil
	}
	cases := []struct {
		name   string
		mutate func(b map[string]any)
	}{
		{"object without spec_version", func(b map[string]any) { delete(first(b, "incident"), "spec_version") }},
		{"spec_version 2.0", func(b map[string]any) { first(b, "indicator")["spec_version"] = "2.0" }},
		{"bundle with spec_version", func(b map[string]any) { b["spec_version"] = "2.1" }},
		{"sighting seen at an incident", func(b map[string]any) {
			first(b, "sighting")["where_sighted_refs"] = []any{first(b, "incident")["id"]}
		}},
		{"sighting of a relationship", func(b map[string]any) {
			first(b, "sighting")["sighting_of_ref"] = first(b, "relationship")["id"]
		}},
		{"count out of range", func(b map[string]any) { first(b, "sighting")["count"] = 1000000000 }},
		{"created with an offset", func(b map[string]any) { first(b, "incident")["created"] = "2026-11-03T09:14:05.000+07:00" }},
		{"modified without milliseconds", func(b map[string]any) { first(b, "incident")["modified"] = "2026-11-03T02:14:05Z" }},
		{"first_seen not a date", func(b map[string]any) { first(b, "sighting")["first_seen"] = "2026-13-40T02:14:05Z" }},
		{"id not UUID v4 or v5", func(b map[string]any) {
			first(b, "incident")["id"] = "incident--6ba7b810-9dad-11d1-80b4-00c04fd430c8"
		}},
		{"id of another type", func(b map[string]any) {
			o := first(b, "location")
			o["id"] = strings.Replace(o["id"].(string), "location--", "identity--", 1)
		}},
		{"incident without name", func(b map[string]any) { delete(first(b, "incident"), "name") }},
		{"indicator without pattern", func(b map[string]any) { delete(first(b, "indicator"), "pattern") }},
		{"indicator without valid_from", func(b map[string]any) { delete(first(b, "indicator"), "valid_from") }},
		{"location with latitude only", func(b map[string]any) {
			o := first(b, "location")
			delete(o, "longitude")
			delete(o, "country")
			delete(o, "region")
		}},
		{"latitude out of range", func(b map[string]any) { first(b, "location")["latitude"] = 97.5 }},
		{"relationship without target", func(b map[string]any) { delete(first(b, "relationship"), "target_ref") }},
		{"relationship to a sighting", func(b map[string]any) {
			first(b, "relationship")["target_ref"] = first(b, "sighting")["id"]
		}},
		{"created_by_ref not an identity", func(b map[string]any) {
			first(b, "incident")["created_by_ref"] = first(b, "location")["id"]
		}},
		{"unknown object type", func(b map[string]any) { first(b, "incident")["type"] = "x-village-event" }},
		{"no objects", func(b map[string]any) { b["objects"] = []any{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b map[string]any
			if err := json.Unmarshal(good, &b); err != nil {
				t.Fatal(err)
			}
			tc.mutate(b)
			broken, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(sch, broken); err == nil {
				t.Fatalf("the schema accepted a bundle with %s", tc.name)
			}
		})
	}
}

func TestSTIXCheckReferences(t *testing.T) {
	good := build(t, fixture())
	var b map[string]any
	if err := json.Unmarshal(good, &b); err != nil {
		t.Fatal(err)
	}
	// Drop the first location: every reference to it now dangles.
	objs := b["objects"].([]any)
	var gone string
	for i, o := range objs {
		if m := o.(map[string]any); m["type"] == "location" {
			gone = m["id"].(string)
			b["objects"] = slices.Delete(objs, i, i+1)
			break
		}
	}
	broken, _ := json.Marshal(b)
	err := CheckReferences(broken)
	if err == nil || !strings.Contains(err.Error(), gone) {
		t.Fatalf("CheckReferences = %v, want an error naming %s", err, gone)
	}
	if err := CheckReferences([]byte(`{"type":"bundle","objects":[{"id":"a","x_refs":"b"}]}`)); err == nil {
		t.Fatal("a _refs that is not a list passed")
	}
}

func TestSTIXEvents(t *testing.T) {
	evs := events(map[string]string{
		"event": "login_bruteforce", "at": "2026-11-03T02:14:00Z", "source": "203.0.113.9",
		"event#10": "port_opened", "socket#10": "tcp/0.0.0.0:23",
		"event#2": "config_changed", "at#2": "not a time", "note": "a#b",
	})
	if len(evs) != 3 || evs[0].n != 1 || evs[1].n != 2 || evs[2].n != 10 {
		t.Fatalf("events %+v", evs)
	}
	if evs[0].attrs["source"] != "203.0.113.9" || evs[0].attrs["note"] != "a#b" || !evs[0].at.Equal(ts("2026-11-03T02:14:00Z")) {
		t.Errorf("first event %+v", evs[0])
	}
	if evs[1].attrs["at"] != "not a time" || !evs[1].at.IsZero() {
		t.Errorf("an unreadable time should stay as an attribute: %+v", evs[1])
	}
	if evs[2].kind != "port_opened" || evs[2].attrs["socket"] != "tcp/0.0.0.0:23" {
		t.Errorf("tenth event %+v", evs[2])
	}
}

func TestSTIXObservables(t *testing.T) {
	for in, want := range map[string]string{
		"192.31.196.9":          "ipv4-addr:192.31.196.9",
		"192.31.196.9:2222":     "ipv4-addr:192.31.196.9",
		"::ffff:192.31.196.9":   "ipv4-addr:192.31.196.9",
		"[2001:4:112::5]:53":    "ipv6-addr:2001:4:112::5",
		"2400:9800::1%eth0":     "ipv6-addr:2400:9800::1",
		"64:ff9b::c01f:c409":    "ipv6-addr:64:ff9b::c01f:c409",
		"Malware.Example.COM":   "domain-name:malware.example.com",
		"10.0.0.1":              "",
		"127.0.0.1":             "",
		"fe80::1":               "",
		"fe80::1%br-lan":        "",
		"0.0.0.0":               "",
		"tcp/0.0.0.0:23":        "",
		"localhost":             "",
		"evil'.example":         "",
		"100.64.0.1":            "", // CGNAT
		"100.127.255.254:40000": "", // CGNAT, with a port
		"::ffff:100.64.3.4":     "", // CGNAT, mapped
		"64:ff9b::6440:304":     "", // CGNAT, through NAT64
		"[fd00::1]:22":          "",
		"203.0.113.9":           "", // documentation
		"2001:db8::5":           "", // documentation
		"3fff::1":               "", // documentation (RFC 9637)
		"198.18.0.1":            "", // benchmarking
		"224.0.0.251":           "", // multicast
		"255.255.255.255":       "",
		"2002:c000:204::1":      "", // 6to4
		"2001::1":               "", // Teredo
		"100.64.0.0/10":         "", // a range is not an address
		"100.64.0.1.":           "", // nor a host name
	} {
		o, ok := parseObservable(in)
		got := ""
		if ok {
			got = o.key()
		}
		if got != want {
			t.Errorf("parseObservable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSTIXProducerRequired(t *testing.T) {
	if _, err := Bundle(fixture(), lookup, Producer{}); err == nil {
		t.Fatal("a bundle without a producer name was made")
	}
	if _, err := Bundle([]jagadesa.Incident{{Kind: jagadesa.IncidentSecurity}}, lookup, producer); err == nil {
		t.Fatal("an incident without an id was exported")
	}
}

// Incidents since signals: the probe's attributes come back without their
// probe. prefix, the server's own bookkeeping stays out, and the signal's
// source is the event's source.
func TestSTIXEventsFromSignals(t *testing.T) {
	in := &jagadesa.Incident{Signals: []jagadesa.Signal{{Kind: "threat_ip", Source: "192.31.196.9", Count: 4, Message: "c2",
		LastSeen: ts("2026-11-03T02:14:00Z"), Attrs: map[string]string{"probe.indicator": "192.31.196.9", "probe.host": "192.168.1.7", "jagadesa.seq.s": "9"}}}}
	evs := incidentEvents(in)
	if len(evs) != 1 || evs[0].kind != "threat_ip" || evs[0].attrs["source"] != "192.31.196.9" || evs[0].attrs["indicator"] != "192.31.196.9" ||
		evs[0].attrs["host"] != "192.168.1.7" || len(evs[0].attrs) != 3 || !evs[0].at.Equal(ts("2026-11-03T02:14:00Z")) {
		t.Fatalf("events %+v", evs)
	}
}
