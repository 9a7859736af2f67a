package jagadesa

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// AuditEvent is one change in the audit trail a BSSN CSIRT maturity
// assessment asks for: who (person and role), from where, when, what, and
// in whose jurisdiction. Incidents keep their own trail besides
// (AuditEntry); the actions taken on them are recorded here too, with the
// person's role and address, which that trail does not hold.
type AuditEvent struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is a username, "admin" (the automation token), "cli:<os user>"
	// (the server host's CLI), "system", "probe:<id>" or "telegram:<chat>".
	Actor   string `json:"actor"`
	Role    Role   `json:"role,omitempty"`
	Address string `json:"address,omitempty"` // client address; "local" for the CLI
	// Action is a stable code: see AuditActions.
	Action string `json:"action"`
	Object string `json:"object,omitempty"` // what it acted on: a village, probe, incident, user
	// Area is the Kemendagri code of where the change belongs (village,
	// regency or province); Team the CSIRT that owned that area when it was
	// recorded, so a regency that gets its CSIRT later does not rewrite
	// the past.
	Area   string `json:"area,omitempty"`
	Team   string `json:"team,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Count is how many like events one entry stands for (failed sign-ins
	// refused in a burst); 1 or 0 for a single event.
	Count int `json:"count,omitempty"`
}

// AuditActions are the action codes, with their Indonesian and English
// labels for pages and exports.
var AuditActions = map[string][2]string{
	"signin":               {"Masuk", "Signed in"},
	"signin_failed":        {"Gagal masuk", "Failed sign-in"},
	"signin_refused":       {"Upaya masuk ditolak (batas/kunci)", "Sign-in attempts refused (limit/lock)"},
	"account_locked":       {"Akun dikunci", "Account locked"},
	"signout":              {"Keluar", "Signed out"},
	"signout_everywhere":   {"Keluar dari semua sesi", "Signed out everywhere"},
	"user_add":             {"Akun dibuat", "Account created"},
	"user_disable":         {"Akun dinonaktifkan", "Account disabled"},
	"user_passwd":          {"Kata sandi diganti", "Password changed"},
	"user_token_add":       {"Token API dibuat", "API token created"},
	"user_token_revoke":    {"Token API dicabut", "API token revoked"},
	"probe_enroll":         {"Probe didaftarkan", "Probe enrolled"},
	"probe_replace":        {"Probe diganti", "Probe replaced"},
	"probe_revoke":         {"Probe dicabut", "Probe revoked"},
	"probe_rotate_request": {"Rotasi token diminta", "Token rotation requested"},
	"probe_token_rotated":  {"Token probe diganti", "Probe token rotated"},
	"probe_key_bound":      {"Kunci probe diikat", "Probe key bound"},
	"probe_key_reset":      {"Kunci probe direset", "Probe key reset"},
	"enroll_code_create":   {"Kode pendaftaran dibuat", "Enrollment code created"},
	"enroll_code_refused":  {"Kode pendaftaran ditolak", "Enrollment code refused"},
	"incident_ack":         {"Insiden diakui", "Incident acknowledged"},
	"incident_resolve":     {"Insiden diselesaikan", "Incident resolved"},
	"incident_notes":       {"Catatan insiden", "Incident note"},
	"incident_assign":      {"Insiden ditugaskan", "Incident assigned"},
	"incident_stage":       {"Tahap insiden", "Incident stage"},
	"directory_change":     {"Direktori CSIRT berubah", "CSIRT directory changed"},
	"governance_set":       {"Tata kelola digital desa diisi", "Village digital governance entered"},
	"governance_import":    {"Tata kelola digital diimpor", "Digital governance imported"},
	"window_add":           {"Jendela pengecualian SLA dibuat", "SLA exclusion window entered"},
	"window_delete":        {"Jendela pengecualian SLA dicabut", "SLA exclusion window withdrawn"},
	"rollup_reroll":        {"Ringkasan data dihitung ulang", "Rollups recomputed"},
	"report_mailed":        {"Laporan bulanan dikirim", "Monthly reports e-mailed"},
	"evidence_pack":        {"Paket bukti SLA diunduh", "SLA evidence pack downloaded"},
}

// AuditQuery selects audit events: zero fields match everything.
type AuditQuery struct {
	From, Until time.Time // [From, Until)
	Team        string
	// Within keeps only events whose Area lies inside this code (a
	// regency or province).
	Within string
	Limit  int
}

// WriteAuditCSV writes events as CSV with a header row, times in WIB.
// Cells a spreadsheet would run as a formula are quoted with a leading
// apostrophe.
func WriteAuditCSV(w io.Writer, events []AuditEvent) error {
	cw := csv.NewWriter(w)
	wib := time.FixedZone("WIB", 7*3600)
	if err := cw.Write([]string{"id", "waktu_wib", "pelaku", "peran", "alamat", "tindakan", "tindakan_label", "objek", "wilayah", "tim", "rincian", "jumlah"}); err != nil {
		return err
	}
	for _, e := range events {
		n := e.Count
		if n == 0 {
			n = 1
		}
		row := []string{strconv.FormatInt(e.ID, 10), e.At.In(wib).Format("2006-01-02 15:04:05"), e.Actor, string(e.Role), e.Address,
			e.Action, AuditActions[e.Action][0], e.Object, e.Area, e.Team, e.Detail, strconv.Itoa(n)}
		for i, c := range row {
			row[i] = CSVSafe(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVSafe returns s so that a spreadsheet opening the CSV shows it as
// text: a cell beginning with =, +, -, @, tab or carriage return (the
// formula triggers of Excel, LibreOffice and Google Sheets) gets a leading
// apostrophe. Everything else is returned unchanged.
func CSVSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
