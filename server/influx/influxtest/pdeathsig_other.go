//go:build !linux

package influxtest

import "os/exec"

// setParentDeathSignal does nothing outside Linux: there an influxd whose
// test binary crashed must be stopped by hand.
func setParentDeathSignal(cmd *exec.Cmd) {}
