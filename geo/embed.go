package geo

import _ "embed"

// The reference data ships inside the binary so that the product never reads
// /work/shared or any data directory at run time.
//
// jateng-villages.csv already holds the 200 interior points that upstream
// moved from centroids lying outside their village (all 200 rows of
// jateng-villages-coord-adjusted.csv equal the adjusted value, none the old
// centroid), so no adjustment is applied at load time and the adjustment file
// is not embedded. TestCoordAdjustmentsApplied keeps that true, using the copy
// in testdata/.

//go:embed data/jateng/jateng-villages.csv
var jatengVillagesCSV []byte

//go:embed data/jateng/jateng-regencies.geojson
var jatengRegenciesGeoJSON []byte

//go:embed data/jateng/ATTRIBUTION.md
var jatengAttribution string

//go:embed data/jateng/SOURCES.md
var jatengSources string

//go:embed data/jambi/ATTRIBUTION.md
var jambiAttribution string

//go:embed data/jambi/SOURCES.md
var jambiSources string

//go:embed data/demo-programme.csv
var demoProgrammeCSV string

// Attribution returns Jawa Tengah's embedded ATTRIBUTION.md verbatim. The
// MIT licenses of the village data require their notices to travel with
// every copy, and the maps must show its credit line, so the server can
// serve it from here. AttributionOf has every province's.
func Attribution() string { return jatengAttribution }

// Sources returns Jawa Tengah's embedded SOURCES.md verbatim, so the
// provenance of the reference data (snapshots, commits, transformations) is
// available from the running product without the source tree.
func Sources() string { return jatengSources }

// AttributionOf returns the embedded ATTRIBUTION.md of a province (ids as in
// ProvinceIDs) verbatim.
func AttributionOf(id string) (string, bool) {
	switch id {
	case "jateng":
		return jatengAttribution, true
	case "jambi":
		return jambiAttribution, true
	}
	return "", false
}

// SourcesOf returns the embedded SOURCES.md of a province verbatim.
func SourcesOf(id string) (string, bool) {
	switch id {
	case "jateng":
		return jatengSources, true
	case "jambi":
		return jambiSources, true
	}
	return "", false
}
