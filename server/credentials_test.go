package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// personEnv is a server with staff accounts; person makes an account and
// returns its API token.
func personEnv(t *testing.T) (*env, func(u jagadesa.User) string) {
	t.Helper()
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	var db *sqlite.DB
	e := newEnv(t, reg, func(d *server.Deps) {
		db = d.Probes.(*sqlite.DB)
		d.Accounts, d.Reporter = db, db
	})
	return e, func(u jagadesa.User) string {
		t.Helper()
		hash, _ := accounts.HashPassword("kata sandi panjang sekali")
		if _, err := db.CreateUser(context.Background(), u, hash); err != nil {
			t.Fatal(err)
		}
		tok, th := accounts.NewToken(accounts.PrefixUserToken)
		if _, err := db.CreateUserToken(context.Background(), u.Username, "test", th); err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func (e *env) auditLog(token, query string) []jagadesa.AuditEvent {
	e.t.Helper()
	code, b := e.do("GET", "/api/v1/audit?"+query, token, nil, "")
	if code != 200 {
		e.t.Fatalf("audit %s: %d %s", query, code, b)
	}
	var r struct{ Events []jagadesa.AuditEvent }
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r.Events
}

func findAudit(events []jagadesa.AuditEvent, action, object string) *jagadesa.AuditEvent {
	for i := range events {
		if events[i].Action == action && (object == "" || events[i].Object == object) {
			return &events[i]
		}
	}
	return nil
}

// A field technician makes a code for a village of their regency; the
// router enrolls itself with it and its key, once; bad codes are limited
// per address and audited in bursts; a code with replace retires the old
// router, whose record stays.
func TestEnrollmentCodes(t *testing.T) {
	e, person := personEnv(t)
	tek := person(jagadesa.User{Username: "tek.purworejo", Role: jagadesa.RoleTechnician, Province: "33", Regency: "33.06"})
	analyst := person(jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})

	if code, b := e.do("POST", "/api/v1/enrollment-codes", tek, nil, `{"village":"`+villageB+`"}`); code != 403 {
		t.Fatalf("a code for another regency's village: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/api/v1/enrollment-codes", analyst, nil, `{"village":"`+villageA+`"}`); code != 403 {
		t.Fatalf("an analyst made an enrollment code: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/enrollment-codes", tek, nil, `{"village":"`+villageA+`","ttl_hours":500}`); code != 400 {
		t.Fatalf("a code valid for three weeks: %d", code)
	}
	code, b := e.do("POST", "/api/v1/enrollment-codes", tek, nil, `{"village":"`+villageA+`","replace":true}`)
	if code != 201 {
		t.Fatalf("code: %d %s", code, b)
	}
	var made struct {
		Code, Village, Command string
		ExpiresAt              time.Time `json:"expires_at"`
	}
	json.Unmarshal(b, &made)
	if len(made.Code) != 12 || made.Village != villageA || !strings.Contains(made.Command, "jagadesa-probe enroll") || time.Until(made.ExpiresAt) < 71*time.Hour {
		t.Fatalf("code answer %s", b)
	}
	// The listing never shows a code.
	if code, b := e.do("GET", "/api/v1/enrollment-codes", tek, nil, ""); code != 200 || strings.Contains(string(b), made.Code) || !strings.Contains(string(b), villageA) {
		t.Fatalf("codes listing: %d %s", code, b)
	}

	pub, key, _ := ed25519.GenerateKey(nil)
	enroll := func(code string) (int, []byte) {
		return e.do("POST", "/api/v1/enroll", "", nil, fmt.Sprintf(`{"code":%q,"public_key":%q}`, code, jagadesa.FormatPublicKey(pub)))
	}
	// Typed in lower case with spaces: still the code.
	typed := strings.ToLower(strings.ReplaceAll(made.Code, "-", " "))
	code, b = enroll(typed)
	if code != 201 {
		t.Fatalf("enroll with the code: %d %s", code, b)
	}
	var got jagadesa.Enrolled
	json.Unmarshal(b, &got)
	if got.Village != villageA || got.KeyID != jagadesa.KeyID(pub) || len(got.Replaced) != 1 || got.Replaced[0] != e.probeA {
		t.Fatalf("enrolled %+v", got)
	}
	// The old router is out; the new one reports, signed by the bound key.
	body := []byte(mustJSON(t, report(villageA, 1)))
	if code, _ := e.post(e.tokA, "", body); code != 401 {
		t.Errorf("the replaced probe's token still reports: %d", code)
	}
	if code, b := e.post(got.Token, jagadesa.SignReport(key, body), body); code != 200 {
		t.Fatalf("the new probe's report: %d %s", code, b)
	}
	// Once only.
	if code, b := enroll(made.Code); code != 401 || !strings.Contains(string(b), "unknown, already used or expired") {
		t.Fatalf("second use: %d %s", code, b)
	}
	// Guessing: a malformed code is a 400 that names the rule; wrong
	// codes are 401 until the address has spent its ten a minute.
	if code, b := enroll("0000-1111-II"); code != 400 || !strings.Contains(string(b), "never contains") {
		t.Fatalf("malformed code: %d %s", code, b)
	}
	limited := false
	for i := 0; i < 12; i++ {
		code, _ := enroll("ABCD-EFGH-JK")
		if code == 429 {
			limited = true
			break
		}
		if code != 401 {
			t.Fatalf("wrong code: %d", code)
		}
	}
	if !limited {
		t.Error("no rate limit on enrollment codes")
	}
	// The old probe is listed as replaced, with its successor.
	code, b = e.do("GET", "/api/v1/probes?all=true", adminToken, nil, "")
	var list struct{ Probes []jagadesa.Probe }
	json.Unmarshal(b, &list)
	var old *jagadesa.Probe
	for i := range list.Probes {
		if list.Probes[i].ID == e.probeA {
			old = &list.Probes[i]
		}
	}
	if code != 200 || old == nil || old.ReplacedBy != got.Probe || old.RevokedAt == nil {
		t.Fatalf("probes?all: %d %+v", code, old)
	}

	events := e.auditLog(adminToken, "")
	if ev := findAudit(events, "enroll_code_create", villageA); ev == nil || ev.Actor != "tek.purworejo" || ev.Role != jagadesa.RoleTechnician || ev.Address == "" || ev.Team == "" {
		t.Errorf("code creation audit %+v", ev)
	}
	if ev := findAudit(events, "probe_replace", got.Probe); ev == nil || ev.Actor != "code:tek.purworejo" || !strings.Contains(ev.Detail, e.probeA) {
		t.Errorf("replacement audit %+v", ev)
	}
	if ev := findAudit(events, "enroll_code_refused", ""); ev == nil || ev.Address == "" {
		t.Errorf("refused codes not audited: %+v", events)
	}
}

// Rotation without a site visit: staff ask, the probe is told in its next
// answer, fetches a new token with a request signed by its key, and the
// old token ends at the new one's first use.
func TestTokenRotation(t *testing.T) {
	e := setup(t)
	pub, key, _ := ed25519.GenerateKey(nil)
	code, b := e.do("POST", "/api/v1/probes", adminToken, nil, fmt.Sprintf(`{"village":%q,"public_key":%q}`, villageB, jagadesa.FormatPublicKey(pub)))
	if code != 201 {
		t.Fatalf("enroll: %d %s", code, b)
	}
	var enr jagadesa.Enrolled
	json.Unmarshal(b, &enr)
	send := func(tok string, seq int) (int, jagadesa.BatchResult) {
		r := report(villageB, 1)
		for i := range r.Samples {
			r.Samples[i].Seq = uint64(seq)
		}
		body := []byte(mustJSON(t, r))
		code, b := e.post(tok, jagadesa.SignReport(key, body), body)
		var res jagadesa.BatchResult
		json.Unmarshal([]byte(b), &res)
		return code, res
	}
	if _, res := send(enr.Token, 1); res.RotateToken {
		t.Fatal("asked to rotate before anyone asked")
	}
	tokenReq := func(tok string, at time.Time, signer ed25519.PrivateKey) (int, []byte) {
		body := mustJSON(t, jagadesa.TokenRequest{Village: villageB, Purpose: jagadesa.TokenPurpose, At: at})
		hdr := map[string]string{}
		if signer != nil {
			hdr[jagadesa.SignatureHeader] = jagadesa.SignReport(signer, []byte(body))
		}
		return e.do("POST", "/api/v1/probes/token", tok, hdr, body)
	}
	if code, _ := tokenReq(enr.Token, time.Now(), key); code != 409 {
		t.Fatalf("a token without a rotation request: %d", code)
	}
	if code, b := e.do("POST", "/api/v1/probes/"+enr.Probe+"/rotate", adminToken, nil, ""); code != 202 {
		t.Fatalf("rotate: %d %s", code, b)
	}
	if code, res := send(enr.Token, 2); code != 200 || !res.RotateToken {
		t.Fatalf("the probe is not told: %d %+v", code, res)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if code, _ := tokenReq(enr.Token, time.Now(), nil); code != 401 {
		t.Errorf("unsigned token request: %d", code)
	}
	if code, _ := tokenReq(enr.Token, time.Now(), other); code != 401 {
		t.Errorf("token request signed by another key (a stolen token): %d", code)
	}
	if code, _ := tokenReq(enr.Token, time.Now().Add(-time.Hour), key); code != 400 {
		t.Errorf("an hour-old token request: %d", code)
	}
	code, b = tokenReq(enr.Token, time.Now(), key)
	if code != 200 {
		t.Fatalf("token: %d %s", code, b)
	}
	var nt jagadesa.TokenResponse
	json.Unmarshal(b, &nt)
	if nt.Token == "" || nt.Token == enr.Token {
		t.Fatalf("new token %+v", nt)
	}
	if code, _ := send(enr.Token, 3); code != 200 {
		t.Fatal("the old token stopped before the new one was used")
	}
	code, res := send(nt.Token, 4)
	if code != 200 || res.RotateToken {
		t.Fatalf("first use of the new token: %d %+v", code, res)
	}
	if code, _ := send(enr.Token, 5); code != 401 {
		t.Errorf("the old token works after the new one was used: %d", code)
	}
	events := e.auditLog(adminToken, "")
	if findAudit(events, "probe_rotate_request", enr.Probe) == nil || findAudit(events, "probe_token_rotated", enr.Probe) == nil {
		t.Errorf("rotation not audited: %+v", events)
	}
}

// The audit trail: every change with person, role, address and time, per
// CSIRT and month, each team seeing only its own; a viewer none.
func TestAuditTrail(t *testing.T) {
	e, person := personEnv(t)
	admin := person(jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"})
	purworejo := person(jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"})
	kudus := person(jagadesa.User{Username: "csirt-kudus", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.19"})
	viewer := person(jagadesa.User{Username: "diskominfo", Role: jagadesa.RoleViewer, Province: "33"})
	jambiAdmin := person(jagadesa.User{Username: "admin.jambi", Role: jagadesa.RoleProvinceAdmin, Province: "15"})

	// Accounts from the API: a province admin, in its province only.
	add := func(tok, body string) (int, []byte) { return e.do("POST", "/api/v1/users", tok, nil, body) }
	if code, b := add(admin, `{"username":"ani","role":"regency-analyst","regency":"33.06","password":"kata sandi panjang sekali"}`); code != 201 {
		t.Fatalf("add user: %d %s", code, b)
	}
	if code, _ := add(admin, `{"username":"budi","role":"viewer","province":"15","password":"kata sandi panjang sekali"}`); code != 403 {
		t.Errorf("a Jawa Tengah admin made a Jambi account: %d", code)
	}
	if code, _ := add(purworejo, `{"username":"cici","role":"viewer","province":"33","password":"kata sandi panjang sekali"}`); code != 403 {
		t.Errorf("an analyst made an account: %d", code)
	}
	if code, b := add(admin, `{"username":"dedi","role":"viewer","province":"33","password":"short"}`); code != 400 || !strings.Contains(string(b), "password") {
		t.Errorf("a short password: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/api/v1/users/ani/disable", jambiAdmin, nil, ""); code != 404 {
		t.Errorf("another province's admin disabled an account: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/users/ani/disable", admin, nil, ""); code != 204 {
		t.Errorf("disable: %d", code)
	}
	code, b := e.do("GET", "/api/v1/users", admin, nil, "")
	if code != 200 || !strings.Contains(string(b), `"ani"`) || strings.Contains(string(b), "admin.jambi") || strings.Contains(string(b), "password") {
		t.Errorf("users: %d %s", code, b)
	}
	// Probe enrollment in two regencies, by the admin.
	e.enroll(villageB) // Kemuning, Karanganyar 33.13

	// Sign-in failures, from the API, with the address.
	for i := 0; i < 2; i++ {
		e.do("POST", "/api/v1/session", "", map[string]string{"Content-Type": "application/json"}, `{"username":"csirt-purworejo","password":"wrong wrong wrong"}`)
	}

	if code, _ := e.do("GET", "/api/v1/audit", viewer, nil, ""); code != 403 {
		t.Errorf("a viewer read the audit trail: %d", code)
	}
	all := e.auditLog(admin, "")
	if ev := findAudit(all, "user_add", "ani"); ev == nil || ev.Actor != "admin.jateng" || ev.Role != jagadesa.RoleProvinceAdmin || ev.Address != "127.0.0.1" || ev.Area != "33.06" || ev.At.IsZero() {
		t.Errorf("user_add %+v", ev)
	}
	if ev := findAudit(all, "user_disable", "ani"); ev == nil {
		t.Error("user_disable not audited")
	}
	if ev := findAudit(all, "signin_failed", "csirt-purworejo"); ev == nil || ev.Address != "127.0.0.1" || ev.Area != "33.06" {
		t.Errorf("signin_failed %+v", ev)
	}
	mine := e.auditLog(purworejo, "")
	if findAudit(mine, "user_add", "ani") == nil || findAudit(mine, "signin_failed", "csirt-purworejo") == nil {
		t.Errorf("Purworejo's analyst misses its own events: %+v", mine)
	}
	for _, ev := range mine {
		if ev.Area != "33.06" && !strings.HasPrefix(ev.Area, "33.06.") {
			t.Errorf("Purworejo's analyst sees %+v", ev)
		}
	}
	for _, ev := range e.auditLog(kudus, "") {
		t.Errorf("Kudus's analyst sees %+v", ev)
	}
	// Per CSIRT and month, as CSV.
	month := time.Now().In(time.FixedZone("WIB", 7*3600)).Format("2006-01")
	req, _ := http.NewRequest("GET", e.url+"/api/v1/audit?format=csv&month="+month+"&team=kab-purworejo", nil)
	req.Header.Set("Authorization", "Bearer "+purworejo)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode == 400 && strings.Contains(buf.String(), "team") {
		t.Fatalf("the demo directory has no team kab-purworejo: %s", buf.String())
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(rows) < 3 || rows[0][0] != "id" || !strings.Contains(resp.Header.Get("Content-Disposition"), "kab-purworejo-"+month) {
		t.Fatalf("csv: %d %v %q %s", resp.StatusCode, err, rows, resp.Header.Get("Content-Disposition"))
	}
	if code, _ := e.do("GET", "/api/v1/audit?month=2026-13", admin, nil, ""); code != 400 {
		t.Errorf("month 13: %d", code)
	}
	if got := e.auditLog(admin, "month=2020-01"); len(got) != 0 {
		t.Errorf("January 2020 has %d events", len(got))
	}
}
