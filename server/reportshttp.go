package server

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/reports"
	"github.com/jagadesa/jagadesa/server/sla"
)

// The monthly reports Diskominfo and the CSIRTs hand upward: SLA per ISP
// and regency, readiness per regency, and incident handling per CSIRT, of
// the asker's jurisdiction, as JSON (the printable page), PDF, XLSX or
// CSV, in Bahasa Indonesia (lang=id, the default) or English.

// reportKinds are the kinds of monthly report.
var reportKinds = map[string]bool{"sla": true, "readiness": true, "csirt": true}

// MonthlyReport builds one month's report of a kind for a principal's
// jurisdiction (the e-mail uses it too).
func (s *Server) monthlyReport(ctx context.Context, kind string, month time.Time, lang reports.Lang, within func(code string) bool, area string) (reports.Document, error) {
	label := month.In(sla.WIB).Format("2006-01")
	now := s.Now()
	province := s.provinceName(area)
	switch kind {
	case "sla":
		all, err := s.slaFor(ctx, month)
		if err != nil {
			return reports.Document{}, err
		}
		var results []sla.Result
		names, regs := map[string]string{}, map[string]string{}
		for code, r := range all {
			if !within(code) {
				continue
			}
			results = append(results, r)
			if v, ok := s.Registry.Village(code); ok {
				names[code], regs[v.RegencyCode] = v.Name, v.Regency
			}
		}
		sort.Slice(results, func(i, j int) bool { return results[i].Village.Code < results[j].Village.Code })
		byISP, err := sla.Rollup(results, sla.ByISP)
		if err != nil {
			return reports.Document{}, err
		}
		byReg, err := sla.Rollup(results, sla.ByRegency)
		if err != nil {
			return reports.Document{}, err
		}
		return reports.SLADocument(reports.SLAInput{Lang: lang, Month: label, Province: province, GeneratedAt: now, Villages: results,
			ByISP: byISP, ByRegency: byReg, VillageNames: names, RegencyNames: regs})
	case "readiness":
		all, err := s.readinessFor(ctx, month)
		if err != nil {
			return reports.Document{}, err
		}
		var results []readiness.Result
		names, regs := map[string]string{}, map[string]string{}
		for code, r := range all {
			if !within(code) {
				continue
			}
			if r.Village == "" {
				r.Village = code
			}
			results = append(results, r)
			if v, ok := s.Registry.Village(code); ok {
				names[code], regs[code] = v.Name, v.Regency
			}
		}
		sort.Slice(results, func(i, j int) bool { return results[i].Village < results[j].Village })
		return reports.ReadinessDocument(reports.ReadinessInput{Lang: lang, Month: label, Province: province, GeneratedAt: now,
			Results: results, Regencies: regs, VillageNames: names})
	case "csirt":
		if s.Reporter == nil {
			return reports.Document{}, jagadesa.Errorf(jagadesa.EUnavailable, "incident reports are not configured on this server")
		}
		start, end := sla.MonthRange(month)
		ins, err := s.Reporter.IncidentsOpened(ctx, start, end)
		if err != nil {
			return reports.Document{}, err
		}
		kept := ins[:0]
		teams := map[string]string{}
		for _, in := range ins {
			in := in
			if len(in.Villages) == 0 && in.Village == "" {
				continue
			}
			codes := in.Villages
			if len(codes) == 0 {
				codes = []string{in.Village}
			}
			ok := true
			for _, c := range codes {
				ok = ok && within(c)
			}
			if ok {
				kept = append(kept, in)
				teams[in.CSIRT] = in.CSIRT
			}
		}
		return reports.CSIRTDocument(reports.CSIRTInput{Lang: lang, Month: label, Province: province, GeneratedAt: now, Incidents: kept, TeamNames: teams})
	}
	return reports.Document{}, jagadesa.Errorf(jagadesa.ENotFound, "no report %q", kind)
}

// provinceName names an area for a report's heading.
func (s *Server) provinceName(area string) string {
	switch {
	case area == "":
		return "Semua provinsi"
	case len(area) == 5:
		if r, ok := s.Registry.Regency(area); ok {
			return r.Name
		}
	}
	if len(area) >= 2 {
		for _, p := range s.Registry.Provinces() {
			if p.Code == area[:2] {
				return p.Name
			}
		}
	}
	return area
}

// handleMonthlyReport serves GET /api/v1/reports/monthly/{sla|readiness|csirt}
// ?month=YYYY-MM&lang=id|en&format=json|pdf|xlsx|csv.
func (s *Server) handleMonthlyReport(c *gin.Context) {
	kind := c.Param("kind")
	if !reportKinds[kind] {
		_ = c.Error(notFound("no report %q (sla, readiness or csirt)", clip(kind, 20)))
		return
	}
	month, ok := s.slaReady(c)
	if !ok {
		return
	}
	lang, err := reports.ParseLang(c.DefaultQuery("lang", "id"))
	if err != nil {
		_ = c.Error(invalid(jagadesa.Problems{"lang": "id or en"}, "bad language"))
		return
	}
	format := c.DefaultQuery("format", "json")
	var ctype, ext string
	var write func(*bytes.Buffer, reports.Document) error
	switch format {
	case "json":
	case "pdf":
		ctype, ext, write = "application/pdf", "pdf", func(b *bytes.Buffer, d reports.Document) error { return reports.WritePDF(b, d) }
	case "xlsx":
		ctype, ext, write = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", func(b *bytes.Buffer, d reports.Document) error { return reports.WriteXLSX(b, d) }
	case "csv":
		ctype, ext, write = "text/csv; charset=utf-8", "csv", func(b *bytes.Buffer, d reports.Document) error { return reports.WriteCSV(b, d) }
	default:
		_ = c.Error(invalid(jagadesa.Problems{"format": "json, pdf, xlsx or csv"}, "bad format"))
		return
	}
	who := principal(c)
	within := who.VillageFilter()
	doc, err := s.monthlyReport(c.Request.Context(), kind, month, lang, within, who.Area())
	if err != nil {
		_ = c.Error(err)
		return
	}
	if write == nil {
		c.JSON(http.StatusOK, doc)
		return
	}
	var b bytes.Buffer
	if err := write(&b, doc); err != nil {
		_ = c.Error(err)
		return
	}
	name := "jagadesa-" + kind + "-" + month.In(sla.WIB).Format("2006-01")
	if a := who.Area(); a != "" {
		name += "-" + a
	}
	c.Header("Content-Disposition", `attachment; filename="`+name+"."+ext+`"`)
	c.Data(http.StatusOK, ctype, b.Bytes())
}

// ReportFile is a rendered report.
type ReportFile struct {
	Name, ContentType string
	Data              []byte
}

// MonthlyPDFs renders the month's three reports as PDF for an area (a
// province NN or one or more regencies NN.NN): what the monthly e-mail
// attaches.
func (s *Server) MonthlyPDFs(ctx context.Context, month time.Time, lang reports.Lang, areas []string) ([]ReportFile, error) {
	within := func(code string) bool {
		for _, a := range areas {
			if code == a || len(code) > len(a) && code[:len(a)] == a && code[len(a)] == '.' {
				return true
			}
		}
		return false
	}
	area := ""
	if len(areas) == 1 {
		area = areas[0]
	}
	var out []ReportFile
	for _, kind := range []string{"sla", "readiness", "csirt"} {
		doc, err := s.monthlyReport(ctx, kind, month, lang, within, area)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := reports.WritePDF(&b, doc); err != nil {
			return nil, err
		}
		out = append(out, ReportFile{Name: "jagadesa-" + kind + "-" + month.In(sla.WIB).Format("2006-01") + ".pdf", ContentType: "application/pdf", Data: b.Bytes()})
	}
	return out, nil
}
