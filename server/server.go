// Package server is JagaDesa's HTTP API: gin routes, authentication, the
// ingest path from probes to InfluxDB, and the live-status views. It knows
// its storage only through the small interfaces below, which cmd/jagadesa
// wires to InfluxDB and SQLite.
package server

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/ingest"
	"github.com/jagadesa/jagadesa/server/readiness"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sla"
	"github.com/jagadesa/jagadesa/server/status"
	"github.com/jagadesa/jagadesa/server/threatfeed"
)

// ProbeStore keeps enrolled probes and their token hashes.
type ProbeStore interface {
	CreateProbe(ctx context.Context, village string) (jagadesa.Probe, string, error)
	ProbeByToken(token string) (jagadesa.Probe, bool)
	Probes(ctx context.Context) ([]jagadesa.Probe, error)
	// RevokeProbe ends a probe's token at once (ENotFound: no live probe).
	RevokeProbe(ctx context.Context, id string) error
}

// ProbeKeys keeps the probes' Ed25519 public keys and, per stream of
// record numbers, the highest number accepted: what signed, replay-proof
// batches need (server/sqlite implements it).
type ProbeKeys interface {
	ProbeKey(probe string) (jagadesa.ProbeKey, bool)
	SetProbeKey(ctx context.Context, probe string, pub ed25519.PublicKey, by string) (jagadesa.ProbeKey, error)
	ResetProbeKey(ctx context.Context, probe string) error
	StreamSeq(probe, stream string) uint64
	CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error
}

// PointStore durably stores the measurements of a report.
type PointStore interface {
	// WriteReport returns once the points are durable, with how many there
	// were. Errors are *jagadesa.Error (EUnavailable: retry later).
	WriteReport(ctx context.Context, r *jagadesa.Report, regency string) (int, error)
	Ping(ctx context.Context) error
}

// Accounts are the staff accounts (server/sqlite implements it); nil:
// only the admin token.
type Accounts interface {
	UserByTokenHash(hash string) (jagadesa.User, bool)
	UserByName(ctx context.Context, name string) (jagadesa.User, string, error)
	RecordLogin(ctx context.Context, name string, ok bool, now time.Time) error
	LoginState(ctx context.Context, name string) (failed int, lockedUntil time.Time, err error)
	LockUser(ctx context.Context, name string, until time.Time) error
	CreateSession(ctx context.Context, idHash string, userID int64, now time.Time, absolute time.Duration, addr, ua string) error
	Session(ctx context.Context, idHash string, now time.Time, idle time.Duration) (jagadesa.User, bool, error)
	EndSession(ctx context.Context, idHash string) error
}

// HistoryStore reads what is stored about one village over a time range.
type HistoryStore interface {
	History(ctx context.Context, village string, from, to time.Time, step time.Duration) (*jagadesa.History, error)
}

// Deps are what the server needs. Logger, Registry, Probes, Points and
// AdminToken are required.
type Deps struct {
	Logger    *slog.Logger
	Registry  *geo.Registry                 // villages, regencies and provinces served
	Programme map[string]jagadesa.Programme // village code → programme entry
	Probes    ProbeStore
	Points    PointStore
	// Keys holds the probes' public keys and replay marks (nil: taken from
	// Probes when it has them). Every batch from a probe with a key must be
	// signed by it; AllowUnsigned admits batches from probes that have none
	// yet, for the migration of probes older than signing.
	Keys          ProbeKeys
	AllowUnsigned bool
	// Evidence keeps every accepted batch with its signature (nil: none).
	Evidence *evidence.Archive
	// ThreatFeed is the operator's feed the probes fetch (nil: none).
	ThreatFeed *threatfeed.Source
	History    HistoryStore // nil: village pages show live status only
	// Incidents and IncidentStore serve the incident API; nil: 503.
	Incidents     Incidents
	IncidentStore incident.Store
	Reporter      IncidentReporter
	Status        *status.Engine
	// StatusObserver takes each accepted report into live status (nil:
	// Status itself); replicas also tell each other through it.
	StatusObserver ingest.Observer
	AdminToken     string
	// Accounts lets people use their own API tokens, each seeing only
	// their jurisdiction (nil: the admin token only).
	Accounts Accounts
	// Users administers the accounts from the dashboard (nil: the CLI only).
	Users UserAdmin
	// ProbeAdmin enrolls with codes, replaces and rotates probes (nil:
	// plain enrollment and revocation only).
	ProbeAdmin ProbeAdmin
	// ProbeKeyTOFU accepts a probe enrolled without a key and trusts the
	// first key it registers. Off by default: the key is bound at
	// enrollment (an enrollment code, or public_key in POST /api/v1/probes).
	ProbeKeyTOFU bool
	// Audit records every change with person, role, address and time
	// (nil: none kept).
	Audit AuditLog
	// Directory names the CSIRT owning each area, for the audit trail
	// (nil: events carry no team).
	Directory *route.Directory
	// ReadinessSource gives the measured pillars of the readiness index
	// (nil: connectivity and use are missing); Governance what staff
	// entered (nil: governance is missing).
	ReadinessSource ReadinessSource
	Governance      GovernanceStore
	// SLASource gives the SLA engine's measured inputs (nil: every minute
	// unknown); Windows the exclusion windows staff entered.
	SLASource SLASource
	Windows   WindowStore
	// Rollups rolls the downsampled series again on request (nil: no
	// such endpoint).
	Rollups RollupControl
	// Web is the dashboard's files (index.html, assets/); nil serves no pages.
	Web fs.FS
	// BasemapURL is an optional online raster base map (a {z}/{x}/{y} URL
	// template) under the regency polygons; empty keeps the map offline.
	BasemapURL string
	Metrics    *prometheus.Registry // nil: a fresh registry
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed (none by default).
	TrustedProxies []string
	// MetricsToken is a bearer token for /metrics besides the admin
	// token, for Prometheus (empty: the admin token only).
	MetricsToken string
	Now          func() time.Time
	// IngestBudget is the memory reports being read at once may hold
	// (default ingest.DefaultBudget); ProbeRecordsPerMinute what one probe
	// may send (default ingest.DefaultRecordsPerMinute).
	IngestBudget          int64
	ProbeRecordsPerMinute int
	// MaxRecordAge is how old a record the server takes (default
	// jagadesa.MaxPast, 7 days); longer to backfill weeks of history.
	MaxRecordAge time.Duration
	// LateRecords hears of accepted batches with records older than a few
	// minutes (the rollups roll those hours again); nil: nobody.
	LateRecords func(village string, from, to time.Time)
	// RetryAfter is what a 503 tells probes to wait (default 30 s).
	RetryAfter time.Duration
	// National makes this a national server: provinces' batches in, the
	// national view out (nil: not one).
	National National
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	metrics    *metrics
	sessions   *sessions
	snaps      snapshotCache
	tileOnce   sync.Once
	tileIdx    *geo.TileIndex
	web        *webAssets
	ingest     *ingest.Service
	logins     *loginLimiter
	enrolls    *loginLimiter // POST /api/v1/enroll attempts per address
	bursts     bursts
	readiness  monthCache[readiness.Result]
	slaResults monthCache[sla.Result]
	proxies    []*net.IPNet // parsed TrustedProxies
}

// NewServer returns the whole API as an http.Handler.
func NewServer(d Deps) http.Handler {
	_, h := New(d)
	return h
}

// New returns the server, for the work it does besides answering requests
// (MonthFigures), and the whole API as an http.Handler.
func New(d Deps) (*Server, http.Handler) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Status == nil {
		d.Status = status.New(status.Config{Now: d.Now})
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	if d.RetryAfter <= 0 {
		d.RetryAfter = 30 * time.Second
	}
	if d.Keys == nil {
		d.Keys, _ = d.Probes.(ProbeKeys)
	}
	if d.Programme == nil {
		d.Programme = map[string]jagadesa.Programme{}
	}
	s := &Server{Deps: d, sessions: newSessions(d.Now), logins: newLoginLimiter(d.Now), enrolls: newLoginLimiter(d.Now)}
	s.ingest = ingest.New(ingest.Deps{Logger: d.Logger, Registry: d.Registry, Points: d.Points, Marks: d.Keys,
		Status: statusObserver(d), AllowUnsigned: d.AllowUnsigned, Budget: d.IngestBudget, RecordsPerMinute: d.ProbeRecordsPerMinute, MaxRecordAge: d.MaxRecordAge, Late: d.LateRecords, Now: d.Now})
	if d.Evidence != nil { // a nil *Archive in the interface would not be nil
		s.ingest.Evidence = d.Evidence
	}
	s.metrics = newMetrics(d.Metrics, s)
	if d.Web != nil {
		w, err := newWebAssets(d.Web, d.BasemapURL)
		if err != nil {
			d.Logger.Error("dashboard files unusable; serving the API only", "err", err)
		} else {
			s.web = w
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	// No proxy is trusted unless the operator names one (--trusted-proxy):
	// only then do X-Forwarded-For and X-Forwarded-Proto count.
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Logger.Error("trusted proxies unusable; trusting none", "err", err)
		_ = r.SetTrustedProxies(nil)
		s.TrustedProxies = nil
	}
	for _, cidr := range s.TrustedProxies {
		if _, n, err := net.ParseCIDR(cidr); err == nil {
			s.proxies = append(s.proxies, n)
		} else if ip := net.ParseIP(cidr); ip != nil {
			s.proxies = append(s.proxies, &net.IPNet{IP: ip, Mask: net.CIDRMask(len(ip)*8, len(ip)*8)})
		}
	}
	r.Use(s.recoverer(), s.observe(), s.renderErrors(), s.hsts)
	s.routes(r)
	return s, r
}

// hsts tells browsers that reached the server over TLS to come back only
// over TLS, for two years.
func (s *Server) hsts(c *gin.Context) {
	if s.overTLS(c) {
		c.Header("Strict-Transport-Security", "max-age=63072000")
	}
}

// overTLS reports whether the browser reached the server over TLS: directly,
// or through a proxy the operator trusts that says so in X-Forwarded-Proto.
func (s *Server) overTLS(c *gin.Context) bool {
	if c.Request.TLS != nil {
		return true
	}
	if len(s.proxies) == 0 || !strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		return false
	}
	for _, n := range s.proxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func statusObserver(d Deps) ingest.Observer {
	if d.StatusObserver != nil {
		return d.StatusObserver
	}
	if d.Status == nil {
		return nil
	}
	return d.Status
}
