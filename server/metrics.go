package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jagadesa/jagadesa"
)

type metrics struct {
	reg      *prometheus.Registry
	reports  *prometheus.CounterVec
	points   prometheus.Counter
	rejected prometheus.Counter
	requests *prometheus.HistogramVec

	loginFailures prometheus.Counter
	auditFailures prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		reg: reg,
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jagadesa_reports_total",
			Help: "Probe reports received, by result (ok or an error code).",
		}, []string{"result"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jagadesa_points_written_total",
			Help: "Points durably written to InfluxDB.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jagadesa_records_rejected_total",
			Help: "Records of probe reports refused by validation (the rest of their batch is stored).",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jagadesa_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method", "code"}),
	}
	m.loginFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jagadesa_login_failures_total",
		Help: "Dashboard sign-ins refused for a wrong token.",
	})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jagadesa_audit_write_failures_total",
		Help: "Audit events that could not be recorded (the change itself was made; see the log).",
	})
	villages := prometheus.NewDesc("jagadesa_villages", "Monitored villages by live status.", []string{"status"}, nil)
	reg.MustRegister(m.reports, m.points, m.rejected, m.requests, m.loginFailures, m.auditFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectorFunc{desc: villages, collect: func(ch chan<- prometheus.Metric) {
			counts := s.Status.Counts(s.monitoredCodes())
			for _, st := range []jagadesa.Status{jagadesa.StatusUp, jagadesa.StatusDegraded, jagadesa.StatusDown, jagadesa.StatusUnknown, jagadesa.StatusCompromised} {
				ch <- prometheus.MustNewConstMetric(villages, prometheus.GaugeValue, float64(counts[st]), string(st))
			}
		}})
	return m
}

// monitoredCodes are the programme villages plus those with a probe.
func (s *Server) monitoredCodes() []string {
	seen := map[string]bool{}
	for c := range s.Programme {
		seen[c] = true
	}
	if ps, err := s.Probes.Probes(context.Background()); err == nil {
		for _, p := range ps {
			seen[p.Village] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	return out
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }

// observe records every request's duration by route.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched" // bounded label set: never the raw path
		}
		s.metrics.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
	}
}

func (s *Server) handleMetrics() gin.HandlerFunc {
	return gin.WrapH(MetricsHandler(s.metrics.reg))
}

// MetricsHandler serves a registry's metrics with no authentication, for
// jagadesa serve --metrics-listen: an address the operator keeps inside
// the monitoring network.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// handleHealthz answers 200 when the server and InfluxDB are up, 503 with
// the reason otherwise, so a load balancer or Uptime Kuma sees the truth.
func (s *Server) handleHealthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.Points.Ping(ctx); err != nil {
		// The cause names the database's internal address: log it only.
		id := newErrorID()
		s.Logger.Warn("health check: InfluxDB unreachable", "error_id", id, "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "influxdb": "unreachable", "error_id": id})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "influxdb": "ok"})
}
