// Package route decides which CSIRT owns a village's incident: the
// regency's own team where it has one, else the province's. The answer
// comes from a directory file (YAML) that names every team, the regencies
// it covers and how to reach it, plus silences and recurring maintenance
// windows. Adding a regency's new CSIRT is one entry in that file.
package route

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/jagadesa/jagadesa"
)

// Team is one CSIRT.
type Team struct {
	ID        string   `yaml:"id" json:"id"`
	Name      string   `yaml:"name" json:"name"`                               // e.g. JatengProv-CSIRT
	Province  string   `yaml:"province" json:"province"`                       // two-digit province code
	Regencies []string `yaml:"regencies,omitempty" json:"regencies,omitempty"` // NN.NN; empty: the province's own team
	// EscalateAfter is how long an open incident may wait for this team's
	// acknowledgement before the province's team is told (regency teams;
	// default 30 minutes, 15 for priority villages).
	EscalateAfter Duration          `yaml:"escalate_after,omitempty" json:"escalate_after,omitempty"`
	Channels      jagadesa.Channels `yaml:"channels,omitempty" json:"-"` // holds secrets: never served
	Synthetic     bool              `yaml:"synthetic,omitempty" json:"synthetic,omitempty"`
}

// Match selects incidents for a silence or a maintenance window. Empty
// fields match anything; all set fields must match.
type Match struct {
	Villages  []string `yaml:"villages,omitempty" json:"villages,omitempty"`
	Districts []string `yaml:"districts,omitempty" json:"districts,omitempty"`
	Regencies []string `yaml:"regencies,omitempty" json:"regencies,omitempty"`
	ISP       string   `yaml:"isp,omitempty" json:"isp,omitempty"`
	Kinds     []string `yaml:"kinds,omitempty" json:"kinds,omitempty"`
}

// Silence mutes notifications (incidents are still recorded) for a fixed
// period, as an Alertmanager silence does.
type Silence struct {
	Match   Match     `yaml:"match" json:"match"`
	From    time.Time `yaml:"from" json:"from"`
	Until   time.Time `yaml:"until" json:"until"`
	Comment string    `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// Maintenance is a recurring announced window: the SLA excludes it and
// incidents opened inside it do not notify. Start and End are "HH:MM" in
// Timezone; End before Start crosses midnight (23:00–02:00).
type Maintenance struct {
	Name     string   `yaml:"name" json:"name"`
	Match    Match    `yaml:"match" json:"match"`
	Days     []string `yaml:"days,omitempty" json:"days,omitempty"` // mon..sun on which a window starts; empty: every day
	Start    string   `yaml:"start" json:"start"`
	End      string   `yaml:"end" json:"end"`
	Timezone string   `yaml:"timezone,omitempty" json:"timezone,omitempty"` // default Asia/Jakarta

	loc        *time.Location
	start, end int // minutes after midnight
	days       [7]bool
}

// Directory is the whole routing configuration.
type Directory struct {
	Teams       []Team        `yaml:"teams" json:"teams"`
	Silences    []Silence     `yaml:"silences,omitempty" json:"silences,omitempty"`
	Maintenance []Maintenance `yaml:"maintenance,omitempty" json:"maintenance,omitempty"`

	byRegency  map[string]int // NN.NN → team index
	byProvince map[string]int // NN → province team index
	byID       map[string]int
}

// Duration reads "30m" style durations from YAML.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

//go:embed demo-csirt.yaml
var demoDirectory []byte

// Demo returns the demo directory: JatengProv-CSIRT and JambiProv-CSIRT,
// and 21 of Jawa Tengah's 35 regencies with a CSIRT of their own. WHICH 21
// is SYNTHETIC (the count is public, the list is not); the teams have no
// channels, so the demo notifies only through --webhook-url.
func Demo() (*Directory, error) { return Parse(demoDirectory) }

// DemoYAML is the demo directory's file, a starting point for operators.
func DemoYAML() []byte { return slices.Clone(demoDirectory) }

// Load reads a directory file.
func Load(path string) (*Directory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("csirt directory: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("csirt directory %s: %w", path, err)
	}
	return d, nil
}

// Parse reads and validates a directory. Unknown keys are errors, so a
// misspelt "regencise" cannot silently send a regency's incidents to the
// province.
func Parse(b []byte) (*Directory, error) {
	var d Directory
	err := func() (err error) {
		// go-yaml panics on some malformed files (a !!binary scalar where a
		// list belongs, found by FuzzParseDirectory): an error, not a crash.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("not a readable directory file: %v", p)
			}
		}()
		return yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField(), yaml.UseJSONUnmarshaler()).Decode(&d)
	}()
	if err != nil {
		return nil, err
	}
	if err := d.init(); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Directory) init() error {
	var errs []error
	d.byRegency, d.byProvince, d.byID = map[string]int{}, map[string]int{}, map[string]int{}
	for i := range d.Teams {
		t := &d.Teams[i]
		where := fmt.Sprintf("teams[%d] (%s)", i, t.ID)
		if t.ID == "" || t.Name == "" {
			errs = append(errs, fmt.Errorf("%s: id and name are required", where))
		}
		if _, dup := d.byID[t.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: id used twice", where))
		}
		d.byID[t.ID] = i
		if len(t.Province) != 2 || !digits(t.Province) {
			errs = append(errs, fmt.Errorf("%s: province %q must be a two-digit code like 33", where, t.Province))
		}
		if len(t.Regencies) == 0 {
			if prev, dup := d.byProvince[t.Province]; dup {
				errs = append(errs, fmt.Errorf("%s: province %s already has team %s", where, t.Province, d.Teams[prev].ID))
			}
			d.byProvince[t.Province] = i
		}
		for _, r := range t.Regencies {
			if len(r) != 5 || r[2] != '.' || !digits(r[:2]+r[3:]) || r[:2] != t.Province {
				errs = append(errs, fmt.Errorf("%s: regency %q must be NN.NN in province %s", where, r, t.Province))
				continue
			}
			if prev, dup := d.byRegency[r]; dup {
				errs = append(errs, fmt.Errorf("%s: regency %s already belongs to team %s", where, r, d.Teams[prev].ID))
			}
			d.byRegency[r] = i
		}
		if t.EscalateAfter < 0 {
			errs = append(errs, fmt.Errorf("%s: escalate_after must not be negative", where))
		}
		if err := t.Channels.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: channels: %w", where, err))
		}
	}
	for r, i := range d.byRegency {
		if _, ok := d.byProvince[r[:2]]; !ok {
			errs = append(errs, fmt.Errorf("team %s covers regency %s but province %s has no provincial team to escalate to", d.Teams[i].ID, r, r[:2]))
		}
	}
	for i := range d.Silences {
		s := d.Silences[i]
		if s.Until.Before(s.From) || s.From.IsZero() {
			errs = append(errs, fmt.Errorf("silences[%d]: needs from and an until after it", i))
		}
	}
	for i := range d.Maintenance {
		if err := d.Maintenance[i].init(); err != nil {
			errs = append(errs, fmt.Errorf("maintenance[%d] (%s): %w", i, d.Maintenance[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

var dayIndex = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

func (m *Maintenance) init() error {
	tz := m.Timezone
	if tz == "" {
		tz = "Asia/Jakarta"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	m.loc = loc
	if m.start, err = clock(m.Start); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if m.end, err = clock(m.End); err != nil {
		return fmt.Errorf("end: %w", err)
	}
	if m.start == m.end {
		return errors.New("start and end are equal")
	}
	if len(m.Days) == 0 {
		m.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range m.Days {
		i, ok := dayIndex[strings.ToLower(d)]
		if !ok {
			return fmt.Errorf("day %q: want mon, tue, wed, thu, fri, sat or sun", d)
		}
		m.days[i] = true
	}
	return nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Active reports whether t falls in the window. A window that crosses
// midnight belongs to the day it starts on: "sat 23:00–02:00" covers early
// Sunday too.
func (m *Maintenance) Active(t time.Time) bool {
	lt := t.In(m.loc)
	min := lt.Hour()*60 + lt.Minute()
	day := int(lt.Weekday())
	if m.start < m.end {
		return m.days[day] && min >= m.start && min < m.end
	}
	// Crosses midnight: the evening part of a window starting today, or the
	// morning part of one that started yesterday.
	return (m.days[day] && min >= m.start) || (m.days[(day+6)%7] && min < m.end)
}

// Subject is what a silence or maintenance window is matched against.
type Subject struct {
	Village jagadesa.Village
	ISP     string
	Kind    jagadesa.IncidentKind
}

func (m Match) matches(s Subject) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	return in(m.Villages, s.Village.Code) && in(m.Districts, s.Village.DistrictCode) &&
		in(m.Regencies, s.Village.RegencyCode) && (m.ISP == "" || strings.EqualFold(m.ISP, s.ISP)) &&
		in(m.Kinds, string(s.Kind))
}

// Route returns the team that owns a village's incidents and the province
// team it escalates to (the same team for villages without a regency CSIRT).
func (d *Directory) Route(v jagadesa.Village) (owner, province *Team, err error) {
	pi, ok := d.byProvince[v.RegencyCode[:min(2, len(v.RegencyCode))]]
	if !ok {
		return nil, nil, fmt.Errorf("route: no CSIRT for province of %s (%s)", v.Code, v.Regency)
	}
	province = &d.Teams[pi]
	if ri, ok := d.byRegency[v.RegencyCode]; ok {
		return &d.Teams[ri], province, nil
	}
	return province, province, nil
}

// Team looks a team up by id.
func (d *Directory) Team(id string) (*Team, bool) {
	i, ok := d.byID[id]
	if !ok {
		return nil, false
	}
	return &d.Teams[i], true
}

// TeamByName looks a team up by its display name (incidents store it).
func (d *Directory) TeamByName(name string) (*Team, bool) {
	for i := range d.Teams {
		if d.Teams[i].Name == name {
			return &d.Teams[i], true
		}
	}
	return nil, false
}

// Muted says whether notifications about s are held back at t, and why
// ("silence: …" or "maintenance: …"); the incident is still recorded.
func (d *Directory) Muted(s Subject, t time.Time) (bool, string) {
	for _, si := range d.Silences {
		if !t.Before(si.From) && t.Before(si.Until) && si.Match.matches(s) {
			return true, "silence: " + si.Comment
		}
	}
	for i := range d.Maintenance {
		m := &d.Maintenance[i]
		if m.Match.matches(s) && m.Active(t) {
			return true, "maintenance: " + m.Name
		}
	}
	return false, ""
}

// EscalationDelay is how long the owner team has to acknowledge before
// the province is told; zero means never (the owner is the province).
func (d *Directory) EscalationDelay(owner, province *Team, priority bool) time.Duration {
	if owner == province {
		return 0
	}
	delay := time.Duration(owner.EscalateAfter)
	if delay == 0 {
		delay = 30 * time.Minute
		if priority {
			delay = 15 * time.Minute
		}
	}
	return delay
}
