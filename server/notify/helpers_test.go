package notify

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/internal/syncbuf"

	"github.com/jagadesa/jagadesa"
)

// 12.03 WIB on 3 March 2026.
var t0 = time.Date(2026, 3, 3, 5, 3, 0, 0, time.UTC)

// krandegan is the demo's named village going down.
func krandegan(event string) jagadesa.Notification {
	inc := jagadesa.Incident{
		ID:        "inc-20260303-0001",
		Kind:      jagadesa.IncidentDown,
		Severity:  jagadesa.SeverityCritical,
		State:     jagadesa.StateOpen,
		Title:     "Desa Krandegan putus",
		Villages:  []string{"33.06.08.2007"},
		Village:   "33.06.08.2007",
		Regency:   "33.06",
		District:  "33.06.08",
		ISP:       "Telkom Indonesia",
		CSIRT:     "CSIRT Kabupaten Purworejo",
		Priority:  true,
		OpenedAt:  t0.Add(2 * time.Minute),
		StartedAt: t0,
		Evidence:  map[string]string{"loss": "100%", "probe": "tidak ada laporan 5 menit"},
	}
	at := inc.OpenedAt
	switch event {
	case "acknowledged":
		ack := t0.Add(10 * time.Minute)
		inc.State, inc.AckedAt, inc.AckedBy, at = jagadesa.StateAcknowledged, &ack, "budi@purworejokab.go.id", ack
	case "resolved":
		end := t0.Add(38 * time.Minute)
		inc.State, inc.ResolvedAt, inc.EndedAt, at = jagadesa.StateResolved, &end, &end, end
	case "escalated":
		inc.Escalated, at = true, t0.Add(32*time.Minute)
	}
	return jagadesa.Notification{
		Event:    event,
		Incident: inc,
		URL:      "https://jagadesa.example/incidents/inc-20260303-0001",
		At:       at,
		Villages: []jagadesa.Village{{
			Code: "33.06.08.2007", Name: "Krandegan", Kind: "desa",
			DistrictCode: "33.06.08", District: "Bayan", RegencyCode: "33.06", Regency: "Kabupaten Purworejo",
			Lat: -7.72, Lon: 110.01,
		}},
	}
}

// fakeClock is a settable clock for dedup and rate-limit tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is the shared concurrent-safe test log sink.
type syncBuffer = syncbuf.Buffer

func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fastRetry keeps retry tests quick.
var fastRetry = RetryPolicy{Attempts: 3, Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, MaxRetryAfter: 3 * time.Second, AttemptTimeout: 5 * time.Second}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
