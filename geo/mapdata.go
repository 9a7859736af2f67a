package geo

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paulmach/orb/geojson"

	"github.com/jagadesa/jagadesa"
)

// MapVillage is one village as maps show it.
type MapVillage struct {
	jagadesa.Village
	Programme *jagadesa.Programme // nil: not in the programme
	Monitored bool                // has an enrolled probe or is in the programme
	Status    jagadesa.Status     // "" is shown as unknown
	LastSeen  *time.Time
	RTTMs     *float64
	LossPct   *float64
	IDM       *IDM // nil: none (kelurahan have no IDM)
}

func (v *MapVillage) status() jagadesa.Status {
	if v.Status == "" {
		return jagadesa.StatusUnknown
	}
	return v.Status
}

// Coverage aggregates villages (a regency, a kecamatan, a cohort).
type Coverage struct {
	Villages      int                  `json:"villages"`
	Programme     int                  `json:"programme"`
	Monitored     int                  `json:"monitored"`
	Up            int                  `json:"up"`
	Degraded      int                  `json:"degraded"`
	Down          int                  `json:"down"`
	Unknown       int                  `json:"unknown"` // monitored, never heard from or state unknown
	Compromised   int                  `json:"compromised"`
	CoveragePct   *float64             `json:"coverage_pct"`    // monitored programme villages ÷ programme villages × 100
	UpPct         *float64             `json:"up_pct"`          // up ÷ monitored × 100
	MedianRTTMs   *float64             `json:"median_rtt_ms"`   // over monitored villages with a value
	MedianLossPct *float64             `json:"median_loss_pct"` // idem
	Cohorts       map[string]*Coverage `json:"cohorts,omitempty"`

	monitoredProgramme int
	rtts, losses       []float64
}

func (c *Coverage) add(v *MapVillage) {
	c.Villages++
	if v.Programme != nil {
		c.Programme++
	}
	if !v.Monitored {
		return
	}
	c.Monitored++
	if v.Programme != nil {
		c.monitoredProgramme++
	}
	switch v.status() {
	case jagadesa.StatusUp:
		c.Up++
	case jagadesa.StatusDegraded:
		c.Degraded++
	case jagadesa.StatusDown:
		c.Down++
	case jagadesa.StatusCompromised:
		c.Compromised++
	default:
		c.Unknown++
	}
	if v.RTTMs != nil {
		c.rtts = append(c.rtts, *v.RTTMs)
	}
	if v.LossPct != nil {
		c.losses = append(c.losses, *v.LossPct)
	}
}

func (c *Coverage) finish() {
	if c.Programme > 0 {
		p := 100 * float64(c.monitoredProgramme) / float64(c.Programme)
		c.CoveragePct = &p
	}
	if c.Monitored > 0 {
		p := 100 * float64(c.Up) / float64(c.Monitored)
		c.UpPct = &p
	}
	c.MedianRTTMs, c.MedianLossPct = medianOf(c.rtts), medianOf(c.losses)
	c.rtts, c.losses = nil, nil
	for _, k := range c.Cohorts {
		k.finish()
	}
}

func medianOf(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	n := len(xs)
	m := xs[n/2]
	if n%2 == 0 {
		m = (xs[n/2-1] + xs[n/2]) / 2
	}
	return &m
}

// Aggregate groups villages by key and sums each group's coverage, with the
// programme villages of each cohort year aggregated alongside.
func Aggregate(vs []MapVillage, key func(*MapVillage) string) map[string]*Coverage {
	out := map[string]*Coverage{}
	// Callers pass villages in code order and group by a code prefix, so
	// the group rarely changes from one village to the next.
	var lastKey string
	var c *Coverage
	for i := range vs {
		v := &vs[i]
		if k := key(v); c == nil || k != lastKey {
			if c = out[k]; c == nil {
				c = &Coverage{}
				out[k] = c
			}
			lastKey = k
		}
		c.add(v)
		if v.Programme != nil && v.Programme.Year != 0 {
			if c.Cohorts == nil {
				c.Cohorts = map[string]*Coverage{}
			}
			y := strconv.Itoa(v.Programme.Year)
			cc := c.Cohorts[y]
			if cc == nil {
				cc = &Coverage{}
				c.Cohorts[y] = cc
			}
			cc.add(v)
		}
	}
	for _, c := range out {
		c.finish()
	}
	return out
}

// jsonWriter appends JSON to a buffered writer. Writing the few fields of a
// village feature by hand keeps all 8,563 villages of Jawa Tengah well
// inside the 50 ms budget, where reflection-based encoding of generic
// property maps is several times slower; tests decode the output with orb's
// GeoJSON reader and compare every field.
type jsonWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

func (j *jsonWriter) bytes(b []byte) {
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

func (j *jsonWriter) str(s string) {
	j.buf = appendJSONString(j.buf[:0], s)
	j.bytes(j.buf)
}

func (j *jsonWriter) num(f float64, prec int) {
	j.buf = strconv.AppendFloat(j.buf[:0], f, 'f', prec, 64)
	j.buf = trimZeros(j.buf)
	j.bytes(j.buf)
}

func (j *jsonWriter) optNum(f *float64, prec int) {
	if f == nil {
		j.raw("null")
		return
	}
	j.num(*f, prec)
}

func (j *jsonWriter) boolean(b bool) {
	if b {
		j.raw("true")
	} else {
		j.raw("false")
	}
}

// trimZeros drops trailing zeros of a fixed-point number ("109.900000" →
// "109.9", "20.000" → "20").
func trimZeros(b []byte) []byte {
	if slices.Contains(b, '.') {
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
		if b[len(b)-1] == '.' {
			b = b[:len(b)-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string: control characters, quotes and
// backslashes escaped, invalid UTF-8 replaced, and <, >, & escaped so the
// output is safe to embed in HTML as encoding/json's is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// WriteVillagesGeoJSON writes villages as an RFC 7946 FeatureCollection of
// Point features, id = village code, coordinates [lon, lat] to 6 decimals
// (about 10 cm), with the properties the API documents.
func WriteVillagesGeoJSON(w io.Writer, vs []MapVillage) error {
	j := &jsonWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 64)}
	j.raw(`{"type":"FeatureCollection","features":[`)
	for i := range vs {
		v := &vs[i]
		if i > 0 {
			j.raw(",")
		}
		j.raw(`{"type":"Feature","id":`)
		j.str(v.Code)
		j.raw(`,"geometry":{"type":"Point","coordinates":[`)
		j.num(v.Lon, 6)
		j.raw(",")
		j.num(v.Lat, 6)
		j.raw(`]},"properties":{"code":`)
		j.str(v.Code)
		j.raw(`,"name":`)
		j.str(v.Name)
		j.raw(`,"kind":`)
		j.str(v.Kind)
		j.raw(`,"district_code":`)
		j.str(v.DistrictCode)
		j.raw(`,"district":`)
		j.str(v.District)
		j.raw(`,"regency_code":`)
		j.str(v.RegencyCode)
		j.raw(`,"regency":`)
		j.str(v.Regency)
		j.raw(`,"province":`)
		j.str(v.Code[:2])
		j.raw(`,"approximate":`)
		j.boolean(v.Approximate)
		j.raw(`,"status":`)
		j.str(string(v.status()))
		j.raw(`,"monitored":`)
		j.boolean(v.Monitored)
		j.raw(`,"programme":`)
		p := v.Programme
		j.boolean(p != nil)
		if p != nil {
			j.raw(`,"cohort":`)
			j.num(float64(p.Year), 0)
			j.raw(`,"isp":`)
			j.str(p.ISP)
			j.raw(`,"contract_mbps":`)
			j.num(float64(p.ContractMbps), 0)
			j.raw(`,"remote_3t":`)
			j.boolean(p.Remote3T)
			j.raw(`,"extreme_poor":`)
			j.boolean(p.ExtremePoor)
			j.raw(`,"desa_digital":`)
			j.boolean(p.DigitalVillage)
		} else {
			j.raw(`,"cohort":null,"isp":null,"contract_mbps":null,"remote_3t":false,"extreme_poor":false,"desa_digital":false`)
		}
		if v.IDM != nil {
			j.raw(`,"idm_status":`)
			j.str(v.IDM.Status)
			j.raw(`,"idm_score":`)
			j.num(v.IDM.Score, 4)
		} else {
			j.raw(`,"idm_status":null,"idm_score":null`)
		}
		j.raw(`,"rtt_ms":`)
		j.optNum(v.RTTMs, 2)
		j.raw(`,"loss_pct":`)
		j.optNum(v.LossPct, 2)
		j.raw(`,"last_seen":`)
		if v.LastSeen != nil {
			j.buf = append(j.buf[:0], '"')
			j.buf = v.LastSeen.UTC().AppendFormat(j.buf, time.RFC3339)
			j.buf = append(j.buf, '"')
			j.bytes(j.buf)
		} else {
			j.raw("null")
		}
		j.raw("}}")
	}
	j.raw("]}\n")
	if j.err != nil {
		return j.err
	}
	return j.w.Flush()
}

// lazyJSON holds a regency's geometry encoded as GeoJSON: the polygons are
// large and never change, so each is encoded once per process. Copies of a
// Regency share it.
type lazyJSON struct {
	once sync.Once
	b    []byte
	err  error
}

func regencyGeometryJSON(r *Regency) ([]byte, error) {
	if r.enc == nil {
		return geojson.NewGeometry(r.Geometry).MarshalJSON()
	}
	r.enc.once.Do(func() { r.enc.b, r.enc.err = geojson.NewGeometry(r.Geometry).MarshalJSON() })
	return r.enc.b, r.enc.err
}

// WriteRegenciesGeoJSON writes regency polygons (RFC 7946 winding, as the
// reference data has them) with their coverage as flat properties, for a
// choropleth. A regency missing from cov has an empty coverage.
func WriteRegenciesGeoJSON(w io.Writer, regs []Regency, cov map[string]*Coverage) error {
	j := &jsonWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 64)}
	j.raw(`{"type":"FeatureCollection","features":[`)
	for i := range regs {
		r := &regs[i]
		g, err := regencyGeometryJSON(r)
		if err != nil {
			return err
		}
		c := cov[r.Code]
		if c == nil {
			c = &Coverage{}
		}
		if i > 0 {
			j.raw(",")
		}
		j.raw(`{"type":"Feature","id":`)
		j.str(r.Code)
		j.raw(`,"geometry":`)
		j.bytes(g)
		j.raw(`,"properties":{"code":`)
		j.str(r.Code)
		j.raw(`,"name":`)
		j.str(r.Name)
		j.raw(`,"province":`)
		j.str(r.Code[:2])
		for _, f := range []struct {
			name string
			v    int
		}{{"villages", c.Villages}, {"programme", c.Programme}, {"monitored", c.Monitored}, {"up", c.Up},
			{"degraded", c.Degraded}, {"down", c.Down}, {"unknown", c.Unknown}, {"compromised", c.Compromised}} {
			j.raw(`,"` + f.name + `":`)
			j.num(float64(f.v), 0)
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"coverage_pct", c.CoveragePct}, {"up_pct", c.UpPct}, {"median_rtt_ms", c.MedianRTTMs}, {"median_loss_pct", c.MedianLossPct}} {
			j.raw(`,"` + f.name + `":`)
			j.optNum(f.v, 2)
		}
		for _, y := range []string{"2022", "2023", "2024"} {
			n := 0
			if k := c.Cohorts[y]; k != nil {
				n = k.Programme
			}
			j.raw(`,"cohort_` + y + `":`)
			j.num(float64(n), 0)
		}
		j.raw("}}")
	}
	j.raw("]}\n")
	if j.err != nil {
		return j.err
	}
	return j.w.Flush()
}
