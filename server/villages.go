package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"

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
// Paging, optional: limit (1-100,000) villages after the code in after;
// an answer cut by its limit says where the next page starts (next_after).
//
// The list is written as it is made, one village at a time: the whole
// national registry (83,763 villages, about 100 MB of JSON) built in
// memory first took 136 MB of heap for each request. "villages" comes
// first and the counts after it; "count" is the villages of this answer.
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
	limit := 0
	if q, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxVillagesPage {
			problems["limit"] = "must be a whole number from 1 to " + itoa(maxVillagesPage)
		}
		limit = n
	}
	after := c.Query("after")
	if after != "" && !jagadesa.ValidVillageCode(after) {
		problems["after"] = "must be a village code like 33.06.08.2005 (the next_after of the previous page)"
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
	// First the registry entries the filters keep, in code order; their
	// live status is read while writing.
	overlay := s.overlay()
	within := principal(c).VillageFilter()
	all := s.Registry.Villages()
	picked := make([]int32, 0, 1024)
	for i := range all {
		v := &all[i]
		if v.Code <= after || !within(v.Code) {
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
		picked = append(picked, int32(i))
	}
	sort.Slice(picked, func(i, j int) bool { return all[picked[i]].Code < all[picked[j]].Code })

	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Vary", "Accept-Encoding")
	var out io.Writer = c.Writer
	if strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(c.Writer)
		defer zw.Close()
		c.Header("Content-Encoding", "gzip")
		out = zw
	}
	c.Status(http.StatusOK)
	bw := bufio.NewWriterSize(out, 32<<10)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	bw.WriteString(`{"villages":[`)
	counts := map[jagadesa.Status]int{}
	n, last, next := 0, "", ""
	for _, i := range picked {
		vv := s.villageView(all[i], overlay)
		if want != "" && vv.Status != want {
			continue
		}
		if limit > 0 && n == limit {
			next = last // a further village exists
			break
		}
		vv.Targets = nil // the list stays light; the single-village view has them
		if n > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(vv); err != nil {
			return // the client has gone; the status is sent already
		}
		last = all[i].Code
		n++
		counts[vv.Status]++
	}
	tail := map[string]any{"count": n, "by_status": counts}
	if next != "" {
		tail["next_after"] = next
	}
	b, _ := json.Marshal(tail)
	bw.WriteString("],")
	bw.Write(b[1:]) // the counts' members, after the list
}

// maxVillagesPage bounds ?limit= of GET /api/v1/villages (the registry of
// all Indonesia has 83,763 villages).
const maxVillagesPage = 100_000

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
