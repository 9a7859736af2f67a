package evidence

import (
	"os"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// syncWritten makes the files written under a journal durable: one
// syncfs(2) of the archive's filesystem instead of an fsync per village
// file (tens of thousands a checkpoint at national scale). Linux 5.8 and
// later report writeback errors through it; should it fail, each file is
// synced on its own.
func syncWritten(dir string, any *os.File, written map[string]bool) error {
	if err := unix.Syncfs(int(any.Fd())); err == nil {
		return nil
	}
	return syncEach(dir, written)
}
