package status

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jagadesa/jagadesa"
)

// A snapshot is the engine's whole state — every village's latest rounds,
// throughput, site and hysteresis — written from time to time to the
// metadata store, so that a restart at national size (83,763 villages)
// rebuilds live status in well under a second instead of asking InfluxDB
// for a day of every village's series (about 24 s). Hysteresis comes back
// as it was: a village degraded before the restart is degraded after it,
// with no new incident and no relearning. The server then asks InfluxDB
// only for what arrived after the snapshot was taken.

const snapshotVersion = 1

type snapshotFile struct {
	Version  int               `json:"v"`
	Taken    time.Time         `json:"taken"`
	Villages []snapshotVillage `json:"villages"`
}

type snapshotVillage struct {
	Code      string          `json:"c"`
	Probe     string          `json:"p,omitempty"`
	LastSeen  time.Time       `json:"seen"`
	IntervalS float64         `json:"iv"`
	Targets   []Target        `json:"t,omitempty"`
	Download  *snapshotSpeed  `json:"dl,omitempty"`
	Upload    *snapshotSpeed  `json:"ul,omitempty"`
	Site      *Site           `json:"site,omitempty"`
	H         snapshotHystery `json:"h"`
}

type snapshotSpeed struct {
	Time  time.Time `json:"at"`
	Mbps  float64   `json:"mbps"`
	Other float64   `json:"other"`
}

type snapshotHystery struct {
	Raw           jagadesa.Status `json:"raw"`
	Reason        string          `json:"reason,omitempty"`
	DegradedSince time.Time       `json:"ds,omitzero"`
	HealthySince  time.Time       `json:"hs,omitzero"`
	Shown         bool            `json:"shown,omitempty"`
	ShownSince    time.Time       `json:"ss,omitzero"`
	ShownReason   string          `json:"sr,omitempty"`
}

// WriteSnapshot writes the engine's state, gzip-compressed, and returns
// how many villages it holds. Villages are copied a few hundred at a time
// under the read lock and encoded one by one outside it: the whole
// document of a national engine (83,763 villages with their targets) is
// about 140 MB of JSON, which encoding it in one piece held in memory
// every 30 s, and one long read lock would hold up every report.
func (e *Engine) WriteSnapshot(w io.Writer) (int, error) {
	e.mu.RLock()
	codes := make([]string, 0, len(e.v))
	for code, v := range e.v {
		if !v.lastSeen.IsZero() { // never heard from: nothing to keep
			codes = append(codes, code)
		}
	}
	e.mu.RUnlock()
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	head, err := json.Marshal(snapshotFile{Version: snapshotVersion, Taken: e.cfg.Now().UTC()})
	if err != nil {
		return 0, fmt.Errorf("status snapshot: %w", err)
	}
	// {"v":1,"taken":"…","villages":null} → {"v":1,"taken":"…","villages":[
	head = append(bytes.TrimSuffix(head, []byte("null}")), '[')
	if _, err := zw.Write(head); err != nil {
		return 0, fmt.Errorf("status snapshot: %w", err)
	}
	enc := json.NewEncoder(zw)
	const chunk = 512
	batch := make([]snapshotVillage, 0, chunk)
	n := 0
	for i := 0; i < len(codes); i += chunk {
		batch = batch[:0]
		e.mu.RLock()
		for _, code := range codes[i:min(i+chunk, len(codes))] {
			if v := e.v[code]; v != nil && !v.lastSeen.IsZero() {
				batch = append(batch, v.snapshot(code))
			}
		}
		e.mu.RUnlock()
		for j := range batch {
			if n > 0 {
				zw.Write([]byte{','})
			}
			if err := enc.Encode(&batch[j]); err != nil {
				return 0, fmt.Errorf("status snapshot: %w", err)
			}
			n++
		}
	}
	if _, err := zw.Write([]byte("]}\n")); err != nil {
		return 0, fmt.Errorf("status snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("status snapshot: %w", err)
	}
	return n, nil
}

// MaxSnapshotVillages bounds what LoadSnapshot takes: a few times
// Indonesia's villages.
const MaxSnapshotVillages = 400_000

// snapshot copies what a snapshot keeps of a village. e.mu is held.
func (v *village) snapshot(code string) snapshotVillage {
	sv := snapshotVillage{Code: code, Probe: v.probe, LastSeen: v.lastSeen, IntervalS: v.interval.Seconds(), Site: v.site,
		H: snapshotHystery{Raw: v.h.raw, Reason: v.h.reason, DegradedSince: v.h.degradedSince, HealthySince: v.h.healthySince,
			Shown: v.h.shown, ShownSince: v.h.shownSince, ShownReason: v.h.shownReason}}
	sv.Targets = slices.Clone(v.targets)
	if d := v.download; d != nil {
		sv.Download = &snapshotSpeed{d.time, d.mbps, d.other}
	}
	if u := v.upload; u != nil {
		sv.Upload = &snapshotSpeed{u.time, u.mbps, u.other}
	}
	return sv
}

// LoadSnapshot restores the state a snapshot holds and returns how many
// villages it restored and when the snapshot was taken. A village the
// engine has already heard from since (a report that arrived first) keeps
// what it has. Villages not in keep (nil: all kept) are left out: a
// village no longer monitored.
func (e *Engine) LoadSnapshot(r io.Reader, keep func(code string) bool) (int, time.Time, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("status snapshot: %w", err)
	}
	var f snapshotFile
	if err := json.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&f); err != nil {
		return 0, time.Time{}, fmt.Errorf("status snapshot: %w", err)
	}
	if f.Version != snapshotVersion {
		return 0, time.Time{}, fmt.Errorf("status snapshot: version %d, this server reads %d", f.Version, snapshotVersion)
	}
	if len(f.Villages) > MaxSnapshotVillages {
		return 0, time.Time{}, fmt.Errorf("status snapshot: %d villages, more than %d", len(f.Villages), MaxSnapshotVillages)
	}
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for i := range f.Villages {
		sv := &f.Villages[i]
		if !jagadesa.ValidVillageCode(sv.Code) || (keep != nil && !keep(sv.Code)) {
			continue
		}
		if cur := e.v[sv.Code]; cur != nil && !cur.lastSeen.Before(sv.LastSeen) {
			continue
		}
		v := &village{probe: sv.Probe, lastSeen: sv.LastSeen, interval: e.cfg.DefaultInterval, site: sv.Site,
			h: hysteresis{raw: sv.H.Raw, reason: sv.H.Reason, degradedSince: sv.H.DegradedSince, healthySince: sv.H.HealthySince,
				shown: sv.H.Shown, shownSince: sv.H.ShownSince, shownReason: sv.H.ShownReason}}
		if iv := time.Duration(sv.IntervalS * float64(time.Second)); iv > 0 && iv <= 24*time.Hour {
			v.interval = iv
		}
		if v.lastSeen.After(now) {
			v.lastSeen = now
		}
		for j := range sv.Targets {
			if len(v.targets) >= maxTargets {
				break
			}
			t := sv.Targets[j]
			if cur := v.target(t.Target); cur != nil {
				*cur = t // the last of a name, as a map would keep
				continue
			}
			v.targets = append(v.targets, t)
		}
		if d := sv.Download; d != nil {
			v.download = &speed{time: d.Time, mbps: d.Mbps, other: d.Other}
		}
		if u := sv.Upload; u != nil {
			v.upload = &speed{time: u.Time, mbps: u.Mbps, other: u.Other}
		}
		// Silent since the snapshot? The same rules as a live engine
		// apply from the village's deadline on.
		e.catchUp(v, now)
		if cur := e.v[sv.Code]; cur != nil {
			*cur = *v // in place: a Roster holds the pointer
		} else {
			e.v[sv.Code] = v
		}
		n++
	}
	return n, f.Taken, nil
}
