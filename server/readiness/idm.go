package readiness

// Band is a village's IDM status class.
type Band struct {
	Name    string `json:"name"`     // sangat tertinggal, tertinggal, berkembang, maju, mandiri
	LabelID string `json:"label_id"` // as Kemendes writes it: "Sangat Tertinggal"
	LabelEN string `json:"label_en"`
}

// The IDM bands with their upper bounds, inclusive: sangat tertinggal ≤
// 0.4907 < tertinggal ≤ 0.5989 < berkembang ≤ 0.7072 < maju ≤ 0.8155 <
// mandiri. These four-decimal cuts are fitted to the statuses Kemendes
// published with IDM 2024 (they reproduce every one in geo/data); the
// bands themselves are Permendesa PDTT 2/2016's.
//
// The planning notes round these to three decimals (0.491, 0.599, 0.707,
// 0.815); the rounded cuts put 68 villages of the published IDM 2024 lists of
// Jawa Tengah and Jambi (scores 0.7070, 0.7071, 0.8151–0.8154) in a higher
// band than Kemendes did. The four-decimal cuts reproduce every published
// status (TestBandsMatchPublishedStatus), so a village page never shows a
// band that contradicts the registry's.
var bands = []struct {
	upTo float64
	band Band
}{
	{0.4907, Band{"sangat tertinggal", "Sangat Tertinggal", "Very underdeveloped"}},
	{0.5989, Band{"tertinggal", "Tertinggal", "Underdeveloped"}},
	{0.7072, Band{"berkembang", "Berkembang", "Developing"}},
	{0.8155, Band{"maju", "Maju", "Advanced"}},
}

var mandiri = Band{"mandiri", "Mandiri", "Independent"}

// BandOf returns the IDM band of a score (0..1).
func BandOf(idm float64) Band {
	for _, b := range bands {
		if idm <= b.upTo {
			return b.band
		}
	}
	return mandiri
}
