package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/sqlite"
	"github.com/jagadesa/jagadesa/server/status"
)

// BenchmarkVillagesGeoJSONHandler is the server time of
// GET /api/v1/map/villages.geojson for all 8,563 villages of Jawa Tengah
// (599 of them live), through the real gin handler: the target is ≤ 50 ms.
// "fresh" rebuilds the live-status snapshot every request (the clock moves
// past its 2 s reuse), "gzip" adds the compression a browser asks for.
func BenchmarkVillagesGeoJSONHandler(b *testing.B) {
	reg, err := geo.Jateng()
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	prog := map[string]jagadesa.Programme{}
	clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	engine := status.New(status.Config{Now: now})
	for i, p := range geo.DemoProgramme(reg) {
		prog[p.Code] = p
		engine.Restore(p.Code, "p", clock.Add(-time.Duration(i%50)*time.Second), time.Minute, 20+float64(i%30), float64(i%3), true)
	}
	h := server.NewServer(server.Deps{Logger: slog.New(slog.DiscardHandler), Registry: reg, Programme: prog, Probes: db,
		Points: nil, Status: engine, AdminToken: adminToken, Now: now})
	for _, bc := range []struct {
		name        string
		fresh, gzip bool
	}{{"cached", false, false}, {"fresh", true, false}, {"fresh+gzip", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				if bc.fresh {
					clock = clock.Add(3 * time.Second)
				}
				req := httptest.NewRequest("GET", "/api/v1/map/villages.geojson", nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				if bc.gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				size = w.Body.Len()
				_, _ = io.Copy(io.Discard, w.Body)
			}
			b.ReportMetric(float64(size)/1024, "KiB")
		})
	}
}
