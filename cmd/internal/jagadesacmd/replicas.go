package jagadesacmd

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/postgres"
	"github.com/jagadesa/jagadesa/server/status"
)

// Replicas sharing a PostgreSQL metadata store tell each other, over
// LISTEN/NOTIFY (postgres.Bus), what each must know of the others' work:
// every report one of them ingested, reduced to what live status uses, so
// that every replica's map and the leader's detector see every village;
// and every incident one of them changed, so that none goes on from an
// older copy.

// busChannel is the NOTIFY channel of the replicas of one database.
const busChannel = "jagadesa_replicas"

// busMsg is one message between replicas.
type busMsg struct {
	Report   *jagadesa.Report `json:"r,omitempty"`
	Incident string           `json:"i,omitempty"`
}

// replicaBus publishes this replica's reports and incident changes and
// takes in the others'.
type replicaBus struct {
	bus     *postgres.Bus
	engine  *status.Engine
	log     *slog.Logger
	dropped atomic.Int64
}

func openReplicaBus(ctx context.Context, url string, engine *status.Engine, log *slog.Logger) (*replicaBus, error) {
	b, err := postgres.OpenBus(ctx, url, busChannel)
	if err != nil {
		return nil, err
	}
	return &replicaBus{bus: b, engine: engine, log: log}, nil
}

// Observe folds a report this replica accepted into its live status and
// tells the others (ingest's status observer).
func (r *replicaBus) Observe(rep *jagadesa.Report) {
	r.engine.Observe(rep)
	r.publish(busMsg{Report: status.Reduce(rep)})
}

// incidentChanged tells the others an incident was stored.
func (r *replicaBus) incidentChanged(id string) { r.publish(busMsg{Incident: id}) }

func (r *replicaBus) publish(m busMsg) {
	b, err := json.Marshal(m)
	if err == nil {
		err = r.bus.Publish(b)
	}
	if err != nil {
		// The others learn of this village at its next report, or from
		// InfluxDB at their next gap: a log line per thousand, not per
		// message.
		if n := r.dropped.Add(1); n%1000 == 1 {
			r.log.Warn("replicas: a message to the other replicas was dropped", "dropped", n, "err", err)
		}
	}
}

// listen takes in the other replicas' messages until ctx ends. After a gap
// (a lost connection: messages missed), live status is read again from
// InfluxDB, and the open incidents from the store.
func (r *replicaBus) listen(ctx context.Context, store *influx.Store, mgr *incident.Manager) error {
	r.bus.OnGap = func() {
		r.log.Warn("replicas: messages from the other replicas may have been missed; reading live status from InfluxDB")
		go func() {
			restoreStatus(ctx, store, r.engine, r.log, 15*time.Minute)
			if err := mgr.Reload(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("replicas: incidents not reloaded after a gap", "err", err)
			}
		}()
	}
	return r.bus.Listen(ctx, func(b []byte) {
		var m busMsg
		if err := json.Unmarshal(b, &m); err != nil {
			r.log.Error("replicas: undecodable message", "err", err)
			return
		}
		if m.Report != nil && jagadesa.ValidVillageCode(m.Report.Village) {
			r.engine.Observe(m.Report)
		}
		if m.Incident != "" {
			if err := mgr.ReloadIncident(ctx, m.Incident); err != nil && ctx.Err() == nil {
				r.log.Warn("replicas: an incident changed elsewhere could not be read", "id", m.Incident, "err", err)
			}
		}
	})
}

func (r *replicaBus) close() { r.bus.Close() }

// busIncidents tells the other replicas of every incident stored here.
type busIncidents struct {
	incident.Store
	changed func(id string)
}

func (s busIncidents) CreateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	err := s.Store.CreateIncident(ctx, in, a)
	if err == nil {
		s.changed(in.ID)
	}
	return err
}

func (s busIncidents) UpdateIncident(ctx context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	err := s.Store.UpdateIncident(ctx, in, a)
	if err == nil {
		s.changed(in.ID)
	}
	return err
}
