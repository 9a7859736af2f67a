package server

import (
	"github.com/gin-gonic/gin"
	"github.com/jagadesa/jagadesa/server/sla"
)

// routes is the whole API surface in one place, grouped by who may call it.
func (s *Server) routes(r *gin.Engine) {
	// Anyone: liveness. Metrics need a bearer token (or their own address,
	// see MetricsHandler).
	r.GET("/healthz", s.handleHealthz)
	r.GET("/metrics", s.requireMetrics, s.handleMetrics())

	// The dashboard: one page for every route it draws, and its assets.
	if s.web != nil {
		for _, p := range []string{"/", "/login", "/desa/:code", "/kabupaten/:code", "/insiden", "/insiden/:id", "/audit", "/admin", "/kesiapan", "/laporan"} {
			r.GET(p, s.web.page)
		}
		r.GET("/assets/*path", s.web.asset)
	}

	api := r.Group("/api/v1")

	// Browser sign-in for the dashboard: a token in, a session cookie out.
	api.POST("/session", s.handleLogin)
	api.GET("/session", s.handleSession)
	api.DELETE("/session", s.handleLogout)
	// A router enrolls itself with the code a field technician typed.
	api.POST("/enroll", s.handleEnrollWithCode)

	// Probes: bearer token bound to one village.
	probe := api.Group("", s.requireProbe)
	probe.POST("/reports", s.handleReports)
	probe.POST("/probes/key", s.handleRegisterKey)
	probe.GET("/threatfeed", s.handleThreatFeed)
	probe.POST("/probes/token", s.handleProbeToken)
	// Speed tests: GET downloads, POST uploads; both share one set of slots.
	probe.Match([]string{"GET", "POST"}, "/speedtest", newSpeedtest(s).handle)

	// Staff (the admin token for now).
	staff := api.Group("", s.requireStaff)
	staff.GET("/villages", s.handleVillages)
	staff.GET("/villages/:code", s.handleVillage)
	staff.GET("/villages/:code/history", s.handleHistory)
	staff.GET("/regencies", s.handleRegencies)
	staff.GET("/regencies/:code", s.handleRegency)
	staff.GET("/provinces", s.handleProvinces)
	staff.GET("/config", s.handleConfig)
	staff.GET("/map/villages.geojson", s.handleVillagesGeoJSON)
	staff.GET("/map/regencies.geojson", s.handleRegenciesGeoJSON)
	staff.GET("/tiles/:z/:x/:y", s.handleTile)

	// Incidents: the CSIRT's queue.
	staff.GET("/incidents", s.handleIncidents)
	staff.GET("/incidents/:id", s.handleIncident)
	for _, a := range []string{"ack", "resolve", "notes", "assign", "stage"} {
		staff.POST("/incidents/:id/"+a, s.handleIncidentAction(a))
	}
	staff.GET("/reports/incidents", s.handleIncidentReport)
	// Security incidents as a STIX 2.1 bundle, for other CSIRT tools.
	staff.GET("/reports/security.stix", s.handleSecurityExport)
	// The monthly reports: sla, readiness, csirt; JSON, PDF, XLSX or CSV.
	staff.GET("/reports/monthly/:kind", s.handleMonthlyReport)
	// The audit trail of the asker's jurisdiction, per CSIRT and month.
	staff.GET("/audit", s.handleAudit)
	staff.DELETE("/sessions", s.handleSignOutEverywhere)
	// Digital readiness: a village's score explained, the ranking, and the
	// governance pillar staff enter.
	staff.GET("/readiness/villages/:code", s.handleVillageReadiness)
	staff.GET("/readiness", s.handleReadinessRanking)
	staff.GET("/governance/:code", s.handleGovernance)
	staff.PUT("/governance/:code", s.handleSetGovernance)
	staff.POST("/governance/import", s.handleImportGovernance)
	// SLA evidence against each ISP, per village link and calendar month.
	staff.GET("/sla/villages/:code", s.handleVillageSLA)
	staff.GET("/sla/villages/:code/evidence", s.handleEvidencePack)
	staff.GET("/sla/isps", s.handleSLAGroups(sla.ByISP))
	staff.GET("/sla/groups", s.handleSLAGroups(sla.ByRegency))
	staff.GET("/maintenance", s.handleWindows)
	staff.POST("/maintenance", s.handleAddWindow)
	staff.DELETE("/maintenance/:id", s.handleDeleteWindow)

	// A national server: provinces post signed batches (authenticated by
	// their keys); every signed-in person reads all provinces, read-only.
	if s.National != nil {
		if s.web != nil {
			r.GET("/nasional", s.web.page)
		}
		api.POST("/federation/batches", s.handleFederationBatch)
		staff.GET("/national/villages", s.handleNationalVillages)
		staff.GET("/national/incidents", s.handleNationalIncidents)
		staff.GET("/national/provinces", s.handleNationalProvinces)
		staff.GET("/national/months", s.handleNationalMonths)
		staff.GET("/national/map.geojson", s.handleNationalMap)
	}

	// Administration.
	admin := api.Group("", s.requireAdmin)
	// Probes: province admins and, in their regency, field technicians;
	// each handler asks the Principal about the village.
	staff.POST("/probes", s.handleEnrollProbe)
	staff.GET("/probes", s.handleListProbes)
	staff.DELETE("/probes/:id", s.handleRevokeProbe)
	staff.POST("/probes/:id/rotate", s.handleRotateProbe)
	staff.PUT("/probes/:id/key", s.handleBindKey)
	staff.POST("/enrollment-codes", s.handleCreateEnrollCode)
	staff.GET("/enrollment-codes", s.handleEnrollCodes)
	admin.GET("/probes/:id/key", s.handleProbeKey)
	admin.DELETE("/probes/:id/key", s.handleResetKey)
	// Accounts of the admin's province.
	admin.GET("/users", s.handleUsers)
	admin.POST("/users", s.handleAddUser)
	admin.POST("/users/:name/disable", s.handleDisableUser)
	admin.PUT("/users/:name/password", s.handleSetPassword)
	admin.POST("/rollups/reroll", s.handleReroll)

	r.NoRoute(func(c *gin.Context) {
		_ = c.Error(notFound("no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
	})
}
