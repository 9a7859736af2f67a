package sim

import (
	"bytes"
	"sync"

	"github.com/jagadesa/jagadesa/probe/spool"
)

// queue is what a simulated probe keeps its records in: the real on-disk
// spool, or, for fleets too large for one open spool per probe (tens of
// thousands of probes would exhaust the process's file descriptors), a
// bounded in-memory queue with the same contract.
type queue interface {
	Append(payload []byte) (uint64, error)
	Peek(maxRecords, maxBytes int) ([]spool.Record, error)
	Ack(upTo uint64) error
	Stats() spool.Stats
	Close() error
}

var (
	_ queue = (*spool.Spool)(nil)
	_ queue = (*memQueue)(nil)
)

// memQueue keeps records in memory, oldest dropped (and counted) past
// maxBytes, like the spool.
type memQueue struct {
	mu       sync.Mutex
	recs     []spool.Record
	bytes    int64
	next     uint64
	dropped  uint64
	maxBytes int64
}

func newMemQueue(maxBytes int64) *memQueue { return &memQueue{maxBytes: maxBytes, next: 1} }

// memQueuesBytes bounds what all the fleet's in-memory queues hold
// together: a probe keeps up to 1 MiB, less when the fleet is large, so
// that a server that stops taking uploads costs the simulator at most this
// much (83,763 probes of 1 MiB each grew to 22 GB and swapped the machine).
const memQueuesBytes = 1 << 30

// memQueueBytes is one probe's share of memQueuesBytes among n, at least
// 8 KiB (a few live rounds) and at most 1 MiB.
func memQueueBytes(n int) int64 {
	return min(1<<20, max(8<<10, int64(memQueuesBytes)/int64(max(n, 1))))
}

func (q *memQueue) Append(payload []byte) (uint64, error) {
	return q.appendOwned(bytes.Clone(payload)), nil
}

// appendOwned appends payload itself, which the caller no longer touches.
func (q *memQueue) appendOwned(payload []byte) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := q.next
	q.next++
	q.recs = append(q.recs, spool.Record{ID: id, Payload: payload})
	q.bytes += int64(len(payload))
	for q.bytes > q.maxBytes && len(q.recs) > 1 {
		q.bytes -= int64(len(q.recs[0].Payload))
		q.recs[0] = spool.Record{} // let the payload go
		q.recs = q.recs[1:]
		q.dropped++
	}
	return id
}

// Peek returns the oldest records. Their payloads are the queue's own,
// never modified, so they are not copied: the caller must not write to them.
func (q *memQueue) Peek(maxRecords, maxBytes int) ([]spool.Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []spool.Record
	n := 0
	for _, r := range q.recs {
		if len(out) >= maxRecords || len(out) > 0 && n+len(r.Payload) > maxBytes {
			break
		}
		out = append(out, r)
		n += len(r.Payload)
	}
	return out, nil
}

func (q *memQueue) Ack(upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.recs) && q.recs[i].ID <= upTo {
		q.bytes -= int64(len(q.recs[i].Payload))
		i++
	}
	// Move the rest to the front rather than reslice: the acknowledged
	// records' payloads must not stay reachable from the backing array
	// (at 83,763 probes that kept over 100 MB alive), and the array is
	// reused for the next rounds instead of reallocated.
	n := copy(q.recs, q.recs[i:])
	clear(q.recs[n:])
	q.recs = q.recs[:n]
	return nil
}

func (q *memQueue) Stats() spool.Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return spool.Stats{Records: int64(len(q.recs)), Bytes: q.bytes, Dropped: q.dropped}
}

func (q *memQueue) Close() error { return nil }
