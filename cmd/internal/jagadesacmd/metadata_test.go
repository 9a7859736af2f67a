package jagadesacmd

import (
	"strings"
	"testing"
)

func TestMetadataURL(t *testing.T) {
	if got := metadataURL("", "/var/lib/jagadesa"); got != "sqlite:///var/lib/jagadesa/jagadesa.db" {
		t.Fatalf("default %s", got)
	}
	for _, ok := range []string{"", "sqlite:///srv/j.db", "postgres://j:pw@db/jagadesa", "postgresql://db/jagadesa?sslmode=require"} {
		if err := checkMetadataURL(ok); err != nil {
			t.Fatalf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"sqlite://", "mysql://j:secret@db/j", "/var/lib/jagadesa/jagadesa.db"} {
		err := checkMetadataURL(bad)
		if err == nil {
			t.Fatalf("%q taken", bad)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
	if got := redactURL("postgres://jagadesa:hunter2@db:5432/jagadesa"); got != "postgres://jagadesa:xxxxx@db:5432/jagadesa" {
		t.Fatalf("redacted %s", got)
	}
	if !isPostgres("postgresql://db/j") || isPostgres("sqlite:///x") {
		t.Fatal("isPostgres")
	}
}

func TestDebugListenLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:6060", "[::1]:6060", "localhost:6060"} {
		if err := checkDebugListen(ok); err != nil {
			t.Fatalf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.5:6060", "example.org:6060", "6060"} {
		if err := checkDebugListen(bad); err == nil {
			t.Fatalf("%q taken", bad)
		}
	}
}
