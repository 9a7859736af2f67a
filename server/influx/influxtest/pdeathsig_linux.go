package influxtest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill influxd if the test binary dies
// without stopping it (a panic, a -timeout, SIGKILL), so no influxd outlives
// its tests.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
