package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
)

// Accepted batches, as in server/sqlite: each raises its stream's replay
// mark and may leave effects in the outbox, in one transaction, and the
// batches that arrive while a commit is under way share the next one
// (group commit: one round trip and one WAL flush for many batches).
//
// Across replicas. The ingest checks a stream's mark (StreamSeq) and then
// commits the batch (CommitBatch) under a lock of its own process only, so
// the same batch sent to two replicas at once (a probe's retry while the
// first attempt is still in flight elsewhere) could pass both checks. The
// mark itself only ever rises (GREATEST), and more: CommitBatch commits
// only if the mark is still the one StreamSeq answered in this process;
// if another replica moved it meanwhile, the batch is refused (an error:
// the ingest answers "retry later", and the retry meets the replay check
// with the new mark). So one batch is committed by at most one replica.
// A StreamSeq that could not read the mark answers 0 and makes the
// CommitBatch that follows fail the same way: nothing is lost, nothing
// committed twice.

// ErrMarkMoved is CommitBatch's answer when another replica moved the
// stream's mark since this process read it.
var ErrMarkMoved = errors.New("postgres: the stream's replay mark moved on another replica since it was checked")

type streamKey struct{ probe, stream string }

// mark is what StreamSeq answered for a stream, for the CommitBatch that
// follows; unknown when the read failed.
type mark struct {
	seq     uint64
	unknown bool
	at      time.Time
}

// observedFor is how long StreamSeq's answer binds the next CommitBatch
// of its stream; the ingest commits well within it.
const observedFor = time.Minute

type batch struct {
	k       streamKey
	seq     uint64
	expect  *mark // nil: raise the mark, whatever it is
	effects []byte
	done    chan error
}

// StreamSeq returns the highest record number accepted on a probe's
// stream (0: none yet), as the database has it now.
func (d *DB) StreamSeq(probe, stream string) uint64 {
	ctx, cancel := background()
	defer cancel()
	var seq int64
	m := mark{at: time.Now()}
	err := d.pool.QueryRow(ctx, `SELECT max_seq FROM probe_streams WHERE probe = $1 AND stream = $2`, probe, stream).Scan(&seq)
	switch {
	case err == nil:
		m.seq = uint64(seq)
	case !errors.Is(err, pgx.ErrNoRows):
		m.unknown = true
	}
	d.mu.Lock()
	d.observed[streamKey{probe, stream}] = m
	d.mu.Unlock()
	return m.seq
}

// CommitBatch records that records up to seq were accepted on a stream
// (the mark never moves back) and stores effects (nil: none) in the
// outbox, in one transaction. After a StreamSeq of the same stream in
// this process, it commits only if the mark is still what StreamSeq
// answered (ErrMarkMoved otherwise). It returns once the transaction
// committed, or when ctx ends (the batch may still commit then).
func (d *DB) CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error {
	if seq > jagadesa.MaxSeq {
		return jagadesa.Errorf(jagadesa.EInvalid, "record number %d out of range", seq)
	}
	k := streamKey{probe, stream}
	b := &batch{k: k, seq: seq, effects: effects, done: make(chan error, 1)}
	d.mu.Lock()
	if m, ok := d.observed[k]; ok {
		delete(d.observed, k)
		if time.Since(m.at) < observedFor {
			b.expect = &m
		}
	}
	d.pending = append(d.pending, b)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushLoop commits the waiting batches until ctx ends, then the last
// ones.
func (d *DB) flushLoop(ctx context.Context) {
	defer d.done.Done()
	for {
		select {
		case <-ctx.Done():
			d.commitPending()
			return
		case <-d.kick:
		}
		d.commitPending()
	}
}

// upsertMark raises a stream's mark and stores the batch's effects; with
// an expected mark ($5), only if the mark is still that. It answers
// whether the batch was taken.
const upsertMark = `WITH m AS (
	INSERT INTO probe_streams(probe, stream, max_seq, updated_at) VALUES($1, $2, $3, $4)
	ON CONFLICT (probe, stream) DO UPDATE SET max_seq = GREATEST(probe_streams.max_seq, excluded.max_seq), updated_at = excluded.updated_at
	WHERE ($5::bigint IS NULL AND excluded.max_seq > probe_streams.max_seq) OR probe_streams.max_seq = $5::bigint
	RETURNING 1
), o AS (
	INSERT INTO outbox(created_at, body) SELECT $4, $6::bytea
	WHERE $6::bytea IS NOT NULL AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM m))
	RETURNING 1
)
SELECT $5::bigint IS NULL OR EXISTS (SELECT 1 FROM m)`

// commitPending writes every waiting batch in one transaction and tells
// each how it went.
func (d *DB) commitPending() {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	bs := d.pending
	d.pending = nil
	d.mu.Unlock()
	if len(bs) == 0 {
		return
	}
	// One order of row locks for every replica's group: no deadlocks.
	sort.SliceStable(bs, func(i, j int) bool {
		if bs[i].k.probe != bs[j].k.probe {
			return bs[i].k.probe < bs[j].k.probe
		}
		return bs[i].k.stream < bs[j].k.stream
	})
	errs := make([]error, len(bs))
	withEffects := false
	ctx, cancel := background()
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		now := d.now().UnixMilli()
		q := &pgx.Batch{}
		for _, b := range bs {
			var expect *int64
			if b.expect != nil {
				v := int64(b.expect.seq)
				if b.expect.unknown {
					v = -1 // matches no mark: refused
				}
				expect = &v
			}
			q.Queue(upsertMark, b.k.probe, b.k.stream, int64(b.seq), now, expect, b.effects)
			withEffects = withEffects || b.effects != nil
		}
		if withEffects {
			q.Queue(`SELECT pg_notify($1, '')`, effectsChannel)
		}
		res := tx.SendBatch(ctx, q)
		for i := range bs {
			var ok bool
			if err := res.QueryRow().Scan(&ok); err != nil {
				res.Close()
				return err
			}
			if !ok {
				errs[i] = ErrMarkMoved
			}
		}
		return res.Close()
	})
	if err != nil {
		err = fmt.Errorf("postgres: commit batches: %w", err)
		for i := range errs {
			errs[i] = err
		}
	} else if withEffects {
		d.signalEffects()
	}
	for i, b := range bs {
		b.done <- errs[i]
	}
}

func (d *DB) signalEffects() {
	select {
	case d.effects <- struct{}{}:
	default:
	}
}

// EffectsReady is signalled after a commit stored effects in the outbox,
// this replica's or (through LISTEN) another's.
func (d *DB) EffectsReady() <-chan struct{} { return d.effects }

// listen relays other replicas' outbox notifications to EffectsReady, on
// a connection of its own, reconnecting until ctx ends. After each
// (re)connection it signals once, for what it may have missed.
func (d *DB) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer d.done.Done()
	for ctx.Err() == nil {
		d.listenOnce(ctx, cfg)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) {
	cctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		cancel()
		return
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, `LISTEN `+effectsChannel) // an identifier: a constant, no parameter possible
	cancel()
	if err != nil {
		return
	}
	d.signalEffects()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		d.signalEffects()
	}
}

// PendingEffects returns up to limit outbox entries, oldest first.
func (d *DB) PendingEffects(ctx context.Context, limit int) (ids []int64, bodies [][]byte, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT id, body FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, nil, fmt.Errorf("postgres: outbox: %w", err)
		}
		ids, bodies = append(ids, id), append(bodies, body)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: outbox: %w", err)
	}
	return ids, bodies, nil
}

// DoneEffects removes applied entries from the outbox.
func (d *DB) DoneEffects(ctx context.Context, ids []int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("postgres: outbox: %w", err)
	}
	return nil
}
