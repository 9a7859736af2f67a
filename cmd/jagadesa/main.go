// Command jagadesa is the JagaDesa server and its operator tools:
//
//	jagadesa serve     run the API server
//	jagadesa sim       run a simulated fleet of village probes against a server
//	jagadesa bench     measure ingest throughput against a real InfluxDB
//	jagadesa version   print the version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	jagadesacmd.Version = version
	if err := jagadesacmd.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jagadesa:", err)
		os.Exit(1)
	}
}
