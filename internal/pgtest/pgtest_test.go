package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestClusterServesDatabases(t *testing.T) {
	c := Start(t)
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var user string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT current_user, usesuper FROM pg_user WHERE usename = current_user`).Scan(&user, &super); err != nil {
		t.Fatal(err)
	}
	if user != "postgres" || !super {
		t.Errorf("connected as %q (superuser %v), want the superuser postgres", user, super)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE x(v int)`); err != nil {
		t.Fatal(err)
	}
}

func TestStopEndsServer(t *testing.T) {
	c := Start(t)
	url := c.URL
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("the cluster still accepts connections after Stop")
	}
}

func TestSettingsOverrideDefaults(t *testing.T) {
	c := Start(t, "fsync=on")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var fsync string
	if err := conn.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" {
		t.Fatalf("fsync = %s, want on", fsync)
	}
}

// Under CI, a missing PGBIN fails the test instead of skipping it. The
// test runs itself in a child process with PGBIN unset and CI=true.
func TestMissingPGBINFailsUnderCI(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		Start(t)
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"true", true}, {"false", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPGBINFailsUnderCI$", "-test.v")
		cmd.Env = append(withoutVar(os.Environ(), "PGBIN", "CI"), "PGTEST_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != tc.wantFail {
			t.Errorf("CI=%s: failed=%v, want %v:\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if tc.wantFail && !strings.Contains(string(out), "PGBIN is not set") {
			t.Errorf("CI=%s: the failure does not say why:\n%s", tc.ci, out)
		}
	}
}

func withoutVar(env []string, names ...string) []string {
	var out []string
	for _, e := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(e, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}
