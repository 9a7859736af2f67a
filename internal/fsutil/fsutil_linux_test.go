package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteFileAtomicWriteFails makes the kernel refuse the write itself
// (a file size limit: EFBIG, as on a full disk the write fails part way)
// and checks that the old file is whole and nothing is left over.
func TestWriteFileAtomicWriteFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "threatfeed.json")
	old := []byte("the old feed\n")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	small := lim
	small.Cur = 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Fatal(err)
	}
	// The Go runtime ignores SIGXFSZ, so the write returns EFBIG.
	err := WriteFileAtomic(path, []byte(strings.Repeat("new feed ", 1000)), 0o600)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("got %v, want EFBIG", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(old) {
		t.Errorf("old file now %q, %v", got, err)
	}
	noTemp(t, path)
}
