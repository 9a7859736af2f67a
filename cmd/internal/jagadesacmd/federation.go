package jagadesacmd

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/federation"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

// federationConfig is the part of serve's configuration that joins a
// provincial server to a national one (--federate-to) or makes a server
// national (--federation-peers). A server may be both: a national one that
// also watches villages of its own and forwards them.
type federationConfig struct {
	To            string // the national server's URL
	KeyFile       string // the province's Ed25519 key; made if missing
	ShareEvidence bool
	CAFile        string // a private CA for the national server's certificate
	Province      string // forwarded as; default: the one province loaded
	Peers         string // national: province code → public key
}

// addFederationFlags registers the federation flags on serve's flag set.
func addFederationFlags(fs *flag.FlagSet, env *envflag.Env, getenv func(string) string) *federationConfig {
	c := &federationConfig{}
	fs.StringVar(&c.To, "federate-to", getenv("JAGADESA_FEDERATE_TO"), "forward this province's village status changes, incident summaries and monthly figures to the national JagaDesa at this https:// URL (env JAGADESA_FEDERATE_TO)")
	fs.StringVar(&c.KeyFile, "federation-key", getenv("JAGADESA_FEDERATION_KEY"), "the province's Ed25519 signing key `file` for federation, made (0600) if missing; default <data-dir>/federation.key (env JAGADESA_FEDERATION_KEY)")
	fs.BoolVar(&c.ShareEvidence, "federation-share-evidence", env.Bool("JAGADESA_FEDERATION_SHARE_EVIDENCE", false), "send incidents' raw security evidence to the national server too; off by default: summaries only (env JAGADESA_FEDERATION_SHARE_EVIDENCE)")
	fs.StringVar(&c.CAFile, "federation-ca", getenv("JAGADESA_FEDERATION_CA"), "PEM `file` of the CA that signed the national server's certificate, when it is a private one (env JAGADESA_FEDERATION_CA)")
	fs.StringVar(&c.Province, "federation-province", getenv("JAGADESA_FEDERATION_PROVINCE"), "two-digit code this server forwards as; default: the one province it loads (env JAGADESA_FEDERATION_PROVINCE)")
	fs.StringVar(&c.Peers, "federation-peers", getenv("JAGADESA_FEDERATION_PEERS"), "make this a national server: a `file` of provinces allowed to forward, one a line: code and base64 Ed25519 public key (env JAGADESA_FEDERATION_PEERS)")
	return c
}

func (c *federationConfig) validate() error {
	var errs []error
	if c.To != "" && !strings.HasPrefix(c.To, "https://") && !strings.HasPrefix(c.To, "http://") {
		errs = append(errs, errors.New("--federate-to must be the national server's https:// URL"))
	}
	if c.To == "" && (c.ShareEvidence || c.CAFile != "" || c.Province != "") {
		errs = append(errs, errors.New("--federation-share-evidence, --federation-ca and --federation-province need --federate-to"))
	}
	if c.Province != "" && !federation.ValidProvince(c.Province) {
		errs = append(errs, errors.New("--federation-province must be a two-digit code such as 33"))
	}
	return errors.Join(errs...)
}

// federationSide is what serve runs for federation; its zero value (and
// nil) runs nothing and hooks nothing.
type federationSide struct {
	log      *slog.Logger
	fwd      *federation.Forwarder
	watch    *federation.StatusWatch
	share    bool
	national *federation.National
	// months remembers the figures last spooled per kind, village and
	// month, so that the figures recomputed every --figures-every go up
	// only when they changed (after a restart, once again).
	monthsMu sync.Mutex
	months   map[string][sha256.Size]byte
}

// openFederation opens the forwarder (province side) and the national
// store (national side) that the configuration asks for.
func openFederation(c *federationConfig, dataDir string, reg *geo.Registry, log *slog.Logger) (*federationSide, error) {
	f := &federationSide{log: log, share: c.ShareEvidence}
	if c.Peers != "" {
		b, err := os.ReadFile(c.Peers)
		if err != nil {
			return nil, fmt.Errorf("--federation-peers: %w", err)
		}
		peers, err := federation.ParsePeers(string(b))
		if err != nil {
			return nil, fmt.Errorf("--federation-peers %s: %w", c.Peers, err)
		}
		st, err := federation.OpenStore(dataDir)
		if err != nil {
			return nil, err
		}
		f.national = &federation.National{Receiver: federation.NewReceiver(st, peers, log, nil), Store: st}
		log.Info("national server: taking provinces' batches", "provinces", len(peers))
	}
	if c.To == "" {
		return f, nil
	}
	province := c.Province
	if province == "" {
		ps := reg.Provinces()
		if len(ps) != 1 {
			f.close()
			return nil, fmt.Errorf("--federate-to: this server loads %d provinces; name the one it forwards as with --federation-province", len(ps))
		}
		province = ps[0].Code
	}
	keyFile := c.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, "federation.key")
	}
	key, err := federation.LoadOrCreateKey(keyFile)
	if err != nil {
		f.close()
		return nil, err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("--federation-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			f.close()
			return nil, fmt.Errorf("--federation-ca %s: no PEM certificate in it", c.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if strings.HasPrefix(c.To, "http://") {
		log.Warn("federation: the national server's URL is plain http://; batches are signed but readable on the way")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	f.fwd, err = federation.Open(federation.Config{URL: c.To, Province: province, Key: key, Dir: filepath.Join(dataDir, "federation"),
		Client: &http.Client{Transport: tr}, ShareEvidence: c.ShareEvidence, Logger: log})
	if err != nil {
		f.close()
		return nil, err
	}
	f.watch = federation.NewStatusWatch(func(items []federation.Item) error {
		_, err := f.fwd.EnqueueAll(items)
		return err
	})
	log.Info("federation: forwarding to the national server", "url", c.To, "province", province,
		"key_id", jagadesa.KeyID(key.Public().(ed25519.PublicKey)), "public_key", jagadesa.FormatPublicKey(key.Public().(ed25519.PublicKey)),
		"share_evidence", c.ShareEvidence, "backlog", f.fwd.Status().Backlog)
	return f, nil
}

// collectors are the forwarder's figures for /metrics: how much waits
// for the national server, how much was lost for space or refused, and
// when a batch last got through.
func (f *federationSide) collectors() []prometheus.Collector {
	if f == nil || f.fwd == nil {
		return nil
	}
	gauge := func(name, help string, v func(federation.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(f.fwd.Status()) })
	}
	return []prometheus.Collector{
		gauge("jagadesa_federation_backlog_items", "Items waiting in the federation spool for the national server.",
			func(s federation.Status) float64 { return float64(s.Backlog) }),
		gauge("jagadesa_federation_dropped_items", "Items the federation spool dropped for space, ever.",
			func(s federation.Status) float64 { return float64(s.Dropped) }),
		gauge("jagadesa_federation_rejected_items", "Items the national server refused since the start.",
			func(s federation.Status) float64 { return float64(s.Rejected) }),
		gauge("jagadesa_federation_last_ok_timestamp_seconds", "When the national server last acknowledged a batch (0: not since the start).",
			func(s federation.Status) float64 {
				if s.LastOK.IsZero() {
					return 0
				}
				return float64(s.LastOK.UnixMilli()) / 1000
			}),
	}
}

// run sends the forwarder's backlog until ctx ends.
func (f *federationSide) run(ctx context.Context) error {
	if f == nil || f.fwd == nil {
		return nil
	}
	return f.fwd.Run(ctx)
}

func (f *federationSide) close() {
	if f == nil {
		return
	}
	if f.fwd != nil {
		if err := f.fwd.Close(); err != nil {
			f.log.Warn("federation spool not closed cleanly", "err", err)
		}
	}
	if f.national != nil {
		f.national.Store.Close()
	}
}

// nationalView is the server's National dependency: nil unless this is a
// national server (a nil pointer in the interface would not be nil).
func (f *federationSide) nationalView() server.National {
	if f == nil || f.national == nil {
		return nil
	}
	return f.national
}

// observeStatus is the detector's hook: each tick's view of the villages.
func (f *federationSide) observeStatus(now time.Time, snaps []incident.Snapshot) {
	if f == nil || f.watch == nil {
		return
	}
	view := make([]federation.Observed, 0, len(snaps))
	for _, s := range snaps {
		o := federation.Observed{Village: s.Code, Status: s.Status, Cause: s.Reason}
		if s.Status == jagadesa.StatusDown && s.SilentS > 0 {
			o.Since = now.Add(-time.Duration(s.SilentS) * time.Second)
		}
		view = append(view, o)
	}
	if err := f.watch.Observe(now, view); err != nil {
		f.log.Error("federation: status changes not spooled; trying again", "err", err)
	}
}

// incidentStore wraps the incident store so that every incident the
// manager stores is forwarded too, after it is stored.
func (f *federationSide) incidentStore(s incident.Store) incident.Store {
	if f == nil || f.fwd == nil {
		return s
	}
	return forwardingIncidents{Store: s, f: f}
}

type forwardingIncidents struct {
	incident.Store
	f *federationSide
}

func (w forwardingIncidents) CreateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	if err := w.Store.CreateIncident(ctx, in, a); err != nil {
		return err
	}
	w.f.forwardIncident(in)
	return nil
}

func (w forwardingIncidents) UpdateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	if err := w.Store.UpdateIncident(ctx, in, a); err != nil {
		return err
	}
	w.f.forwardIncident(in)
	return nil
}

// resendIncidents spools, once at start, the summaries of the open
// incidents and of the latest thousand: a power cut between an incident's
// commit and its spool sync must not leave the national view behind (the
// national server keeps the newest of equal summaries).
func (f *federationSide) resendIncidents(ctx context.Context, s incident.Store) {
	if f == nil || f.fwd == nil {
		return
	}
	open, err := s.OpenIncidents(ctx)
	if err == nil {
		var recent []jagadesa.Incident
		recent, err = s.Incidents(ctx, jagadesa.Filter{Limit: 1000})
		open = append(open, recent...)
	}
	if err != nil {
		f.log.Warn("federation: incidents not sent again at start", "err", err)
		return
	}
	items := make([]federation.Item, 0, len(open))
	seen := map[string]bool{}
	for i := range open {
		if !seen[open[i].ID] {
			seen[open[i].ID] = true
			items = append(items, federation.IncidentSummary(&open[i], f.share))
		}
	}
	if _, err := f.fwd.EnqueueAll(items); err != nil {
		f.log.Warn("federation: incidents not sent again at start", "err", err)
	}
}

func (f *federationSide) forwardIncident(in *jagadesa.Incident) {
	if err := f.fwd.Enqueue(federation.IncidentSummary(in, f.share)); err != nil && !errors.Is(err, federation.ErrOutside) {
		f.log.Error("federation: incident not spooled", "id", in.ID, "err", err)
	}
}

// forwardMonth is publishFigures' hook: a month's figures per village, as
// written for Grafana, go to the national server too.
func (f *federationSide) forwardMonth(meas string, month time.Time, figs []rollup.Figure) {
	if f == nil || f.fwd == nil {
		return
	}
	kind := federation.KindSLAMonth
	if meas == rollup.MeasReadinessMonth {
		kind = federation.KindReadinessMonth
	}
	m := month.In(sla.WIB).Format("2006-01")
	f.monthsMu.Lock()
	defer f.monthsMu.Unlock()
	if f.months == nil {
		f.months = map[string][sha256.Size]byte{}
	}
	// Only the latest months are recomputed: forget older ones.
	oldest := month.In(sla.WIB).AddDate(0, -2, 0).Format("2006-01")
	for k := range f.months {
		if k[strings.LastIndexByte(k, '|')+1:] < oldest {
			delete(f.months, k)
		}
	}
	var items []federation.Item
	sums := map[string][sha256.Size]byte{}
	for _, fig := range figs {
		nums := make(map[string]float64, len(fig.Numbers))
		for k, v := range fig.Numbers {
			if v != nil {
				nums[k] = *v
			}
		}
		mo := &federation.Month{Village: fig.Village, Month: m, Numbers: nums, Texts: fig.Texts}
		key := kind + "|" + fig.Village + "|" + m
		b, _ := json.Marshal(mo) // maps marshal in key order: equal figures, equal bytes
		sum := sha256.Sum256(b)
		if f.months[key] == sum {
			continue
		}
		sums[key] = sum
		items = append(items, federation.Item{Kind: kind, Month: mo})
	}
	if len(items) == 0 {
		return
	}
	// One sync for the month's figures; the skipped (another province's
	// villages, or invalid) are not tried again until they change.
	if _, err := f.fwd.EnqueueAll(items); err != nil {
		f.log.Error("federation: monthly figures not spooled; trying again next time", "kind", kind, "month", m, "err", err)
		return
	}
	maps.Copy(f.months, sums)
}
