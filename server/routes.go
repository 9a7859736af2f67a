package server

import "github.com/gin-gonic/gin"

// routes is the whole API surface in one place, grouped by who may call it.
func (s *Server) routes(r *gin.Engine) {
	// Anyone: liveness and metrics for the operator's monitoring.
	r.GET("/healthz", s.handleHealthz)
	r.GET("/metrics", s.handleMetrics())

	api := r.Group("/api/v1")

	// Probes: bearer token bound to one village.
	probe := api.Group("", s.requireProbe)
	probe.POST("/reports", s.handleReports)
	// Speed tests: GET downloads, POST uploads; both share one set of slots.
	probe.Match([]string{"GET", "POST"}, "/speedtest", newSpeedtest(s).handle)

	// Staff (the admin token for now).
	staff := api.Group("", s.requireStaff)
	staff.GET("/villages", s.handleVillages)
	staff.GET("/villages/:code", s.handleVillage)

	// Administration.
	admin := api.Group("", s.requireAdmin)
	admin.POST("/probes", s.handleEnrollProbe)
	admin.GET("/probes", s.handleListProbes)

	r.NoRoute(func(c *gin.Context) {
		_ = c.Error(notFound("no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
}
