package probe

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDefaultTargets(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/net"), 0o755)
	// A real /proc/net/route from an OpenWrt router (little-endian MIPS):
	// default route via 192.168.1.1 on the WAN.
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"br-lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"wan\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	os.WriteFile(filepath.Join(root, "proc/net/route"), []byte(route), 0o644)
	got := DefaultTargets(root, "https://jagadesa.jatengprov.go.id:8443")
	want := []string{"192.168.1.1", "jatengprov.go.id", "jagadesa.jatengprov.go.id"}
	if !slices.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	if gw, iface := defaultRoute(root); gw != "192.168.1.1" || iface != "wan" {
		t.Fatalf("default route %s via %s", gw, iface)
	}
	// No route file (or no default route): no gateway, the rest stays.
	if got := DefaultTargets(t.TempDir(), "http://10.0.0.1"); !slices.Equal(got, []string{"jatengprov.go.id", "10.0.0.1"}) {
		t.Fatalf("without routes: %v", got)
	}
}
