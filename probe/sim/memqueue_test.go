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
