// Package jagadesacmd is the jagadesa command: its subcommands and their
// flags. It lives apart from package main so that end-to-end tests can run
// the real program in-process.
package jagadesacmd

import (
	"context"
	"fmt"
	"io"
)

// Version is set by main from its build-time version.
var Version = "dev"

const usage = `usage: jagadesa <command> [flags]

commands:
  serve     run the API server (jagadesa serve -h for flags)
  sim       run a simulated fleet of village probes against a server
  bench     measure ingest throughput (jagadesa bench ingest -h)
  verify    check stored batches against their probes' signatures (jagadesa verify -h)
  user      staff accounts: add, list, disable, passwd, token (jagadesa user -h)
  registry  import provinces' villages into the data dir, list them (jagadesa registry -h)
  version   print the version
`

// Run dispatches to a subcommand; tests call it as main does.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return verify(args[1:], getenv, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "registry":
		return runRegistry(args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "jagadesa", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
