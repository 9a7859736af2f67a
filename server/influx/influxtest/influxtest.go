// Package influxtest runs a real, throwaway InfluxDB 1.8.10 (Flux enabled,
// auth off, loopback only) for the tests of one package. It is never a mock:
// the tests talk to the same influxd the development scripts run, through its
// v2 write and Flux API (org [Org], bucket "db/autogen", token [Token]).
//
// Use it from a test package like this:
//
//	func TestMain(m *testing.M) { influxtest.RunMain(m) }
//
//	func TestSomething(t *testing.T) {
//		ifx := influxtest.Get(t)
//		bucket := ifx.NewDatabase(t) // a fresh database of this test's own
//		client := influxdb2.NewClient(ifx.URL, influxtest.Token)
//		w := client.WriteAPIBlocking(influxtest.Org, bucket)
//		...
//	}
//
// The influxd binary is $INFLUXD if set, else the one cached by
// scripts/influxdb.sh (${INFLUX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jagadesa/influxdb}/v1.8.10/bin/influxd),
// else it is built by running `scripts/influxdb.sh install` from the module
// root (about a minute the first time). If no influxd can be had or it does
// not start, every test that calls [Get] fails: integration tests are never
// skipped.
package influxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// Org is the organisation the v2 API of InfluxDB 1.8 expects: "-".
	Org = "-"
	// Token is the token for the test server: empty, since auth is off.
	Token = ""
	// Version is the InfluxDB version the tests run against.
	Version = "v1.8.10"

	startTimeout   = 60 * time.Second // influxd answers /ping after ~3.5 s with Flux on
	stopTimeout    = 10 * time.Second // SIGTERM, then SIGKILL after this long
	installTimeout = 15 * time.Minute // building influxd: ~1 min warm, several cold
	startAttempts  = 3                // the free port may be taken between choosing and binding it
)

// errPortInUse: the port chosen for influxd is taken.
var errPortInUse = errors.New("port in use")

// Server is one running (or, between [Server.Stop] and [Server.Restart],
// stopped) influxd with its own data directory. Its methods are safe for
// concurrent use, but a test that stops or restarts it must not run in
// parallel with other tests that use it.
type Server struct {
	// URL is the HTTP API's base URL, http://127.0.0.1:PORT. It stays the
	// same across Stop and Restart.
	URL string

	bin     string // influxd
	dir     string // temp dir: config, log, meta, data, wal
	conf    string
	logPath string
	port    int
	dbSeq   atomic.Int64
	http    *http.Client
	data    string // more [data] settings, for a Private server

	mu   sync.Mutex
	proc *proc // nil while stopped
}

// proc is one influxd process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the exit status; read only after done is closed
}

// The package's server, set up by RunMain.
var (
	pkgMu      sync.Mutex
	pkgUsed    bool    // RunMain was called
	pkgServer  *Server // nil if it could not be started
	pkgStarted error   // why it could not be started
	pkgOnce    sync.Once
)

// RunMain gives the test package one influxd, runs its tests with m.Run,
// then stops influxd (SIGTERM, then SIGKILL after 10 s) and removes its
// data directory. It returns m.Run's exit code; calling it from TestMain with
// or without os.Exit both work, since the testing package exits with m.Run's
// code when TestMain returns.
//
// If influxd cannot be found, built or started, the first Get prints why
// (with the tail of influxd's log) to stderr, and every test that calls
// [Get] fails, so nothing is counted as skipped or passed.
//
// influxd starts at the first Get, so a run that needs none (a fuzzing
// worker, -run matching only tests without storage) starts none.
func RunMain(m *testing.M) int {
	pkgMu.Lock()
	if pkgUsed {
		pkgMu.Unlock()
		panic("influxtest: RunMain called twice")
	}
	pkgUsed = true
	pkgMu.Unlock()
	code := m.Run()
	pkgMu.Lock()
	s := pkgServer
	pkgMu.Unlock()
	if s != nil {
		s.shutdown()
	}
	return code
}

// startOnce starts the package's influxd the first time it is asked for.
func startOnce() {
	pkgOnce.Do(func() {
		t0 := time.Now()
		s, err := start()
		pkgMu.Lock()
		pkgServer, pkgStarted = s, err
		pkgMu.Unlock()
		if err != nil {
			fmt.Fprintf(os.Stderr, "influxtest: FAIL: %v\n", err)
			return
		}
		fmt.Fprintf(os.Stderr, "influxtest: influxd %s up at %s after %s (log %s)\n",
			Version, s.URL, time.Since(t0).Round(10*time.Millisecond), s.logPath)
	})
}

// Get returns the package's server started by [RunMain]. It fails the test
// at once if RunMain is not the package's TestMain, or if the server could
// not be started.
func Get(tb testing.TB) *Server {
	tb.Helper()
	pkgMu.Lock()
	used := pkgUsed
	pkgMu.Unlock()
	if used {
		startOnce()
	}
	pkgMu.Lock()
	used, s, err := pkgUsed, pkgServer, pkgStarted
	pkgMu.Unlock()
	switch {
	case !used:
		tb.Fatalf("influxtest.Get: no InfluxDB for this package: add\n\tfunc TestMain(m *testing.M) { influxtest.RunMain(m) }\nto one of its _test.go files")
	case err != nil:
		tb.Fatalf("influxtest.Get: InfluxDB could not be started for this package (details in the output above): %v", firstLine(err.Error()))
	}
	return s
}

// NewDatabase creates a database with a name unique to this call and
// returns its bucket, "name/autogen", so that the tests of one package never
// see each other's data. The database is not dropped: it goes with the data
// directory when RunMain ends.
func (s *Server) NewDatabase(tb testing.TB) (bucket string) {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", s.dbSeq.Add(1), sanitize(tb.Name(), 48))
	if err := s.query(`CREATE DATABASE "` + name + `"`); err != nil {
		tb.Fatalf("influxtest: create database %s: %v", name, err)
	}
	return name + "/autogen"
}

// Stop stops influxd (SIGTERM, then SIGKILL after 10 s) and keeps its data,
// so that a test can see how the code under test behaves while InfluxDB is
// down. Stopping a stopped server does nothing. If the server is still
// stopped when tb's test ends, it is restarted then, so that the package's
// other tests find it running.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	if err := s.stopLocked(); err != nil {
		tb.Fatalf("influxtest: stop: %v", err)
	}
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.proc != nil {
			return
		}
		if err := s.startLocked(); err != nil {
			tb.Errorf("influxtest: restarting influxd after %s: %v", tb.Name(), err)
		}
	})
}

// Restart stops influxd if it is running, starts it again on the same port
// with the same data, and waits (at most 60 s) until it answers /ping.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		if err := s.stopLocked(); err != nil {
			tb.Fatalf("influxtest: restart: %v", err)
		}
	}
	if err := s.startLocked(); err != nil {
		tb.Fatalf("influxtest: restart: %v", err)
	}
}

// Private starts an influxd of the test's own, with data (lines of the
// configuration's [data] section, e.g. "max-values-per-tag = 3") added,
// and stops it and removes its data when the test ends. It fails the test
// if influxd cannot be started.
func Private(tb testing.TB, data string) *Server {
	tb.Helper()
	s, err := startWith(data)
	if err != nil {
		tb.Fatalf("influxtest.Private: %v", err)
	}
	tb.Cleanup(s.shutdown)
	return s
}

// start finds influxd, writes its configuration in a new temp dir and starts
// it on a free loopback port.
func start() (*Server, error) { return startWith("") }

func startWith(data string) (*Server, error) {
	bin, err := locateInfluxd()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jagadesa-influxtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &Server{
		bin:     bin,
		dir:     dir,
		conf:    filepath.Join(dir, "influxdb.conf"),
		logPath: filepath.Join(dir, "influxd.log"),
		http:    &http.Client{Timeout: 10 * time.Second},
		data:    data,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			s.URL = "http://127.0.0.1:" + strconv.Itoa(s.port)
			if err = s.writeConfig(); err == nil {
				err = s.startLocked()
			}
		}
		if err == nil {
			return s, nil
		}
		// Someone else may have taken the port between freePort and influxd binding it.
		if attempt < startAttempts && (errors.Is(err, errPortInUse) || strings.Contains(err.Error(), "address already in use")) {
			continue
		}
		os.RemoveAll(dir)
		return nil, err
	}
}

// shutdown stops influxd for good and removes its data directory.
func (s *Server) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		if err := s.stopLocked(); err != nil {
			fmt.Fprintf(os.Stderr, "influxtest: %v\n", err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		fmt.Fprintf(os.Stderr, "influxtest: removing %s: %v\n", s.dir, err)
	}
}

func (s *Server) writeConfig() error {
	conf := fmt.Sprintf(`# generated by influxtest
reporting-disabled = true
# RPC/backup service: loopback, kernel-chosen port so parallel instances never clash
bind-address = "127.0.0.1:0"

[meta]
  dir = %[1]q

[data]
  dir = %[2]q
  wal-dir = %[3]q
  query-log-enabled = false
%[5]s
[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%[4]d"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
`, filepath.Join(s.dir, "meta"), filepath.Join(s.dir, "data"), filepath.Join(s.dir, "wal"), s.port, s.data)
	return os.WriteFile(s.conf, []byte(conf), 0o644)
}

// startLocked starts influxd and waits until it answers /ping. s.mu is held.
func (s *Server) startLocked() error {
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("influxd log: %w", err)
	}
	defer logf.Close() // the child has its own copy
	if s.ping() {
		return fmt.Errorf("something else already answers on %s; not starting influxd there: %w", s.URL, errPortInUse)
	}
	fmt.Fprintf(logf, "--- influxtest: %s: starting %s on %s\n", time.Now().Format(time.RFC3339Nano), s.bin, s.URL)

	cmd := exec.Command(s.bin, "-config", s.conf)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	setParentDeathSignal(cmd)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// With a parent-death signal the kernel kills the child when the OS
		// thread that started it exits, not the process. Locking this
		// goroutine to its thread and never unlocking it keeps that thread
		// alive exactly as long as influxd runs; it ends with the goroutine,
		// after influxd has exited.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}

	t0 := time.Now()
	deadline := t0.Add(startTimeout)
	for {
		if s.ping() {
			s.proc = p
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("influxd exited during start-up (%v)%s", p.err, s.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			killErr := terminate(p)
			return errors.Join(fmt.Errorf("influxd did not answer %s/ping within %s; stopped it%s", s.URL, startTimeout, s.logTail()), killErr)
		}
	}
}

// stopLocked stops the running influxd. s.mu is held.
func (s *Server) stopLocked() error {
	p := s.proc
	s.proc = nil
	return terminate(p)
}

// terminate sends SIGTERM, then SIGKILL after stopTimeout, and waits for the
// process to exit.
func terminate(p *proc) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	fmt.Fprintf(os.Stderr, "influxtest: influxd pid %d still running %s after SIGTERM; sending SIGKILL\n", p.cmd.Process.Pid, stopTimeout)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("influxd pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

func (s *Server) ping() bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(s.URL + "/ping")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// query runs one InfluxQL statement through POST /query.
func (s *Server) query(q string) error {
	resp, err := s.http.PostForm(s.URL+"/query", url.Values{"q": {q}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var r struct {
		Error   string `json:"error"`
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decoding %q: %w", body, err)
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return errors.New(res.Error)
		}
	}
	return nil
}

// logTail returns the last lines of influxd's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("\n(no influxd log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return fmt.Sprintf("\nlast lines of influxd's log:\n\t%s", strings.Join(lines, "\n\t"))
}

// locateInfluxd returns $INFLUXD, else the binary cached by
// scripts/influxdb.sh, else the one that `scripts/influxdb.sh install` builds.
func locateInfluxd() (string, error) {
	if p := os.Getenv("INFLUXD"); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("INFLUXD=%s: %w", p, err)
		}
		return p, nil
	}
	if cached, err := cachedPath(); err == nil && checkExecutable(cached) == nil {
		return cached, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("no influxd: INFLUXD is unset, none is cached, and scripts/influxdb.sh cannot be found to build one: %w", err)
	}
	script := filepath.Join(root, "scripts", "influxdb.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("no influxd: INFLUXD is unset, none is cached, and %v", err)
	}
	fmt.Fprintf(os.Stderr, "influxtest: no cached influxd; running %s install (about a minute the first time)\n", script)
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "install")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("no influxd: %s install failed: %w", script, err)
	}
	p := strings.TrimSpace(string(out))
	if err := checkExecutable(p); err != nil {
		return "", fmt.Errorf("no influxd: %s install printed %q: %w", script, p, err)
	}
	return p, nil
}

// cachedPath is where scripts/influxdb.sh installs influxd.
func cachedPath() (string, error) {
	dir := os.Getenv("INFLUX_CACHE_DIR")
	if dir == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			base = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(base, "jagadesa", "influxdb")
	}
	return filepath.Join(dir, Version, "bin", "influxd"), nil
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// moduleRoot walks up from the working directory to the first go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod in %s or above", wd)
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port. It can be taken again
// before influxd binds it; start retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sanitize keeps a test name usable inside a database name.
func sanitize(name string, max int) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
