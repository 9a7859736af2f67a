package sqlite_test

import (
	"testing"

	"github.com/jagadesa/jagadesa/server/metastore/storetest"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// The same measurement as server/postgres's, for comparison:
// go test -run '^$' -bench StoreCommitBatch ./server/sqlite/
func BenchmarkStoreCommitBatch(b *testing.B) {
	d, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetParallelism(16)
	storetest.BenchmarkCommitBatch(b, d)
}
