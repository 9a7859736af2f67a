package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/federation"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// TestNationalView: a national server takes a province's signed batch on
// POST /api/v1/federation/batches (no bearer token: the signature is the
// credential) and shows it to signed-in people of any province, read-only;
// a viewer sees no security evidence; the receiver's errors come out in
// the API's one error shape.
func TestNationalView(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	st, err := federation.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub15, key15, _ := ed25519.GenerateKey(nil)
	nat := &federation.National{Receiver: federation.NewReceiver(st, map[string]ed25519.PublicKey{"15": pub15}, nil, nil), Store: st}
	var db *sqlite.DB
	e := newEnv(t, reg, func(d *server.Deps) {
		db = d.Probes.(*sqlite.DB)
		d.Accounts = db
		d.National = nat
	})
	ctx := context.Background()
	token := func(u jagadesa.User) string {
		if _, err := db.CreateUser(ctx, u, "$argon2id$unused"); err != nil {
			t.Fatal(err)
		}
		tok, hash := accounts.NewToken(accounts.PrefixUserToken)
		if _, err := db.CreateUserToken(ctx, u.Username, "test", hash); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	viewer := token(jagadesa.User{Username: "pusat-viewer", Role: jagadesa.RoleViewer, Province: "33"})
	analyst := token(jagadesa.User{Username: "pusat-analyst", Role: jagadesa.RoleProvinceAnalyst, Province: "33"})

	now := time.Now().UTC().Add(-time.Minute)
	in := federation.Incident{ID: "inc-9", Village: "15.01.01.2001", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical,
		State: jagadesa.StateOpen, OpenedAt: now, Evidence: json.RawMessage(`{"signals":[{"kind":"new_listener"}]}`)}
	b := federation.Batch{Version: 1, Province: "15", Stream: "f-1", SentAt: now, Items: []federation.Item{
		{Seq: 1, Kind: federation.KindVillageStatus, At: now, VillageStatus: &federation.VillageStatus{Village: "15.01.01.2001", Status: jagadesa.StatusDown, Since: now}},
		{Seq: 2, Kind: federation.KindIncident, At: now, Incident: &in},
	}}
	body, _ := json.Marshal(b)
	var wire bytes.Buffer
	zw := gzip.NewWriter(&wire)
	zw.Write(body)
	zw.Close()
	hdr := map[string]string{federation.ProvinceHeader: "15", jagadesa.SignatureHeader: jagadesa.SignReport(key15, body), "Content-Encoding": "gzip"}
	code, ans := e.doBytes("POST", "/api/v1/federation/batches", "", hdr, wire.Bytes())
	if code != 200 || !strings.Contains(string(ans), `"accepted_to":2`) {
		t.Fatalf("batch: %d %s", code, ans)
	}
	// A bad signature: 401 in the API's error shape.
	hdr[jagadesa.SignatureHeader] = jagadesa.SignReport(key15, []byte("other"))
	code, ans = e.doBytes("POST", "/api/v1/federation/batches", "", hdr, wire.Bytes())
	if code != 401 || !strings.Contains(string(ans), `"error":"the batch's signature does not verify`) {
		t.Fatalf("badly signed batch: %d %s", code, ans)
	}

	// A person of province 33 on the national server sees Jambi.
	code, ans = e.do("GET", "/api/v1/national/villages", viewer, nil, "")
	if code != 200 || !strings.Contains(string(ans), `"village":"15.01.01.2001"`) {
		t.Fatalf("national villages: %d %s", code, ans)
	}
	code, ans = e.do("GET", "/api/v1/national/incidents?province=15&status=open", analyst, nil, "")
	if code != 200 || !strings.Contains(string(ans), "new_listener") {
		t.Fatalf("national incidents for an analyst: %d %s", code, ans)
	}
	code, ans = e.do("GET", "/api/v1/national/incidents", viewer, nil, "")
	if code != 200 || !strings.Contains(string(ans), `"id":"inc-9"`) || strings.Contains(string(ans), "new_listener") {
		t.Fatalf("national incidents for a viewer (no evidence): %d %s", code, ans)
	}
	code, ans = e.do("GET", "/api/v1/national/provinces", viewer, nil, "")
	var pv struct{ Provinces []federation.ProvinceState }
	json.Unmarshal(ans, &pv)
	if code != 200 || len(pv.Provinces) != 1 || pv.Provinces[0].Province != "15" || !pv.Provinces[0].Heard || pv.Provinces[0].Offline {
		t.Fatalf("national provinces: %d %s", code, ans)
	}
	for path, want := range map[string]int{
		"/api/v1/national/villages?province=jambi":             http.StatusBadRequest,
		"/api/v1/national/villages?status=sideways":            http.StatusBadRequest,
		"/api/v1/national/villages?province=15&status=down":    http.StatusOK,
		"/api/v1/national/incidents?status=closed":             http.StatusBadRequest,
		"/api/v1/national/months?kind=sla_month&month=2026-13": http.StatusBadRequest,
		"/api/v1/national/months?kind=sla_month&month=2026-11": http.StatusOK,
	} {
		if code, ans := e.do("GET", path, viewer, nil, ""); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, ans, want)
		}
	}
	// The map places what this server's registry knows (here Jawa Tengah
	// only): the Jambi village is counted, not drawn.
	code, ans = e.do("GET", "/api/v1/national/map.geojson", viewer, nil, "")
	if code != 200 || !strings.Contains(string(ans), `"features":[]`) || !strings.Contains(string(ans), `"unplaced":1`) {
		t.Fatalf("national map: %d %s", code, ans)
	}
	// Signed-in people only, and nothing to change.
	if code, _ := e.do("GET", "/api/v1/national/villages", "", nil, ""); code != 401 {
		t.Fatalf("national view without credentials: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/national/villages", analyst, nil, "{}"); code != 404 {
		t.Fatalf("a POST to the national view: %d, want 404 (read-only)", code)
	}
}
