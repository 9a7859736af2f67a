package geo

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"
)

// Both layers of a tile are written straight into protobuf bytes. At low
// zoom a tile holds up to 4,489 village points and 500 regency outlines,
// each with about a dozen properties, and that is where a tile's time went:
// orb's generic encoder boxes every value into an interface, sorts every
// feature's keys and allocates a struct per value, which cost more than
// finding, clipping and compressing everything else together. The wire
// format is small (Mapbox Vector Tile 2.1, vector_tile.proto); tests decode
// what this writes with orb's reader and with the generated protobuf code,
// and compare every property and ring.

// Protobuf field keys (field number << 3 | wire type) of vector_tile.proto.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2

	tileLayers    = 3<<3 | wireBytes
	layerName     = 1<<3 | wireBytes
	layerFeatures = 2<<3 | wireBytes
	layerKeys     = 3<<3 | wireBytes
	layerValues   = 4<<3 | wireBytes
	layerExtent   = 5<<3 | wireVarint
	layerVersion  = 15<<3 | wireVarint
	featureID     = 1<<3 | wireVarint
	featureTags   = 2<<3 | wireBytes
	featureType   = 3<<3 | wireVarint
	featureGeom   = 4<<3 | wireBytes
	valueString   = 1<<3 | wireBytes
	valueDouble   = 3<<3 | wireFixed64
	valueInt      = 4<<3 | wireVarint
	valueBool     = 7<<3 | wireVarint
)

// Geometry types and commands (a command integer is id | count << 3).
const (
	geomTypePoint   = 1
	geomTypePolygon = 3
	cmdMoveTo       = 1
	cmdLineTo       = 2
	cmdClosePath    = 7
)

// villageKeys are the villages layer's property names; a feature's tags
// refer to them by position.
var villageKeys = []string{"code", "name", "status", "monitored", "cohort", "approximate",
	"remote_3t", "extreme_poor", "desa_digital", "rtt_ms", "loss_pct"}

const (
	kCode = iota
	kName
	kStatus
	kMonitored
	kCohort
	kApproximate
	kRemote3T
	kExtremePoor
	kDesaDigital
	kRTT
	kLoss
)

// regencyKeys are the regencies layer's property names; code and name come
// first as in villageKeys.
var regencyKeys = []string{"code", "name", "villages", "programme", "monitored", "up", "degraded", "down",
	"unknown", "compromised", "coverage_pct", "up_pct"}

const (
	kVillages = 2 + iota
	kProgramme
	kRegMonitored
	kUp
	kDegraded
	kDown
	kUnknown
	kCompromised
	kCoveragePct
	kUpPct
)

// mvtLayer accumulates the encoded features and values of one layer.
// Values are shared between features where they repeat (statuses,
// booleans, cohorts, counts, measurements); village codes are unique and
// names nearly so, so those are written once per feature without a lookup.
type mvtLayer struct {
	feats, vals []byte
	nvals       uint32
	strs        map[string]uint32
	ints        map[int64]uint32
	nums        map[float64]uint32
	bools       [2]uint32 // value index + 1; 0: not yet written
	tags        []byte
	geom        []byte
	feat        []byte
}

var mvtLayers = sync.Pool{New: func() any {
	return &mvtLayer{strs: map[string]uint32{}, ints: map[int64]uint32{}, nums: map[float64]uint32{}}
}}

func getMVTLayer() *mvtLayer {
	l := mvtLayers.Get().(*mvtLayer)
	l.feats, l.vals, l.nvals, l.bools = l.feats[:0], l.vals[:0], 0, [2]uint32{}
	clear(l.strs)
	clear(l.ints)
	clear(l.nums)
	return l
}

func putMVTLayer(l *mvtLayer) {
	if cap(l.feats) > 4<<20 {
		return // an unusually large tile; let its buffers go
	}
	mvtLayers.Put(l)
}

func appendField(b []byte, key byte, p []byte) []byte {
	b = append(b, key)
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendStringField(b []byte, key byte, s string) []byte {
	b = append(b, key)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (l *mvtLayer) newString(s string) uint32 {
	l.vals = append(l.vals, layerValues)
	l.vals = binary.AppendUvarint(l.vals, uint64(len(s)+1+uvarintLen(uint64(len(s)))))
	l.vals = appendStringField(l.vals, valueString, s)
	l.nvals++
	return l.nvals - 1
}

func (l *mvtLayer) str(s string) uint32 {
	if i, ok := l.strs[s]; ok {
		return i
	}
	i := l.newString(s)
	l.strs[s] = i
	return i
}

func (l *mvtLayer) boolean(b bool) uint32 {
	k := 0
	if b {
		k = 1
	}
	if l.bools[k] == 0 {
		l.vals = append(l.vals, layerValues, 2, valueBool, byte(k))
		l.nvals++
		l.bools[k] = l.nvals
	}
	return l.bools[k] - 1
}

func (l *mvtLayer) integer(n int64) uint32 {
	if i, ok := l.ints[n]; ok {
		return i
	}
	l.vals = append(l.vals, layerValues, byte(1+uvarintLen(uint64(n))), valueInt)
	l.vals = binary.AppendUvarint(l.vals, uint64(n))
	l.nvals++
	l.ints[n] = l.nvals - 1
	return l.nvals - 1
}

func (l *mvtLayer) double(f float64) uint32 {
	if i, ok := l.nums[f]; ok {
		return i
	}
	l.vals = append(l.vals, layerValues, 9, valueDouble)
	l.vals = binary.LittleEndian.AppendUint64(l.vals, math.Float64bits(f))
	l.nvals++
	l.nums[f] = l.nvals - 1
	return l.nvals - 1
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func zigzag(n int32) uint32 { return uint32((n << 1) ^ (n >> 31)) }

func (l *mvtLayer) tag(k int, v uint32) {
	l.tags = append(l.tags, byte(k))
	l.tags = binary.AppendUvarint(l.tags, uint64(v))
}

// addVillage appends one village as a point feature at p (tile units).
// Feature ids are the code's digits (33.06.08.2007 → 3306082007).
func (l *mvtLayer) addVillage(v *MapVillage, id uint64, p orb.Point) {
	l.tags = l.tags[:0]
	l.tag(kCode, l.newString(v.Code))
	l.tag(kName, l.newString(v.Name))
	l.tag(kStatus, l.str(string(v.status())))
	l.tag(kMonitored, l.boolean(v.Monitored))
	cohort, r3t, poor, digital := int64(0), false, false, false
	if pr := v.Programme; pr != nil {
		cohort, r3t, poor, digital = int64(pr.Year), pr.Remote3T, pr.ExtremePoor, pr.DigitalVillage
	}
	l.tag(kCohort, l.integer(cohort))
	l.tag(kApproximate, l.boolean(v.Approximate))
	l.tag(kRemote3T, l.boolean(r3t))
	l.tag(kExtremePoor, l.boolean(poor))
	l.tag(kDesaDigital, l.boolean(digital))
	if v.RTTMs != nil {
		l.tag(kRTT, l.double(round2(*v.RTTMs)))
	}
	if v.LossPct != nil {
		l.tag(kLoss, l.double(round2(*v.LossPct)))
	}
	l.geom = append(l.geom[:0], cmdMoveTo|1<<3)
	l.geom = binary.AppendUvarint(l.geom, uint64(zigzag(int32(p[0]))))
	l.geom = binary.AppendUvarint(l.geom, uint64(zigzag(int32(p[1]))))
	l.addFeature(id, geomTypePoint)
}

// addRegency appends one regency outline (tile units, rings oriented and
// closed) with its coverage; nil coverage gives code and name only.
func (l *mvtLayer) addRegency(code, name string, id uint64, g orb.Geometry, c *Coverage) {
	l.tags = l.tags[:0]
	l.tag(kCode, l.str(code))
	l.tag(kName, l.str(name))
	if c != nil {
		for k, n := range [...]int{kVillages: c.Villages, kProgramme: c.Programme, kRegMonitored: c.Monitored, kUp: c.Up,
			kDegraded: c.Degraded, kDown: c.Down, kUnknown: c.Unknown, kCompromised: c.Compromised} {
			if k >= kVillages {
				l.tag(k, l.integer(int64(n)))
			}
		}
		if c.CoveragePct != nil {
			l.tag(kCoveragePct, l.double(round2(*c.CoveragePct)))
		}
		if c.UpPct != nil {
			l.tag(kUpPct, l.double(round2(*c.UpPct)))
		}
	}
	l.geom = l.geom[:0]
	var cx, cy int32 // the cursor, carried from ring to ring
	ring := func(r orb.Ring) {
		if r.Closed() {
			r = r[:len(r)-1] // ClosePath returns to the first point
		}
		for i, p := range r {
			switch i {
			case 0:
				l.geom = append(l.geom, cmdMoveTo|1<<3)
			case 1:
				l.geom = binary.AppendUvarint(l.geom, uint64(cmdLineTo|(len(r)-1)<<3))
			}
			x, y := int32(p[0]), int32(p[1])
			l.geom = binary.AppendUvarint(l.geom, uint64(zigzag(x-cx)))
			l.geom = binary.AppendUvarint(l.geom, uint64(zigzag(y-cy)))
			cx, cy = x, y
		}
		l.geom = append(l.geom, cmdClosePath|1<<3)
	}
	switch g := g.(type) {
	case orb.Polygon:
		for _, r := range g {
			ring(r)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			for _, r := range p {
				ring(r)
			}
		}
	}
	l.addFeature(id, geomTypePolygon)
}

// addFeature appends a feature made of the pending tags and geometry.
func (l *mvtLayer) addFeature(id uint64, geomType byte) {
	f := append(l.feat[:0], featureID)
	f = binary.AppendUvarint(f, id)
	f = appendField(f, featureTags, l.tags)
	f = append(f, featureType, geomType)
	f = appendField(f, featureGeom, l.geom)
	l.feat = f
	l.feats = appendField(l.feats, layerFeatures, f)
}

// appendTile appends the layer, wrapped as the Tile message's layers field.
// A tile is a protobuf message whose only field is its repeated layers, so
// layers appended one after the other make one tile.
func (l *mvtLayer) appendTile(b []byte, name string, keys []string) []byte {
	size := 1 + uvarintLen(uint64(len(name))) + len(name) + len(l.feats) + len(l.vals) +
		1 + uvarintLen(tileExtent) + 2
	for _, k := range keys {
		size += 1 + uvarintLen(uint64(len(k))) + len(k)
	}
	b = append(b, tileLayers)
	b = binary.AppendUvarint(b, uint64(size))
	b = appendStringField(b, layerName, name)
	b = append(b, l.feats...)
	for _, k := range keys {
		b = appendStringField(b, layerKeys, k)
	}
	b = append(b, l.vals...)
	b = append(b, layerExtent)
	b = binary.AppendUvarint(b, tileExtent)
	// Field 15 with wire type 0 is 120: one byte, as is the version.
	return append(b, layerVersion, 2)
}

// codeID turns a village code into the feature's numeric MVT id
// (33.06.08.2007 → 3306082007).
func codeID(code string) uint64 {
	id, _ := strconv.ParseUint(strings.ReplaceAll(code, ".", ""), 10, 64)
	return id
}
