// Package influx is the only package that talks to InfluxDB. It writes
// reports as line protocol through influxdb-client-go's blocking write API,
// committing the points of concurrent requests together, and answers the
// Flux queries the server needs.
package influx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/jagadesa/jagadesa"
)

// Config says where the bucket is. Against InfluxDB 1.8 the org is "-", the
// bucket "db/rp" and the token "user:pass" (or empty without auth).
type Config struct {
	URL    string
	Token  string
	Org    string
	Bucket string

	// MaxBatchLines caps how many lines one commit sends (default 5000, the
	// batch size InfluxDB's docs recommend).
	MaxBatchLines int
	// Writers is how many commits may be in flight at once (default 1).
	// One gathers everything that arrived during the previous write into
	// the next: with live-size reports (4 points each) from 32 clients,
	// four writers sent 15 points a write on average and cost InfluxDB 1.8
	// about 56 µs of CPU a point; one writer sent 56 a write for 41 µs.
	// InfluxDB's own rate (about 46,000 points/s a writer here) bounds
	// ingest either way.
	Writers int
	// Timeout bounds one write or query (default 10 s).
	Timeout time.Duration
}

// Store writes and queries one bucket.
type Store struct {
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
	bucket string
	cfg    Config

	reqs chan *writeReq
	wg   sync.WaitGroup
	once sync.Once
}

type writeReq struct {
	lines []byte
	n     int
	done  chan error
}

// New connects lazily: it makes no request, so the server can start while
// InfluxDB is still down and answer 503 until it is up.
func New(cfg Config) (*Store, error) {
	if cfg.URL == "" || cfg.Bucket == "" {
		return nil, errors.New("influx: URL and bucket are required")
	}
	if cfg.Org == "" {
		cfg.Org = "-"
	}
	if cfg.MaxBatchLines <= 0 {
		cfg.MaxBatchLines = 5000
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(cfg.Timeout / time.Second)).
		SetPrecision(time.Nanosecond)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	s := &Store{
		client: client,
		write:  client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		query:  client.QueryAPI(cfg.Org),
		bucket: cfg.Bucket,
		cfg:    cfg,
		reqs:   make(chan *writeReq, 1024),
	}
	for range cfg.Writers {
		s.wg.Add(1)
		go s.committer()
	}
	return s, nil
}

// Bucket is the bucket this store writes to.
func (s *Store) Bucket() string { return s.bucket }

// Close stops the committers after the queued writes and closes the client.
func (s *Store) Close() {
	s.once.Do(func() {
		close(s.reqs)
		s.wg.Wait()
		s.client.Close()
	})
}

// Write stores lines (newline-terminated line protocol holding n points) and
// returns only once InfluxDB has acknowledged them, so a caller may tell its
// client the data is safe. Concurrent calls are committed together: under
// load many small reports become few large writes.
//
// Errors are *jagadesa.Error: EUnavailable when InfluxDB cannot be reached or
// is overloaded (retry later), EInvalid when it refused the points.
func (s *Store) Write(ctx context.Context, lines []byte, n int) error {
	r := &writeReq{lines: lines, n: n, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
	// Once queued, wait for the commit even if the caller gives up: the
	// committer reads lines until then, and each write has its own timeout.
	return <-r.done
}

func (s *Store) committer() {
	defer s.wg.Done()
	var buf []byte
	batch := make([]*writeReq, 0, 64)
	for first := range s.reqs {
		batch = append(batch[:0], first)
		buf = append(buf[:0], first.lines...)
		n := first.n
	gather:
		for n < s.cfg.MaxBatchLines {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				buf = append(buf, r.lines...)
				n += r.n
			default:
				break gather
			}
		}
		err := s.writeLines(buf)
		if err != nil && len(batch) > 1 && jagadesa.ErrorCode(err) == jagadesa.EInvalid {
			// One request's bad points must not fail its neighbours:
			// write each alone to find whose they were.
			for _, r := range batch {
				r.done <- s.writeLines(r.lines)
			}
			continue
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (s *Store) writeLines(lines []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	return classify(s.write.WriteRecord(ctx, string(lines)))
}

// classify maps a client error onto the application's codes.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) {
		switch {
		case he.StatusCode == 0, he.StatusCode == 429, he.StatusCode >= 500:
			return unavailable(err)
		case he.StatusCode == 401 || he.StatusCode == 403:
			// Our credentials are wrong: an operator must fix the server,
			// and the probe should keep its data meanwhile.
			return &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the time-series database refused the server's credentials", Err: err}
		case he.StatusCode == 404:
			return &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the time-series bucket does not exist", Err: err}
		case limitReached(he.Message):
			// InfluxDB 1.x refuses new series past its index limits with a
			// 400 "partial write": the points are good and the limit is
			// the operator's to raise, so the probe must keep them.
			return &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the time-series database refused new series at its max-values-per-tag or max-series-per-database limit; the operator must raise it (0: none)", Err: err}
		default:
			// Its message quotes our line protocol and internal names:
			// it goes to the log with the error id, not to the probe.
			return &jagadesa.Error{Code: jagadesa.EInvalid, Message: "the time-series database refused the points of this batch", Err: err}
		}
	}
	return unavailable(err)
}

// limitReached says whether InfluxDB's answer is one of its index limits
// (InfluxDB 1.x [data] max-values-per-tag, default 100,000, and
// max-series-per-database, default 1,000,000): at national size the probe
// tag alone has 83,763 values, and each re-enrolled probe adds one.
func limitReached(msg string) bool {
	return strings.Contains(msg, "max-values-per-tag limit exceeded") || strings.Contains(msg, "max-series-per-database limit exceeded")
}

func unavailable(err error) error {
	return &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the time-series database is unavailable; retry later", Err: err}
}

// Ping checks that InfluxDB answers.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		return unavailable(errors.New("ping failed"))
	}
	return nil
}

// Query runs a Flux query and returns its records as maps, for tests and
// small administrative reads. Large reads should stream instead.
func (s *Store) Query(ctx context.Context, flux string) ([]map[string]any, error) {
	res, err := s.query.Query(ctx, flux)
	if err != nil {
		return nil, classify(err)
	}
	defer res.Close()
	var out []map[string]any
	for res.Next() {
		out = append(out, res.Record().Values())
	}
	if res.Err() != nil {
		return nil, classify(res.Err())
	}
	return out, nil
}

// Latest is the most recent state of one village as stored.
type Latest struct {
	Village  string
	Probe    string
	LastSeen time.Time
	RTTMs    float64 // median RTT of the latest round, NaN-free: 0 when none
	LossPct  float64
	HasPing  bool
	// Interval is the probe's measurement interval from its latest
	// heartbeat (0: unknown); the village's deadline depends on it.
	Interval time.Duration
}

// LatestByVillage reads, for every village heard from since `since`, when it
// was last heard from and its latest ping figures. The server uses it at
// start-up so a restart does not turn the whole province "unknown".
func (s *Store) LatestByVillage(ctx context.Context, since time.Duration) (map[string]*Latest, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: -%ds)
  |> filter(fn: (r) => (r._measurement == "heartbeat" and (r._field == "uptime_s" or r._field == "interval_s")) or (r._measurement == "icmp" and (r._field == "loss_pct" or r._field == "rtt_median_ms")))
  |> group(columns: ["village", "probe", "_measurement", "_field"])
  |> last()`, FluxString(s.bucket), int(since.Seconds()))
	recs, err := s.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	out := map[string]*Latest{}
	for _, r := range recs {
		v, _ := r["village"].(string)
		t, _ := r["_time"].(time.Time)
		if v == "" {
			continue
		}
		l := out[v]
		if l == nil {
			l = &Latest{Village: v}
			out[v] = l
		}
		if t.After(l.LastSeen) {
			l.LastSeen = t
			l.Probe, _ = r["probe"].(string)
		}
		f, _ := r["_value"].(float64)
		switch r["_field"] {
		case "loss_pct":
			l.LossPct, l.HasPing = f, true
		case "rtt_median_ms":
			l.RTTMs = f
		case "interval_s":
			l.Interval = time.Duration(f * float64(time.Second))
		}
	}
	return out, nil
}

// FluxString quotes s as a Flux string literal.
func FluxString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`).Replace(s) + `"`
}

var encPool = sync.Pool{New: func() any { return &pooledEncoder{} }}

type pooledEncoder struct {
	Encoder
	buf []byte
}

// WriteReport encodes a validated report and writes it durably (see Write).
// It returns the number of points written.
func (s *Store) WriteReport(ctx context.Context, r *jagadesa.Report, regency string) (int, error) {
	pe := encPool.Get().(*pooledEncoder)
	defer encPool.Put(pe)
	lines, n, err := pe.AppendReport(pe.buf[:0], r, regency)
	pe.buf = lines
	if err != nil {
		return 0, &jagadesa.Error{Code: jagadesa.EInvalid, Message: "report cannot be encoded as line protocol", Err: err}
	}
	if n == 0 {
		return 0, nil
	}
	return n, s.Write(ctx, lines, n)
}
