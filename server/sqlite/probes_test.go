package sqlite

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func openTest(t *testing.T, dir string) *DB {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// An enrollment code is used once, only before it expires, only for its
// village; the key it brings is bound in the same step.
func TestEnrollWithCode(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, t.TempDir())
	defer d.Close()
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	if _, err := d.CreateEnrollCode(ctx, "h1", "33.06.08.2005", false, "tek.purworejo", 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, _, err := d.EnrollProbe(ctx, EnrollSpec{CodeHash: "h1", Village: "33.19.01.2001", Key: pub}); jagadesa.ErrorCode(err) != jagadesa.EInvalid {
		t.Fatalf("code used for another village: %v", err)
	}
	p, tok, err := d.EnrollProbe(ctx, EnrollSpec{CodeHash: "h1", Key: pub, By: "code:tek.purworejo"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Village != "33.06.08.2005" || p.EnrolledBy != "code:tek.purworejo" {
		t.Errorf("probe %+v", p)
	}
	if got, ok := d.ProbeByToken(tok); !ok || got.ID != p.ID {
		t.Error("the new token does not authenticate")
	}
	if k, ok := d.ProbeKey(p.ID); !ok || !k.PublicKey.Equal(pub) || k.RegisteredBy != "enrollment" {
		t.Errorf("key not bound at enrollment: %+v %v", k, ok)
	}
	if _, _, err := d.EnrollProbe(ctx, EnrollSpec{CodeHash: "h1", Key: pub}); err != ErrBadCode {
		t.Errorf("second use: %v", err)
	}
	if _, _, err := d.EnrollProbe(ctx, EnrollSpec{CodeHash: "nope", Key: pub}); err != ErrBadCode {
		t.Errorf("unknown code: %v", err)
	}
	if _, err := d.CreateEnrollCode(ctx, "h2", "33.06.08.2005", false, "tek.purworejo", time.Hour); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, _, err := d.EnrollProbe(ctx, EnrollSpec{CodeHash: "h2", Key: pub}); err != ErrBadCode {
		t.Errorf("expired code: %v", err)
	}
	live, err := d.EnrollCodes(ctx, true, 10)
	if err != nil || len(live) != 0 {
		t.Errorf("live codes %+v %v", live, err)
	}
	all, _ := d.EnrollCodes(ctx, false, 10)
	if len(all) != 2 || all[1].Probe != p.ID || all[1].UsedAt == nil {
		t.Errorf("codes %+v", all)
	}
}

// Replacing a dead router retires the old probe, keeps its record and key
// (its data stays attributed to it), and survives a restart.
func TestReplaceProbe(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTest(t, dir)
	old, oldTok, _ := d.CreateProbe(ctx, "33.06.08.2005")
	other, otherTok, _ := d.CreateProbe(ctx, "33.06.08.2007")
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := d.SetProbeKey(ctx, old.ID, pub, "probe"); err != nil {
		t.Fatal(err)
	}
	pub2, _, _ := ed25519.GenerateKey(nil)
	nu, _, err := d.EnrollProbe(ctx, EnrollSpec{Village: "33.06.08.2005", Replace: true, Key: pub2, By: "tek"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.ProbeByToken(oldTok); ok {
		t.Error("the replaced probe's token still works")
	}
	if _, ok := d.ProbeByToken(otherTok); !ok {
		t.Error("another village's probe was revoked")
	}
	if ids, _ := d.ReplacedProbes(ctx, nu.ID); len(ids) != 1 || ids[0] != old.ID {
		t.Errorf("replaced %v", ids)
	}
	d.Close()
	d = openTest(t, dir)
	defer d.Close()
	if _, ok := d.ProbeByToken(oldTok); ok {
		t.Error("the replaced probe's token works after a restart")
	}
	if k, ok := d.ProbeKey(old.ID); !ok || !k.PublicKey.Equal(pub) {
		t.Error("the old probe's key is gone: its archived batches could no longer be verified")
	}
	all, _ := d.AllProbes(ctx)
	var seen int
	for _, p := range all {
		switch p.ID {
		case old.ID:
			seen++
			if p.RevokedAt == nil || p.ReplacedBy != nu.ID {
				t.Errorf("old probe %+v", p)
			}
		case nu.ID, other.ID:
			seen++
			if p.RevokedAt != nil {
				t.Errorf("live probe listed revoked: %+v", p)
			}
		}
	}
	if seen != 3 {
		t.Errorf("AllProbes %+v", all)
	}
}

// Rotation: requested by staff, the token issued to the probe works beside
// the old one until its first use, then alone; a restart in between loses
// neither.
func TestRotateToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTest(t, dir)
	p, tok, _ := d.CreateProbe(ctx, "33.06.08.2005")
	if _, err := d.IssueToken(ctx, p.ID); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("token issued without a request: %v", err)
	}
	if err := d.RequestRotation(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ProbeByToken(tok); !got.RotateRequested {
		t.Fatal("the probe is not told to rotate")
	}
	first, err := d.IssueToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.IssueToken(ctx, p.ID) // the probe lost the first before saving it
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.ProbeByToken(first); ok {
		t.Error("a superseded pending token works")
	}
	d.Close()
	d = openTest(t, dir)
	defer d.Close()
	if _, ok := d.ProbeByToken(tok); !ok {
		t.Fatal("the old token stopped before the new one was used")
	}
	got, ok := d.ProbeByToken(second)
	if !ok || got.ID != p.ID || got.RotateRequested {
		t.Fatalf("new token: %+v %v", got, ok)
	}
	if _, ok := d.ProbeByToken(tok); ok {
		t.Error("the old token works after the new one was used")
	}
	if _, ok := d.ProbeByToken(second); !ok {
		t.Error("the new token stopped working")
	}
	if err := d.RevokeProbe(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.ProbeByToken(second); ok {
		t.Error("a revoked probe's token works")
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, t.TempDir())
	defer d.Close()
	at := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	for _, e := range []jagadesa.AuditEvent{
		{At: at, Actor: "ani", Role: jagadesa.RoleRegencyAnalyst, Address: "10.0.0.9", Action: "incident_ack", Object: "inc-1", Area: "33.06.08.2005", Team: "csirt-purworejo"},
		{At: at.Add(time.Hour), Actor: "budi", Role: jagadesa.RoleRegencyAnalyst, Action: "incident_ack", Area: "33.19.01.2001", Team: "csirt-kudus"},
		{At: at.Add(2 * time.Hour), Actor: "admin", Action: "signin_refused", Address: "192.0.2.1", Count: 40},
		{At: at.Add(3 * time.Hour), Actor: "sari", Role: jagadesa.RoleProvinceAdmin, Action: "user_add", Object: "ani", Area: "33.06", Team: "csirt-purworejo"},
	} {
		if err := d.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AppendAudit(ctx, jagadesa.AuditEvent{Actor: "x"}); jagadesa.ErrorCode(err) != jagadesa.EInvalid {
		t.Errorf("no action: %v", err)
	}
	got, _ := d.AuditLog(ctx, jagadesa.AuditQuery{Within: "33.06"})
	if len(got) != 2 || got[0].Actor != "ani" || got[1].Object != "ani" || got[0].Address != "10.0.0.9" {
		t.Errorf("within 33.06: %+v", got)
	}
	got, _ = d.AuditLog(ctx, jagadesa.AuditQuery{Within: "33.0"}) // not a prefix match on characters
	if len(got) != 0 {
		t.Errorf("within 33.0: %+v", got)
	}
	got, _ = d.AuditLog(ctx, jagadesa.AuditQuery{Team: "csirt-kudus"})
	if len(got) != 1 || got[0].Actor != "budi" {
		t.Errorf("team kudus: %+v", got)
	}
	got, _ = d.AuditLog(ctx, jagadesa.AuditQuery{From: at.Add(time.Hour), Until: at.Add(3 * time.Hour)})
	if len(got) != 2 || got[1].Count != 40 {
		t.Errorf("window: %+v", got)
	}
}

// Every key a village's probes ever had stays listed: after a reset and
// a replacement, the old keys still verify the old batches.
func TestKeyHistory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTest(t, dir)
	p, _, _ := d.CreateProbe(ctx, "33.06.08.2005")
	k1, _, _ := ed25519.GenerateKey(nil)
	k2, _, _ := ed25519.GenerateKey(nil)
	k3, _, _ := ed25519.GenerateKey(nil)
	if _, err := d.SetProbeKey(ctx, p.ID, k1, "probe"); err != nil {
		t.Fatal(err)
	}
	if err := d.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetProbeKey(ctx, p.ID, k2, "probe"); err != nil {
		t.Fatal(err)
	}
	nu, _, err := d.EnrollProbe(ctx, EnrollSpec{Village: "33.06.08.2005", Replace: true, Key: k3, By: "tek"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := d.CreateProbe(ctx, "33.06.08.2007")
	d.SetProbeKey(ctx, other.ID, k1, "probe")
	d.Close()
	d = openTest(t, dir)
	defer d.Close()
	h, err := d.KeyHistory(ctx, "33.06.08.2005")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !h[0].PublicKey.Equal(k1) || h[0].Probe != p.ID || !h[1].PublicKey.Equal(k2) || h[2].Probe != nu.ID || !h[2].PublicKey.Equal(k3) {
		t.Errorf("history %+v", h)
	}
}

func TestStateBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTest(t, dir)
	if b, err := d.State(ctx, "baselines"); err != nil || b != nil {
		t.Fatalf("empty: %v %v", b, err)
	}
	d.PutState(ctx, "baselines", []byte("one"))
	d.PutState(ctx, "baselines", []byte("two"))
	d.Close()
	d = openTest(t, dir)
	defer d.Close()
	if b, err := d.State(ctx, "baselines"); err != nil || string(b) != "two" {
		t.Errorf("after a restart: %q %v", b, err)
	}
}

// The enrollment path's lookups use indexes: a scan of every probe per
// enrollment made enrolling the national fleet quadratic.
func TestEnrollmentLookupsUseIndexes(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range []string{
		`SELECT id FROM probes WHERE replaced_by = 'p-1' ORDER BY id`,
		`SELECT id FROM probes WHERE village = '33.06.08.2005' AND revoked_at IS NULL`,
	} {
		rows, err := d.db.Query(`EXPLAIN QUERY PLAN ` + q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		// SEARCH: the rows are found through an index; a SCAN (even of
		// an index, for the ORDER BY) reads every probe.
		if p := strings.Join(plan, "; "); !strings.Contains(p, "SEARCH probes USING") {
			t.Errorf("%s: %s", q, p)
		}
	}
}
