package jagadesacmd

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jagadesa/jagadesa/server/metastore"
	"github.com/jagadesa/jagadesa/server/postgres"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// The metadata database is the incident store, whichever engine holds it.
var (
	_ metastore.Store = (*sqlite.DB)(nil)
	_ metastore.Store = (*postgres.DB)(nil)
)

// metadataURL is where the metadata lives: --metadata-url, or the embedded
// SQLite database in the data directory.
func metadataURL(url, dataDir string) string {
	if url == "" {
		return "sqlite://" + filepath.Join(dataDir, "jagadesa.db")
	}
	return url
}

// isPostgres says whether url names a PostgreSQL database: several
// replicas may then share it.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// checkMetadataURL refuses a URL no store takes, before anything starts.
func checkMetadataURL(url string) error {
	switch {
	case url == "", isPostgres(url):
		return nil
	case strings.HasPrefix(url, "sqlite://"):
		if strings.TrimPrefix(url, "sqlite://") == "" {
			return fmt.Errorf("--metadata-url %q names no file: sqlite:///var/lib/jagadesa/jagadesa.db", url)
		}
		return nil
	}
	return fmt.Errorf("--metadata-url: want sqlite://PATH or postgres://USER@HOST/DB, not %q", redactURL(url))
}

// openMetadata opens the metadata store a URL names.
func openMetadata(ctx context.Context, url string) (metastore.Store, error) {
	if isPostgres(url) {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("metadata %s: %w", redactURL(url), err)
		}
		return db, nil
	}
	db, err := sqlite.OpenPath(strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		return nil, err
	}
	return db, nil
}

// redactURL hides a password in a URL before it is logged or shown.
func redactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}
