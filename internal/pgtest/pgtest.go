// Package pgtest runs a real, throwaway PostgreSQL cluster for tests: its
// own data directory, loopback TCP on a free port, trust authentication,
// stopped when the test that started it ends. It is never a mock.
//
//	func TestSomething(t *testing.T) {
//		c := pgtest.Start(t)
//		url := c.NewDatabase(t) // a fresh database of this test's own
//		...
//	}
//
// The server binaries come from $PGBIN (scripts/test.sh sets it from
// scripts/postgres.sh install). Under CI ($CI set, e.g. CI=true) an unset
// PGBIN fails the test: a skipped integration test must never pass CI.
// Elsewhere the newest /usr/lib/postgresql/*/bin is used, and when there is
// none the test is skipped. PostgreSQL refuses to run as root, so a test
// running as root runs initdb and postgres as the "postgres" (else
// "nobody") user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	startTimeout  = 60 * time.Second
	stopTimeout   = 15 * time.Second
	queryTimeout  = 10 * time.Second
	startAttempts = 3 // the free port may be taken between choosing and binding it
)

// Cluster is one running postgres with its own data directory.
type Cluster struct {
	// URL is the connection string of the cluster's "postgres" database,
	// as the superuser "postgres".
	URL string

	bin  string
	dir  string // data directory, socket and log live under it
	port int
	cred *syscall.Credential // nil: run as ourselves
	// settings override the defaults, as -c name=value
	settings []string
	cmd      *exec.Cmd
	done     chan struct{} // closed when postgres exited
	seq      atomic.Int64
	mu       sync.Mutex
}

// inCI reports whether the tests run under CI, where nothing may be
// skipped for want of PostgreSQL.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

func installed() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start starts a cluster for t and stops it (and removes its files) when t
// ends. Settings ("name=value") are passed to postgres after the
// defaults, which they override (e.g. "fsync=on" for a measurement).
func Start(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	bin := os.Getenv("PGBIN")
	switch {
	case bin == "" && inCI():
		t.Fatal("pgtest: PGBIN is not set; under CI the PostgreSQL tests must run, not skip (scripts/test.sh sets PGBIN from scripts/postgres.sh install)")
	case bin == "":
		if bin = installed(); bin == "" {
			t.Skip("pgtest: no PostgreSQL server binaries (set PGBIN, or run scripts/postgres.sh install)")
		}
	}
	c, err := start(bin, settings)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

func start(bin string, settings []string) (*Cluster, error) {
	c := &Cluster{bin: bin, settings: settings}
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	// Not t.TempDir: its parents are root's 0700 directories the
	// unprivileged user could not enter.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		err = c.run()
		if err == nil {
			return c, nil
		}
		if attempt == startAttempts || !strings.Contains(err.Error(), "in use") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// unprivileged picks the user postgres runs as when we are root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists to run PostgreSQL as")
}

// run starts postgres on a free port and waits until it accepts
// connections. postgres is our child (not daemonised by pg_ctl), so the
// kernel kills it if the test binary dies without stopping it.
func (c *Cluster) run() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(c.dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", filepath.Join(c.dir, "data"),
		"-p", strconv.Itoa(c.port), "-k", c.dir, "-c", "listen_addresses=127.0.0.1",
		// Throwaway data: no fsync, and room for the contract suite's
		// many pools.
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
	for _, s := range c.settings {
		cmd.Args = append(cmd.Args, "-c", s)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	// The parent-death signal is sent when the *thread* that started the
	// child exits, not the process. Started from any goroutine, postgres
	// was killed whenever that runtime thread happened to end — as it does
	// when a goroutine locked to it returns (the e2e tests' child
	// processes do that when they exit): a replica test then lost its
	// database mid-run. Start it from a thread of its own that lives until
	// postgres exits.
	c.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with postgres
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL)
		if err == nil {
			// Ours, not another test's cluster that took the port first.
			var dir string
			err = conn.QueryRow(ctx, `SHOW data_directory`).Scan(&dir)
			conn.Close(context.Background())
			if err == nil && dir != filepath.Join(c.dir, "data") {
				err = fmt.Errorf("port %d answered by another cluster (%s)", c.port, dir)
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			if strings.Contains(string(log), "already in use") {
				return fmt.Errorf("postgres: port %d in use", c.port)
			}
			return fmt.Errorf("postgres exited during start-up:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			return fmt.Errorf("postgres did not accept connections within %s: %v", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewDatabase creates an empty database for t (dropped when t ends) and
// returns its connection string.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", c.seq.Add(1))
	if err := c.exec(`CREATE DATABASE ` + name); err != nil { // an identifier: no parameter possible; name is ours
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return strings.Replace(c.URL, "/postgres?", "/"+name+"?", 1)
}

func (c *Cluster) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts postgres down (fast shutdown, then SIGKILL after a while) and
// removes its files.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: abort sessions, checkpoint, exit
	var err error
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		c.cmd.Process.Kill()
		<-c.done
		err = fmt.Errorf("postgres did not stop within %s; killed", stopTimeout)
	}
	c.cmd = nil
	os.RemoveAll(c.dir)
	return err
}
