package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/federation"
)

// National is a national server's side of federation: it takes the
// provinces' signed batches and answers the national, read-only view
// (server/federation implements it).
type National interface {
	Accept(ctx context.Context, r *http.Request) (*federation.Ack, error)
	Villages(ctx context.Context, f federation.VillageFilter) ([]federation.NationalVillage, error)
	Incidents(ctx context.Context, f federation.IncidentFilter) ([]federation.NationalIncident, error)
	Months(ctx context.Context, kind, month, province string) ([]federation.NationalMonth, error)
	Provinces(ctx context.Context) ([]federation.ProvinceState, error)
}

var _ National = (*federation.National)(nil)

// handleFederationBatch takes one province's batch. The province is
// authenticated by its signature, not by a bearer token.
func (s *Server) handleFederationBatch(c *gin.Context) {
	// The body is bounded by the receiver; the time here.
	ctx, cancel := context.WithTimeout(c.Request.Context(), 60*time.Second)
	defer cancel()
	ack, err := s.National.Accept(ctx, c.Request)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, ack)
}

// nationalProvince reads the optional ?province=NN filter.
func nationalProvince(c *gin.Context) (string, error) {
	p := c.Query("province")
	if p != "" && !federation.ValidProvince(p) {
		return "", invalid(jagadesa.Problems{"province": "a two-digit province code such as 33"}, "bad filter")
	}
	return p, nil
}

// The national view is for every signed-in person of the national server,
// all provinces, read-only: these handlers only read. Viewers see no
// security evidence, as on a province's own pages.
func (s *Server) handleNationalVillages(c *gin.Context) {
	p, err := nationalProvince(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	f := federation.VillageFilter{Province: p}
	if st := c.Query("status"); st != "" {
		if f.Status, err = jagadesa.ParseStatus(st); err != nil {
			_ = c.Error(invalid(jagadesa.Problems{"status": err.Error()}, "bad filter"))
			return
		}
	}
	vs, err := s.National.Villages(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	counts := map[jagadesa.Status]int{}
	for _, v := range vs {
		counts[v.Status]++
	}
	c.JSON(http.StatusOK, gin.H{"villages": vs, "count": len(vs), "by_status": counts})
}

func (s *Server) handleNationalIncidents(c *gin.Context) {
	p, err := nationalProvince(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	f := federation.IncidentFilter{Province: p, Limit: 1000}
	switch st := jagadesa.IncidentState(c.Query("status")); st {
	case "", jagadesa.StateOpen, jagadesa.StateAcknowledged, jagadesa.StateResolved:
		f.State = st
	default:
		_ = c.Error(invalid(jagadesa.Problems{"status": "must be open, acknowledged or resolved"}, "bad filter"))
		return
	}
	ins, err := s.National.Incidents(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if principal(c).Role() == jagadesa.RoleViewer {
		for i := range ins {
			ins[i].Evidence = nil
		}
	}
	c.JSON(http.StatusOK, gin.H{"incidents": ins, "count": len(ins)})
}

func (s *Server) handleNationalProvinces(c *gin.Context) {
	ps, err := s.National.Provinces(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"provinces": ps})
}

// handleNationalMonths gives one month's SLA or readiness figures per
// village and summed up per province: ?kind=sla_month|readiness_month
// &month=YYYY-MM[&province=NN].
func (s *Server) handleNationalMonths(c *gin.Context) {
	p, err := nationalProvince(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	kind := c.DefaultQuery("kind", federation.KindSLAMonth)
	month := c.Query("month")
	problems := jagadesa.Problems{}
	if kind != federation.KindSLAMonth && kind != federation.KindReadinessMonth {
		problems["kind"] = "sla_month or readiness_month"
	}
	if _, err := time.Parse("2006-01", month); err != nil || len(month) != 7 {
		problems["month"] = "a month such as 2026-11"
	}
	if len(problems) > 0 {
		_ = c.Error(invalid(problems, "bad filter"))
		return
	}
	rows, err := s.National.Months(c.Request.Context(), kind, month, p)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"kind": kind, "month": month, "provinces": federation.Summarize(rows), "villages": rows})
}

// handleNationalMap gives the national view's villages as GeoJSON points,
// placed by this server's registry (load every forwarding province with
// --provinces for all of them to show); the rest are counted as unplaced.
func (s *Server) handleNationalMap(c *gin.Context) {
	p, err := nationalProvince(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	vs, err := s.National.Villages(c.Request.Context(), federation.VillageFilter{Province: p})
	if err != nil {
		_ = c.Error(err)
		return
	}
	type props struct {
		Code     string          `json:"code"`
		Name     string          `json:"name"`
		Province string          `json:"province"`
		Status   jagadesa.Status `json:"status"`
		Since    time.Time       `json:"since"`
		Cause    string          `json:"cause,omitempty"`
	}
	type geometry struct {
		Type        string     `json:"type"`
		Coordinates [2]float64 `json:"coordinates"`
	}
	type feature struct {
		Type       string   `json:"type"`
		Geometry   geometry `json:"geometry"`
		Properties props    `json:"properties"`
	}
	features := make([]feature, 0, len(vs))
	unplaced := 0
	for _, v := range vs {
		rv, ok := s.Registry.Village(v.Village)
		if !ok {
			unplaced++
			continue
		}
		features = append(features, feature{Type: "Feature", Geometry: geometry{Type: "Point", Coordinates: [2]float64{rv.Lon, rv.Lat}},
			Properties: props{Code: v.Village, Name: rv.Name, Province: v.Province, Status: v.Status, Since: v.Since, Cause: v.Cause}})
	}
	c.Header("Cache-Control", "private, max-age=10")
	c.JSON(http.StatusOK, gin.H{"type": "FeatureCollection", "features": features, "unplaced": unplaced})
}
