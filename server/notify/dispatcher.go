package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/jagadesa/jagadesa"
)

// Channel names, as used in metrics, logs and WithRateLimit.
const (
	ChannelWebhook      = "webhook"
	ChannelAlertmanager = "alertmanager"
	ChannelTelegram     = "telegram"
	ChannelEmail        = "email"
)

var channels = []string{ChannelWebhook, ChannelAlertmanager, ChannelTelegram, ChannelEmail}

// RetryPolicy says how often and how patiently one destination is retried.
type RetryPolicy struct {
	Attempts       int           // tries in all, the first included
	Initial        time.Duration // wait after the first failure; each next wait triples
	Max            time.Duration // cap on one wait
	MaxRetryAfter  time.Duration // cap on a server's Retry-After
	AttemptTimeout time.Duration // one try's deadline
}

// DefaultRetry makes 5 attempts over about two minutes: waits of 5 s,
// 15 s, 45 s and 60 s, each ±20 %.
var DefaultRetry = RetryPolicy{
	Attempts:       5,
	Initial:        5 * time.Second,
	Max:            time.Minute,
	MaxRetryAfter:  5 * time.Minute,
	AttemptTimeout: 15 * time.Second,
}

// Defaults of a new Dispatcher.
const (
	DefaultQueueSize   = 1000
	DefaultWorkers     = 4
	DefaultDedupWindow = 10 * time.Minute

	// DefaultAlertmanagerRefresh re-posts open incidents to Alertmanager
	// at a fifth of its default resolve_timeout.
	DefaultAlertmanagerRefresh = time.Minute
	// amRefreshMaxAge stops refreshing an incident nobody has sent news of
	// for this long, so an incident whose "resolved" was never sent (a
	// bug, a restart) does not fire in Alertmanager for ever.
	amRefreshMaxAge = 7 * 24 * time.Hour
)

// limit is one channel's per-destination rate.
type limit struct {
	every time.Duration
	burst int
}

// Telegram allows about 20 messages a minute into one group; mail relays
// dislike bursts; HTTP receivers are ours or Alertmanager and cope.
var defaultLimits = map[string]limit{
	ChannelWebhook:      {200 * time.Millisecond, 20},
	ChannelAlertmanager: {200 * time.Millisecond, 20},
	ChannelTelegram:     {3 * time.Second, 5},
	ChannelEmail:        {5 * time.Second, 5},
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithHTTPClient sets the client of the webhook, Alertmanager and Telegram
// senders (default: a client with a 15 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(d *Dispatcher) { d.client = c } }

// WithClock replaces time.Now for dedup windows, rate limits, signature
// timestamps and e-mail dates.
func WithClock(now func() time.Time) Option { return func(d *Dispatcher) { d.now = now } }

// WithQueueSize bounds the queue; when it is full the oldest job is dropped.
func WithQueueSize(n int) Option { return func(d *Dispatcher) { d.queueSize = max(1, n) } }

// WithWorkers sets how many deliveries run at once.
func WithWorkers(n int) Option { return func(d *Dispatcher) { d.workers = max(1, n) } }

// WithRetry replaces DefaultRetry.
func WithRetry(p RetryPolicy) Option { return func(d *Dispatcher) { d.retry = p } }

// WithDedupWindow sets how long a (destination, incident, event) is
// remembered; 0 turns de-duplication off.
func WithDedupWindow(w time.Duration) Option { return func(d *Dispatcher) { d.dedup = w } }

// MarkStore keeps the dedup marks (destination, incident, event → when
// it was queued) across restarts (server/sqlite implements it).
type MarkStore interface {
	NotifyMarks(ctx context.Context, since time.Time) (map[string]time.Time, error)
	MarkNotified(ctx context.Context, keys []string, at time.Time) error
}

// WithMarkStore keeps the dedup marks in s, so a restart inside the dedup
// window sends nothing twice.
func WithMarkStore(s MarkStore) Option { return func(d *Dispatcher) { d.marks = s } }

// WithRateLimit lets each destination of channel send one message every
// `every`, with bursts of up to burst.
func WithRateLimit(channel string, every time.Duration, burst int) Option {
	return func(d *Dispatcher) { d.limits[channel] = limit{every, max(1, burst)} }
}

// WithVersion sets the version in User-Agent ("jagadesa/<version>").
func WithVersion(v string) Option { return func(d *Dispatcher) { d.version = v } }

// WithAlertmanagerRefresh sets how often open incidents are re-posted to
// Alertmanager (default DefaultAlertmanagerRefresh; 0 turns it off).
// Alertmanager resolves an alert without endsAt by itself after its
// resolve_timeout (5 minutes by default), so an open incident must be
// re-posted well within that, as Prometheus does with its firing alerts.
func WithAlertmanagerRefresh(every time.Duration) Option {
	return func(d *Dispatcher) { d.amRefresh = every }
}

// WithSMTPTLSConfig sets the TLS configuration for the mail relay, e.g.
// its own CA. ServerName defaults to the SMTP host.
func WithSMTPTLSConfig(c *tls.Config) Option { return func(d *Dispatcher) { d.smtpTLS = c } }

// Dispatcher delivers notifications in the background. Its methods are safe
// for concurrent use.
type Dispatcher struct {
	settings  Settings
	log       *slog.Logger
	client    *http.Client
	now       func() time.Time
	queueSize int
	workers   int
	retry     RetryPolicy
	dedup     time.Duration
	marks     MarkStore
	limits    map[string]limit
	version   string
	smtpTLS   *tls.Config
	amRefresh time.Duration

	ctx    context.Context // cancelled when Close gives up draining
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*job
	pending  int // queued + running + waiting to retry
	closing  bool
	aborted  bool
	timers   map[*job]*time.Timer
	seen     map[string]time.Time
	limiters map[string]*rate.Limiter
	amOpen   map[string]amOpenAlert // dest key + incident id → last notification
	stopOnce sync.Once
	stop     chan struct{} // ends the Alertmanager refresh loop

	sent, failed, dropped, deduped, retries *prometheus.CounterVec
	latency                                 *prometheus.HistogramVec
	queued                                  prometheus.GaugeFunc
}

// dest is one place a notification goes. addr may hold a capability (a
// webhook URL with a key in it), so logs use label() instead.
type dest struct {
	channel string
	addr    string // URL, Alertmanager base URL, chat id or e-mail address
	secret  string // webhook HMAC key
}

func (d dest) key() string { return d.channel + " " + d.addr }

// label names a destination in logs: webhook URLs lose their path and
// query, where services put tokens.
func (d dest) label() string {
	if d.channel != ChannelWebhook && d.channel != ChannelAlertmanager {
		return d.addr
	}
	u, err := url.Parse(d.addr)
	if err != nil {
		return "(unparseable url)"
	}
	if d.channel == ChannelWebhook && u.Path != "" && u.Path != "/" {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// amOpenAlert is an open incident that Alertmanager must keep hearing of.
type amOpenAlert struct {
	dest dest
	n    jagadesa.Notification
	last time.Time // last Send of this incident
}

type job struct {
	dest     dest
	n        jagadesa.Notification
	dedupKey string
	sentAt   time.Time // when Send was called
	attempt  int
	reserved bool // holds a rate-limit token already
	refresh  bool // an Alertmanager re-post, logged quietly
}

// New starts a Dispatcher and its workers. Stop it with Close.
func New(settings Settings, logger *slog.Logger, opts ...Option) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		settings:  settings,
		log:       logger,
		client:    &http.Client{Timeout: 15 * time.Second},
		now:       time.Now,
		queueSize: DefaultQueueSize,
		workers:   DefaultWorkers,
		retry:     DefaultRetry,
		dedup:     DefaultDedupWindow,
		limits:    map[string]limit{},
		version:   "dev",
		timers:    map[*job]*time.Timer{},
		seen:      map[string]time.Time{},
		limiters:  map[string]*rate.Limiter{},
		amOpen:    map[string]amOpenAlert{},
		amRefresh: DefaultAlertmanagerRefresh,
		stop:      make(chan struct{}),
	}
	for ch, l := range defaultLimits {
		d.limits[ch] = l
	}
	for _, o := range opts {
		o(d)
	}
	if d.retry.Attempts < 1 {
		d.retry.Attempts = 1
	}
	if d.retry.AttemptTimeout <= 0 {
		d.retry.AttemptTimeout = DefaultRetry.AttemptTimeout
	}
	if d.marks != nil && d.dedup > 0 {
		// A restart must not send again what went out just before it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		seen, err := d.marks.NotifyMarks(ctx, d.now().Add(-d.dedup))
		cancel()
		if err != nil {
			d.log.Error("notification marks not loaded; a restart may send some again", "err", err)
		}
		maps.Copy(d.seen, seen)
	}
	d.cond = sync.NewCond(&d.mu)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.initMetrics()
	d.wg.Add(d.workers)
	for range d.workers {
		go d.worker()
	}
	if d.amRefresh > 0 {
		go d.refreshLoop()
	}
	return d
}

func (d *Dispatcher) initMetrics() {
	counter := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jagadesa", Subsystem: "notify", Name: name, Help: help,
		}, []string{"channel"})
		for _, ch := range channels {
			v.WithLabelValues(ch)
		}
		return v
	}
	d.sent = counter("sent_total", "Notifications delivered, by channel.")
	d.failed = counter("failed_total", "Notifications given up on after a permanent error or the last retry, by channel.")
	d.dropped = counter("dropped_total", "Notifications dropped unsent: queue full (oldest first) or shutdown, by channel.")
	d.deduped = counter("deduplicated_total", "Notifications not sent because the same destination, incident and event was sent within the window, by channel.")
	d.retries = counter("retries_total", "Failed attempts that were retried, by channel.")
	d.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "jagadesa", Subsystem: "notify", Name: "delivery_seconds",
		Help:    "Time from Send to delivery, retries included, by channel.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 15, 60, 180, 600},
	}, []string{"channel"})
	d.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "jagadesa", Subsystem: "notify", Name: "queue_length",
		Help: "Notifications waiting for a worker.",
	}, func() float64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return float64(len(d.queue))
	})
}

// Collectors are the Dispatcher's metrics, for the server's registry.
func (d *Dispatcher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.sent, d.failed, d.dropped, d.deduped, d.retries, d.latency, d.queued}
}

// destinations lists team's destinations in a fixed order.
func destinations(team jagadesa.Channels) []dest {
	var ds []dest
	for _, w := range team.Webhooks {
		ds = append(ds, dest{channel: ChannelWebhook, addr: w.URL, secret: w.Secret})
	}
	for _, a := range team.Alertmanager {
		ds = append(ds, dest{channel: ChannelAlertmanager, addr: a})
	}
	for _, t := range team.Telegram {
		ds = append(ds, dest{channel: ChannelTelegram, addr: t.ChatID})
	}
	for _, e := range team.Email {
		ds = append(ds, dest{channel: ChannelEmail, addr: e})
	}
	return ds
}

// Send queues n for every destination of team and returns at once. A
// destination that already got this incident's event within the dedup
// window is skipped. When the queue is full the oldest job is dropped.
func (d *Dispatcher) Send(team jagadesa.Channels, n jagadesa.Notification) {
	now := d.now()
	if n.URL == "" {
		n.URL = incidentURL(n, d.settings.DashboardURL)
	}
	type drop struct {
		j      *job
		reason string
	}
	var drops []drop
	var marked []string
	d.mu.Lock()
	d.pruneSeen(now)
	for _, ds := range destinations(team) {
		j := &job{dest: ds, n: n, sentAt: now, dedupKey: ds.key() + "\x00" + n.Incident.ID + "\x00" + n.Event}
		if d.closing {
			d.dropped.WithLabelValues(ds.channel).Inc()
			drops = append(drops, drop{j, "dispatcher closed"})
			continue
		}
		if d.dedup > 0 {
			if at, ok := d.seen[j.dedupKey]; ok && now.Sub(at) < d.dedup {
				d.deduped.WithLabelValues(ds.channel).Inc()
				continue
			}
			d.seen[j.dedupKey] = now
			marked = append(marked, j.dedupKey)
		}
		d.pending++
		if old := d.push(j); old != nil {
			drops = append(drops, drop{old, "queue full, oldest dropped"})
		}
	}
	if !d.closing {
		d.trackAlerts(team, n, now)
	}
	d.mu.Unlock()
	if d.marks != nil && len(marked) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.marks.MarkNotified(ctx, marked, now); err != nil {
			d.log.Error("notification marks not stored; a restart may send these again", "err", err)
		}
		cancel()
	}
	for _, dr := range drops {
		d.log.Warn("notification dropped", "reason", dr.reason, "channel", dr.j.dest.channel,
			"dest", dr.j.dest.label(), "incident", dr.j.n.Incident.ID, "event", dr.j.n.Event)
	}
}

// push appends j, dropping and returning the oldest job when the queue is
// full. The dropped job's dedup entry is forgotten so a later Send may
// try again. d.mu must be held.
func (d *Dispatcher) push(j *job) (dropped *job) {
	if len(d.queue) >= d.queueSize {
		dropped = d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.pending--
		delete(d.seen, dropped.dedupKey)
		d.dropped.WithLabelValues(dropped.dest.channel).Inc()
	}
	d.queue = append(d.queue, j)
	d.cond.Signal()
	return dropped
}

// trackAlerts remembers which incidents are open in which Alertmanager,
// for the refresh loop. d.mu must be held.
func (d *Dispatcher) trackAlerts(team jagadesa.Channels, n jagadesa.Notification, now time.Time) {
	for _, base := range team.Alertmanager {
		ds := dest{channel: ChannelAlertmanager, addr: base}
		k := ds.key() + "\x00" + n.Incident.ID
		if n.Event == "resolved" || n.Incident.State == jagadesa.StateResolved || n.Incident.MergedInto != "" {
			delete(d.amOpen, k)
			continue
		}
		d.amOpen[k] = amOpenAlert{dest: ds, n: n, last: now}
	}
}

func (d *Dispatcher) refreshLoop() {
	t := time.NewTicker(d.amRefresh)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.refreshAlerts()
		}
	}
}

// refreshAlerts queues a re-post of every open incident to its
// Alertmanagers. They bypass dedup (that is their point) but not the
// queue, the rate limit or retries.
func (d *Dispatcher) refreshAlerts() {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	for k, o := range d.amOpen {
		if now.Sub(o.last) > amRefreshMaxAge {
			delete(d.amOpen, k)
			continue
		}
		d.pending++
		if old := d.push(&job{dest: o.dest, n: o.n, sentAt: now, refresh: true}); old != nil {
			d.log.Warn("notification dropped", "reason", "queue full, oldest dropped", "channel", old.dest.channel,
				"dest", old.dest.label(), "incident", old.n.Incident.ID, "event", old.n.Event)
		}
	}
}

// pruneSeen forgets dedup entries older than the window. d.mu must be held.
func (d *Dispatcher) pruneSeen(now time.Time) {
	for k, at := range d.seen {
		if now.Sub(at) >= d.dedup {
			delete(d.seen, k)
		}
	}
}

func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !(d.closing && d.pending == 0) {
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		j := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.run(j)
	}
}

// run makes one attempt at j, or puts it aside until its rate-limit token
// or its next retry is due. Workers never sleep, so a dead destination
// does not hold up the others.
func (d *Dispatcher) run(j *job) {
	ch := j.dest.channel
	if d.ctx.Err() != nil {
		d.dropped.WithLabelValues(ch).Inc()
		d.finish()
		return
	}
	if !j.reserved {
		now := d.now()
		r := d.limiter(j.dest).ReserveN(now, 1)
		j.reserved = true
		if wait := r.DelayFrom(now); wait > 0 {
			d.later(j, wait)
			return
		}
	}
	j.attempt++
	ctx, cancel := context.WithTimeout(d.ctx, d.retry.AttemptTimeout)
	err := d.deliver(ctx, j.dest, j.n)
	cancel()
	attrs := []any{"channel", ch, "dest", j.dest.label(), "incident", j.n.Incident.ID, "event", j.n.Event, "attempt", j.attempt}
	switch {
	case err == nil:
		// A refresh is upkeep, not a notification: it is not counted.
		if j.refresh {
			d.log.Debug("alert refreshed", attrs...)
		} else {
			elapsed := d.now().Sub(j.sentAt)
			d.sent.WithLabelValues(ch).Inc()
			d.latency.WithLabelValues(ch).Observe(elapsed.Seconds())
			d.log.Info("notification sent", append(attrs, "after", elapsed)...)
		}
		d.finish()
	case d.ctx.Err() != nil:
		d.dropped.WithLabelValues(ch).Inc()
		d.log.Warn("notification abandoned at shutdown", append(attrs, "err", d.redact(err, j))...)
		d.finish()
	case isPermanent(err) || j.attempt >= d.retry.Attempts:
		d.failed.WithLabelValues(ch).Inc()
		d.log.Error("notification failed", append(attrs, "permanent", isPermanent(err), "err", d.redact(err, j))...)
		d.finish()
	default:
		wait := d.backoff(j.attempt)
		if ra := retryAfterOf(err); ra > wait {
			wait = min(ra, d.retry.MaxRetryAfter)
		}
		d.retries.WithLabelValues(ch).Inc()
		d.log.Warn("notification attempt failed, will retry", append(attrs, "retry_in", wait, "err", d.redact(err, j))...)
		j.reserved = false
		d.later(j, wait)
	}
}

// backoff is the wait after the attempt-th failure: Initial·3^(attempt-1),
// capped at Max, ±20 % so that destinations that failed together do not
// retry together.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := d.retry.Initial
	for i := 1; i < attempt && w < d.retry.Max; i++ {
		w *= 3
	}
	if d.retry.Max > 0 {
		w = min(w, d.retry.Max)
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(w) * jitter)
}

// later puts j back in the queue after wait.
func (d *Dispatcher) later(j *job, wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted {
		d.dropped.WithLabelValues(j.dest.channel).Inc()
		d.finishLocked()
		return
	}
	d.timers[j] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.timers[j]; !ok {
			return // Close took it
		}
		delete(d.timers, j)
		if old := d.push(j); old != nil {
			d.log.Warn("notification dropped", "reason", "queue full, oldest dropped", "channel", old.dest.channel,
				"dest", old.dest.label(), "incident", old.n.Incident.ID, "event", old.n.Event)
		}
	})
}

func (d *Dispatcher) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finishLocked()
}

func (d *Dispatcher) finishLocked() {
	d.pending--
	if d.closing && d.pending == 0 {
		d.cond.Broadcast()
	}
}

func (d *Dispatcher) limiter(ds dest) *rate.Limiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := ds.key()
	l, ok := d.limiters[k]
	if !ok {
		lim := d.limits[ds.channel]
		if lim.every <= 0 {
			l = rate.NewLimiter(rate.Inf, 1)
		} else {
			l = rate.NewLimiter(rate.Every(lim.every), lim.burst)
		}
		d.limiters[k] = l
	}
	return l
}

// redact is the last guard before an error reaches the log: whatever a
// library put in it, no configured secret leaves.
func (d *Dispatcher) redact(err error, j *job) string {
	return redact(err.Error(), d.settings.Telegram.Token, d.settings.SMTP.Password, j.dest.secret)
}

func (d *Dispatcher) deliver(ctx context.Context, ds dest, n jagadesa.Notification) error {
	switch ds.channel {
	case ChannelWebhook:
		return d.sendWebhook(ctx, ds, n)
	case ChannelAlertmanager:
		return d.sendAlertmanager(ctx, ds.addr, n)
	case ChannelTelegram:
		return d.sendTelegram(ctx, ds.addr, n)
	case ChannelEmail:
		return d.sendEmail(ctx, ds.addr, n)
	}
	return permanent(fmt.Errorf("unknown channel %q", ds.channel))
}

// Close stops taking notifications and waits until every queued one is
// delivered, has failed, or ctx ends; then it abandons the rest (counted
// as dropped) and returns ctx's error.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.stopOnce.Do(func() { close(d.stop) })
	d.mu.Lock()
	d.closing = true
	d.cond.Broadcast()
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
	}
	d.cancel()
	d.mu.Lock()
	d.aborted = true
	n := len(d.queue)
	for _, j := range d.queue {
		d.dropped.WithLabelValues(j.dest.channel).Inc()
	}
	d.queue = nil
	for j, t := range d.timers {
		t.Stop()
		delete(d.timers, j)
		d.dropped.WithLabelValues(j.dest.channel).Inc()
		n++
	}
	d.pending -= n
	d.cond.Broadcast()
	d.mu.Unlock()
	<-done
	if n > 0 {
		d.log.Warn("notifications abandoned at shutdown", "count", n)
	}
	return ctx.Err()
}
