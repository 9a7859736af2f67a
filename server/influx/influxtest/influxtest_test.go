package influxtest_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

func newClient(t *testing.T, s *influxtest.Server) influxdb2.Client {
	t.Helper()
	c := influxdb2.NewClientWithOptions(s.URL, influxtest.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(5))
	t.Cleanup(c.Close)
	return c
}

// write writes one point of measurement m with field v through the blocking
// write API.
func write(ctx context.Context, c influxdb2.Client, bucket string, v int, at time.Time) error {
	line := fmt.Sprintf("m,village=33.06.08.2007 v=%di %d", v, at.UnixNano())
	return c.WriteAPIBlocking(influxtest.Org, bucket).WriteRecord(ctx, line)
}

// values reads back every v of the last hour with Flux, sorted.
func values(t *testing.T, c influxdb2.Client, bucket string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.QueryAPI(influxtest.Org).Query(ctx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)`, bucket))
	if err != nil {
		t.Fatalf("query %s: %v", bucket, err)
	}
	defer res.Close()
	var vs []int64
	for res.Next() {
		r := res.Record()
		if r.Measurement() != "m" || r.Field() != "v" || r.ValueByKey("village") != "33.06.08.2007" {
			t.Fatalf("unexpected record %v", r)
		}
		v, ok := r.Value().(int64)
		if !ok {
			t.Fatalf("value %#v is not an int64", r.Value())
		}
		vs = append(vs, v)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("query %s: %v", bucket, err)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs
}

func TestWriteAndQuery(t *testing.T) {
	s := influxtest.Get(t)
	bucket := s.NewDatabase(t)
	c := newClient(t, s)
	if err := write(context.Background(), c, bucket, 42, time.Now()); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := values(t, c, bucket); fmt.Sprint(got) != "[42]" {
		t.Fatalf("read back %v, want [42]", got)
	}
}

func TestDatabasesAreSeparate(t *testing.T) {
	s := influxtest.Get(t)
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b {
		t.Fatalf("two NewDatabase calls returned the same bucket %q", a)
	}
	c := newClient(t, s)
	if err := write(context.Background(), c, a, 1, time.Now()); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := values(t, c, b); len(got) != 0 {
		t.Fatalf("bucket %s sees %v written to %s", b, got, a)
	}
}

func TestRestartKeepsData(t *testing.T) {
	s := influxtest.Get(t)
	bucket := s.NewDatabase(t)
	c := newClient(t, s)
	t0 := time.Now()
	if err := write(context.Background(), c, bucket, 1, t0); err != nil {
		t.Fatalf("write before stop: %v", err)
	}

	s.Stop(t)
	s.Stop(t) // stopping a stopped server does nothing
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := write(ctx, c, bucket, 2, t0.Add(time.Second))
	cancel()
	if err == nil {
		t.Fatal("write while stopped succeeded")
	}
	t.Logf("write while stopped: %v", err)

	url := s.URL
	start := time.Now()
	s.Restart(t)
	t.Logf("restart took %s", time.Since(start).Round(time.Millisecond))
	if s.URL != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, s.URL)
	}
	if got := values(t, c, bucket); fmt.Sprint(got) != "[1]" {
		t.Fatalf("after restart read %v, want [1]", got)
	}
	if err := write(context.Background(), c, bucket, 3, t0.Add(2*time.Second)); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	if got := values(t, c, bucket); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("after restart and write read %v, want [1 3]", got)
	}
}

// A test that stops the server and ends without restarting it leaves the
// server running for the next test: Stop restarts it in a cleanup.
func TestStopRestartsAtCleanup(t *testing.T) {
	s := influxtest.Get(t)
	t.Run("stops", func(t *testing.T) { s.Stop(t) })
	bucket := s.NewDatabase(t) // fails unless the subtest's cleanup restarted it
	c := newClient(t, s)
	if err := write(context.Background(), c, bucket, 7, time.Now()); err != nil {
		t.Fatalf("write after the cleanup restart: %v", err)
	}
}
