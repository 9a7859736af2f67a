// Package dashboards holds what people look at: the web dashboard the
// server serves (web/, embedded in the binary) and the Grafana provisioning
// and dashboards (grafana/).
package dashboards

import (
	"embed"
	"io/fs"
)

//go:embed web
var web embed.FS

// Web returns the dashboard's files: index.html at the root, scripts,
// styles and vendored libraries under assets/.
func Web() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	return sub
}
