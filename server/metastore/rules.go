package metastore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Rules both stores keep the same way, written once.

// TouchEvery is how stale a session's last_seen or a token's last_used may
// get before a request writes it again: a request is not a write each.
const TouchEvery = time.Minute

// SessionLive says whether a stored session still counts at now (all in
// Unix milliseconds): its account enabled, before its absolute expiry, and
// used within idle (0: no idle limit).
func SessionLive(disabled bool, now, expires, lastSeen int64, idle time.Duration) bool {
	return !disabled && now < expires && (idle <= 0 || now-lastSeen <= idle.Milliseconds())
}

// windowScope is how an exclusion window's scope is stored: one JSON
// column, whichever engine.
type windowScope struct {
	Villages  []string `json:"villages,omitempty"`
	Regencies []string `json:"regencies,omitempty"`
	ISP       string   `json:"isp,omitempty"`
}

// EncodeWindowScope is the stored form of w's scope.
func EncodeWindowScope(w jagadesa.ExclusionWindow) []byte {
	b, _ := json.Marshal(windowScope{w.Villages, w.Regencies, w.ISP}) // strings and slices: cannot fail
	return b
}

// DecodeWindowScope sets w's scope from its stored form.
func DecodeWindowScope(b []byte, w *jagadesa.ExclusionWindow) error {
	var sc windowScope
	if err := json.Unmarshal(b, &sc); err != nil {
		return fmt.Errorf("window %d scope: %w", w.ID, err)
	}
	w.Villages, w.Regencies, w.ISP = sc.Villages, sc.Regencies, sc.ISP
	return nil
}
