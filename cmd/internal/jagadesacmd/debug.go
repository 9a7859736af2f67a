package jagadesacmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// checkDebugListen allows the profiling listener on loopback only: its
// profiles show memory contents, goroutines and timings, for an operator
// on the machine, never for the network.
func checkDebugListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--debug-listen %q: only a loopback address (127.0.0.1:PORT, [::1]:PORT)", addr)
	}
	return nil
}

// debugMux serves Go's runtime profiles (go tool pprof http://ADDR/debug/pprof/heap).
func debugMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// serveDebug serves the profiles on ln until ctx ends.
func serveDebug(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("runtime profiles served on loopback", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
