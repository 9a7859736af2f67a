// Command jagadesa-probe is the JagaDesa measurement agent for village
// routers. See README.md for installing and enrolling it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	probecmd.Version = version
	if err := probecmd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jagadesa-probe:", err)
		os.Exit(1)
	}
}
