package sqlite

import (
	"context"
	"fmt"
	"strings"

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

type batch struct {
	k       streamKey
	seq     uint64
	effects []byte
	done    chan error
}

// CommitBatch records that records up to seq were accepted on a stream
// (the mark never moves back) and stores effects (nil: none) in the
// outbox, in one transaction. It returns once that transaction committed,
// or when ctx ends (the batch may still commit then).
func (d *DB) CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error {
	if seq > jagadesa.MaxSeq {
		return jagadesa.Errorf(jagadesa.EInvalid, "record number %d out of range", seq)
	}
	b := &batch{k: streamKey{probe, stream}, seq: seq, effects: effects, done: make(chan error, 1)}
	d.mu.Lock()
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
		d.commitPending()
	}
}

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
	for _, b := range bs {
		b.done <- err
	}
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
