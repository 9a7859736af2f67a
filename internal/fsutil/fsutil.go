// Package fsutil writes files so that a power cut leaves the old version or
// the new one, never a torn or missing one: the one home for the fsync and
// rename steps the probe's state files, its spool and the server's evidence
// archive depend on. It imports only the standard library, so both
// binaries may use it.
//
// On Linux a file's data is not on disk until the file is synced, and a
// name created, renamed or removed is not on disk until its directory is
// synced; every function here does both before it returns.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// TempSuffix ends the name WriteFileAtomic writes before its rename:
// path+TempSuffix. A file by that name is left only by a crash during a
// write and is never valid; the next write to path replaces it, and a
// reader that scans a directory may delete it.
const TempSuffix = ".tmp"

// syncFile is (*os.File).Sync; tests replace it to make a write fail late.
var syncFile = (*os.File).Sync

// WriteFileAtomic replaces path with data so that after a crash or power
// cut it holds either the old content or data, never a mix: data goes to
// path+TempSuffix, which is synced, closed and renamed over path, and then
// the directory is synced. perm applies before the umask, as with
// os.WriteFile; the new file always gets it, whatever the old file's mode
// was.
//
// On error path is as it was, and the temporary file is removed. A
// temporary file left by a crash is replaced, never written through: if it
// is a symlink, the link is removed, not followed. At most one writer may
// write a path at a time.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + TempSuffix
	// O_EXCL: a fresh file, with perm, even when a crash left one behind
	// with another mode or as a symlink to somewhere else.
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := os.OpenFile(tmp, flags, perm)
	if errors.Is(err, fs.ErrExist) {
		if err := os.Remove(tmp); err != nil {
			return err
		}
		f, err = os.OpenFile(tmp, flags, perm)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the creations, renames and removals of names in dir
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = syncFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAllDurable is os.MkdirAll that also syncs the parent of every
// directory it creates: a file synced into a directory whose own name was
// never made durable is lost with that name. It does nothing more than a
// Stat when dir exists.
func MkdirAllDurable(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil {
			if d == dir && !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
			}
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, d := range created {
		if err := SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// RemoveDurable removes the file path, if there is one, and syncs its
// directory so that the removal survives a power cut.
func RemoveDurable(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
