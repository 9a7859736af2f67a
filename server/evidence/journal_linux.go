package evidence

import (
	"errors"
	"os"
	"path/filepath"

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

// lockDir takes an exclusive, non-blocking flock(2) on dir/.lock, held
// until the file is closed or the process ends (a crash releases it).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return f, nil
}
