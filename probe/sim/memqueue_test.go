package sim

import (
	"bytes"
	"testing"
)

// The in-memory queue keeps the spool's contract: ids increase, Peek
// bounds records and bytes, Ack drops up to an id, and the oldest go (and
// are counted) past the byte bound.
func TestMemQueue(t *testing.T) {
	q := newMemQueue(25)
	for i := 0; i < 3; i++ {
		if id, _ := q.Append(bytes.Repeat([]byte{'a' + byte(i)}, 10)); id != uint64(i+1) {
			t.Fatalf("id %d", id)
		}
	}
	st := q.Stats()
	if st.Records != 2 || st.Dropped != 1 || st.Bytes != 20 {
		t.Fatalf("stats %+v", st)
	}
	recs, _ := q.Peek(10, 15)
	if len(recs) != 1 || recs[0].ID != 2 || recs[0].Payload[0] != 'b' {
		t.Fatalf("peek %+v", recs)
	}
	q.Ack(2)
	recs, _ = q.Peek(10, 100)
	if len(recs) != 1 || recs[0].ID != 3 {
		t.Fatalf("after ack %+v", recs)
	}
}

// The fleet's in-memory queues together stay within memQueuesBytes, each
// between a dozen rounds and 1 MiB.
func TestMemQueueShare(t *testing.T) {
	for _, c := range []struct {
		n    int
		want int64
	}{{1, 1 << 20}, {599, 1 << 20}, {1024, 1 << 20}, {10148, (1 << 30) / 10148}, {83763, (1 << 30) / 83763}, {1 << 20, 8 << 10}} {
		if got := memQueueBytes(c.n); got != c.want {
			t.Errorf("%d probes: %d bytes each, want %d", c.n, got, c.want)
		}
		if c.n <= 83763 && int64(c.n)*memQueueBytes(c.n) > memQueuesBytes {
			t.Errorf("%d probes hold up to %d bytes together", c.n, int64(c.n)*memQueueBytes(c.n))
		}
	}
}
