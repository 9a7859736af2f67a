package metastore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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

// Limits on an audit row's free text: callers clip what clients send, and
// the stores refuse nothing for length, they clip.
const (
	maxAuditField  = 128
	maxAuditDetail = 500
	maxAuditArea   = 16
	// MaxAddress bounds a stored client address.
	MaxAddress = 64
)

// AuditRow is e as both stores keep it: an actor and an action required,
// At defaulting to now and Count to 1, every text clipped.
func AuditRow(e jagadesa.AuditEvent, now time.Time) (jagadesa.AuditEvent, error) {
	if e.Action == "" || e.Actor == "" {
		return e, jagadesa.Errorf(jagadesa.EInvalid, "an audit event needs an actor and an action")
	}
	if e.At.IsZero() {
		e.At = now
	}
	if e.Count <= 0 {
		e.Count = 1
	}
	e.Actor, e.Role, e.Address = Clip(e.Actor, maxAuditField), jagadesa.Role(Clip(string(e.Role), maxAuditField)), Clip(e.Address, MaxAddress)
	e.Action, e.Object, e.Area = Clip(e.Action, maxAuditField), Clip(e.Object, maxAuditField), Clip(e.Area, maxAuditArea)
	e.Team, e.Detail = Clip(e.Team, maxAuditField), Clip(e.Detail, maxAuditDetail)
	return e, nil
}

// Clip cuts s to at most n bytes of valid UTF-8, on a rune boundary.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
