package server

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/sla"
)

// ReadinessSource gives a month's measured inputs of the readiness index
// per village: connectivity from the probes' rollups, use from the
// routers' counters. A village it knows nothing of is absent (its pillars
// are then missing, never zero).
type ReadinessSource interface {
	ReadinessInputs(ctx context.Context, month time.Time, villages []string) (map[string]readiness.Connectivity, map[string]readiness.Use, error)
}

// GovernanceStore keeps what staff entered about villages' digital
// governance (server/sqlite implements it).
type GovernanceStore interface {
	SetGovernance(ctx context.Context, g jagadesa.Governance) error
	SetGovernanceMany(ctx context.Context, gs []jagadesa.Governance) error
	GovernanceOf(ctx context.Context, village string) (jagadesa.Governance, bool, error)
	AllGovernance(ctx context.Context) (map[string]jagadesa.Governance, error)
}

// readinessMonth reads ?month= (YYYY-MM, WIB); the default is the current
// month so far.
func (s *Server) readinessMonth(c *gin.Context) (time.Time, bool) {
	if m := c.Query("month"); m != "" {
		t, err := sla.ParseMonth(m)
		if err != nil {
			_ = c.Error(invalid(jagadesa.Problems{"month": "YYYY-MM, e.g. 2026-12"}, "bad month"))
			return time.Time{}, false
		}
		return t, true
	}
	start, _ := sla.MonthRange(s.Now())
	return start, true
}

// readinessFor scores the month for every monitored village (cached).
// The cache keeps each village's scores without the pillar-by-pillar
// detail (Detail is nil): at national size the detail was 200 MB of the
// server's memory, and only one village's page shows it (detailFor).
func (s *Server) readinessFor(ctx context.Context, month time.Time) (map[string]readiness.Result, error) {
	return s.readiness.get(ctx, month, s.Now(), func(ctx context.Context) (map[string]readiness.Result, error) {
		m, err := s.scoreVillages(ctx, month, s.monitoredCodes())
		for code, r := range m {
			r.Detail = nil
			m[code] = r
		}
		return m, err
	})
}

// scoreVillages computes the index of the given villages for a month.
func (s *Server) scoreVillages(ctx context.Context, month time.Time, codes []string) (map[string]readiness.Result, error) {
	var conn map[string]readiness.Connectivity
	var use map[string]readiness.Use
	if s.ReadinessSource != nil {
		var err error
		if conn, use, err = s.ReadinessSource.ReadinessInputs(ctx, month, codes); err != nil {
			return nil, err
		}
	}
	// Connectivity is what the month's SLA measured, unless the source
	// gave it.
	if s.SLASource != nil {
		slas, err := s.computeSLAFor(ctx, month, codes)
		if err != nil {
			return nil, err
		}
		if conn == nil {
			conn = map[string]readiness.Connectivity{}
		}
		for code, r := range slas {
			if _, ok := conn[code]; !ok {
				conn[code] = connectivityFromSLA(r)
			}
		}
	}
	var gov map[string]jagadesa.Governance
	if s.Governance != nil {
		var err error
		if gov, err = s.Governance.AllGovernance(ctx); err != nil {
			return nil, err
		}
	}
	out := make(map[string]readiness.Result, len(codes))
	for _, code := range codes {
		in := readiness.Input{Village: code, Connectivity: conn[code], Use: use[code]}
		if idm, ok := s.Registry.IDM(code); ok {
			in.IDM = &idm.Score
		}
		if g, ok := gov[code]; ok {
			in.Governance = &readiness.Governance{Website: g.Website, App: g.App, OnlineServices: g.OnlineServices}
		}
		r, err := readiness.Compute(in)
		if err != nil {
			s.Logger.Warn("readiness not computed", "village", code, "err", err)
			continue
		}
		out[code] = r
	}
	return out, nil
}

// handleVillageReadiness explains one village's score pillar by pillar.
func (s *Server) handleVillageReadiness(c *gin.Context) {
	v, ok := s.visibleVillage(c)
	if !ok {
		return
	}
	month, ok := s.readinessMonth(c)
	if !ok {
		return
	}
	all, err := s.readinessFor(c.Request.Context(), month)
	if err != nil {
		_ = c.Error(err)
		return
	}
	r, ok := all[v.Code]
	if !ok || r.Detail == nil { // not monitored, or the detail the cache leaves out: score it alone
		one, err := s.scoreVillages(c.Request.Context(), month, []string{v.Code})
		if err != nil {
			_ = c.Error(err)
			return
		}
		r = one[v.Code]
	}
	var gov *jagadesa.Governance
	if s.Governance != nil {
		if g, ok, err := s.Governance.GovernanceOf(c.Request.Context(), v.Code); err == nil && ok {
			gov = &g
		}
	}
	c.JSON(http.StatusOK, gin.H{"village": v.Code, "name": v.Name, "month": month.Format("2006-01"), "score": r.Score, "complete": r.Complete,
		"partial_score": r.PartialScore, "pillars": r.Pillars, "missing": r.Missing, "detail": r.Detail, "weights": r.Weights,
		"governance": gov, "programme": s.Programme[v.Code]})
}

// visibleVillage reads :code and checks the asker may see the village;
// false means the error is recorded.
func (s *Server) visibleVillage(c *gin.Context) (jagadesa.Village, bool) {
	code := c.Param("code")
	if !jagadesa.ValidVillageCode(code) {
		_ = c.Error(invalid(jagadesa.Problems{"code": "a village code like 33.06.08.2007"}, "bad village code"))
		return jagadesa.Village{}, false
	}
	v, ok := s.Registry.Village(code)
	if !ok || !principal(c).CanSeeVillage(v) {
		_ = c.Error(notFound("no village %s", code))
		return jagadesa.Village{}, false
	}
	return v, true
}

// rankRow is one village in the readiness ranking.
type rankRow struct {
	Code         string            `json:"code"`
	Name         string            `json:"name"`
	District     string            `json:"district"`
	Regency      string            `json:"regency"`
	RegencyCode  string            `json:"regency_code"`
	Cohort       int               `json:"cohort,omitempty"`
	Remote3T     bool              `json:"remote_3t"`
	ExtremePoor  bool              `json:"extreme_poor"`
	Digital      bool              `json:"desa_digital"`
	Score        *float64          `json:"score"`
	PartialScore *float64          `json:"partial_score"`
	Complete     bool              `json:"complete"`
	Pillars      readiness.Pillars `json:"pillars"`
	Missing      []string          `json:"missing"`
	Band         string            `json:"idm_band,omitempty"`
	Rank         int               `json:"rank"`
}

// handleReadinessRanking ranks the jurisdiction's monitored villages:
// ?regency=33.06, cohort=2022|2023|2024, flag=3t|miskin|digital, q= (name),
// limit (default 200, at most 20000), format=csv.
func (s *Server) handleReadinessRanking(c *gin.Context) {
	month, ok := s.readinessMonth(c)
	if !ok {
		return
	}
	p := jagadesa.Problems{}
	regency, flag, q := c.Query("regency"), c.Query("flag"), strings.ToLower(strings.TrimSpace(c.Query("q")))
	if regency != "" && !validRegencyCode(regency) {
		p["regency"] = "a regency code like 33.06"
	}
	cohort := 0
	if v := c.Query("cohort"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2000 || n > 2100 {
			p["cohort"] = "a year such as 2023"
		}
		cohort = n
	}
	switch flag {
	case "", "3t", "miskin", "digital":
	default:
		p["flag"] = "3t, miskin or digital"
	}
	limit := 200
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20000 {
			p["limit"] = "1..20000"
		}
		limit = n
	}
	if len(q) > 64 {
		p["q"] = "at most 64 characters"
	}
	if len(p) > 0 {
		_ = c.Error(invalid(p, "bad ranking query"))
		return
	}
	all, err := s.readinessFor(c.Request.Context(), month)
	if err != nil {
		_ = c.Error(err)
		return
	}
	who := principal(c)
	rows := make([]rankRow, 0, len(all))
	for code, r := range all {
		v, ok := s.Registry.Village(code)
		if !ok || !who.CanSeeVillage(v) || regency != "" && v.RegencyCode != regency {
			continue
		}
		pr := s.Programme[code]
		if cohort != 0 && pr.Year != cohort {
			continue
		}
		switch flag {
		case "3t":
			if !pr.Remote3T {
				continue
			}
		case "miskin":
			if !pr.ExtremePoor {
				continue
			}
		case "digital":
			if !pr.DigitalVillage {
				continue
			}
		}
		if q != "" && !strings.Contains(strings.ToLower(v.Name), q) {
			continue
		}
		row := rankRow{Code: code, Name: v.Name, District: v.District, Regency: v.Regency, RegencyCode: v.RegencyCode, Cohort: pr.Year,
			Remote3T: pr.Remote3T, ExtremePoor: pr.ExtremePoor, Digital: pr.DigitalVillage,
			Score: r.Score, PartialScore: r.PartialScore, Complete: r.Complete, Pillars: r.Pillars, Missing: r.Missing}
		if idm, ok := s.Registry.IDM(code); ok {
			row.Band = readiness.BandOf(idm.Score).Name
		}
		rows = append(rows, row)
	}
	// Complete scores first, highest first; then partial ones (missing a
	// pillar), highest partial first; ties by code so pages are stable.
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if (a.Score != nil) != (b.Score != nil) {
			return a.Score != nil
		}
		if a.Score != nil && *a.Score != *b.Score {
			return *a.Score > *b.Score
		}
		pa, pb := val(a.PartialScore), val(b.PartialScore)
		if pa != pb {
			return pa > pb
		}
		return a.Code < b.Code
	})
	for i := range rows {
		rows[i].Rank = i + 1
	}
	total := len(rows)
	if len(rows) > limit {
		rows = rows[:limit]
	}
	if c.Query("format") == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="kesiapan-digital-`+month.Format("2006-01")+`.csv"`)
		writeRankingCSV(c.Writer, rows)
		return
	}
	c.JSON(http.StatusOK, gin.H{"month": month.Format("2006-01"), "total": total, "count": len(rows), "villages": rows})
}

// writeRankingCSV writes the ranking as CSV, Indonesian headers.
func writeRankingCSV(w io.Writer, rows []rankRow) {
	cw := csv.NewWriter(w)
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	_ = cw.Write([]string{"peringkat", "kode", "desa", "kecamatan", "kabupaten", "angkatan", "3t", "miskin_ekstrem", "desa_digital",
		"skor", "skor_sebagian", "lengkap", "konektivitas", "pemanfaatan", "perkembangan_desa", "tata_kelola", "kelas_idm", "pilar_hilang"})
	for _, r := range rows {
		_ = cw.Write([]string{strconv.Itoa(r.Rank), r.Code, jagadesa.CSVSafe(r.Name), jagadesa.CSVSafe(r.District), jagadesa.CSVSafe(r.Regency),
			strconv.Itoa(r.Cohort), strconv.FormatBool(r.Remote3T), strconv.FormatBool(r.ExtremePoor), strconv.FormatBool(r.Digital),
			f(r.Score), f(r.PartialScore), strconv.FormatBool(r.Complete), f(r.Pillars.Connectivity), f(r.Pillars.Use), f(r.Pillars.Village),
			f(r.Pillars.Governance), r.Band, strings.Join(r.Missing, " ")})
	}
	cw.Flush()
}
