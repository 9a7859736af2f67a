//go:build oasis

package stix

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemasEnv names a copy of the official OASIS STIX 2.1 JSON schemas
// (the schemas/ folder of oasis-open/cti-stix2-json-schemas, or the
// repository's root). No package of Debian or the npm registry ships them
// (docs/stix.md), so CI has none and these tests skip there; a developer
// with a copy runs them with
//
//	STIX_SCHEMAS=/path/to/cti-stix2-json-schemas go test ./server/stix/ -run OASIS
//
// When the variable is set, a wrong path fails rather than skips.
const schemasEnv = "STIX_SCHEMAS"

// oasis is the official schema set, compiled lazily by the URL of each
// file ($id), which is how the files refer to one another.
type oasis struct {
	c    *jsonschema.Compiler
	base string // the $id of the schemas/ folder, ending in "/"
	dir  string
}

func loadOASIS(t *testing.T) *oasis {
	t.Helper()
	dir := os.Getenv(schemasEnv)
	if dir == "" {
		t.Fatalf("%s is not set: no copy of the OASIS STIX 2.1 schemas to validate against (see docs/stix.md)", schemasEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "schemas", "common", "bundle.json")); err == nil {
		dir = filepath.Join(dir, "schemas")
	}
	for _, f := range []string{"common/bundle.json", "common/core.json", "sdos/identity.json", "sdos/location.json",
		"sdos/incident.json", "sdos/indicator.json", "sros/sighting.json", "sros/relationship.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s=%s: not the OASIS STIX 2.1 schemas: %v", schemasEnv, os.Getenv(schemasEnv), err)
		}
	}
	o := &oasis{c: jsonschema.NewCompiler(), dir: dir}
	o.c.AssertFormat()
	// Only the files added here resolve; a reference to anything else
	// fails instead of reaching the network (the compiler has no loader
	// for http).
	seen := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return err
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			return errors.New(path + ": no $id")
		}
		if prev, ok := seen[id]; ok {
			return errors.New(path + " and " + prev + " share the $id " + id)
		}
		seen[id] = path
		if rel, _ := filepath.Rel(dir, path); filepath.ToSlash(rel) == "common/bundle.json" {
			o.base = strings.TrimSuffix(id, "common/bundle.json")
		}
		return o.c.AddResource(id, doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// object is the schema for one object type: the file of that name among
// the SDOs, SROs, common objects or observables.
func (o *oasis) object(t *testing.T, typ string) *jsonschema.Schema {
	t.Helper()
	for _, d := range []string{"sdos", "sros", "common", "observables"} {
		if _, err := os.Stat(filepath.Join(o.dir, d, typ+".json")); err != nil {
			continue
		}
		sch, err := o.c.Compile(o.base + d + "/" + typ + ".json")
		if err != nil {
			t.Fatalf("compiling the OASIS schema for %s: %v", typ, err)
		}
		return sch
	}
	t.Fatalf("the OASIS schemas have no file for the type %q", typ)
	return nil
}

func (o *oasis) bundle(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := o.c.Compile(o.base + "common/bundle.json")
	if err != nil {
		t.Fatalf("compiling the OASIS bundle schema: %v", err)
	}
	return sch
}

func validateValue(sch *jsonschema.Schema, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return validate(sch, raw)
}

// oasisFixture is a real export with every kind of object we write, and
// incidents whose attackers are public, CGNAT and private addresses.
func oasisFixture(t *testing.T) []byte {
	t.Helper()
	out := build(t, fixture())
	types := map[string]bool{}
	for _, o := range parse(t, out).objects {
		types[o.str("type")] = true
	}
	for _, typ := range []string{"identity", "location", "incident", "indicator", "sighting", "relationship"} {
		if !types[typ] {
			t.Fatalf("the fixture's export has no %s", typ)
		}
	}
	return out
}

// TestSTIXOASISObjects validates every object of an export against the
// official schema of its type.
func TestSTIXOASISObjects(t *testing.T) {
	o := loadOASIS(t)
	out := oasisFixture(t)
	n := 0
	for _, obj := range parse(t, out).objects {
		if err := validateValue(o.object(t, obj.str("type")), obj); err != nil {
			t.Errorf("%s fails the OASIS schema: %v", obj.str("id"), err)
		}
		n++
	}
	t.Logf("%d objects valid against the OASIS STIX 2.1 schemas in %s", n, o.dir)
}

// objectIndex reads the index of the bundle's object an error location
// points into ("/objects/3/id" → 3).
var objectIndex = regexp.MustCompile(`^/objects/([0-9]+)(/|$)`)

// TestSTIXOASISBundle validates the bundle against the official
// bundle.json. That schema lists the object types it knows and sends the
// others to a branch for custom objects, which requires an object to match
// exactly one of core.json and cyber-observable-core.json; incident and
// location are not in its list (nor grouping, note, opinion), and an SDO
// with the common properties matches both, so that branch refuses them:
// the known upstream gap. So the test requires the bundle to fail there
// and only there, and then validates the envelope (type, id, objects) and
// the other objects with bundle.json, and incident and location objects
// with their own schemas (TestSTIXOASISObjects).
func TestSTIXOASISBundle(t *testing.T) {
	o := loadOASIS(t)
	sch := o.bundle(t)
	out := oasisFixture(t)
	var b map[string]any
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	objects := b["objects"].([]any)
	typeOf := func(i int) string { return objects[i].(map[string]any)["type"].(string) }
	gap := []string{"incident", "location"}

	err := validate(sch, out)
	var ve *jsonschema.ValidationError
	switch {
	case err == nil:
		t.Log("the OASIS bundle.json accepts the whole export: the upstream gap for incident and location is closed; update docs/stix.md")
	case !errors.As(err, &ve):
		t.Fatalf("validating the bundle: %v", err)
	default:
		failing := map[int]bool{}
		for _, u := range ve.BasicOutput().Errors {
			if u.InstanceLocation == "" {
				continue // the bundle as a whole: "some object failed"
			}
			m := objectIndex.FindStringSubmatch(u.InstanceLocation)
			if m == nil {
				t.Errorf("the OASIS bundle schema refuses %s, outside the objects: %v", u.InstanceLocation, u.Error)
				continue
			}
			i, _ := strconv.Atoi(m[1])
			failing[i] = true
		}
		for i := range failing {
			if !slices.Contains(gap, typeOf(i)) {
				t.Errorf("the OASIS bundle schema refuses object %d (%s), which is not the known gap:\n%v", i, typeOf(i), err)
			}
		}
		for i := range objects {
			if slices.Contains(gap, typeOf(i)) && !failing[i] {
				t.Logf("the OASIS bundle schema accepts object %d (%s): the upstream gap may be closed", i, typeOf(i))
			}
		}
		if len(failing) == 0 {
			t.Fatalf("the bundle failed, but at no object: %v", err)
		}
		t.Logf("as known upstream, bundle.json refuses the %d incident and location objects", len(failing))
	}

	// The envelope, and every object bundle.json knows, with bundle.json.
	var known []any
	for i, obj := range objects {
		if !slices.Contains(gap, typeOf(i)) {
			known = append(known, obj)
		}
	}
	envelope := map[string]any{"type": b["type"], "id": b["id"], "objects": known}
	if err := validateValue(sch, envelope); err != nil {
		t.Fatalf("the bundle without its incident and location objects fails bundle.json: %v", err)
	}
	// The bundle.json check is not vacuous.
	for name, broken := range map[string]map[string]any{
		"type not bundle":    {"type": "collection", "id": b["id"], "objects": known},
		"id of another type": {"type": "bundle", "id": strings.Replace(b["id"].(string), "bundle--", "report--", 1), "objects": known},
		"no id":              {"type": "bundle", "objects": known},
		"no objects":         {"type": "bundle", "id": b["id"], "objects": []any{}},
	} {
		if validateValue(sch, broken) == nil {
			t.Errorf("bundle.json accepted a bundle with %s", name)
		}
	}
}

// TestSTIXOASISRejectsBrokenObjects breaks exported objects in ways the
// official schemas are meant to catch, so that the validation above is
// known to check something.
func TestSTIXOASISRejectsBrokenObjects(t *testing.T) {
	o := loadOASIS(t)
	p := parse(t, oasisFixture(t))
	first := func(typ string) map[string]any {
		for _, obj := range p.objects {
			if obj.str("type") == typ {
				c := map[string]any{}
				for k, v := range obj {
					c[k] = v
				}
				return c
			}
		}
		t.Fatalf("no %s", typ)
		return nil
	}
	cases := []struct {
		name   string
		typ    string
		mutate func(map[string]any)
	}{
		{"incident without spec_version", "incident", func(m map[string]any) { delete(m, "spec_version") }},
		{"incident without name", "incident", func(m map[string]any) { delete(m, "name") }},
		{"incident modified without milliseconds", "incident", func(m map[string]any) { m["modified"] = "2026-11-03T02:14:05Z" }},
		{"incident created with an offset", "incident", func(m map[string]any) { m["created"] = "2026-11-03T09:14:05.000+07:00" }},
		{"incident with a location's id", "incident", func(m map[string]any) { m["id"] = first("location")["id"] }},
		{"location without a place", "location", func(m map[string]any) {
			delete(m, "region")
			delete(m, "country")
			delete(m, "latitude")
			delete(m, "longitude")
		}},
		{"location with latitude only", "location", func(m map[string]any) { delete(m, "longitude") }},
		{"location latitude out of range", "location", func(m map[string]any) { m["latitude"] = 97.5 }},
		{"indicator without pattern_type", "indicator", func(m map[string]any) { delete(m, "pattern_type") }},
		{"indicator without valid_from", "indicator", func(m map[string]any) { delete(m, "valid_from") }},
		{"sighting without sighting_of_ref", "sighting", func(m map[string]any) { delete(m, "sighting_of_ref") }},
		{"sighting of a relationship", "sighting", func(m map[string]any) { m["sighting_of_ref"] = first("relationship")["id"] }},
		{"relationship without target_ref", "relationship", func(m map[string]any) { delete(m, "target_ref") }},
		{"identity without name", "identity", func(m map[string]any) { delete(m, "name") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := first(tc.typ)
			if err := validateValue(o.object(t, tc.typ), obj); err != nil {
				t.Fatalf("the unbroken %s fails already: %v", tc.typ, err)
			}
			tc.mutate(obj)
			if validateValue(o.object(t, tc.typ), obj) == nil {
				t.Errorf("the OASIS schema accepted %s", tc.name)
			}
		})
	}
}
