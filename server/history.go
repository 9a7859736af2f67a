package server

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/status"
)

// historyRanges are the ranges a village page offers, each with a step
// that keeps a chart near 300 points or fewer (one per pixel column of a
// typical chart), so a month of 1-minute rounds never travels whole.
var historyRanges = map[string]struct{ span, step time.Duration }{
	"1h":  {time.Hour, time.Minute},
	"6h":  {6 * time.Hour, 2 * time.Minute},
	"24h": {24 * time.Hour, 5 * time.Minute},
	"7d":  {7 * 24 * time.Hour, 30 * time.Minute},
	"30d": {30 * 24 * time.Hour, 3 * time.Hour},
}

// handleHistory serves a village page's charts: latency spread per target,
// the uptime strip, outages, events and speed tests.
func (s *Server) handleHistory(c *gin.Context) {
	code := c.Param("code")
	if !jagadesa.ValidVillageCode(code) {
		_ = c.Error(invalid(jagadesa.Problems{"code": "must be a Kemendagri village code like 33.06.08.2005"}, "bad village code"))
		return
	}
	v, ok := s.Registry.Village(code)
	if !ok {
		_ = c.Error(notFound("village %s is not in the registry", code))
		return
	}
	if who := principal(c); !who.CanSeeVillage(v) {
		_ = c.Error(who.Forbidden("see village " + code))
		return
	}
	rg, ok := historyRanges[c.DefaultQuery("range", "24h")]
	if !ok {
		_ = c.Error(invalid(jagadesa.Problems{"range": "must be one of 1h, 6h, 24h, 7d, 30d"}, "bad range"))
		return
	}
	if s.History == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "history needs the time-series store, which is not configured"))
		return
	}
	to := s.Now().UTC()
	h, err := s.History.History(c.Request.Context(), code, to.Add(-rg.span), to, rg.step)
	if err != nil {
		_ = c.Error(err)
		return
	}
	live := s.Status.Get(code)
	s.addCurrentOutage(h, live)
	h.Uptime = s.uptimeSteps(h, rg.step, live)
	c.JSON(http.StatusOK, h)
}

// addCurrentOutage adds the outage in progress, which the probe can only
// report once it is over: while live status says down, the outage runs from
// the last time the village was heard from, cause not yet known.
func (s *Server) addCurrentOutage(h *jagadesa.History, live status.View) {
	if live.Status != jagadesa.StatusDown || live.LastSeen == nil {
		return
	}
	start := live.LastSeen.UTC()
	h.Outages = append(h.Outages, jagadesa.OutageSpan{Start: start, Cause: "unknown", DurationS: h.To.Sub(start).Seconds()})
}

// uptimeSteps turns the stored history into one state per step, in order of
// precedence: an outage the probe reported (power, probe, link) or the one
// in progress; then what the pings say (every target lost: down; loss or
// latency over the degraded thresholds: degraded); then heartbeats (the
// probe was alive: up); otherwise no data.
func (s *Server) uptimeSteps(h *jagadesa.History, step time.Duration, live status.View) []jagadesa.UptimeStep {
	n := len(h.Heartbeats)
	out := make([]jagadesa.UptimeStep, n)
	type agg struct {
		lost, targets       int
		worstLoss, worstRTT float64
	}
	pings := make([]agg, n)
	for _, ws := range h.RTT {
		for _, w := range ws {
			// Windows are stamped at their end: the step they cover began one step earlier.
			i := int(w.T.Add(-step).Sub(h.From) / step)
			if i < 0 || i >= n {
				continue
			}
			a := &pings[i]
			a.targets++
			if w.LossPct != nil {
				if *w.LossPct >= 100 {
					a.lost++
				}
				a.worstLoss = max(a.worstLoss, *w.LossPct)
			}
			if w.Median != nil {
				a.worstRTT = max(a.worstRTT, *w.Median)
			}
		}
	}
	for i := range out {
		t := h.From.Add(time.Duration(i) * step)
		out[i] = jagadesa.UptimeStep{T: t, State: jagadesa.UptimeNoData}
		a := pings[i]
		switch {
		case a.targets > 0 && a.lost == a.targets:
			out[i].State = jagadesa.UptimeDown
		case a.targets > 0 && (a.worstLoss > status.DegradedLossPct || a.worstRTT > status.DegradedRTTMs):
			out[i].State = jagadesa.UptimeDegraded
		case a.targets > 0 || h.Heartbeats[i] > 0:
			out[i].State = jagadesa.UptimeUp
		}
		stepEnd := t.Add(step)
		for _, o := range h.Outages {
			end := h.To
			if o.End != nil {
				end = *o.End
			}
			// An outage marks a step it covers at least half of.
			overlap := minTime(end, stepEnd).Sub(maxTime(o.Start, t))
			if overlap < step/2 && !(o.Start.After(t) && end.Before(stepEnd)) {
				continue
			}
			switch o.Cause {
			case "power":
				out[i].State = jagadesa.UptimePower
			case "probe":
				out[i].State = jagadesa.UptimeProbe
			default:
				out[i].State = jagadesa.UptimeDown
			}
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
