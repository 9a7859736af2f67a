package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/evidence"
)

// post sends body to /api/v1/reports with exactly the signature given
// ("" for none).
func (e *env) post(token, sig string, body []byte) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/reports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if sig != "" {
		req.Header.Set(jagadesa.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// enrollKeyless enrolls a probe without binding a key.
func (e *env) enrollKeyless(village string) (id, token string) {
	e.t.Helper()
	code, body := e.do("POST", "/api/v1/probes", adminToken, nil, fmt.Sprintf(`{"village":%q}`, village))
	if code != http.StatusCreated {
		e.t.Fatalf("enroll %s: %d %s", village, code, body)
	}
	var r struct{ Probe, Token string }
	json.Unmarshal(body, &r)
	return r.Probe, r.Token
}

func TestSignedBatchesAreEnforced(t *testing.T) {
	e := setup(t)
	key := e.keys[e.tokA]
	body := []byte(mustJSON(t, report(villageA, 2)))

	// Altered after signing: one digit of one RTT changed.
	tampered := bytes.Replace(body, []byte(`"avg_ms":22`), []byte(`"avg_ms":12`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("test report has no avg_ms 22 to alter")
	}
	if code, b := e.post(e.tokA, jagadesa.SignReport(key, body), tampered); code != http.StatusUnauthorized || !strings.Contains(b, "signature does not match") {
		t.Fatalf("altered batch: %d %s; want 401", code, b)
	}
	// Signed by a key that is not the probe's.
	_, other, _ := ed25519.GenerateKey(nil)
	if code, b := e.post(e.tokA, jagadesa.SignReport(other, body), body); code != http.StatusUnauthorized {
		t.Fatalf("batch signed with another key: %d %s; want 401", code, b)
	}
	// Probe B's key does not sign for probe A either.
	if code, b := e.post(e.tokA, jagadesa.SignReport(e.keys[e.tokB], body), body); code != http.StatusUnauthorized {
		t.Fatalf("batch signed with probe B's key: %d %s; want 401", code, b)
	}
	// Not signed at all, though the probe has a key.
	if code, b := e.post(e.tokA, "", body); code != http.StatusUnauthorized || !strings.Contains(b, "not signed") {
		t.Fatalf("unsigned batch: %d %s; want 401", code, b)
	}
	// Garbage in the header.
	if code, b := e.post(e.tokA, "not base64!", body); code != http.StatusUnauthorized {
		t.Fatalf("garbage signature: %d %s; want 401", code, b)
	}
	if n := e.count("icmp", "sent", villageA); n != 0 {
		t.Fatalf("%d points stored from refused batches, want 0", n)
	}
	// The genuine batch goes in, once.
	if code, b := e.post(e.tokA, jagadesa.SignReport(key, body), body); code != http.StatusOK {
		t.Fatalf("genuine batch: %d %s", code, b)
	}
	if code, b := e.post(e.tokA, jagadesa.SignReport(key, body), body); code != http.StatusConflict {
		t.Fatalf("replayed batch: %d %s; want 409", code, b)
	}
	if n := e.count("icmp", "sent", villageA); n != 2 {
		t.Fatalf("%d icmp points, want 2", n)
	}

	// A probe whose spool was wiped starts a new stream: its numbers begin
	// again at 1 and are accepted; the same numbers on the old stream stay
	// refused.
	fresh := report(villageA, 1)
	for i := range fresh.Samples {
		fresh.Samples[i].Seq = uint64(i + 1)
		fresh.Samples[i].TimeMs -= 3600_000
	}
	old := []byte(mustJSON(t, fresh))
	if code, b := e.post(e.tokA, jagadesa.SignReport(key, old), old); code != http.StatusConflict {
		t.Fatalf("low numbers on the old stream: %d %s; want 409", code, b)
	}
	fresh.Stream = "s-new"
	nb := []byte(mustJSON(t, fresh))
	if code, b := e.post(e.tokA, jagadesa.SignReport(key, nb), nb); code != http.StatusOK {
		t.Fatalf("new stream: %d %s", code, b)
	}
}

// Without --probe-key-tofu a key is bound at enrollment: keyless
// enrollment is refused with the reason, and a probe that has no key (one
// enrolled before, or whose key was reset) cannot bind one itself.
func TestKeyBoundAtEnrollment(t *testing.T) {
	e := setup(t)
	code, b := e.do("POST", "/api/v1/probes", adminToken, nil, fmt.Sprintf(`{"village":%q}`, villageB))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "public_key") || !strings.Contains(string(b), "--probe-key-tofu") {
		t.Fatalf("keyless enrollment: %d %s", code, b)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	p, tok, err := e.db.CreateProbe(context.Background(), villageB) // keyless, as before keys were bound
	if err != nil {
		t.Fatal(err)
	}
	code, b = e.do("POST", "/api/v1/probes/key", tok, nil, fmt.Sprintf(`{"public_key":%q}`, jagadesa.FormatPublicKey(pub)))
	if code != http.StatusForbidden || !strings.Contains(string(b), "binds probe keys at enrollment") {
		t.Fatalf("first-use key registration on a binding server: %d %s", code, b)
	}
	// Staff may bind the key they read off the router.
	code, b = e.do("PUT", "/api/v1/probes/"+p.ID+"/key", adminToken, nil, fmt.Sprintf(`{"public_key":%q}`, jagadesa.FormatPublicKey(pub)))
	if code != http.StatusOK || !strings.Contains(string(b), jagadesa.KeyID(pub)) {
		t.Fatalf("staff binding a key: %d %s", code, b)
	}
	if code, b := e.do("POST", "/api/v1/probes/key", tok, nil, fmt.Sprintf(`{"public_key":%q}`, jagadesa.FormatPublicKey(pub))); code != http.StatusOK {
		t.Fatalf("the probe registering its bound key again: %d %s", code, b)
	}
}

func TestProbeKeyRegistration(t *testing.T) {
	reg, _ := geo.Jateng()
	e := newEnv(t, reg, func(d *server.Deps) { d.ProbeKeyTOFU = true })
	id, tok := e.enrollKeyless(villageB)
	pub1, key1, _ := ed25519.GenerateKey(nil)
	pub2, key2, _ := ed25519.GenerateKey(nil)
	register := func(pub ed25519.PublicKey) (int, string) {
		code, b := e.do("POST", "/api/v1/probes/key", tok, nil, fmt.Sprintf(`{"public_key":%q}`, jagadesa.FormatPublicKey(pub)))
		return code, string(b)
	}
	body := []byte(mustJSON(t, report(villageB, 1)))
	// Signed before any key is registered: refused, and it says why.
	if code, b := e.post(tok, jagadesa.SignReport(key1, body), body); code != http.StatusUnauthorized || !strings.Contains(b, "no registered key") {
		t.Fatalf("signed batch before registration: %d %s", code, b)
	}
	if code, b := register(pub1); code != http.StatusCreated || !strings.Contains(b, jagadesa.KeyID(pub1)) {
		t.Fatalf("first registration: %d %s", code, b)
	}
	if code, b := register(pub1); code != http.StatusOK {
		t.Fatalf("same key again: %d %s", code, b)
	}
	if code, b := register(pub2); code != http.StatusConflict {
		t.Fatalf("another key: %d %s; want 409", code, b)
	}
	for _, bad := range []string{`{"public_key":"AAAA"}`, `{"public_key":"not base64"}`, `{}`, `{"public_key":"x","extra":1}`} {
		if code, b := e.do("POST", "/api/v1/probes/key", tok, nil, bad); code != http.StatusBadRequest {
			t.Fatalf("bad registration %s: %d %s", bad, code, b)
		}
	}
	if code, b := e.post(tok, jagadesa.SignReport(key1, body), body); code != http.StatusOK {
		t.Fatalf("batch with the registered key: %d %s", code, b)
	}
	// The admin sees the key, in PEM too; a probe may not reset it.
	code, b := e.do("GET", "/api/v1/probes/"+id+"/key", adminToken, nil, "")
	var kv struct {
		PublicKey, KeyID, PEM string
		RegisteredBy          string `json:"registered_by"`
	}
	json.Unmarshal(b, &kv)
	got, err := jagadesa.ParsePublicKey(kv.PEM)
	if code != 200 || err != nil || !got.Equal(pub1) || kv.RegisteredBy != "probe" {
		t.Fatalf("GET key: %d %s (%v)", code, b, err)
	}
	if code, _ := e.do("DELETE", "/api/v1/probes/"+id+"/key", tok, nil, ""); code != http.StatusForbidden {
		t.Fatalf("probe resetting its key: %d, want 403", code)
	}
	if code, b := e.do("DELETE", "/api/v1/probes/"+id+"/key", adminToken, nil, ""); code != http.StatusNoContent {
		t.Fatalf("admin reset: %d %s", code, b)
	}
	// After the reset the new key registers, the old one signs no more,
	// and the replay marks start afresh.
	if code, b := register(pub2); code != http.StatusCreated {
		t.Fatalf("registration after reset: %d %s", code, b)
	}
	body2 := []byte(mustJSON(t, report(villageB, 1)))
	if code, b := e.post(tok, jagadesa.SignReport(key1, body2), body2); code != http.StatusUnauthorized {
		t.Fatalf("old key after reset: %d %s", code, b)
	}
	if code, b := e.post(tok, jagadesa.SignReport(key2, body), body); code != http.StatusOK {
		t.Fatalf("re-sent batch under the new key (marks reset): %d %s", code, b)
	}
}

func TestUnsignedBatchesOnlyWhileMigrating(t *testing.T) {
	reg, _ := geo.Jateng()
	strict := newEnv(t, reg, func(d *server.Deps) { d.ProbeKeyTOFU = true })
	_, tok := strict.enrollKeyless(villageB)
	body := []byte(mustJSON(t, report(villageB, 1)))
	if code, b := strict.post(tok, "", body); code != http.StatusUnauthorized || !strings.Contains(b, "accepts only signed") {
		t.Fatalf("unsigned batch on a strict server: %d %s", code, b)
	}

	lax := newEnv(t, reg, func(d *server.Deps) { d.AllowUnsigned, d.ProbeKeyTOFU = true, true })
	_, tok = lax.enrollKeyless(villageB)
	if code, b := lax.post(tok, "", body); code != http.StatusOK {
		t.Fatalf("unsigned batch from a keyless probe while migrating: %d %s", code, b)
	}
	// Replays are refused for unsigned probes too.
	if code, b := lax.post(tok, "", body); code != http.StatusConflict {
		t.Fatalf("unsigned replay: %d %s", code, b)
	}
	// Once the probe has a key there is no going back to unsigned.
	pub, _, _ := ed25519.GenerateKey(nil)
	if code, b := lax.do("POST", "/api/v1/probes/key", tok, nil, fmt.Sprintf(`{"public_key":%q}`, jagadesa.FormatPublicKey(pub))); code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, b)
	}
	body2 := []byte(mustJSON(t, report(villageB, 1)))
	if code, b := lax.post(tok, "", body2); code != http.StatusUnauthorized {
		t.Fatalf("unsigned batch after the key: %d %s", code, b)
	}
}

func TestAcceptedBatchesAreKeptAsEvidence(t *testing.T) {
	reg, _ := geo.Jateng()
	arch, err := evidence.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, reg, func(d *server.Deps) { d.Evidence = arch })
	sent := report(villageA, 3)
	// gzip on the wire; the signature and the evidence are of the JSON.
	if code, b := e.doBytes("POST", "/api/v1/reports", e.tokA, map[string]string{"Content-Encoding": "gzip"}, gz([]byte(mustJSON(t, sent)))); code != 200 {
		t.Fatalf("post: %d %s", code, b)
	}
	refused := []byte(mustJSON(t, report(villageA, 1)))
	e.post(e.tokA, "", refused) // unsigned: refused, not archived

	files, err := arch.Files(villageA)
	if err != nil || len(files) != 1 {
		t.Fatalf("evidence files %v (%v), want one", files, err)
	}
	var recs []*evidence.Record
	if err := evidence.ReadFile(files[0], func(r *evidence.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records archived, want 1", len(recs))
	}
	r := recs[0]
	pub := e.keys[e.tokA].Public().(ed25519.PublicKey)
	if err := r.Verify(pub); err != nil {
		t.Fatalf("archived batch does not verify: %v", err)
	}
	got, err := r.Report()
	lo, hi := sent.SeqRange()
	if err != nil || r.Probe != e.probeA || r.Village != villageA || r.FirstSeq != lo || r.LastSeq != hi || len(got.Samples) != 6 || got.Samples[0].ICMP.AvgMs != 22 {
		t.Fatalf("archived record %+v / %+v (%v)", r, got, err)
	}
	// Evidence that was altered afterwards no longer verifies.
	r.Body = bytes.Replace(r.Body, []byte(`"received":9`), []byte(`"received":10`), 1)
	if err := r.Verify(pub); err == nil {
		t.Fatal("altered evidence still verifies")
	}
}
