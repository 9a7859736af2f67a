package postgres

// The live-status bus: replicas sharing one database tell each other the
// probe reports each ingested, over LISTEN/NOTIFY. Nothing is stored:
// a listener that is disconnected misses what was sent meanwhile, and is
// told so (Gaps, OnGap) so that it can re-read the state it needs.
//
// Framing. A NOTIFY payload is text: it cannot hold a NUL byte and must be
// valid in the server encoding (UTF8 assumed). One payload carries a
// header and one or more records:
//
//	"jb1 " origin " " seq "\n"  then, per message,  kind length ":" body
//
// origin is the sending Bus's random id (16 hex digits), seq counts that
// Bus's payloads from 1 (it makes every payload unique, so PostgreSQL does
// not fold identical ones in a transaction, and lets a listener see a hole
// and drop a resent duplicate). kind is 'r' when body is the message
// itself (valid UTF-8 without NUL, as JSON is) or 'b' when body is its
// standard base64; length is the body's length in bytes, in decimal.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

const (
	// BusMaxMessage bounds a message's body as framed: its length when it
	// is UTF-8 text without NUL, else its base64 length (so 5,250 bytes of
	// arbitrary binary).
	BusMaxMessage = 7000
	// busPayloadMax keeps a margin under PostgreSQL's NOTIFY limit (a
	// payload must be shorter than 8000 bytes).
	busPayloadMax = 7900
	busMagic      = "jb1"

	busQueueBytes     = 64 << 20 // framed bytes queued or in flight
	busQueueMsgs      = 100_000
	busInterval       = 50 * time.Millisecond // between two sends, under load
	busPerRoundTrip   = 128                   // NOTIFYs in one pgx.Batch
	busCloseTimeout   = 2 * time.Second
	busBackoffMin     = 50 * time.Millisecond
	busBackoffMax     = 5 * time.Second
	busConnectTimeout = QueryTimeout
)

var (
	// ErrBusQueueFull is returned by Publish when the queue is at its
	// bound (the database is slow or unreachable); the message is not
	// queued.
	ErrBusQueueFull = errors.New("postgres: bus queue full, message dropped")
	// ErrBusTooLarge is wrapped by Publish's error for a message over
	// BusMaxMessage.
	ErrBusTooLarge = errors.New("postgres: bus message too large")
	// ErrBusClosed is returned by Publish after Close.
	ErrBusClosed = errors.New("postgres: bus closed")
)

// Bus publishes small messages to every other Bus on the same database and
// channel, and hears theirs. Publish may be called from any goroutine;
// Listen should run once at a time.
type Bus struct {
	// OnGap, if set before Listen, is called (on Listen's goroutine) each
	// time messages may have been missed: after the listening connection
	// was lost and LISTEN is in place again, or when another Bus's
	// sequence skips. Gaps counts the same events.
	OnGap func()

	cfg     *pgx.ConnConfig
	channel string
	origin  string

	mu         sync.Mutex
	queue      []string // framed records, oldest first
	usedBytes  int      // queued and in flight
	usedMsgs   int
	closing    bool
	maxBytes   int
	maxMsgs    int
	kick       chan struct{}
	stop       chan struct{} // closed by Close: flush now and finish
	sendCtx    context.Context
	sendCancel context.CancelFunc // ends sending at Close's deadline
	sendDone   chan struct{}
	conn       *pgx.Conn // the sender's; only the sender goroutine uses it
	seq        uint64    // the sender's payload count

	closeCtx  context.Context // ended by Close: ends Listen
	closeStop context.CancelFunc
	closeOnce sync.Once

	gaps      atomic.Uint64
	listenPID atomic.Uint32
	sent      atomic.Uint64 // payloads (NOTIFYs) sent
}

// OpenBus connects to the database at url (postgres://…) for publishing on
// channel and starts the sender. Listen opens a connection of its own.
func OpenBus(ctx context.Context, url string, channel string) (*Bus, error) {
	if channel == "" || len(channel) > 63 {
		return nil, fmt.Errorf("postgres: bus channel %q: want 1 to 63 bytes", channel)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bus: %w", err)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("postgres: bus: %w", err)
	}
	b := &Bus{
		cfg:      cfg,
		channel:  channel,
		origin:   hex.EncodeToString(id[:]),
		maxBytes: busQueueBytes,
		maxMsgs:  busQueueMsgs,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		sendDone: make(chan struct{}),
	}
	cctx, cancel := context.WithTimeout(ctx, busConnectTimeout)
	defer cancel()
	if b.conn, err = pgx.ConnectConfig(cctx, cfg.Copy()); err != nil {
		return nil, fmt.Errorf("postgres: bus: connect: %w", err)
	}
	b.sendCtx, b.sendCancel = context.WithCancel(context.Background())
	b.closeCtx, b.closeStop = context.WithCancel(context.Background())
	go b.sendLoop()
	return b, nil
}

// frame returns msg's record body and kind.
func frame(msg []byte) (kind byte, body string) {
	if utf8.Valid(msg) && !strings.ContainsRune(string(msg), 0) {
		return 'r', string(msg)
	}
	return 'b', base64.StdEncoding.EncodeToString(msg)
}

// Publish queues msg for every other Bus and returns at once. It fails
// when msg is over BusMaxMessage as framed (ErrBusTooLarge), when the
// queue is at its bound (ErrBusQueueFull: the caller drops the message),
// or after Close. msg may be reused when Publish returns.
func (b *Bus) Publish(msg []byte) error {
	kind, body := frame(msg)
	if len(body) > BusMaxMessage {
		how := "as UTF-8 text"
		if kind == 'b' {
			how = "in base64 (it is not NUL-free UTF-8)"
		}
		return fmt.Errorf("%w: %d bytes, %d %s, over the %d-byte maximum", ErrBusTooLarge, len(msg), len(body), how, BusMaxMessage)
	}
	rec := string(kind) + strconv.Itoa(len(body)) + ":" + body
	b.mu.Lock()
	switch {
	case b.closing:
		b.mu.Unlock()
		return ErrBusClosed
	case b.usedMsgs+1 > b.maxMsgs || b.usedBytes+len(rec) > b.maxBytes:
		b.mu.Unlock()
		return ErrBusQueueFull
	}
	b.queue = append(b.queue, rec)
	b.usedMsgs++
	b.usedBytes += len(rec)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// payload is one NOTIFY's text and the queue space its records hold.
type payload struct {
	text  string
	msgs  int
	bytes int
}

// pack assigns sequence numbers and fills payloads in order.
func (b *Bus) pack(recs []string) []payload {
	var out []payload
	var sb strings.Builder
	var cur payload
	start := func() {
		b.seq++
		sb.Reset()
		sb.WriteString(busMagic + " " + b.origin + " " + strconv.FormatUint(b.seq, 10) + "\n")
		cur = payload{}
	}
	start()
	for _, r := range recs {
		if cur.msgs > 0 && sb.Len()+len(r) > busPayloadMax {
			cur.text = sb.String()
			out = append(out, cur)
			start()
		}
		sb.WriteString(r)
		cur.msgs++
		cur.bytes += len(r)
	}
	if cur.msgs > 0 {
		cur.text = sb.String()
		out = append(out, cur)
	}
	return out
}

func (b *Bus) release(p payload) {
	b.mu.Lock()
	b.usedMsgs -= p.msgs
	b.usedBytes -= p.bytes
	b.mu.Unlock()
}

// sendLoop takes everything queued, at most every busInterval while
// there is more to send (at once after a quiet spell), and sends it. A
// failed send is retried with the same payloads (listeners drop what
// they already had by its seq) until Close's deadline.
func (b *Bus) sendLoop() {
	defer close(b.sendDone)
	defer func() {
		if b.conn != nil {
			b.conn.Close(context.Background())
		}
	}()
	var pending []payload
	var last time.Time
	backoff := busBackoffMin
	for b.sendCtx.Err() == nil {
		if len(pending) == 0 {
			b.mu.Lock()
			n, closing := len(b.queue), b.closing
			b.mu.Unlock()
			if n == 0 {
				if closing {
					return
				}
				select {
				case <-b.kick:
				case <-b.stop:
				}
				continue
			}
			if wait := time.Until(last.Add(busInterval)); wait > 0 && !closing {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-b.stop:
					t.Stop()
				}
			}
			b.mu.Lock()
			recs := b.queue
			b.queue = nil
			b.mu.Unlock()
			pending = b.pack(recs)
		}
		last = time.Now()
		var err error
		pending, err = b.send(pending)
		if err == nil {
			backoff = busBackoffMin
			continue
		}
		if b.conn != nil {
			b.conn.Close(context.Background())
			b.conn = nil
		}
		t := time.NewTimer(jitter(backoff))
		select {
		case <-t.C:
		case <-b.sendCtx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, busBackoffMax)
	}
	// Close's deadline passed: what is left is dropped (listeners see the
	// hole in seq when this Bus sent anything after it, which it will not).
	for _, p := range pending {
		b.release(p)
	}
}

// send sends ps in round trips of busPerRoundTrip NOTIFYs (each round
// trip one implicit transaction) and returns what is left unsent.
func (b *Bus) send(ps []payload) ([]payload, error) {
	if b.conn == nil {
		ctx, cancel := context.WithTimeout(b.sendCtx, busConnectTimeout)
		conn, err := pgx.ConnectConfig(ctx, b.cfg.Copy())
		cancel()
		if err != nil {
			return ps, err
		}
		b.conn = conn
	}
	for len(ps) > 0 {
		n := min(len(ps), busPerRoundTrip)
		batch := &pgx.Batch{}
		for _, p := range ps[:n] {
			batch.Queue(`SELECT pg_notify($1, $2)`, b.channel, p.text)
		}
		ctx, cancel := context.WithTimeout(b.sendCtx, QueryTimeout)
		err := b.conn.SendBatch(ctx, batch).Close()
		cancel()
		if err != nil {
			return ps, err
		}
		for _, p := range ps[:n] {
			b.release(p)
		}
		b.sent.Add(uint64(n))
		ps = ps[n:]
	}
	return nil, nil
}

func jitter(d time.Duration) time.Duration {
	return d/2 + mrand.N(d/2+1)
}

// Listen calls fn with every message other Buses on the channel publish,
// in each publisher's order, until ctx ends or the Bus is closed (then it
// returns nil; ctx.Err() for ctx). It never passes this Bus's own
// messages. When the connection is lost it reconnects with backoff; what
// was published meanwhile is lost, and once LISTEN is in place again a
// gap is counted and OnGap called. fn runs on Listen's goroutine; msg is
// fn's to keep.
func (b *Bus) Listen(ctx context.Context, fn func(msg []byte)) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.closeCtx, cancel)()
	l := &busListener{b: b, fn: fn, last: map[string]uint64{}}
	backoff := busBackoffMin
	for {
		if l.session(lctx) {
			backoff = busBackoffMin
		}
		if lctx.Err() != nil {
			if b.closeCtx.Err() != nil && ctx.Err() == nil {
				return nil
			}
			return ctx.Err()
		}
		t := time.NewTimer(jitter(backoff))
		select {
		case <-t.C:
		case <-lctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, busBackoffMax)
	}
}

type busListener struct {
	b         *Bus
	fn        func([]byte)
	last      map[string]uint64 // origin → last seq delivered
	connected bool              // a session has been listening before
}

// session connects, listens and delivers until the connection fails or
// ctx ends; it reports whether LISTEN was in place.
func (l *busListener) session(ctx context.Context) bool {
	b := l.b
	cctx, cancel := context.WithTimeout(ctx, busConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, b.cfg.Copy())
	if err != nil {
		cancel()
		return false
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, `LISTEN `+pgx.Identifier{b.channel}.Sanitize())
	cancel()
	if err != nil {
		return false
	}
	b.listenPID.Store(conn.PgConn().PID())
	defer b.listenPID.Store(0)
	if l.connected {
		// What came between the sessions is lost; sequences restart.
		clear(l.last)
		l.gap()
	}
	l.connected = true
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		l.deliver(n.Payload)
	}
}

func (l *busListener) gap() {
	l.b.gaps.Add(1)
	if l.b.OnGap != nil {
		l.b.OnGap()
	}
}

// deliver decodes one payload; it ignores this Bus's own, resent
// duplicates, and text that is not a payload of this framing.
func (l *busListener) deliver(p string) {
	head, body, ok := strings.Cut(p, "\n")
	if !ok {
		return
	}
	f := strings.Split(head, " ")
	if len(f) != 3 || f[0] != busMagic || f[1] == l.b.origin {
		return
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return
	}
	last, seen := l.last[f[1]]
	if seen && seq <= last {
		return // resent after an ambiguous failure
	}
	msgs, ok := unframe(body)
	if !ok {
		return
	}
	if seen && seq != last+1 {
		l.gap()
	}
	l.last[f[1]] = seq
	for _, m := range msgs {
		l.fn(m)
	}
}

// unframe splits a payload's records.
func unframe(s string) ([][]byte, bool) {
	var out [][]byte
	for len(s) > 0 {
		kind := s[0]
		n, rest, ok := strings.Cut(s[1:], ":")
		if !ok {
			return nil, false
		}
		size, err := strconv.Atoi(n)
		if err != nil || size < 0 || size > len(rest) {
			return nil, false
		}
		body := rest[:size]
		s = rest[size:]
		switch kind {
		case 'r':
			out = append(out, []byte(body))
		case 'b':
			m, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return nil, false
			}
			out = append(out, m)
		default:
			return nil, false
		}
	}
	return out, true
}

// Gaps counts the times Listen may have missed messages (see OnGap).
func (b *Bus) Gaps() uint64 { return b.gaps.Load() }

// ListenPID is the backend process id of Listen's connection while LISTEN
// is in place, else 0.
func (b *Bus) ListenPID() uint32 { return b.listenPID.Load() }

// Close sends what is queued (for at most 2 s; the rest is dropped),
// stops the sender and ends Listen. Publish fails after it.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		close(b.stop)
		t := time.NewTimer(busCloseTimeout)
		select {
		case <-b.sendDone:
			t.Stop()
		case <-t.C:
			b.sendCancel()
			<-b.sendDone
		}
		b.sendCancel()
		b.closeStop()
	})
	return nil
}
