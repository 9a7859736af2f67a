package probe

import (
	"errors"
	"testing"
	"time"
)

// The usage of a router, from real OpenWrt file formats: leases still
// valid (each MAC once, infinite ones too, expired ones not), and the
// default route's interface counters.
func TestUsageCollector(t *testing.T) {
	u := &UsageCollector{Root: "testdata/usage/router"}
	got, err := u.Collect(time.Unix(1765150000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got.ActiveDevices != 3 || got.Interface != "pppoe-wan" || got.WANRxBytes != 52438102843 || got.WANTxBytes != 7340032000 {
		t.Errorf("usage %+v", got)
	}
	// An hour later the first lease expired.
	if got, _ := u.Collect(time.Unix(1765161000, 0)); got.ActiveDevices != 2 {
		t.Errorf("after the first lease expired: %d devices", got.ActiveDevices)
	}
	u.WAN = "br-lan"
	if got, _ := u.Collect(time.Unix(1765150000, 0)); got.WANRxBytes != 9876543210 {
		t.Errorf("named WAN: %+v", got)
	}
	u.WAN = "eth9"
	if _, err := u.Collect(time.Unix(1765150000, 0)); err == nil {
		t.Error("an unknown interface gave counters")
	}
	// Not the router that hands out addresses: said so, not zero.
	if _, err := (&UsageCollector{Root: t.TempDir()}).Collect(time.Now()); !errors.Is(err, ErrUsageNotVisible) {
		t.Errorf("no lease file: %v", err)
	}
}
