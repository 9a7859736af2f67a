package influx_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

func newStore(t *testing.T) *influx.Store {
	t.Helper()
	ifx := influxtest.Get(t)
	s, err := influx.New(influx.Config{URL: ifx.URL, Bucket: ifx.NewDatabase(t), Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func countICMP(t *testing.T, s *influx.Store) int64 {
	t.Helper()
	recs, err := s.Query(context.Background(), fmt.Sprintf(`from(bucket: %s) |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "icmp" and r._field == "sent") |> group() |> count()`, influx.FluxString(s.Bucket())))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[0]["_value"].(int64)
}

func rep(village string, t0 time.Time, n int) *jagadesa.Report {
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: village}
	for i := 0; i < n; i++ {
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: uint64(i + 1), TimeMs: t0.Add(time.Duration(i) * time.Second).UnixMilli(),
			Kind: jagadesa.KindICMP, Target: "t", ICMP: &jagadesa.ICMP{Sent: 10, Received: 10, MinMs: 1, AvgMs: 2, MaxMs: 3, RTTsMs: nil}})
	}
	return r
}

// Concurrent reports are committed together, and every caller learns that
// its own points are stored.
func TestConcurrentWritesAllLand(t *testing.T) {
	s := newStore(t)
	t0 := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.WriteReport(context.Background(), rep(fmt.Sprintf("33.01.01.%04d", 2000+i), t0, 25), "33.01")
			if err == nil && n != 25 {
				err = fmt.Errorf("wrote %d points, want 25", n)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countICMP(t, s); n != 200*25 {
		t.Fatalf("%d points stored, want %d", n, 200*25)
	}
}

// A point InfluxDB refuses (a field whose type conflicts with what is
// stored) fails only the report that carried it, not the reports committed
// alongside it.
func TestRejectedPointsFailOnlyTheirOwnReport(t *testing.T) {
	s := newStore(t)
	t0 := time.Now().Add(-time.Hour)
	// "sent" is a float in our schema; an integer "sent" conflicts.
	bad := []byte(fmt.Sprintf("icmp,probe=p,regency=33.01,target=t,village=33.01.01.2001 sent=1i %d\n", t0.UnixNano()))
	if err := s.Write(context.Background(), []byte(fmt.Sprintf("icmp,probe=p,regency=33.01,target=t,village=33.01.01.2001 sent=1 %d\n", t0.UnixNano())), 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var badErr error
	goodErrs := make([]error, 50)
	wg.Add(1)
	go func() { defer wg.Done(); badErr = s.Write(context.Background(), bad, 1) }()
	for i := range goodErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, goodErrs[i] = s.WriteReport(context.Background(), rep(fmt.Sprintf("33.01.02.%04d", 2000+i), t0, 10), "33.01")
		}()
	}
	wg.Wait()
	if jagadesa.ErrorCode(badErr) != jagadesa.EInvalid {
		t.Fatalf("conflicting point: %v, want an invalid error", badErr)
	}
	for i, err := range goodErrs {
		if err != nil {
			t.Fatalf("good report %d failed beside a bad one: %v", i, err)
		}
	}
	if n := countICMP(t, s); n != 1+50*10 {
		t.Fatalf("%d points stored, want %d", n, 1+50*10)
	}
}

func TestMissingDatabaseIsUnavailable(t *testing.T) {
	ifx := influxtest.Get(t)
	s, err := influx.New(influx.Config{URL: ifx.URL, Bucket: "no_such_db/autogen", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.WriteReport(context.Background(), rep("33.01.01.2001", time.Now(), 1), "33.01")
	if jagadesa.ErrorCode(err) != jagadesa.EUnavailable {
		t.Fatalf("write to a missing database: %v, want unavailable (keep the data, fix the server)", err)
	}
}

// InfluxDB 1.x's index limits refuse new series with a 400: the points
// are good, so the probe is told to keep them (unavailable), not that they
// are invalid (it would drop them). Against a real influxd whose
// max-values-per-tag is 3.
func TestSeriesLimitIsUnavailable(t *testing.T) {
	ifx := influxtest.Private(t, "  max-values-per-tag = 3\n")
	s, err := influx.New(influx.Config{URL: ifx.URL, Bucket: ifx.NewDatabase(t), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now().Add(-time.Hour)
	for i := range 3 { // three villages fit
		if _, err := s.WriteReport(context.Background(), rep(fmt.Sprintf("33.01.01.%04d", 2001+i), t0, 1), "33.01"); err != nil {
			t.Fatalf("village %d: %v", i, err)
		}
	}
	_, err = s.WriteReport(context.Background(), rep("33.01.01.2009", t0, 1), "33.01")
	if jagadesa.ErrorCode(err) != jagadesa.EUnavailable || !strings.Contains(err.Error(), "max-values-per-tag") {
		t.Fatalf("a fourth village past the limit: %v, want unavailable naming the limit", err)
	}
	// The villages already known still write.
	if _, err := s.WriteReport(context.Background(), rep("33.01.01.2001", t0.Add(time.Minute), 1), "33.01"); err != nil {
		t.Fatalf("a known village beside the limit: %v", err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	s, err := influx.New(influx.Config{URL: "http://127.0.0.1:1", Bucket: "x/autogen", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); jagadesa.ErrorCode(err) != jagadesa.EUnavailable {
		t.Fatalf("ping: %v", err)
	}
	_, err = s.WriteReport(context.Background(), rep("33.01.01.2001", time.Now(), 1), "33.01")
	if jagadesa.ErrorCode(err) != jagadesa.EUnavailable {
		t.Fatalf("write: %v", err)
	}
}

func TestLatestByVillage(t *testing.T) {
	s := newStore(t)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	r := &jagadesa.Report{Version: 1, Probe: "p-9", Village: "33.06.08.2007", Samples: []jagadesa.Sample{
		{Seq: 1, TimeMs: t0.UnixMilli(), Kind: jagadesa.KindICMP, Target: "a", ICMP: &jagadesa.ICMP{Sent: 10, Received: 10, MinMs: 5, AvgMs: 6, MaxMs: 9, RTTsMs: []float64{5, 5, 6, 6, 6, 6, 6, 7, 8, 9}}},
		{Seq: 2, TimeMs: t0.Add(time.Minute).UnixMilli(), Kind: jagadesa.KindICMP, Target: "a", ICMP: &jagadesa.ICMP{Sent: 10, Received: 8, MinMs: 5, AvgMs: 6, MaxMs: 9, RTTsMs: []float64{5, 5, 6, 7, 7, 7, 8, 9}}},
		{Seq: 3, TimeMs: t0.Add(time.Minute).UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{UptimeS: 5, IntervalS: 60}},
	}}
	if _, err := s.WriteReport(context.Background(), r, "33.06"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestByVillage(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := got["33.06.08.2007"]
	if l == nil || !l.LastSeen.Equal(t0.Add(time.Minute)) || l.LossPct != 20 || l.RTTMs != 7 || l.Probe != "p-9" || !l.HasPing {
		t.Fatalf("latest = %+v", l)
	}
}
