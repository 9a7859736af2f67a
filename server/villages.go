package server

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/status"
)

// villageView is one village as GET /api/v1/villages shows it: the registry
// entry, its programme entry when it has one, and its live status.
type villageView struct {
	jagadesa.Village
	Programme *jagadesa.Programme `json:"programme,omitempty"`
	IDM       *geo.IDM            `json:"idm,omitempty"` // Indeks Desa Membangun 2024; kelurahan have none
	status.View

	// The latest download against the programme's contracted speed, for
	// programme villages with a throughput test; the breach flag appears
	// only when the link delivered under 80% of the contract.
	ContractMbps          *int     `json:"contract_mbps,omitempty"`
	DownloadPctOfContract *float64 `json:"download_pct_of_contract,omitempty"`
	SLAThroughputBreach   bool     `json:"sla_throughput_breach,omitempty"`
}

// villageView is a village's live status with what open incidents add
// (overlay, from s.overlay(), read once per request).
func (s *Server) villageView(v jagadesa.Village, overlay map[string]jagadesa.Status) villageView {
	out := villageView{Village: v, View: s.Status.Get(v.Code)}
	if st, why, ok := withOverlay(out.Status, overlay[v.Code]); ok {
		out.Status, out.Reason = st, why
	}
	if idm, ok := s.Registry.IDM(v.Code); ok {
		out.IDM = &idm
	}
	if p, ok := s.Programme[v.Code]; ok {
		out.Programme = &p
		if p.ContractMbps > 0 {
			contract := p.ContractMbps
			out.ContractMbps = &contract
		}
		if out.DownloadMbps != nil {
			if pct, breach, ok := status.ContractShare(*out.DownloadMbps, *out.OtherMbps, p.ContractMbps); ok {
				out.DownloadPctOfContract, out.SLAThroughputBreach = &pct, breach
			}
		}
	}
	return out
}

// handleVillages lists monitored villages: those in the programme and those
// with an enrolled probe; ?scope=all lists the whole registry.
// Filters: regency (code like 33.06 or exact name), status, district.
func (s *Server) handleVillages(c *gin.Context) {
	problems := jagadesa.Problems{}
	var want jagadesa.Status
	if st := c.Query("status"); st != "" {
		var err error
		if want, err = jagadesa.ParseStatus(st); err != nil {
			problems["status"] = err.Error()
		}
	}
	scope := c.DefaultQuery("scope", "monitored")
	if scope != "monitored" && scope != "all" {
		problems["scope"] = "must be monitored or all"
	}
	regency, district := c.Query("regency"), c.Query("district")
	if len(regency) > 128 || len(district) > 128 {
		problems["regency"] = "too long"
	}
	if len(problems) > 0 {
		_ = c.Error(invalid(problems, "bad query"))
		return
	}
	monitored := map[string]bool{}
	if scope == "monitored" {
		probes, err := s.Probes.Probes(c.Request.Context())
		if err != nil {
			_ = c.Error(err)
			return
		}
		for _, p := range probes {
			monitored[p.Village] = true
		}
	}
	out := make([]villageView, 0, 1024)
	overlay := s.overlay()
	within := principal(c).VillageFilter()
	for _, v := range s.Registry.Villages() {
		if !within(v.Code) {
			continue
		}
		if scope == "monitored" && !monitored[v.Code] {
			if _, ok := s.Programme[v.Code]; !ok {
				continue
			}
		}
		if regency != "" && regency != v.RegencyCode && regency != v.Regency {
			continue
		}
		if district != "" && district != v.DistrictCode && district != v.District {
			continue
		}
		vv := s.villageView(v, overlay)
		if want != "" && vv.Status != want {
			continue
		}
		vv.Targets = nil // the list stays light; the single-village view has them
		out = append(out, vv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	counts := map[jagadesa.Status]int{}
	for _, v := range out {
		counts[v.Status]++
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "by_status": counts, "villages": out})
}

// handleVillage shows one village with its per-target detail.
func (s *Server) handleVillage(c *gin.Context) {
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
	c.JSON(http.StatusOK, s.villageView(v, s.overlay()))
}

func itoa[T ~int | ~int64](i T) string { return strconv.FormatInt(int64(i), 10) }
