package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// alertnames give each incident kind its own Alertmanager alert name, so
// routes and inhibitions can tell a power cut from a cut link.
var alertnames = map[jagadesa.IncidentKind]string{
	jagadesa.IncidentDown:       "JagaDesaVillageDown",
	jagadesa.IncidentPowerCut:   "JagaDesaPowerCut",
	jagadesa.IncidentProbeFault: "JagaDesaProbeFault",
	jagadesa.IncidentDegraded:   "JagaDesaDegraded",
	jagadesa.IncidentSLABreach:  "JagaDesaSLABreach",
	jagadesa.IncidentRegional:   "JagaDesaRegionalOutage",
	jagadesa.IncidentSecurity:   "JagaDesaSecurity",
}

// amAlert is one element of Alertmanager's POST /api/v2/alerts body.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     *time.Time        `json:"startsAt,omitempty"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertFor maps an incident onto one alert. Labels are what identifies the
// alert in Alertmanager, so they hold only what never changes during the
// incident's life; what does change (who acknowledged, the event) goes in
// annotations.
func alertFor(n jagadesa.Notification, dashboard string) amAlert {
	inc := n.Incident
	v := newView(n, dashboard)
	name, ok := alertnames[inc.Kind]
	if !ok {
		name = "JagaDesaIncident"
	}
	village := inc.Village
	if len(inc.Villages) > 0 {
		village = inc.Villages[0]
	}
	labels := map[string]string{
		"alertname":   name,
		"incident_id": inc.ID,
		"kind":        string(inc.Kind),
		"severity":    string(inc.Severity),
		"csirt":       inc.CSIRT,
		"regency":     inc.Regency,
		"village":     village,
		"priority":    fmt.Sprint(inc.Priority),
	}
	// An empty label value means "no such label" to Alertmanager; leave it
	// out rather than send a label that matchers cannot see.
	for k, val := range labels {
		if val == "" {
			delete(labels, k)
		}
	}
	var names []string
	for _, vl := range n.Villages {
		names = append(names, vl.Name)
	}
	a := amAlert{
		Labels: labels,
		Annotations: map[string]string{
			"summary":     inc.Title,
			"description": amDescription(n, v),
			"villages":    strings.Join(names, ", "),
			"event":       n.Event,
		},
		GeneratorURL: v.URL,
	}
	if a.Annotations["summary"] == "" {
		a.Annotations["summary"] = v.headline("opened")
	}
	if v.URL != "" {
		a.Annotations["dashboard_url"] = v.URL
	}
	if inc.AckedBy != "" {
		a.Annotations["acknowledged_by"] = inc.AckedBy
	}
	for k, val := range a.Annotations {
		if val == "" {
			delete(a.Annotations, k)
		}
	}
	start := inc.StartedAt
	if start.IsZero() {
		start = inc.OpenedAt
	}
	if !start.IsZero() {
		a.StartsAt = &start
	}
	if inc.State == jagadesa.StateResolved || n.Event == "resolved" {
		end := inc.ResolvedAt
		if end == nil {
			at := n.At
			end = &at
		}
		a.EndsAt = end
	}
	return a
}

func (d *Dispatcher) sendAlertmanager(ctx context.Context, base string, n jagadesa.Notification) error {
	body, err := json.Marshal([]amAlert{alertFor(n, d.settings.DashboardURL)})
	if err != nil {
		return permanent(fmt.Errorf("encode alert: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return permanent(errors.New("invalid alertmanager url"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jagadesa/"+d.version)
	return d.post(req)
}
