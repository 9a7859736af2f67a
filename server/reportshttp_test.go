package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

// The monthly reports in every format, each person's of their own
// jurisdiction.
func TestMonthlyReports(t *testing.T) {
	e, person := personEnv(t)
	viewer := person(jagadesa.User{Username: "diskominfo", Role: jagadesa.RoleViewer, Province: "33"})
	purworejo := person(jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})
	tech := person(jagadesa.User{Username: "tek", Role: jagadesa.RoleTechnician, Province: "33", Regency: "33.06"})
	for _, kind := range []string{"sla", "readiness", "csirt"} {
		for format, magic := range map[string]string{"pdf": "%PDF-", "xlsx": "PK\x03\x04", "csv": "\ufeff", "json": "{"} {
			code, b := e.do("GET", "/api/v1/reports/monthly/"+kind+"?month=2026-11&format="+format, viewer, nil, "")
			if code != 200 || !bytes.HasPrefix(b, []byte(magic)) {
				t.Errorf("%s as %s: %d %.80q", kind, format, code, b)
			}
		}
	}
	code, b := e.do("GET", "/api/v1/reports/monthly/readiness?month=2026-11&lang=en", viewer, nil, "")
	if code != 200 || !strings.Contains(string(b), "Karanganyar") {
		t.Errorf("the province's readiness report lacks Karanganyar: %d %.200s", code, b)
	}
	code, b = e.do("GET", "/api/v1/reports/monthly/readiness?month=2026-11", purworejo, nil, "")
	if code != 200 || strings.Contains(string(b), "Karanganyar") || !strings.Contains(string(b), "Purworejo") {
		t.Errorf("Purworejo's readiness report: %d %.300s", code, b)
	}
	if code, _ := e.do("GET", "/api/v1/reports/monthly/sla", tech, nil, ""); code != 403 {
		t.Errorf("a technician read the SLA report: %d", code)
	}
	for _, q := range []string{"/api/v1/reports/monthly/weather", "/api/v1/reports/monthly/sla?format=docx", "/api/v1/reports/monthly/sla?lang=jv"} {
		if code, _ := e.do("GET", q, viewer, nil, ""); code != 400 && code != 404 {
			t.Errorf("%s: %d", q, code)
		}
	}
}
