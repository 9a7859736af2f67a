package jagadesa

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Governance is what staff entered about a village's digital governance:
// the readiness index's fourth pillar (docs/readiness.md). Kemendes's
// smart-village minimum is internet, a website and an app.
type Governance struct {
	Village        string    `json:"village"`
	Website        bool      `json:"website"`         // a working village website
	App            bool      `json:"app"`             // a village app, or a shared one it uses
	OnlineServices int       `json:"online_services"` // public services the village offers online (0–50)
	Note           string    `json:"note,omitempty"`  // where it was checked, e.g. the URL
	UpdatedBy      string    `json:"updated_by,omitempty"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// MaxOnlineServices bounds OnlineServices: more is a typo.
const MaxOnlineServices = 50

// Validate checks an entry's shape.
func (g *Governance) Validate() Problems {
	p := Problems{}
	if !ValidVillageCode(g.Village) {
		p.add("village", "a village code like 33.06.08.2007")
	}
	if g.OnlineServices < 0 || g.OnlineServices > MaxOnlineServices {
		p.add("online_services", "0 to %d", MaxOnlineServices)
	}
	if len(g.Note) > 500 {
		p.add("note", "at most 500 bytes")
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// MaxGovernanceRows bounds one import.
const MaxGovernanceRows = 20000

// ReadGovernanceCSV reads an import: a header naming at least village,
// website, app and online_services (any order; note optional); booleans
// as 1/0, ya/tidak, yes/no or true/false. Every row is checked and every
// problem reported with its line, so a bad file changes nothing.
func ReadGovernanceCSV(r io.Reader) ([]Governance, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, Errorf(EInvalid, "governance CSV: no header row: %v", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"village", "website", "app", "online_services"} {
		if _, ok := col[need]; !ok {
			return nil, Errorf(EInvalid, "governance CSV: the header lacks %q (village,website,app,online_services[,note])", need)
		}
	}
	var out []Governance
	var problems []string
	seen := map[string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errorf(EInvalid, "governance CSV: %v", err)
		}
		if len(out) >= MaxGovernanceRows {
			return nil, Errorf(EInvalid, "governance CSV: more than %d rows", MaxGovernanceRows)
		}
		get := func(k string) string {
			if i, ok := col[k]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		g := Governance{Village: get("village"), Note: get("note")}
		var bad []string
		var ok bool
		if g.Website, ok = parseYesNo(get("website")); !ok {
			bad = append(bad, "website")
		}
		if g.App, ok = parseYesNo(get("app")); !ok {
			bad = append(bad, "app")
		}
		n, err := strconv.Atoi(get("online_services"))
		if err != nil {
			bad = append(bad, "online_services")
		}
		g.OnlineServices = n
		if p := g.Validate(); p != nil {
			for k := range p {
				bad = append(bad, k)
			}
		}
		if prev, dup := seen[g.Village]; dup && g.Village != "" {
			bad = append(bad, fmt.Sprintf("village (again; first on line %d)", prev))
		}
		seen[g.Village] = line
		if len(bad) > 0 {
			if len(problems) < 20 {
				problems = append(problems, fmt.Sprintf("line %d: %s", line, strings.Join(bad, ", ")))
			}
			continue
		}
		out = append(out, g)
	}
	if len(problems) > 0 {
		return nil, Errorf(EInvalid, "governance CSV: nothing imported; fix: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

func parseYesNo(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "ya", "y", "yes", "true", "ada":
		return true, true
	case "0", "tidak", "t", "no", "n", "false", "tidak ada", "":
		return false, s != ""
	}
	return false, false
}
