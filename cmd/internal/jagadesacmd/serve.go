package jagadesacmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/dashboards"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/ingest"
	"github.com/jagadesa/jagadesa/server/leader"
	"github.com/jagadesa/jagadesa/server/metastore"
	"github.com/jagadesa/jagadesa/server/notify"
	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/reports"
	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sla"
	"github.com/jagadesa/jagadesa/server/status"
	"github.com/jagadesa/jagadesa/server/threatfeed"
)

// serveConfig is the server's whole configuration.
// defaultIdleTimeout keeps a connection between the requests of one
// exchange (a probe flushing its backlog, a page loading its assets) but not
// between a probe's minute rounds: at national size (83,763 probes) idle
// connections kept for 120 s held about 1.4 GB. With 5 s the server holds
// about rate × 5 s connections (7,000 at 1,400 reports/s, ~120 MB), and
// probes resume their TLS sessions on the next round.
const defaultIdleTimeout = 5 * time.Second

type serveConfig struct {
	Listen        string
	InfluxURL     string
	InfluxToken   string
	InfluxOrg     string
	InfluxBucket  string
	DataDir       string
	MetadataURL   string // sqlite://PATH or postgres://…; empty: <DataDir>/jagadesa.db
	LeaderCheck   time.Duration
	IdleTimeout   time.Duration
	AdminToken    string
	AllowUnsigned bool
	EvidenceDir   string
	EvidenceName  string // this replica's directory under a shared --evidence-dir
	EvidenceDays  int
	ThreatFeed    string
	WebhookURL    string
	Programme     string // CSV path; empty: the synthetic demo list
	Grace         time.Duration
	StartupGrace  time.Duration
	LogLevel      string
	Provinces     string // comma-separated province ids, e.g. jateng,jambi
	BasemapURL    string
	CSIRT         string // CSIRT directory YAML; empty: the demo directory
	DashboardURL  string // public base URL, for links in notifications
	Notify        notify.Settings
	WebhookSecret string
	MetricsListen string // serve /metrics here too, without a token
	DebugListen   string // serve Go's runtime profiles here (loopback only)
	MetricsToken  string
	TLSCert       string
	TLSKey        string
	// KeepAdminToken keeps the admin token working after a province admin
	// account exists (for automation that has not moved to personal
	// tokens yet).
	KeepAdminToken bool
	// ProbeKeyTOFU trusts the first key a probe enrolled without one
	// registers (the behaviour before keys were bound at enrollment).
	ProbeKeyTOFU   bool
	TrustedProxies envflag.List
	// MaxRecordAge and ProbeRecordsPerMinute bound what probes send.
	MaxRecordAge          time.Duration
	ProbeRecordsPerMinute int
	RollupBucket          string
	ReferenceTargets      envflag.List
	FiguresEvery          time.Duration
}

// rollupBucket is where the rollups go: --influx-rollup-bucket, or beside
// the raw bucket (db/rollup on 1.8, <bucket>_rollup on 2.x).
func (c *serveConfig) rollupBucket() string {
	if c.RollupBucket != "" {
		return c.RollupBucket
	}
	if db, _, ok := strings.Cut(c.InfluxBucket, "/"); ok {
		return db + "/rollup"
	}
	return c.InfluxBucket + "_rollup"
}

// rollupReadiness gives the readiness index's use pillar from the
// rollups (connectivity comes from the month's SLA).
type rollupReadiness struct{ r *rollup.Reader }

func (s rollupReadiness) ReadinessInputs(ctx context.Context, month time.Time, villages []string) (map[string]readiness.Connectivity, map[string]readiness.Use, error) {
	data, err := s.r.MonthUse(ctx, month, villages)
	if err != nil {
		return nil, nil, err
	}
	start, end := sla.MonthRange(month)
	inMonth := end.Sub(start).Hours() / 24
	out := make(map[string]readiness.Use, len(data))
	for code, d := range data {
		devices, days := d.DevicesPerDay, d.DaysWithTraffic
		// A month's volume, from the days the router reported.
		gb := d.Bytes / 1e9 * inMonth / float64(d.Days)
		out[code] = readiness.Use{ActiveDevicesPerDay: &devices, DaysWithTraffic: &days, Days: d.Days, GBPerMonth: &gb}
	}
	return nil, out, nil
}

// rollupSLA gives the SLA engine's inputs from the rollups.
type rollupSLA struct{ r *rollup.Reader }

func (s rollupSLA) SLAInputs(ctx context.Context, month time.Time, villages []string) (map[string]sla.Input, error) {
	data, err := s.r.MonthInputs(ctx, month, villages)
	if err != nil {
		return nil, err
	}
	out := make(map[string]sla.Input, len(data))
	for code, d := range data {
		out[code] = sla.Input{Timeline: d.Timeline, Throughput: d.Throughput, Quality: d.Quality}
	}
	return out, nil
}

func (c *serveConfig) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if c.InfluxURL == "" {
		errs = append(errs, errors.New("--influx-url is required"))
	}
	if c.InfluxBucket == "" {
		errs = append(errs, errors.New("--influx-bucket is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if err := checkMetadataURL(c.MetadataURL); err != nil {
		errs = append(errs, err)
	}
	if err := checkDebugListen(c.DebugListen); err != nil {
		errs = append(errs, err)
	}
	if c.BasemapURL != "" && !strings.HasPrefix(c.BasemapURL, "https://") && !strings.HasPrefix(c.BasemapURL, "http://") {
		errs = append(errs, errors.New("--basemap-url must be an http(s) URL template with {z}/{x}/{y}"))
	}
	c.Notify.DashboardURL = c.DashboardURL
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("notifications: %w", err))
	}
	if c.WebhookURL != "" {
		if err := (jagadesa.Webhook{URL: c.WebhookURL, Secret: c.WebhookSecret}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--webhook-url: %w", err))
		}
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("--trusted-proxy %q: want an address or a CIDR such as 10.0.0.0/24", p))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.EvidenceDays < 0 {
		errs = append(errs, errors.New("--evidence-days must be 0 (keep all) or more"))
	}
	if c.EvidenceName != "" && (c.EvidenceDir == "off" || !evidence.ValidReplicaName(c.EvidenceName)) {
		errs = append(errs, errors.New("--evidence-replica must be a lower-case letter then up to 31 letters, digits or hyphens, with an --evidence-dir that is not off"))
	}
	if c.IdleTimeout < 100*time.Millisecond || c.IdleTimeout > 10*time.Minute {
		errs = append(errs, errors.New("--idle-timeout must be between 100ms and 10m"))
	}
	if len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("an admin token of at least 16 characters is required (JAGADESA_ADMIN_TOKEN or --admin-token)"))
	}
	return errors.Join(errs...)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	fs.StringVar(&c.Listen, "listen", env.String("JAGADESA_LISTEN", ":8080"), "address to serve HTTP on (env JAGADESA_LISTEN)")
	fs.StringVar(&c.InfluxURL, "influx-url", env.String("JAGADESA_INFLUX_URL", "http://127.0.0.1:8086"), "InfluxDB URL (env JAGADESA_INFLUX_URL)")
	fs.StringVar(&c.InfluxToken, "influx-token", getenv("JAGADESA_INFLUX_TOKEN"), "InfluxDB token; user:pass on 1.8 (env JAGADESA_INFLUX_TOKEN)")
	fs.StringVar(&c.InfluxOrg, "influx-org", env.String("JAGADESA_INFLUX_ORG", "-"), "InfluxDB organisation; - on 1.8 (env JAGADESA_INFLUX_ORG)")
	fs.StringVar(&c.InfluxBucket, "influx-bucket", env.String("JAGADESA_INFLUX_BUCKET", "jagadesa/autogen"), "InfluxDB bucket; db/rp on 1.8 (env JAGADESA_INFLUX_BUCKET)")
	fs.StringVar(&c.DataDir, "data-dir", env.String("JAGADESA_DATA_DIR", "./data"), "directory for the metadata database (unless --metadata-url names another), the evidence archive and the spools (env JAGADESA_DATA_DIR)")
	fs.DurationVar(&c.LeaderCheck, "leader-check", env.Duration("JAGADESA_LEADER_CHECK", leader.DefaultCheck), "with a postgres:// metadata store: how often the leader proves its lease and the other replicas try for it; a dead leader's duties move within about this (env JAGADESA_LEADER_CHECK)")
	fs.StringVar(&c.MetadataURL, "metadata-url", getenv("JAGADESA_METADATA_URL"), "metadata store: sqlite://PATH (default: <data-dir>/jagadesa.db) or postgres://USER:PASS@HOST/DB for several replicas sharing it; give a password through the environment, flags show in ps (env JAGADESA_METADATA_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", getenv("JAGADESA_ADMIN_TOKEN"), "admin bearer token (env JAGADESA_ADMIN_TOKEN; prefer the environment: flags show in ps)")
	fs.StringVar(&c.WebhookURL, "webhook-url", getenv("JAGADESA_WEBHOOK_URL"), "send every notification to this URL too (env JAGADESA_WEBHOOK_URL)")
	fs.StringVar(&c.Programme, "programme", getenv("JAGADESA_PROGRAMME"), "programme list CSV (code,year,isp,contract_mbps,remote_3t,extreme_poor,desa_digital[,monthly_fee_idr]); empty: the synthetic demo list; all: every village, in a SYNTHETIC programme (env JAGADESA_PROGRAMME)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", env.Duration("JAGADESA_IDLE_TIMEOUT", defaultIdleTimeout), "close a kept-alive connection idle this long; each costs the server about 17 KB, and probes report once a minute, so a long one holds the whole fleet's connections (env JAGADESA_IDLE_TIMEOUT)")
	fs.DurationVar(&c.Grace, "grace", env.Duration("JAGADESA_GRACE", 15*time.Second), "silence beyond a village's interval before it is down (env JAGADESA_GRACE)")
	fs.StringVar(&c.Provinces, "provinces", env.String("JAGADESA_PROVINCES", "jateng"), "provinces to watch, comma-separated: jateng, jambi, codes of provinces imported into the data dir (jagadesa registry import), or national-synthetic (env JAGADESA_PROVINCES)")
	fs.StringVar(&c.BasemapURL, "basemap-url", getenv("JAGADESA_BASEMAP_URL"), "optional online raster base map under the regency polygons, an https://…/{z}/{x}/{y}.png template; empty keeps the map offline (env JAGADESA_BASEMAP_URL)")
	fs.DurationVar(&c.StartupGrace, "incident-startup-grace", env.Duration("JAGADESA_INCIDENT_STARTUP_GRACE", 2*time.Minute), "after a start, how long silence is not yet taken as an outage, while probes flush their spools (env JAGADESA_INCIDENT_STARTUP_GRACE)")
	fs.StringVar(&c.CSIRT, "csirt", getenv("JAGADESA_CSIRT"), "CSIRT directory (YAML: teams, their regencies and channels, silences, maintenance); empty: the demo directory, 21 SYNTHETIC regency teams (env JAGADESA_CSIRT)")
	fs.StringVar(&c.DashboardURL, "dashboard-url", getenv("JAGADESA_DASHBOARD_URL"), "the dashboard's public URL, for links in notifications (env JAGADESA_DASHBOARD_URL)")
	// Notification secrets come from the environment only: flags show in ps.
	c.WebhookSecret = getenv("JAGADESA_WEBHOOK_SECRET")
	c.Notify.Telegram = notify.TelegramBot{Token: getenv("JAGADESA_TELEGRAM_TOKEN"), APIBase: getenv("JAGADESA_TELEGRAM_API")}
	c.Notify.SMTP = notify.SMTPServer{Host: getenv("JAGADESA_SMTP_HOST"), Username: getenv("JAGADESA_SMTP_USER"),
		Password: getenv("JAGADESA_SMTP_PASSWORD"), From: getenv("JAGADESA_SMTP_FROM"), TLS: getenv("JAGADESA_SMTP_TLS")}
	c.Notify.SMTP.Port = env.Int("JAGADESA_SMTP_PORT", 0)
	fs.BoolVar(&c.AllowUnsigned, "allow-unsigned", env.Bool("JAGADESA_ALLOW_UNSIGNED", false), "accept unsigned batches from probes that have registered no key (probes older than signing; a probe with a key must always sign) (env JAGADESA_ALLOW_UNSIGNED)")
	fs.StringVar(&c.EvidenceName, "evidence-replica", getenv("JAGADESA_EVIDENCE_REPLICA"), "with replicas sharing one --evidence-dir volume: this replica's name (a-z, 0-9, -); it writes under <evidence-dir>/<name> and its evidence packs read every replica's directory (env JAGADESA_EVIDENCE_REPLICA)")
	fs.StringVar(&c.EvidenceDir, "evidence-dir", getenv("JAGADESA_EVIDENCE_DIR"), "where every accepted signed batch is kept with its signature (env JAGADESA_EVIDENCE_DIR; default <data-dir>/evidence; \"off\" keeps none)")
	fs.IntVar(&c.EvidenceDays, "evidence-days", env.Int("JAGADESA_EVIDENCE_DAYS", 0), "delete stored batches older than this many days (0 keeps them all) (env JAGADESA_EVIDENCE_DAYS)")
	fs.StringVar(&c.ThreatFeed, "threat-feed", getenv("JAGADESA_THREAT_FEED"), "operator's threat feed `file` (addresses, prefixes, domains; see server/threatfeed/example-feed.txt) that probes fetch and match; reloaded when it changes (env JAGADESA_THREAT_FEED)")
	fs.Var(&c.TrustedProxies, "trusted-proxy", "address or CIDR of a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto are believed (cookies marked Secure, HSTS, client addresses); repeatable; env JAGADESA_TRUSTED_PROXY, comma-separated")
	fs.DurationVar(&c.MaxRecordAge, "max-record-age", env.Duration("JAGADESA_MAX_RECORD_AGE", jagadesa.MaxPast), "oldest record the server takes; raise it to backfill weeks of history (jagadesa sim --backfill) (env JAGADESA_MAX_RECORD_AGE)")
	fs.IntVar(&c.ProbeRecordsPerMinute, "probe-records-per-minute", env.Int("JAGADESA_PROBE_RECORDS_PER_MINUTE", 0), "records one probe may send a minute (0: 20,000); raise it for a backfill (env JAGADESA_PROBE_RECORDS_PER_MINUTE)")
	fs.StringVar(&c.RollupBucket, "influx-rollup-bucket", getenv("JAGADESA_INFLUX_ROLLUP_BUCKET"), "bucket of the server's rollups; default <db>/rollup on 1.8 (a retention policy it makes), <bucket>_rollup on 2.x (env JAGADESA_INFLUX_ROLLUP_BUCKET)")
	fs.DurationVar(&c.FiguresEvery, "figures-every", env.Duration("JAGADESA_FIGURES_EVERY", 30*time.Minute), "how often the month's SLA and readiness per village are written for Grafana (sla_month, readiness_month) (env JAGADESA_FIGURES_EVERY)")
	fs.Var(&c.ReferenceTargets, "sla-reference-target", "the probes' ping target whose RTT and loss the SLA judges (a domestic reference); repeatable; default jatengprov.go.id (env JAGADESA_SLA_REFERENCE_TARGET, comma-separated)")
	fs.BoolVar(&c.ProbeKeyTOFU, "probe-key-tofu", env.Bool("JAGADESA_PROBE_KEY_TOFU", false), "enroll probes without a key and trust the first key each registers (trust on first use); off by default: the key is bound at enrollment, with public_key or an enrollment code (env JAGADESA_PROBE_KEY_TOFU)")
	fs.BoolVar(&c.KeepAdminToken, "keep-admin-token", env.Bool("JAGADESA_KEEP_ADMIN_TOKEN", false), "keep accepting the admin token once a province-admin account exists; off by default, so that people use their own accounts and tokens (env JAGADESA_KEEP_ADMIN_TOKEN)")
	fs.StringVar(&c.TLSCert, "tls-cert", getenv("JAGADESA_TLS_CERT"), "serve HTTPS with this PEM certificate `file` (chain included); reloaded when it changes (env JAGADESA_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", getenv("JAGADESA_TLS_KEY"), "the certificate's PEM private key `file` (env JAGADESA_TLS_KEY)")
	fs.StringVar(&c.DebugListen, "debug-listen", getenv("JAGADESA_DEBUG_LISTEN"), "serve Go's runtime profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; off by default (env JAGADESA_DEBUG_LISTEN)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", getenv("JAGADESA_METRICS_LISTEN"), "also serve /metrics, without a token, on this address; keep it inside the monitoring network, e.g. 127.0.0.1:9108 (env JAGADESA_METRICS_LISTEN)")
	// The metrics token, like every secret, comes from the environment only.
	c.MetricsToken = getenv("JAGADESA_METRICS_TOKEN")
	fed := addFederationFlags(fs, env, getenv)
	fs.StringVar(&c.LogLevel, "log-level", env.String("JAGADESA_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	if len(c.ReferenceTargets) == 0 {
		c.ReferenceTargets = envflag.List{"jatengprov.go.id"}
		if v := getenv("JAGADESA_SLA_REFERENCE_TARGET"); v != "" {
			c.ReferenceTargets = strings.Split(v, ",")
		}
	}
	if len(c.TrustedProxies) == 0 && getenv("JAGADESA_TRUSTED_PROXY") != "" {
		c.TrustedProxies = strings.Split(getenv("JAGADESA_TRUSTED_PROXY"), ",")
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := fed.validate(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	reg, err := loadRegistry(c.DataDir, c.Provinces, log)
	if err != nil {
		return err
	}
	prog, err := loadProgramme(c.Programme, reg, log)
	if err != nil {
		return err
	}
	metaURL := metadataURL(c.MetadataURL, c.DataDir)
	db, err := openMetadata(ctx, metaURL)
	if err != nil {
		return err
	}
	defer db.Close()
	fedSide, err := openFederation(fed, c.DataDir, reg, log)
	if err != nil {
		return err
	}
	defer fedSide.close()
	store, err := influx.New(influx.Config{URL: c.InfluxURL, Token: c.InfluxToken, Org: c.InfluxOrg, Bucket: c.InfluxBucket})
	if err != nil {
		return err
	}
	defer store.Close()

	engine := status.New(status.Config{Grace: c.Grace})
	restoreLive(ctx, db, store, engine, log)

	dir, err := loadDirectory(c.CSIRT, log)
	if err != nil {
		return err
	}
	if err := auditDirectory(ctx, db, c.CSIRT, dir); err != nil {
		return err
	}
	// Events the CLI wrote carry no team: name it from the directory.
	if err := db.FillAuditTeams(ctx, server.TeamOf(dir)); err != nil {
		return err
	}
	metrics := prometheus.NewRegistry()
	disp := notify.New(c.Notify, log, notify.WithVersion(Version), notify.WithMarkStore(db))
	metrics.MustRegister(disp.Collectors()...)
	metrics.MustRegister(fedSide.collectors()...)
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := disp.Close(dctx); err != nil {
			log.Warn("notifications still queued at shutdown", "err", err)
		}
	}()
	snd := &teamSender{d: disp}
	if c.WebhookURL != "" {
		snd.everyone = jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: c.WebhookURL, Secret: c.WebhookSecret}}}
	}
	for _, t := range dir.Teams {
		if err := c.Notify.Check(t.Channels); err != nil {
			log.Warn("team has channels this server cannot reach", "team", t.Name, "err", err)
		}
	}
	incidents := fedSide.incidentStore(db)
	// Replicas on one PostgreSQL tell each other what they ingested and
	// which incidents they changed (replicas.go).
	var replicas *replicaBus
	var observer ingest.Observer = engine
	if isPostgres(metaURL) {
		if replicas, err = openReplicaBus(ctx, metaURL, engine, log); err != nil {
			return err
		}
		defer replicas.close()
		incidents, observer = busIncidents{Store: incidents, changed: replicas.incidentChanged}, replicas
	}
	mgr := incident.New(incident.Config{DashboardURL: c.DashboardURL, StartupGrace: c.StartupGrace}, log, incidents, dir, reg, prog, snd)
	// The villages' learnt normals survive a restart: no relearning, no
	// anomaly alarms while relearning.
	restoreBaselines := func(ctx context.Context) {
		if b, err := db.State(ctx, "baselines"); err != nil {
			log.Warn("baselines not restored", "err", err)
		} else if b != nil {
			if err := mgr.Baselines().UnmarshalBinary(b); err != nil {
				log.Warn("baselines not restored", "err", err)
			} else {
				log.Info("baselines restored", "bytes", len(b))
			}
		}
	}
	restoreBaselines(ctx)
	saveBaselines := func(ctx context.Context) {
		b, err := mgr.Baselines().MarshalBinary()
		if err == nil {
			err = db.PutState(ctx, "baselines", b)
		}
		if err != nil {
			log.Warn("baselines not saved", "err", err)
		}
	}
	if !isPostgres(metaURL) { // a replica's are saved when its leadership ends
		defer saveBaselines(context.Background())
	}
	if err := mgr.Restore(ctx); err != nil {
		return fmt.Errorf("restore incidents: %w", err)
	}
	fedSide.resendIncidents(ctx, db)
	// Every goroutine of the server runs in this group and has ended
	// before the stores close (the defers above run after g.Wait).
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	g, gctx := errgroup.WithContext(runCtx)
	// abort ends what the group runs before returning err, so that nothing
	// outlives the stores.
	abort := func(err error) error {
		stopAll()
		_ = g.Wait()
		return err
	}
	// The duties run once among the replicas sharing a PostgreSQL
	// metadata store (on the leader: leadership.go), and always on a server
	// with its own SQLite database. Everything else — ingest, the pages and
	// the API — runs on every replica.
	if replicas != nil {
		g.Go(func() error {
			if err := replicas.listen(gctx, store, mgr); err != nil && gctx.Err() == nil {
				log.Error("replicas: no longer hearing the other replicas", "err", err)
			}
			return nil
		})
	}
	var duties []func(ctx context.Context)
	duty := func(f func(ctx context.Context)) { duties = append(duties, f) }
	duty(func(ctx context.Context) { runDetectorObserved(ctx, log, mgr, engine, db, prog, fedSide.observeStatus) })
	g.Go(func() error { return fedSide.run(gctx) })
	duty(func(ctx context.Context) { snapshotStatus(ctx, db, engine, log) })
	duty(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Minute):
				saveBaselines(ctx)
			}
		}
	})
	// Accepted batches' effects (security events, outage reports) are
	// applied from the outbox, on the server's context, not the request's.
	duty(func(ctx context.Context) { (&ingest.Worker{Outbox: db, Apply: mgr, Logger: log}).Run(ctx) })
	// The rollups: the server's own downsampled series, which month-long
	// questions (SLA, readiness) read instead of raw points.
	rdb, err := rollup.Open(rollup.Config{URL: c.InfluxURL, Token: c.InfluxToken, Org: c.InfluxOrg, RawBucket: c.InfluxBucket, RollupBucket: c.rollupBucket()})
	if err != nil {
		return abort(fmt.Errorf("rollups: %w", err))
	}
	defer rdb.Close()
	if err := rdb.EnsureBucket(ctx); err != nil {
		log.Warn("the rollup bucket could not be made; create it (InfluxDB 2.x: bucket "+c.rollupBucket()+")", "err", err)
	}
	runner := rollup.NewRunner(rdb, rollup.RunnerOptions{Logger: log, LateWindow: c.MaxRecordAge})
	duty(func(ctx context.Context) { runner.Run(ctx) })
	reader := rollup.NewReader(rdb, rollup.ReaderOptions{ReferenceTargets: c.ReferenceTargets})
	slaSource := rollupSLA{reader}
	if c.Notify.Telegram.Token != "" {
		// Each team's chats act for that team only.
		chats := map[string]string{}
		for _, t := range dir.Teams {
			for _, ch := range t.Channels.Telegram {
				chats[ch.ChatID] = t.Name
			}
		}
		tu := &notify.TelegramUpdates{Bot: c.Notify.Telegram, Logger: log, ChatTeams: chats,
			Ack: func(ctx context.Context, id, team, by string) error {
				in, err := mgr.AcknowledgeAsTeam(ctx, id, team, by)
				if err != nil {
					return err
				}
				e := jagadesa.AuditEvent{Actor: by, Address: "telegram", Action: "incident_ack", Object: id, Area: in.Village, Detail: "from a chat of " + team}
				if t, ok := dir.TeamByName(in.CSIRT); ok {
					e.Team = t.ID
				}
				if err := db.AppendAudit(ctx, e); err != nil {
					log.Error("audit event not recorded", "action", e.Action, "object", id, "err", err)
				}
				return nil
			}}
		duty(func(ctx context.Context) {
			if err := tu.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("telegram updates stopped", "err", err)
			}
		})
	}

	var archive *evidence.Archive
	if c.EvidenceDir != "off" {
		dir := c.EvidenceDir
		if dir == "" {
			dir = filepath.Join(c.DataDir, "evidence")
		}
		if c.EvidenceName != "" {
			archive, err = evidence.OpenShared(dir, c.EvidenceName, evidence.Tuning{})
		} else {
			archive, err = evidence.New(dir)
		}
		if err != nil {
			return abort(err)
		}
		if c.EvidenceDays > 0 {
			g.Go(func() error {
				pruneEvidence(gctx, log, archive, time.Duration(c.EvidenceDays)*24*time.Hour)
				return nil
			})
		}
	}
	var feed *threatfeed.Source
	if c.ThreatFeed != "" {
		if feed, err = threatfeed.Open(c.ThreatFeed, log); err != nil {
			return abort(fmt.Errorf("--threat-feed: %w", err))
		}
		_, _, f := feed.Current()
		log.Info("threat feed loaded", "path", c.ThreatFeed, "version", f.Version, "entries", f.Len())
	}
	if err := bootstrapAdmin(ctx, db, log, getenv); err != nil {
		return abort(err)
	}
	// The admin token bootstraps the first province admin; once one
	// exists, it is off unless kept on purpose.
	adminToken := c.AdminToken
	if n, err := db.CountUsers(ctx, jagadesa.RoleProvinceAdmin); err != nil {
		return abort(err)
	} else if n > 0 && !c.KeepAdminToken {
		adminToken = ""
		log.Warn("the admin token is off: a province-admin account exists (people use their own accounts and tokens; --keep-admin-token keeps it for automation)")
	}
	app, handler := server.New(server.Deps{
		ThreatFeed: feed,
		Keys:       db, AllowUnsigned: c.AllowUnsigned, Evidence: archive,
		Logger: log, Registry: reg, Programme: prog, Probes: db, Points: store,
		Status: engine, StatusObserver: observer, AdminToken: adminToken, History: store, Accounts: db, TrustedProxies: c.TrustedProxies,
		Web: dashboards.Web(), BasemapURL: c.BasemapURL,
		Incidents: mgr, IncidentStore: db, Reporter: db, Metrics: metrics, MetricsToken: c.MetricsToken,
		Users: db, ProbeAdmin: db, ProbeKeyTOFU: c.ProbeKeyTOFU, Audit: db, Directory: dir, Governance: db, Windows: db,
		MaxRecordAge: c.MaxRecordAge, ProbeRecordsPerMinute: c.ProbeRecordsPerMinute,
		SLASource: slaSource, LateRecords: runner.Invalidate, Rollups: runner, ReadinessSource: rollupReadiness{reader},
		National: fedSide.nationalView(),
	})
	duty(func(ctx context.Context) {
		publishFigures(ctx, log, app, rdb, prog, c.FiguresEvery, fedSide.forwardMonth)
	})
	if c.Notify.SMTP.Host != "" {
		mailer := &reportMailer{log: log, dir: dir, sent: db, audit: db.AppendAudit, send: disp.SendReport,
			render: func(ctx context.Context, month time.Time, areas []string) ([]server.ReportFile, error) {
				return app.MonthlyPDFs(ctx, month, reports.ID, areas)
			}}
		duty(func(ctx context.Context) { mailer.run(ctx) })
	}
	runDuties := func(ctx context.Context) {
		var dg sync.WaitGroup
		for _, d := range duties {
			dg.Go(func() { d(ctx) })
		}
		dg.Wait()
	}
	if isPostgres(metaURL) {
		g.Go(func() error {
			return lead(gctx, metaURL, c.LeaderCheck, log, runDuties, func(ctx context.Context) error {
				// Taking over: what the last leader left is in the store.
				restoreBaselines(ctx)
				return mgr.Reload(ctx)
			}, func(ctx context.Context) {
				if err := mgr.Flush(ctx); err != nil {
					log.Error("incident changes not stored when leadership ended", "err", err)
				}
				saveStatus(ctx, db, engine, log)
				saveBaselines(ctx)
			})
		})
	} else {
		g.Go(func() error { runDuties(gctx); return nil })
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return abort(fmt.Errorf("listen %s: %w", c.Listen, err))
	}
	var mln net.Listener
	if c.MetricsListen != "" {
		if mln, err = net.Listen("tcp", c.MetricsListen); err != nil {
			ln.Close()
			return abort(fmt.Errorf("--metrics-listen %s: %w", c.MetricsListen, err))
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // a 4 MiB report over a slow village link
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	conns := newConnCounter(metrics)
	srv.ConnState = conns.track
	scheme := "http"
	if c.TLSCert != "" {
		certs, err := newCertReloader(c.TLSCert, c.TLSKey, log)
		if err != nil {
			ln.Close()
			return abort(err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate,
			VerifyConnection: conns.countHandshake}
		scheme = "https"
	}
	log.Info("jagadesa serving", "addr", ln.Addr().String(), "scheme", scheme, "influx", c.InfluxURL, "bucket", c.InfluxBucket,
		"provinces", reg.Province(), "villages", reg.Len(), "programme", len(prog), "version", Version)
	fmt.Fprintf(stdout, "jagadesa: listening on %s://%s\n", scheme, ln.Addr())

	g.Go(func() error {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if c.DebugListen != "" {
		dln, err := net.Listen("tcp", c.DebugListen)
		if err != nil {
			ln.Close()
			return abort(fmt.Errorf("--debug-listen %s: %w", c.DebugListen, err))
		}
		g.Go(func() error { return serveDebug(gctx, dln, log) })
	}
	if mln != nil {
		msrv := &http.Server{Handler: metricsMux(metrics), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		log.Info("metrics served without a token", "addr", mln.Addr().String())
		g.Go(func() error {
			if err := msrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			return msrv.Close()
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Nothing is ingested any more: the archive's last records go into
	// their files, and the live status is kept for the next start.
	if archive != nil {
		archive.Close()
	}
	if !isPostgres(metaURL) { // a replica's is saved when its leadership ends
		saveStatus(fctx, db, engine, log)
	}
	if ferr := mgr.Flush(fctx); ferr != nil {
		log.Error("incident changes not stored at shutdown", "err", ferr)
	}
	return err
}

// metricsMux serves /metrics alone.
func metricsMux(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", server.MetricsHandler(reg))
	return mux
}

func loadProgramme(path string, reg *geo.Registry, log *slog.Logger) (map[string]jagadesa.Programme, error) {
	var list []jagadesa.Programme
	if path == "all" {
		return programmeAll(reg, log), nil
	}
	if path == "" {
		// The demo list is Jawa Tengah's; read from its embedded CSV it stays
		// the same whichever other provinces are loaded beside it.
		var err error
		if list, err = geo.ReadProgramme(bytes.NewReader(geo.DemoProgrammeCSV()), reg); err != nil {
			log.Warn("no --programme list given and the demo list does not fit these provinces: no programme villages", "err", err)
			return map[string]jagadesa.Programme{}, nil
		}
		log.Warn("no --programme list given: using the SYNTHETIC demo programme list (not the real 599 villages)")
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("programme list: %w", err)
		}
		defer f.Close()
		if list, err = geo.ReadProgramme(f, reg); err != nil {
			return nil, fmt.Errorf("programme list %s: %w", path, err)
		}
	}
	out := make(map[string]jagadesa.Programme, len(list))
	for _, p := range list {
		out[p.Code] = p
	}
	return out, nil
}

// restoreStatus seeds live status from the stored data of the last
// `since`, so a restart does not make every village "unknown" until its
// next report. A village the engine knows more recently (from the
// snapshot) keeps what it has.
func restoreStatus(ctx context.Context, store *influx.Store, engine *status.Engine, log *slog.Logger, since time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	began := time.Now()
	latest, err := store.LatestByVillage(ctx, since)
	if err != nil {
		log.Warn("could not restore live status from InfluxDB; villages start as the snapshot left them, or unknown", "err", err)
		return
	}
	n := 0
	for _, l := range latest {
		if seen := engine.Get(l.Village).LastSeen; seen != nil && !l.LastSeen.After(*seen) {
			continue
		}
		engine.Restore(l.Village, l.Probe, l.LastSeen, l.Interval, l.RTTMs, l.LossPct, l.HasPing)
		n++
	}
	log.Info("restored live status from InfluxDB", "since", since.Round(time.Second), "villages", n, "took", time.Since(began).Round(time.Millisecond))
}

// teamSender sends each notification to its team's channels and, when
// --webhook-url is set, to that URL too.
type teamSender struct {
	d        *notify.Dispatcher
	everyone jagadesa.Channels
}

func (s *teamSender) Send(team *route.Team, n jagadesa.Notification) {
	if !team.Channels.Empty() {
		s.d.Send(team.Channels, n)
	}
	if !s.everyone.Empty() {
		s.d.Send(s.everyone, n)
	}
}

// auditDirectory records a change of the CSIRT directory since the last
// start (which teams own which regencies decides who sees what), naming
// the file's SHA-256 so an assessor can match it to a copy.
func auditDirectory(ctx context.Context, db metastore.Store, path string, dir *route.Directory) error {
	b := route.DemoYAML()
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(b)
	regencies := 0
	for _, t := range dir.Teams {
		regencies += len(t.Regencies)
	}
	detail := fmt.Sprintf("sha256 %x; %d teams, %d regencies with their own CSIRT", sum[:], len(dir.Teams), regencies)
	last, ok, err := db.LastAuditEvent(ctx, "directory_change")
	if err != nil || ok && last.Detail == detail {
		return err
	}
	object := path
	if object == "" {
		object = "demo directory"
	}
	return db.AppendAudit(ctx, jagadesa.AuditEvent{Actor: "system", Address: "local", Action: "directory_change", Object: object, Detail: detail})
}

func loadDirectory(path string, log *slog.Logger) (*route.Directory, error) {
	if path == "" {
		log.Warn("no --csirt directory given: using the demo directory (21 SYNTHETIC regency CSIRTs, no channels)")
		return route.Demo()
	}
	return route.Load(path)
}

// pruneEvidence deletes the evidence days older than keep, at start and
// every six hours.
func pruneEvidence(ctx context.Context, log *slog.Logger, a *evidence.Archive, keep time.Duration) {
	for {
		n, err := a.Prune(time.Now(), keep)
		switch {
		case err != nil:
			log.Error("evidence pruning failed", "err", err)
		case n > 0:
			log.Info("evidence pruned", "days", n, "keep", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(6 * time.Hour):
		}
	}
}

// bootstrapAdmin makes the first province admin from the environment,
// once: JAGADESA_BOOTSTRAP_ADMIN=username@NN (the province code) and the
// password in JAGADESA_BOOTSTRAP_PASSWORD_FILE (or, for containers,
// JAGADESA_BOOTSTRAP_PASSWORD). While any province admin exists the
// variables are ignored, with a warning to remove them.
func bootstrapAdmin(ctx context.Context, db metastore.Store, log *slog.Logger, getenv func(string) string) error {
	spec := getenv("JAGADESA_BOOTSTRAP_ADMIN")
	if spec == "" {
		return nil
	}
	n, err := db.CountUsers(ctx, jagadesa.RoleProvinceAdmin)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Warn("JAGADESA_BOOTSTRAP_ADMIN ignored: a province admin exists; remove the variable and its password")
		return nil
	}
	name, prov, ok := strings.Cut(spec, "@")
	if !ok {
		return errors.New("JAGADESA_BOOTSTRAP_ADMIN: want username@NN, e.g. admin.jateng@33")
	}
	pw := getenv("JAGADESA_BOOTSTRAP_PASSWORD")
	if f := getenv("JAGADESA_BOOTSTRAP_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("JAGADESA_BOOTSTRAP_PASSWORD_FILE: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	u := jagadesa.User{Username: strings.ToLower(strings.TrimSpace(name)), Role: jagadesa.RoleProvinceAdmin, Province: prov}
	if p := u.Validate(); p != nil {
		return problemsErr("JAGADESA_BOOTSTRAP_ADMIN", p)
	}
	hash, err := accounts.NewPasswordHash(pw, u.Username)
	if err != nil {
		return fmt.Errorf("the bootstrap password: %w", err)
	}
	if u, err = db.CreateUser(ctx, u, hash); err != nil {
		return err
	}
	log.Warn("first province admin made from JAGADESA_BOOTSTRAP_ADMIN; remove the variable and its password now", "user", u.Username, "province", u.Province)
	return db.AppendAudit(ctx, jagadesa.AuditEvent{Actor: "bootstrap", Address: "local", Action: "user_add", Object: u.Username, Area: u.Province,
		Detail: "first province admin, from the environment"})
}
