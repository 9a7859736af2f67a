//go:build !linux

package evidence

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

func syncWritten(dir string, _ *os.File, written map[string]bool) error {
	return syncEach(dir, written)
}
