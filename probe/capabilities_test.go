package probe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

// A site whose collectors cannot see everything says what it cannot see,
// and its warning comes once, not every round.
func TestSecurityCannotOnce(t *testing.T) {
	root := t.TempDir() // no /proc/net/tcp, no logs, no config files
	c := &SecurityCollector{Root: root, StateFile: filepath.Join(t.TempDir(), "security.json")}
	_, err := c.Collect()
	if err == nil || !strings.Contains(err.Error(), "listening_ports") {
		t.Fatalf("first round: %v", err)
	}
	if _, err := c.Collect(); err != nil {
		t.Errorf("the same failure warned again: %v", err)
	}
	if !slices.Contains(c.Cannot(), "listening_ports") {
		t.Errorf("cannot %v", c.Cannot())
	}
	// The file appears: the collector runs, and is no longer listed.
	os.MkdirAll(filepath.Join(root, "proc/net"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/net/tcp"), []byte("  sl  local_address rem_address   st\n"), 0o644)
	c.Collect()
	if slices.Contains(c.Cannot(), "listening_ports") {
		t.Errorf("still listed after the file appeared: %v", c.Cannot())
	}
}

func TestDetectMode(t *testing.T) {
	if m := DetectMode("testdata/usage/router"); m != jagadesa.ModeRouter {
		t.Errorf("a root with dnsmasq's leases: %s", m)
	}
	if m := DetectMode(t.TempDir()); m != jagadesa.ModeAppliance {
		t.Errorf("an empty root: %s", m)
	}
	if err := (&Config{Mode: "satellite"}).Validate(); err == nil || !strings.Contains(err.Error(), "--mode") {
		t.Errorf("bad mode: %v", err)
	}
}
