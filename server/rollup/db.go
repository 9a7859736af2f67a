package rollup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/query"
	"github.com/influxdata/influxdb-client-go/v2/domain"
)

// Config says where the raw points are and where the rollups go. Against
// InfluxDB 1.8 the org is "-", both buckets are "db/rp" in the same database
// (RawBucket "jagadesa/autogen", RollupBucket "jagadesa/rollup") and the
// token is "user:pass" or empty. Against 2.7 they are two buckets of the org
// ("jagadesa", "jagadesa_rollup").
type Config struct {
	URL          string
	Token        string
	Org          string
	RawBucket    string
	RollupBucket string
	// Retention is how long the rollup bucket keeps points when
	// EnsureBucket creates it; 0 keeps them for ever.
	Retention time.Duration
	// Timeout bounds one write or query (default 60 s: a query over a
	// month of day points for ten thousand villages takes a few seconds).
	Timeout time.Duration
	// BatchLines is how many lines one write sends (default 5000).
	BatchLines int
}

// DB reads the raw bucket and reads and writes the rollup bucket, through
// influxdb-client-go's blocking write API and streamed Flux queries.
type DB struct {
	cfg    Config
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
	http   *http.Client
}

// Open connects lazily, like influx.New: it makes no request.
func Open(cfg Config) (*DB, error) {
	if cfg.URL == "" || cfg.RawBucket == "" || cfg.RollupBucket == "" {
		return nil, errors.New("rollup: URL, raw bucket and rollup bucket are required")
	}
	if cfg.RawBucket == cfg.RollupBucket {
		return nil, fmt.Errorf("rollup: the rollup bucket must differ from the raw bucket %q", cfg.RawBucket)
	}
	if cfg.Org == "" {
		cfg.Org = "-"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.BatchLines <= 0 {
		cfg.BatchLines = 5000
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(cfg.Timeout / time.Second)).
		SetPrecision(time.Nanosecond)
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &DB{
		cfg:    cfg,
		client: c,
		write:  c.WriteAPIBlocking(cfg.Org, cfg.RollupBucket),
		query:  c.QueryAPI(cfg.Org),
		http:   &http.Client{Timeout: cfg.Timeout},
	}, nil
}

// Close closes the client.
func (db *DB) Close() { db.client.Close() }

// Config returns the configuration with its defaults filled in.
func (db *DB) Config() Config { return db.cfg }

// EnsureBucket creates the rollup bucket if it is missing. On InfluxDB 1.8
// (org "-") the bucket "db/rp" is a retention policy of an existing
// database, made with InfluxQL CREATE RETENTION POLICY through /query, as
// influxtest creates databases; asking again for one that exists is
// harmless. On 2.x it looks the bucket up through the buckets API and
// creates it in the org when missing; a token that may not create buckets
// gets an error saying the operator must create it.
func (db *DB) EnsureBucket(ctx context.Context) error {
	if db.cfg.Org == "-" {
		return db.ensureRetentionPolicy(ctx)
	}
	name := db.cfg.RollupBucket
	if _, err := db.client.BucketsAPI().FindBucketByName(ctx, name); err == nil {
		return nil
	}
	org, err := db.client.OrganizationsAPI().FindOrganizationByName(ctx, db.cfg.Org)
	if err != nil {
		return fmt.Errorf("rollup: bucket %q: looking up org %q: %w (create the bucket by hand: influx bucket create -n %s)", name, db.cfg.Org, err, name)
	}
	var rules []domain.RetentionRule
	if db.cfg.Retention > 0 {
		rules = append(rules, domain.RetentionRule{EverySeconds: int64(db.cfg.Retention / time.Second)})
	}
	if _, err := db.client.BucketsAPI().CreateBucketWithName(ctx, org, name, rules...); err != nil {
		return fmt.Errorf("rollup: creating bucket %q: %w (create it by hand: influx bucket create -n %s)", name, err, name)
	}
	return nil
}

func (db *DB) ensureRetentionPolicy(ctx context.Context) error {
	dbName, rp, ok := strings.Cut(db.cfg.RollupBucket, "/")
	if !ok || dbName == "" || rp == "" {
		return fmt.Errorf("rollup: on InfluxDB 1.8 the rollup bucket must be \"database/retention_policy\", not %q", db.cfg.RollupBucket)
	}
	duration := "INF"
	if db.cfg.Retention > 0 {
		duration = fmt.Sprintf("%ds", int64(db.cfg.Retention/time.Second))
	}
	q := fmt.Sprintf("CREATE RETENTION POLICY %s ON %s DURATION %s REPLICATION 1", ident(rp), ident(dbName), duration)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(db.cfg.URL, "/")+"/query",
		strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if db.cfg.Token != "" {
		// InfluxDB 1.8 takes "Token user:pass" on /query as on its v2 API.
		req.Header.Set("Authorization", "Token "+db.cfg.Token)
	}
	resp, err := db.http.Do(req)
	if err != nil {
		return fmt.Errorf("rollup: creating retention policy %s: %w", db.cfg.RollupBucket, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r struct {
		Error   string `json:"error"`
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	_ = json.Unmarshal(body, &r)
	msg := r.Error
	for _, res := range r.Results {
		if res.Error != "" {
			msg = res.Error
		}
	}
	switch {
	case resp.StatusCode != http.StatusOK && msg == "":
		return fmt.Errorf("rollup: creating retention policy %s: HTTP %s: %s", db.cfg.RollupBucket, resp.Status, strings.TrimSpace(string(body)))
	case msg == "", strings.Contains(msg, "already exists"):
		return nil
	}
	return fmt.Errorf("rollup: creating retention policy %s: %s", db.cfg.RollupBucket, msg)
}

// ident quotes an InfluxQL identifier.
func ident(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// each runs a Flux query and calls fn for every record, streaming: nothing
// but the current record is held.
func (db *DB) each(ctx context.Context, flux string, fn func(*query.FluxRecord)) error {
	ctx, cancel := context.WithTimeout(ctx, db.cfg.Timeout)
	defer cancel()
	res, err := db.query.Query(ctx, flux)
	if err != nil {
		return fmt.Errorf("rollup: query: %w", err)
	}
	defer res.Close()
	for res.Next() {
		fn(res.Record())
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rollup: query: %w", err)
	}
	return nil
}

// writeLines writes newline-terminated line protocol to the rollup bucket
// in batches of BatchLines, each acknowledged before the next is sent.
func (db *DB) writeLines(ctx context.Context, lines []byte) error {
	for len(lines) > 0 {
		n, cut := 0, 0
		for cut < len(lines) && n < db.cfg.BatchLines {
			i := bytes.IndexByte(lines[cut:], '\n')
			if i < 0 {
				cut = len(lines)
			} else {
				cut += i + 1
			}
			n++
		}
		wctx, cancel := context.WithTimeout(ctx, db.cfg.Timeout)
		err := db.write.WriteRecord(wctx, string(lines[:cut]))
		cancel()
		if err != nil {
			return fmt.Errorf("rollup: write: %w", err)
		}
		lines = lines[cut:]
	}
	return nil
}

// fluxTime writes t as a Flux time literal.
func fluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fluxStop writes the stop of a half-open range [start, t). InfluxDB 1.8's
// Flux includes points at range's stop (influxdata/influxdb#19966), 2.x
// does not; a stop 1 ns earlier selects [start, t) on both, since no point
// here has a timestamp 1 ns before a whole millisecond.
func fluxStop(t time.Time) string { return fluxTime(t.Add(-time.Nanosecond)) }

// fluxStr quotes s as a Flux string literal.
func fluxStr(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`).Replace(s) + `"`
}

// villageFilter is a Flux predicate on the village tag: "true" for all
// villages (nil), else an "or" of equalities.
func villageFilter(villages []string) string {
	if villages == nil {
		return "true"
	}
	if len(villages) == 0 {
		return "false"
	}
	parts := make([]string, len(villages))
	for i, v := range villages {
		parts[i] = "r.village == " + fluxStr(v)
	}
	return "(" + strings.Join(parts, " or ") + ")"
}
