package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/internal/pgtest"
	"github.com/jagadesa/jagadesa/server/metastore"
	"github.com/jagadesa/jagadesa/server/metastore/storetest"
	"github.com/jagadesa/jagadesa/server/postgres"
)

func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The metadata store's contract, against a real PostgreSQL: each test has
// a database of its own; every open is one more replica (or a restart).
func TestContract(t *testing.T) {
	c := pgtest.Start(t)
	storetest.Run(t, storetest.Backend{
		Fresh: func(t *testing.T) func(t *testing.T) metastore.Store {
			url := c.NewDatabase(t)
			return func(t *testing.T) metastore.Store { return open(t, url) }
		},
		Replicas: true,
	})
}
