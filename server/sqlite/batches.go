package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Accepted batches: each raises its stream's replay mark and may leave
// effects (what it means for incidents) in the outbox. Both are written in
// one transaction, and many batches share one transaction (group commit):
// a batch that arrives while a commit is under way waits for the next one,
// which takes every batch that arrived meanwhile. The marks' connection
// commits with synchronous NORMAL — durable across a crash of the process,
// not of the machine (docs/evidence.md) — so a commit costs no fsync and
// ingest is not serialised behind the disk.
//
// A batch with no effects (nearly every live report) does not wait for its
// transaction: its mark moves in memory at once, so a replay is refused
// from that moment, and reaches the database with the next group, within a
// millisecond or so under load. What a crash of the process in that moment
// costs is a mark: a batch accepted then, replayed after the restart,
// would be written again — idempotently in InfluxDB, a second time in the
// evidence archive (docs/evidence.md). Its points and evidence are durable
// before the 200 either way. A batch with effects waits, so that what it
// means for incidents is never lost with an answered batch.

type batch struct {
	k       streamKey
	seq     uint64
	effects []byte
	done    chan error // nil: nobody waits (no effects)
}

// CommitBatch records that records up to seq were accepted on a stream
// (the mark never moves back) and stores effects (nil: none) in the
// outbox, in one transaction. With effects it returns once that
// transaction committed, or when ctx ends (the batch may still commit
// then); without, once the mark moved in memory (see above).
func (d *DB) CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error {
	if seq > jagadesa.MaxSeq {
		return jagadesa.Errorf(jagadesa.EInvalid, "record number %d out of range", seq)
	}
	b := &batch{k: streamKey{probe, stream}, seq: seq, effects: effects}
	if effects != nil {
		b.done = make(chan error, 1)
	}
	d.mu.Lock()
	if b.done == nil && d.streams[b.k] < seq {
		d.streams[b.k] = seq
	}
	d.pending = append(d.pending, b)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	if b.done == nil {
		return nil
	}
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushLoop commits the waiting batches, until Close.
func (d *DB) flushLoop() {
	defer close(d.flushed)
	for {
		select {
		case <-d.stop:
			d.commitPending()
			return
		case <-d.kick:
		}
		// Under load batches arrive every few microseconds, and each
		// transaction costs the pure-Go SQLite about a hundred: linger a
		// moment so that one transaction takes many. A batch waits at
		// most this much longer; alone, it hardly notices.
		d.mu.Lock()
		n, waits := len(d.pending), false
		for _, b := range d.pending {
			waits = waits || b.done != nil
		}
		d.mu.Unlock()
		switch {
		case !waits:
			// Only marks, which nobody waits for: gather many.
			select {
			case <-d.stop:
			case <-time.After(lingerMarks):
			}
		case n < lingerBatches:
			time.Sleep(linger)
		}
		if !d.commitPending() {
			// Marks that found the database unwritable are pending
			// still: try again in a while, not at once.
			select {
			case <-d.stop:
			case <-time.After(time.Second):
			}
			select {
			case d.kick <- struct{}{}:
			default:
			}
		}
	}
}

// linger is how long the marks' committer waits for more batches when a
// batch with effects waits for the commit, unless lingerBatches are
// already there; lingerMarks when only marks are pending.
const (
	linger        = 500 * time.Microsecond
	lingerBatches = 64
	lingerMarks   = 20 * time.Millisecond
)

// commitPending writes every waiting batch in one transaction and tells
// each that waits how it went; it says whether the commit succeeded.
func (d *DB) commitPending() bool {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	bs := d.pending
	d.pending = nil
	d.mu.Unlock()
	if len(bs) == 0 {
		return true
	}
	// A group is one transaction of few statements: the marks of many
	// streams in each multi-row upsert, the effects in each multi-row
	// insert. Statement by statement, the pure-Go SQLite spent more time
	// compiling and stepping than the rest of ingest.
	marks := map[streamKey]uint64{}
	var effects [][]byte
	for _, b := range bs {
		marks[b.k] = max(marks[b.k], b.seq)
		if b.effects != nil {
			effects = append(effects, b.effects)
		}
	}
	withEffects := len(effects) > 0
	err := func() error {
		tx, err := d.marks.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		now := d.now().UnixMilli()
		const rows = 200 // 4 parameters a row, well under SQLite's limit
		keys := make([]streamKey, 0, len(marks))
		for k := range marks {
			keys = append(keys, k)
		}
		for len(keys) > 0 {
			n := min(len(keys), rows)
			var q strings.Builder
			q.WriteString(`INSERT INTO probe_streams(probe, stream, max_seq, updated_at) VALUES `)
			args := make([]any, 0, 4*n)
			for i, k := range keys[:n] {
				if i > 0 {
					q.WriteByte(',')
				}
				q.WriteString("(?, ?, ?, ?)")
				args = append(args, k.probe, k.stream, int64(marks[k]), now)
			}
			q.WriteString(` ON CONFLICT(probe, stream) DO UPDATE SET max_seq = excluded.max_seq, updated_at = excluded.updated_at
				WHERE excluded.max_seq > probe_streams.max_seq`)
			if _, err := tx.Exec(q.String(), args...); err != nil {
				return err
			}
			keys = keys[n:]
		}
		for len(effects) > 0 {
			n := min(len(effects), rows)
			q := `INSERT INTO outbox(created_at, body) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", n), ",")
			args := make([]any, 0, 2*n)
			for _, e := range effects[:n] {
				args = append(args, now, e)
			}
			if _, err := tx.Exec(q, args...); err != nil {
				return err
			}
			effects = effects[n:]
		}
		return tx.Commit()
	}()
	if err != nil {
		err = fmt.Errorf("sqlite: commit batches: %w", err)
	} else {
		d.mu.Lock()
		for _, b := range bs {
			if d.streams[b.k] < b.seq {
				d.streams[b.k] = b.seq
			}
		}
		d.mu.Unlock()
		if withEffects {
			select {
			case d.effects <- struct{}{}:
			default:
			}
		}
	}
	var again []*batch
	for _, b := range bs {
		switch {
		case b.done != nil:
			b.done <- err
		case err != nil:
			again = append(again, b) // nobody waits: keep it for the next commit
		}
	}
	if len(again) > 0 {
		d.mu.Lock()
		d.pending = append(again, d.pending...)
		d.mu.Unlock()
	}
	return err == nil
}

// EffectsReady is signalled after a commit stored effects in the outbox.
func (d *DB) EffectsReady() <-chan struct{} { return d.effects }

// PendingEffects returns up to limit outbox entries, oldest first.
func (d *DB) PendingEffects(ctx context.Context, limit int) (ids []int64, bodies [][]byte, err error) {
	rows, err := d.marks.QueryContext(ctx, `SELECT id, body FROM outbox ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, nil, fmt.Errorf("sqlite: outbox: %w", err)
		}
		ids, bodies = append(ids, id), append(bodies, body)
	}
	return ids, bodies, rows.Err()
}

// DoneEffects removes applied entries from the outbox.
func (d *DB) DoneEffects(ctx context.Context, ids []int64) error {
	tx, err := d.marks.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: outbox: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: outbox: %w", err)
		}
	}
	return tx.Commit()
}
