package storetest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jagadesa/jagadesa/server/metastore"
)

// BenchmarkCommitBatch measures what the ingest costs the store per
// accepted batch: a replay check and a commit of the mark with effects,
// from many probes at once (b.SetParallelism decides how many).
func BenchmarkCommitBatch(b *testing.B, s metastore.Store) {
	ctx := context.Background()
	const probes = 256
	ids := make([]string, probes)
	for i := range ids {
		p, _, err := s.CreateProbe(ctx, villageA)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = p.ID
	}
	var next atomic.Int64
	effects := []byte(`{"village":"33.06.08.2005","status":"up","seen":1765000000000}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		probe := ids[int(next.Add(1)-1)%probes]
		for pb.Next() {
			seq := s.StreamSeq(probe, "bench") + 1
			if err := s.CommitBatch(ctx, probe, "bench", seq, effects); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}
