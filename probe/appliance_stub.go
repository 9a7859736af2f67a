//go:build mips || mipsle

package probe

import (
	"time"

	"github.com/jagadesa/jagadesa"
)

// The MIPS builds are for OpenWrt routers, which run in router mode: the
// appliance checks (appliance.go) are left out of them to keep the binary
// within the routers' flash budget (cmd/jagadesa-probe/size_test.go). A
// MIPS probe told --mode appliance says in its heartbeat that it cannot
// run them.

// ApplianceWatcher is not in the MIPS builds.
type ApplianceWatcher struct{}

type applianceRun struct{}

func (p *Probe) collectAppliance(time.Time) {
	if p.mode == jagadesa.ModeAppliance && p.security != nil {
		p.cannot["gateway_services"], p.cannot["rogue_dhcp"], p.cannot["gateway_uptime"] = true, true, true
	}
}
