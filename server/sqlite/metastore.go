package sqlite

import "github.com/jagadesa/jagadesa/server/metastore"

var _ metastore.Store = (*DB)(nil)
