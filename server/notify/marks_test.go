package notify_test

import (
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/notify"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// A restart inside the dedup window sends nothing twice: the marks are
// kept in the metadata store. Outside the window they are forgotten.
func TestDedupMarksSurviveARestart(t *testing.T) {
	var got int
	done := make(chan struct{}, 10)
	srv := newHookServer(t, func() { got++; done <- struct{}{} })
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: srv.URL}}}
	n := jagadesa.Notification{Event: "opened", At: now, Incident: jagadesa.Incident{ID: "JD-1", Kind: jagadesa.IncidentDown, Village: "33.06.08.2007",
		Villages: []string{"33.06.08.2007"}, Title: "Desa Krandegan putus"}}
	d := notify.New(notify.Settings{}, nil, notify.WithClock(clock), notify.WithMarkStore(db), notify.WithDedupWindow(time.Hour))
	d.Send(team, n)
	closeDispatcher(t, d)
	if got != 1 {
		t.Fatalf("%d deliveries before the restart", got)
	}
	db.Close()

	db, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now = now.Add(10 * time.Minute)
	d = notify.New(notify.Settings{}, nil, notify.WithClock(clock), notify.WithMarkStore(db), notify.WithDedupWindow(time.Hour))
	d.Send(team, n)
	closeDispatcher(t, d)
	if got != 1 {
		t.Fatalf("sent again after a restart inside the window: %d deliveries", got)
	}
	// Two hours later the mark has expired: a new "opened" of the same id
	// (a reopened incident) goes out.
	now = now.Add(2 * time.Hour)
	d = notify.New(notify.Settings{}, nil, notify.WithClock(clock), notify.WithMarkStore(db), notify.WithDedupWindow(time.Hour))
	d.Send(team, n)
	closeDispatcher(t, d)
	if got != 2 {
		t.Fatalf("after the window: %d deliveries, want 2", got)
	}
}
