// Package probecmd is the jagadesa-probe command and its flags, apart from
// package main so that end-to-end tests can run the real program in-process.
package probecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/probe"
)

// Version is set by main from its build-time version.
var Version = "dev"

// Run is the whole program, so tests can start it as it runs in production.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa-probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg probe.Config
	var targets, dnsNames, httpURLs envflag.List
	var tokenFile, logLevel string
	var showVersion bool
	fs.StringVar(&cfg.Server, "server", getenv("JAGADESA_SERVER"), "JagaDesa server URL (env JAGADESA_SERVER)")
	fs.StringVar(&cfg.Token, "token", getenv("JAGADESA_TOKEN"), "probe token from enrollment (env JAGADESA_TOKEN; prefer --token-file: flags show in ps)")
	fs.StringVar(&tokenFile, "token-file", getenv("JAGADESA_TOKEN_FILE"), "file holding the probe token (env JAGADESA_TOKEN_FILE)")
	fs.StringVar(&cfg.Village, "village", getenv("JAGADESA_VILLAGE"), "Kemendagri code of this village, e.g. 33.06.08.2005 (env JAGADESA_VILLAGE)")
	fs.StringVar(&cfg.Spool, "spool", env.String("JAGADESA_SPOOL", "/var/lib/jagadesa/spool"), "spool directory kept across link and power cuts (env JAGADESA_SPOOL)")
	fs.DurationVar(&cfg.Interval, "interval", env.Duration("JAGADESA_INTERVAL", time.Minute), "time between measurement rounds (env JAGADESA_INTERVAL)")
	fs.Var(&targets, "target", "ICMP target, repeatable (env JAGADESA_TARGETS, comma-separated)")
	fs.StringVar(&cfg.Root, "root", env.String("JAGADESA_ROOT", "/"), "file-system root the host collectors read (env JAGADESA_ROOT)")
	fs.IntVar(&cfg.Count, "count", env.Int("JAGADESA_COUNT", 10), "ICMP packets per round (env JAGADESA_COUNT)")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", env.Duration("JAGADESA_PING_INTERVAL", time.Second), "time between packets of a round (env JAGADESA_PING_INTERVAL)")
	fs.BoolVar(&cfg.Privileged, "privileged", os.Geteuid() == 0, "raw ICMP sockets (root or cap_net_raw); false uses unprivileged UDP ping")
	fs.Int64Var(&cfg.SpoolMaxBytes, "spool-max-bytes", 8<<20, "spool size bound; the oldest records are dropped (and counted) beyond it")
	fs.Var(&dnsNames, "dns-name", "name to resolve each round, repeatable (env JAGADESA_DNS_NAMES; default jatengprov.go.id)")
	fs.StringVar(&cfg.DNSReference, "dns-reference", env.String("JAGADESA_DNS_REFERENCE", "8.8.8.8:53"), "reference resolver (host:port) to compare the router's resolver with; empty: none")
	fs.Var(&httpURLs, "http-url", "service URL to check each round, repeatable (env JAGADESA_HTTP_URLS; default: the province's SPBE portals)")
	fs.Int64Var(&cfg.SpeedtestBudget, "speedtest-budget", int64(env.Int("JAGADESA_SPEEDTEST_BUDGET_MB", 4096))<<20, "bytes per calendar month the throughput tests may use (0 disables them)")
	fs.StringVar(&cfg.WANInterface, "wan-iface", getenv("JAGADESA_WAN_IFACE"), "WAN interface whose counters measure cross traffic (default: the default route's)")
	fs.StringVar(&logLevel, "log-level", env.String("JAGADESA_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if showVersion {
		fmt.Fprintln(stdout, "jagadesa-probe", Version)
		return nil
	}
	cfg.Version = Version
	cfg.Targets = listOrEnv(targets, getenv("JAGADESA_TARGETS"), nil)
	cfg.DNSNames = listOrEnv(dnsNames, getenv("JAGADESA_DNS_NAMES"), probe.DefaultDNSNames)
	cfg.HTTPURLs = listOrEnv(httpURLs, getenv("JAGADESA_HTTP_URLS"), probe.DefaultHTTPURLs)
	if len(cfg.Targets) == 0 {
		// The village gateway, a national target and our own server.
		cfg.Targets = probe.DefaultTargets(cfg.Root, cfg.Server)
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("read --token-file: %w", err)
		}
		cfg.Token = strings.TrimSpace(string(b))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	p, err := probe.New(cfg, log, &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	log.Info("probe running", "village", cfg.Village, "server", cfg.Server, "targets", cfg.Targets, "interval", cfg.Interval, "version", Version)
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("probe stopped cleanly")
	return nil
}

// listOrEnv picks the flag's values, else the comma-separated variable,
// else the defaults.
func listOrEnv(flagged []string, env string, def []string) []string {
	if len(flagged) > 0 {
		return flagged
	}
	if env != "" {
		return strings.Split(env, ",")
	}
	return def
}
