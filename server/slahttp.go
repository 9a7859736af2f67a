package server

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/sla"
)

// SLASource gives the SLA engine's measured inputs of a month per village
// (Timeline, Throughput, Quality), from the server's rollups, never from
// raw points. A village it has nothing for is absent.
type SLASource interface {
	SLAInputs(ctx context.Context, month time.Time, villages []string) (map[string]sla.Input, error)
}

// WindowStore keeps the exclusion windows staff enter (server/sqlite).
type WindowStore interface {
	AddWindow(ctx context.Context, w jagadesa.ExclusionWindow) (jagadesa.ExclusionWindow, error)
	DeleteWindow(ctx context.Context, id int64) error
	Windows(ctx context.Context, from, to time.Time) ([]jagadesa.ExclusionWindow, error)
}

// slaCodes are the villages whose links the SLA judges: the programme's.
func (s *Server) slaCodes() []string {
	out := make([]string, 0, len(s.Programme))
	for c := range s.Programme {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// slaFor computes the month for every programme village (cached).
func (s *Server) slaFor(ctx context.Context, month time.Time) (map[string]sla.Result, error) {
	return s.slaResults.get(ctx, month, s.Now(), func(ctx context.Context) (map[string]sla.Result, error) {
		return s.computeSLA(ctx, month, s.slaCodes())
	})
}

// computeSLA judges the given villages' links over a month: measured
// inputs from the SLA source, contracts from the programme list, and the
// windows staff entered.
func (s *Server) computeSLA(ctx context.Context, month time.Time, codes []string) (map[string]sla.Result, error) {
	start, end := sla.MonthRange(month)
	var inputs map[string]sla.Input
	if s.SLASource != nil {
		var err error
		if inputs, err = s.SLASource.SLAInputs(ctx, start, codes); err != nil {
			return nil, err
		}
	}
	var windows []jagadesa.ExclusionWindow
	if s.Windows != nil {
		var err error
		if windows, err = s.Windows.Windows(ctx, start, end); err != nil {
			return nil, err
		}
	}
	out := make(map[string]sla.Result, len(codes))
	for _, code := range codes {
		v, ok := s.Registry.Village(code)
		if !ok {
			continue
		}
		pr := s.Programme[code]
		in := inputs[code] // zero: no data, every minute unknown
		in.Village = sla.Village{Code: code, ISP: pr.ISP, Cohort: pr.Year, Regency: v.RegencyCode}
		in.Month = start
		in.Contract = sla.Contract{Mbps: float64(pr.ContractMbps), MonthlyFeeIDR: pr.MonthlyFeeIDR}
		in.Maintenance, in.ForceMajeure = nil, nil
		for _, w := range windows {
			if !w.Covers(code, v.RegencyCode, pr.ISP) {
				continue
			}
			sw := sla.Window{Start: w.Start, End: w.End, Note: w.Reason}
			if w.Kind == jagadesa.WindowForceMajeure {
				in.ForceMajeure = append(in.ForceMajeure, sw)
			} else {
				in.Maintenance = append(in.Maintenance, sw)
			}
		}
		r, err := sla.Compute(in)
		if err != nil {
			s.Logger.Warn("SLA not computed", "village", code, "month", start.Format("2006-01"), "err", err)
			continue
		}
		out[code] = r
	}
	return out, nil
}

// connectivityFromSLA is the readiness index's connectivity pillar as the
// month's SLA measured it.
func connectivityFromSLA(r sla.Result) readiness.Connectivity {
	return readiness.Connectivity{UptimePct: r.AvailabilityPct, DownloadMbps: r.Throughput.Download.MeanMbps,
		UploadMbps: r.Throughput.Upload.MeanMbps, LatencyMs: r.LatencyMs.Value, LossPct: r.LossPct.Value}
}

func (s *Server) slaReady(c *gin.Context) (time.Time, bool) {
	who := principal(c)
	if !who.CanReadReports() {
		_ = c.Error(who.Forbidden("read SLA reports"))
		return time.Time{}, false
	}
	return s.readinessMonth(c)
}

// handleVillageSLA is one village link's month against its contract.
func (s *Server) handleVillageSLA(c *gin.Context) {
	month, ok := s.slaReady(c)
	if !ok {
		return
	}
	v, ok := s.visibleVillage(c)
	if !ok {
		return
	}
	all, err := s.slaFor(c.Request.Context(), month)
	if err != nil {
		_ = c.Error(err)
		return
	}
	r, ok := all[v.Code]
	if !ok {
		one, err := s.computeSLA(c.Request.Context(), month, []string{v.Code})
		if err != nil {
			_ = c.Error(err)
			return
		}
		r = one[v.Code]
	}
	c.JSON(http.StatusOK, gin.H{"village_name": v.Name, "result": r, "availability_pct": r.AvailabilityPct, "downtime_min": r.DowntimeMin,
		"excluded_min": r.ExcludedMin, "total_min": r.TotalMin, "throughput_verdict": r.ThroughputVerdict})
}

// handleSLAGroups rolls the month up per ISP (GET /api/v1/sla/isps) or,
// with ?by=regency|cohort|province, per that: counts of villages meeting
// every parameter, below on one at least, and without data; never an
// averaged availability. Only the asker's jurisdiction is counted.
func (s *Server) handleSLAGroups(by sla.GroupBy) gin.HandlerFunc {
	return func(c *gin.Context) {
		month, ok := s.slaReady(c)
		if !ok {
			return
		}
		if q := c.Query("by"); q != "" {
			switch g := sla.GroupBy(q); g {
			case sla.ByISP, sla.ByRegency, sla.ByCohort, sla.ByProvince:
				by = g
			default:
				_ = c.Error(invalid(jagadesa.Problems{"by": "isp, regency, cohort or province"}, "bad grouping"))
				return
			}
		}
		all, err := s.slaFor(c.Request.Context(), month)
		if err != nil {
			_ = c.Error(err)
			return
		}
		who := principal(c)
		results := make([]sla.Result, 0, len(all))
		for code, r := range all {
			if who.Covers(code) {
				results = append(results, r)
			}
		}
		sort.Slice(results, func(i, j int) bool { return results[i].Village.Code < results[j].Village.Code })
		groups, err := sla.Rollup(results, by)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if c.Query("villages") == "true" {
			c.JSON(http.StatusOK, gin.H{"month": month.Format("2006-01"), "by": by, "groups": groups, "villages": results})
			return
		}
		c.JSON(http.StatusOK, gin.H{"month": month.Format("2006-01"), "by": by, "groups": groups, "villages_counted": len(results)})
	}
}

// windowBody is the body of POST /api/v1/maintenance.
type windowBody struct {
	Kind      string    `json:"kind"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Villages  []string  `json:"villages,omitempty"`
	Regencies []string  `json:"regencies,omitempty"`
	ISP       string    `json:"isp,omitempty"`
	Reason    string    `json:"reason"`
}

// handleAddWindow enters an announced maintenance or a force-majeure
// window the SLA excludes: province admins, inside their province.
func (s *Server) handleAddWindow(c *gin.Context) {
	if s.Windows == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no exclusion windows"))
		return
	}
	who := principal(c)
	if !who.CanEditGovernance() {
		_ = c.Error(who.Forbidden("enter maintenance or force-majeure windows"))
		return
	}
	b, err := decode[windowBody](c, 64<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	w := jagadesa.ExclusionWindow{Kind: b.Kind, Start: b.Start, End: b.End, Villages: b.Villages, Regencies: b.Regencies, ISP: b.ISP,
		Reason: b.Reason, CreatedBy: who.Username()}
	if p := w.Validate(); p != nil {
		_ = c.Error(invalid(p, "bad window"))
		return
	}
	for _, code := range append(append([]string{}, w.Villages...), w.Regencies...) {
		if !who.Covers(code) {
			_ = c.Error(who.Forbidden("enter a window for " + code))
			return
		}
	}
	if w, err = s.Windows.AddWindow(c.Request.Context(), w); err != nil {
		_ = c.Error(err)
		return
	}
	s.slaResults.invalidate()
	s.readiness.invalidate()
	s.audit(c, "window_add", strconv.FormatInt(w.ID, 10), who.Area(), w.Kind+": "+clip(w.Reason, 100))
	c.JSON(http.StatusCreated, w)
}

// handleWindows lists the windows overlapping ?month (default this month).
func (s *Server) handleWindows(c *gin.Context) {
	month, ok := s.slaReady(c)
	if !ok {
		return
	}
	if s.Windows == nil {
		c.JSON(http.StatusOK, gin.H{"windows": []jagadesa.ExclusionWindow{}})
		return
	}
	start, end := sla.MonthRange(month)
	ws, err := s.Windows.Windows(c.Request.Context(), start, end)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"month": start.Format("2006-01"), "windows": ws})
}

// handleDeleteWindow withdraws a window (kept for the record).
func (s *Server) handleDeleteWindow(c *gin.Context) {
	who := principal(c)
	if s.Windows == nil || !who.CanEditGovernance() {
		_ = c.Error(who.Forbidden("withdraw windows"))
		return
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		_ = c.Error(invalid(jagadesa.Problems{"id": "a window id"}, "bad id"))
		return
	}
	if err := s.Windows.DeleteWindow(c.Request.Context(), id); err != nil {
		_ = c.Error(err)
		return
	}
	s.slaResults.invalidate()
	s.readiness.invalidate()
	s.audit(c, "window_delete", c.Param("id"), who.Area(), "")
	c.Status(http.StatusNoContent)
}

// computeSLAFor gives the month's results for codes, from the cache when
// they are the programme's.
func (s *Server) computeSLAFor(ctx context.Context, month time.Time, codes []string) (map[string]sla.Result, error) {
	all, err := s.slaFor(ctx, month)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, c := range codes {
		if _, ok := all[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return all, nil
	}
	extra, err := s.computeSLA(ctx, month, missing)
	if err != nil {
		return nil, err
	}
	out := make(map[string]sla.Result, len(all)+len(extra))
	for k, v := range all {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out, nil
}

// MonthFigures computes a month's SLA of every programme village and the
// readiness of every monitored one: what the server publishes for
// Grafana and a national instance.
func (s *Server) MonthFigures(ctx context.Context, month time.Time) (map[string]sla.Result, map[string]readiness.Result, error) {
	sr, err := s.slaFor(ctx, month)
	if err != nil {
		return nil, nil, err
	}
	rr, err := s.readinessFor(ctx, month)
	if err != nil {
		return nil, nil, err
	}
	return sr, rr, nil
}
