package jagadesa

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"
)

func TestWriteAuditCSV(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	var b bytes.Buffer
	err := WriteAuditCSV(&b, []AuditEvent{
		{ID: 7, At: at, Actor: "ani", Role: RoleRegencyAnalyst, Address: "10.0.0.9", Action: "incident_ack", Object: "inc-1", Area: "33.06", Team: "purworejo", Detail: "=HYPERLINK(\"x\")"},
		{ID: 8, At: at, Actor: "admin", Action: "signin_refused", Address: "192.0.2.1", Count: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[1]
	if r[1] != "2026-12-07 08:02:03" || r[2] != "ani" || r[3] != "regency-analyst" || r[6] != "Insiden diakui" || r[9] != "purworejo" {
		t.Errorf("row %q", r)
	}
	if r[10] != "'=HYPERLINK(\"x\")" {
		t.Errorf("formula not neutralised: %q", r[10])
	}
	if rows[2][11] != "40" || rows[1][11] != "1" {
		t.Errorf("counts %q %q", rows[2][11], rows[1][11])
	}
}

func TestAuditActionsLabelled(t *testing.T) {
	for code, l := range AuditActions {
		if l[0] == "" || l[1] == "" {
			t.Errorf("%s lacks a label", code)
		}
	}
}

// Every security kind has both names.
func TestSecurityKindsNamed(t *testing.T) {
	for kind, k := range SecurityKinds {
		if k.Title == "" || k.Short == "" || SecurityKindTitle(kind) == kind || SecurityKindShort(kind) == kind || !IsSecurityKind(kind) {
			t.Errorf("%s: %+v", kind, k)
		}
	}
	if IsSecurityKind("probe_start") || SecurityKindTitle("new_kind") != "new_kind" {
		t.Error("a kind that is no sign of attack")
	}
}
