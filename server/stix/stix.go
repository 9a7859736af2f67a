// Package stix writes JagaDesa's security incidents as a STIX 2.1 bundle,
// the exchange format that TAXII servers, OpenCTI and MISP all import, so a
// provincial CSIRT can hand what its village routers saw to the national
// CSIRT without a tool of ours on the other side.
//
// The mapping (see docs/stix.md):
//
//   - the producing CSIRT is one identity, the created_by_ref of every
//     other object;
//   - each village involved is one location (its registry point, with a
//     precision when the point is only the kecamatan's);
//   - each security incident is one incident;
//   - each attacking address or domain named in an incident's evidence is
//     an indicator of that incident, with a sighting of it at the
//     village(s) where it was seen; an address only when it is globally
//     routable (GloballyRoutable), so no private, CGNAT or other
//     special-purpose address is ever shared;
//   - relationships "related-to" tie the incident to its indicators and
//     to its villages (STIX defines no "located-at" for incidents, and
//     events without an address, such as a configuration change, have
//     nothing to be a sighting of).
//
// Every id is a UUIDv5 over a stable name (the village code, the incident
// id and the object's role in it), and every timestamp comes from the
// incident itself, so exporting the same incidents twice gives the same
// bytes, and importers that see a re-export update objects instead of
// duplicating them.
package stix

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// SpecVersion is the STIX version every object declares.
const SpecVersion = "2.1"

// MediaType is what a STIX 2.1 bundle is served as.
const MediaType = "application/stix+json;version=2.1"

// Namespace is the UUIDv5 namespace the STIX 2.1 specification (section
// 2.9) gives for deterministic identifiers.
var Namespace = [16]byte{0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7}

// Epoch is the created and modified time of the objects that do not come
// from an incident (the producer's identity and the village locations)
// when the producer names none: a fixed instant, so that a re-export does
// not present the same object with a different creation time.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ApproximatePrecision is the precision, in metres, given to a village
// drawn at its kecamatan's fallback point: a kecamatan in Jawa Tengah
// spans a few kilometres.
const ApproximatePrecision = 5000.0

// Producer is the organisation that publishes the bundle.
type Producer struct {
	Name string // e.g. JatengProv-CSIRT
	// Contact is optional contact information (an e-mail address).
	Contact string
	// Created is when the identity was first published; zero means Epoch.
	Created time.Time
}

// VillageFunc looks a village up by its Kemendagri code.
type VillageFunc func(code string) (jagadesa.Village, bool)

// Bundle returns the STIX 2.1 bundle of the security incidents among
// incidents (others are skipped), indented JSON ending in a newline. The
// output depends only on its arguments, not on their order or the clock.
func Bundle(incidents []jagadesa.Incident, village VillageFunc, p Producer) ([]byte, error) {
	if strings.TrimSpace(p.Name) == "" {
		return nil, errors.New("stix: the producer needs a name")
	}
	if village == nil {
		village = func(string) (jagadesa.Village, bool) { return jagadesa.Village{}, false }
	}
	created := p.Created
	if created.IsZero() {
		created = Epoch
	}
	b := &builder{village: village, locations: map[string]string{}}
	b.identity = Identity{
		common:        b.common("identity", "jagadesa-identity:"+p.Name, created, created, ""),
		Name:          p.Name,
		IdentityClass: "organization",
		Contact:       p.Contact,
	}
	b.epoch = created

	list := make([]jagadesa.Incident, 0, len(incidents))
	for _, in := range incidents {
		if in.Kind == jagadesa.IncidentSecurity {
			list = append(list, in)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].OpenedAt.Equal(list[j].OpenedAt) {
			return list[i].OpenedAt.Before(list[j].OpenedAt)
		}
		return list[i].ID < list[j].ID
	})
	for i := range list {
		if i > 0 && list[i].ID == list[i-1].ID {
			continue // the same incident twice (two pages overlapping)
		}
		if list[i].ID == "" {
			return nil, errors.New("stix: an incident without an id")
		}
		b.incident(&list[i])
	}

	objects := make([]any, 0, 1+len(b.locationObjs)+len(b.objects))
	objects = append(objects, b.identity)
	sort.Slice(b.locationObjs, func(i, j int) bool { return b.locationObjs[i].code < b.locationObjs[j].code })
	for _, l := range b.locationObjs {
		objects = append(objects, l.Location)
	}
	objects = append(objects, b.objects...)

	body, err := json.Marshal(objects)
	if err != nil {
		return nil, fmt.Errorf("stix: %w", err)
	}
	sum := sha256.Sum256(body)
	bundle := struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Objects []any  `json:"objects"`
	}{"bundle", "bundle--" + UUIDv5(Namespace, "jagadesa-bundle:"+hex.EncodeToString(sum[:])), objects}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bundle); err != nil {
		return nil, fmt.Errorf("stix: %w", err)
	}
	return out.Bytes(), nil
}

// The objects, with their properties in a fixed order.

type common struct {
	Type         string `json:"type"`
	SpecVersion  string `json:"spec_version"`
	ID           string `json:"id"`
	CreatedByRef string `json:"created_by_ref,omitempty"`
	Created      string `json:"created"`
	Modified     string `json:"modified"`
}

// Identity is an identity SDO.
type Identity struct {
	common
	Name          string `json:"name"`
	IdentityClass string `json:"identity_class"`
	Contact       string `json:"contact_information,omitempty"`
}

// Location is a location SDO.
type Location struct {
	common
	Name               string   `json:"name"`
	Description        string   `json:"description,omitempty"`
	Latitude           float64  `json:"latitude"`
	Longitude          float64  `json:"longitude"`
	Precision          *float64 `json:"precision,omitempty"`
	Region             string   `json:"region"`
	Country            string   `json:"country"`
	AdministrativeArea string   `json:"administrative_area,omitempty"`
}

// ExternalReference points outside the bundle.
type ExternalReference struct {
	SourceName string `json:"source_name"`
	ExternalID string `json:"external_id"`
}

// Incident is an incident SDO.
type Incident struct {
	common
	Name               string              `json:"name"`
	Description        string              `json:"description,omitempty"`
	ExternalReferences []ExternalReference `json:"external_references"`
}

// Indicator is an indicator SDO.
type Indicator struct {
	common
	Name           string   `json:"name"`
	Description    string   `json:"description,omitempty"`
	IndicatorTypes []string `json:"indicator_types"`
	Pattern        string   `json:"pattern"`
	PatternType    string   `json:"pattern_type"`
	PatternVersion string   `json:"pattern_version"`
	ValidFrom      string   `json:"valid_from"`
}

// Sighting is a sighting SRO.
type Sighting struct {
	common
	Description     string   `json:"description,omitempty"`
	FirstSeen       string   `json:"first_seen"`
	LastSeen        string   `json:"last_seen"`
	Count           int      `json:"count"`
	SightingOfRef   string   `json:"sighting_of_ref"`
	WhereSightedRef []string `json:"where_sighted_refs,omitempty"`
}

// Relationship is a relationship SRO.
type Relationship struct {
	common
	RelationshipType string `json:"relationship_type"`
	Description      string `json:"description,omitempty"`
	SourceRef        string `json:"source_ref"`
	TargetRef        string `json:"target_ref"`
}

type builder struct {
	village      VillageFunc
	identity     Identity
	epoch        time.Time
	locations    map[string]string // village code → location id ("" when unknown)
	locationObjs []struct {
		code string
		Location
	}
	objects []any
}

func (b *builder) common(typ, name string, created, modified time.Time, by string) common {
	return common{
		Type: typ, SpecVersion: SpecVersion, ID: typ + "--" + UUIDv5(Namespace, name),
		CreatedByRef: by, Created: Timestamp(created), Modified: Timestamp(modified),
	}
}

// location returns the id of the village's location, adding it to the
// bundle the first time; "" when the registry does not know the code.
func (b *builder) location(code string) string {
	if id, ok := b.locations[code]; ok {
		return id
	}
	v, ok := b.village(code)
	if !ok {
		b.locations[code] = ""
		return ""
	}
	l := Location{
		common:             b.common("location", "jagadesa-village:"+code, b.epoch, b.epoch, b.identity.ID),
		Name:               PlaceName(v),
		Latitude:           v.Lat,
		Longitude:          v.Lon,
		Region:             "south-eastern-asia",
		Country:            "ID",
		AdministrativeArea: v.Regency,
		Description:        "Kode desa Kemendagri " + v.Code,
	}
	if v.Approximate {
		prec := ApproximatePrecision
		l.Precision = &prec
		l.Description += "; titik kecamatan (lokasi desa tidak diketahui)"
	}
	b.locations[code] = l.ID
	b.locationObjs = append(b.locationObjs, struct {
		code string
		Location
	}{code, l})
	return l.ID
}

// PlaceName names a village the way people in Indonesia write it:
// "Desa Krandegan, Kec. Bayan, Kab. Purworejo".
func PlaceName(v jagadesa.Village) string {
	kind := "Desa"
	if strings.EqualFold(v.Kind, "kelurahan") {
		kind = "Kelurahan"
	}
	parts := []string{kind + " " + v.Name}
	if v.District != "" {
		parts = append(parts, "Kec. "+v.District)
	}
	if r := v.Regency; r != "" {
		if rest, ok := strings.CutPrefix(r, "Kabupaten "); ok {
			r = "Kab. " + rest
		}
		parts = append(parts, r)
	}
	return strings.Join(parts, ", ")
}

// event is one security event of an incident's evidence.
type event struct {
	n     int
	kind  string
	msg   string
	at    time.Time
	attrs map[string]string
}

// incidentEvents lists what the probe reported about the incident: its
// signals, or for incidents stored before signals existed, the events
// folded into its evidence map.
func incidentEvents(in *jagadesa.Incident) []event {
	if len(in.Signals) == 0 {
		return events(in.Evidence)
	}
	out := make([]event, 0, len(in.Signals))
	for i, g := range in.Signals {
		e := event{n: i + 1, kind: g.Kind, msg: g.Message, at: g.LastSeen.UTC(), attrs: map[string]string{}}
		for k, v := range g.Attrs {
			if name, ok := strings.CutPrefix(k, "probe."); ok {
				e.attrs[name] = v
			}
		}
		if g.Source != "" {
			e.attrs["source"] = g.Source
		}
		out = append(out, e)
	}
	return out
}

// events splits an incident's evidence into its events: the keys of the
// first have no suffix, those of the n-th end in "#n".
func events(ev map[string]string) []event {
	byN := map[int]*event{}
	for k, v := range ev {
		n := 1
		if i := strings.LastIndexByte(k, '#'); i > 0 {
			if m, err := strconv.Atoi(k[i+1:]); err == nil && m > 1 {
				n, k = m, k[:i]
			}
		}
		e := byN[n]
		if e == nil {
			e = &event{n: n, attrs: map[string]string{}}
			byN[n] = e
		}
		switch k {
		case "event":
			e.kind = v
		case "message":
			e.msg = v
		case "at":
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				e.at = t.UTC()
			} else {
				e.attrs[k] = v
			}
		default:
			e.attrs[k] = v
		}
	}
	out := make([]event, 0, len(byN))
	for _, e := range byN {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

// observable is an address or domain that evidence names.
type observable struct {
	typ   string // ipv4-addr, ipv6-addr, domain-name
	value string
}

func (o observable) key() string { return o.typ + ":" + o.value }

func (o observable) pattern() string {
	// Values are validated addresses and host names, so they hold no
	// quote or backslash; escape anyway, as the patterning grammar asks.
	v := strings.ReplaceAll(o.value, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "[" + o.typ + ":value = '" + v + "']"
}

// addressKeys are the evidence attributes that hold an address or a
// domain worth sharing, in the order they are read.
var addressKeys = []string{"source", "indicator", "domain", "resolver", "upstream"}

var hostname = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// parseObservable reads an attribute value as an IP address (with or
// without a port) or a domain name. Only globally routable addresses are
// indicators (GloballyRoutable): a private, CGNAT (100.64.0.0/10),
// loopback, link-local, documentation or other special-purpose address
// means nothing, or something else, outside the village's network.
func parseObservable(s string) (observable, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			d := strings.TrimSuffix(strings.ToLower(s), ".")
			if len(d) <= 253 && hostname.MatchString(d) {
				return observable{"domain-name", d}, true
			}
			return observable{}, false
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if !GloballyRoutable(a) {
		return observable{}, false
	}
	if a.Is4() {
		return observable{"ipv4-addr", a.String()}, true
	}
	return observable{"ipv6-addr", a.String()}, true
}

// maliciousKinds are the events whose address is an attacker's, not just
// unusual: a burst of failed logins or a threat-feed match.
var maliciousKinds = map[string]bool{"login_bruteforce": true, "threat_ip": true, "threat_domain": true}

// seen collects what the evidence says about one observable.
type seen struct {
	observable
	first, last time.Time
	count       int
	kinds       []string
	malicious   bool
}

func (b *builder) incident(in *jagadesa.Incident) {
	evs := incidentEvents(in)
	campaign := strings.HasPrefix(in.Evidence["group"], "source:")
	created := in.OpenedAt.UTC()
	if created.IsZero() {
		created = in.StartedAt.UTC()
	}
	started := in.StartedAt.UTC()
	if started.IsZero() {
		started = created
	}
	modified := created
	later := func(t time.Time) {
		if t.After(modified) {
			modified = t.UTC()
		}
	}
	for _, e := range evs {
		later(e.at)
	}
	for _, t := range []*time.Time{in.AckedAt, in.ResolvedAt, in.EndedAt} {
		if t != nil {
			later(*t)
		}
	}
	// Timestamps carry milliseconds: compare what will be written.
	created, modified = created.Truncate(time.Millisecond), modified.Truncate(time.Millisecond)
	name := "jagadesa-incident:" + in.ID
	by := b.identity.ID

	villages := slices.Clone(in.Villages)
	if len(villages) == 0 && in.Village != "" {
		villages = []string{in.Village}
	}
	sort.Strings(villages)
	villages = slices.Compact(villages)
	var where []string
	for _, code := range villages {
		if id := b.location(code); id != "" {
			where = append(where, id)
		}
	}

	inc := Incident{
		common:             b.common("incident", name, created, modified, by),
		Name:               in.Title,
		Description:        b.describe(in, evs, villages),
		ExternalReferences: []ExternalReference{{SourceName: "jagadesa", ExternalID: in.ID}},
	}
	if strings.TrimSpace(inc.Name) == "" {
		inc.Name = "Insiden keamanan " + in.ID
	}
	b.objects = append(b.objects, inc)

	for _, code := range villages {
		loc := b.locations[code]
		if loc == "" {
			continue
		}
		b.objects = append(b.objects, Relationship{
			common:           b.common("relationship", name+"/related-to/village:"+code, created, modified, by),
			RelationshipType: "related-to",
			Description:      "Insiden terjadi pada router desa " + code,
			SourceRef:        inc.ID,
			TargetRef:        loc,
		})
	}

	// What addresses the evidence names, in order of first mention.
	var found []*seen
	byKey := map[string]*seen{}
	note := func(o observable, at time.Time, kind string, malicious bool) {
		s := byKey[o.key()]
		if s == nil {
			s = &seen{observable: o, first: at, last: at}
			byKey[o.key()] = s
			found = append(found, s)
		}
		if at.Before(s.first) {
			s.first = at
		}
		if at.After(s.last) {
			s.last = at
		}
		s.count++
		if kind != "" && !slices.Contains(s.kinds, kind) {
			s.kinds = append(s.kinds, kind)
		}
		s.malicious = s.malicious || malicious
	}
	if campaign {
		if o, ok := parseObservable(in.Evidence["source"]); ok {
			last := started
			if in.EndedAt != nil && in.EndedAt.After(last) {
				last = in.EndedAt.UTC()
			}
			s := &seen{observable: o, first: started, last: last, count: max(len(villages), 1), kinds: []string{"campaign"}, malicious: true}
			byKey[o.key()] = s
			found = append(found, s)
		}
	} else {
		for _, e := range evs {
			at := e.at
			if at.IsZero() {
				at = started
			}
			for _, k := range addressKeys {
				if v := e.attrs[k]; v != "" {
					if o, ok := parseObservable(v); ok {
						note(o, at, e.kind, maliciousKinds[e.kind])
					}
				}
			}
		}
	}

	for _, s := range found {
		first, last := s.first.UTC().Truncate(time.Millisecond), s.last.UTC().Truncate(time.Millisecond)
		oc := latest(created, first)
		om := latest(modified, oc)
		types := []string{"anomalous-activity"}
		if s.malicious {
			types = []string{"malicious-activity"}
		}
		what := "Alamat"
		if s.typ == "domain-name" {
			what = "Domain"
		}
		ind := Indicator{
			common:         b.common("indicator", name+"/indicator/"+s.key(), oc, om, by),
			Name:           what + " " + s.value + " (insiden " + in.ID + ")",
			Description:    "Tercatat pada bukti insiden " + in.ID + ": " + strings.Join(s.kinds, ", "),
			IndicatorTypes: types,
			Pattern:        s.pattern(),
			PatternType:    "stix",
			PatternVersion: SpecVersion,
			ValidFrom:      Timestamp(first),
		}
		b.objects = append(b.objects, ind)
		desc := s.value + " terlihat pada router desa"
		if campaign {
			desc = s.value + " mencoba router di " + strconv.Itoa(len(villages)) + " desa"
		}
		b.objects = append(b.objects, Sighting{
			common:          b.common("sighting", name+"/sighting/"+s.key(), oc, om, by),
			Description:     desc,
			FirstSeen:       Timestamp(first),
			LastSeen:        Timestamp(last),
			Count:           min(s.count, 999999999),
			SightingOfRef:   ind.ID,
			WhereSightedRef: where,
		})
		b.objects = append(b.objects, Relationship{
			common:           b.common("relationship", name+"/related-to/indicator/"+s.key(), oc, om, by),
			RelationshipType: "related-to",
			SourceRef:        inc.ID,
			TargetRef:        ind.ID,
		})
	}
}

// describe writes the incident's facts and its evidence, one line each.
func (b *builder) describe(in *jagadesa.Incident, evs []event, villages []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Tingkat: %s. Status: %s. CSIRT: %s.\n", in.Severity, in.State, in.CSIRT)
	if !in.StartedAt.IsZero() {
		fmt.Fprintf(&sb, "Mulai: %s. ", Timestamp(in.StartedAt))
	}
	fmt.Fprintf(&sb, "Dibuka: %s.", Timestamp(in.OpenedAt))
	if in.ResolvedAt != nil {
		fmt.Fprintf(&sb, " Selesai: %s.", Timestamp(*in.ResolvedAt))
	}
	sb.WriteString("\nDesa:")
	for _, code := range villages {
		if v, ok := b.village(code); ok {
			fmt.Fprintf(&sb, "\n- %s (%s)", code, PlaceName(v))
		} else {
			fmt.Fprintf(&sb, "\n- %s", code)
		}
	}
	if g := in.Evidence["group"]; g != "" {
		fmt.Fprintf(&sb, "\nKampanye: satu penyerang (%s) mencoba router di %d desa.", strings.TrimPrefix(g, "source:"), len(villages))
	}
	heading := false
	for _, e := range evs {
		if e.kind == "" && e.msg == "" && e.at.IsZero() {
			continue // a campaign's group and source, said above
		}
		if !heading {
			sb.WriteString("\nBukti:")
			heading = true
		}
		sb.WriteString("\n- ")
		if !e.at.IsZero() {
			sb.WriteString(Timestamp(e.at) + " ")
		}
		sb.WriteString(e.kind)
		if e.msg != "" {
			sb.WriteString(": " + e.msg)
		}
		keys := make([]string, 0, len(e.attrs))
		for k := range e.attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 0 {
				sb.WriteString(" [")
			} else {
				sb.WriteString(", ")
			}
			sb.WriteString(k + "=" + e.attrs[k])
		}
		if len(keys) > 0 {
			sb.WriteString("]")
		}
	}
	return sb.String()
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Timestamp writes a STIX timestamp: UTC, millisecond precision, "Z".
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// UUIDv5 returns the name-based (SHA-1) UUID of name in namespace, as RFC
// 9562 section 5.5 defines it, in its lower-case text form.
func UUIDv5(namespace [16]byte, name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// CheckReferences reports every reference in a bundle (a property named
// *_ref or *_refs) that names no object of the bundle, and objects that
// share an id. It does not check the schema; see the tests for that.
func CheckReferences(bundle []byte) error {
	var b struct {
		Type    string           `json:"type"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return fmt.Errorf("stix: not a bundle: %w", err)
	}
	if b.Type != "bundle" {
		return fmt.Errorf("stix: type %q, not bundle", b.Type)
	}
	ids := map[string]bool{}
	var errs []error
	for _, o := range b.Objects {
		id, _ := o["id"].(string)
		if ids[id] {
			errs = append(errs, fmt.Errorf("duplicate id %s", id))
		}
		ids[id] = true
	}
	for _, o := range b.Objects {
		id, _ := o["id"].(string)
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var refs []any
			switch {
			case strings.HasSuffix(k, "_ref"):
				refs = []any{o[k]}
			case strings.HasSuffix(k, "_refs"):
				list, ok := o[k].([]any)
				if !ok {
					errs = append(errs, fmt.Errorf("%s: %s is not a list", id, k))
					continue
				}
				refs = list
			default:
				continue
			}
			for _, r := range refs {
				s, _ := r.(string)
				if !ids[s] {
					errs = append(errs, fmt.Errorf("%s: %s points at %v, not in the bundle", id, k, r))
				}
			}
		}
	}
	return errors.Join(errs...)
}
