package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jagadesa/jagadesa/server/metastore"
	"github.com/jagadesa/jagadesa/server/metastore/storetest"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// The metadata store's contract, against SQLite: every reopen is a
// restart (SQLite is one server's store, so no replicas).
func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Fresh: func(t *testing.T) func(t *testing.T) metastore.Store {
			dir := t.TempDir()
			return func(t *testing.T) metastore.Store {
				d, err := sqlite.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
		},
	})
}

// OpenPath keeps the database in the file it names (sqlite://PATH).
func TestOpenPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta", "other.db")
	d, err := sqlite.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.PutState(ctx, "x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	d, err = sqlite.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if b, err := d.State(ctx, "x"); err != nil || string(b) != "y" {
		t.Fatalf("after reopening: %q %v", b, err)
	}
}
