package postgres_test

import (
	"testing"

	"github.com/jagadesa/jagadesa/internal/pgtest"
	"github.com/jagadesa/jagadesa/server/metastore/storetest"
)

// go test -run '^$' -bench CommitBatch ./server/postgres/
func BenchmarkCommitBatch(b *testing.B) {
	for _, fsync := range []string{"off", "on"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			c := pgtest.Start(b, "fsync="+fsync, "full_page_writes="+fsync)
			d := open(b, c.NewDatabase(b))
			defer d.Close()
			b.SetParallelism(16)
			storetest.BenchmarkCommitBatch(b, d)
		})
	}
}
