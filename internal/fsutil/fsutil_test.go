package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// recordSyncs replaces syncFile for one test with one that records the
// name of every file and directory synced, and fails for the names in fail.
func recordSyncs(t *testing.T, fail ...string) *[]string {
	t.Helper()
	var synced []string
	orig := syncFile
	syncFile = func(f *os.File) error {
		synced = append(synced, f.Name())
		if slices.Contains(fail, f.Name()) {
			return errors.New("injected fsync failure")
		}
		return orig(f)
	}
	t.Cleanup(func() { syncFile = orig })
	return &synced
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// wantMode is the mode os.WriteFile gives a new file with perm in dir,
// the umask applied.
func wantMode(t *testing.T, dir string, perm fs.FileMode) fs.FileMode {
	t.Helper()
	ref := filepath.Join(dir, "reference")
	if err := os.WriteFile(ref, nil, perm); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(ref)
	return mode(t, ref)
}

func noTemp(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path + TempSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  []byte      // nil: no file before
		mode fs.FileMode // the old file's mode
		perm fs.FileMode
	}{
		{"new private", nil, 0, 0o600},
		{"new public", nil, 0, 0o644},
		{"replaces", []byte("old content, longer than the new"), 0o600, 0o600},
		{"tightens a world-readable file", []byte("old"), 0o644, 0o600},
		{"loosens", []byte("old"), 0o600, 0o644},
		{"empty data", []byte("old"), 0o600, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			data := []byte(`{"v":1}`)
			if tc.name == "empty data" {
				data = []byte{}
			}
			synced := recordSyncs(t)
			if err := WriteFileAtomic(path, data, tc.perm); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != string(data) {
				t.Fatalf("content %q, %v; want %q", got, err, data)
			}
			if got, want := mode(t, path), wantMode(t, dir, tc.perm); got != want {
				t.Errorf("mode %v, want %v", got, want)
			}
			// The data is synced before the rename, the directory after it.
			if want := []string{path + TempSuffix, dir}; !slices.Equal(*synced, want) {
				t.Errorf("synced %q, want %q", *synced, want)
			}
			noTemp(t, path)
		})
	}
}

// TestWriteFileAtomicFailureKeepsOld: whatever fails, the old file is
// whole and no temporary file remains.
func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	old := []byte("the old key\n")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	recordSyncs(t, path+TempSuffix)
	err := WriteFileAtomic(path, []byte("the new key, never synced\n"), 0o600)
	if err == nil || err.Error() != "injected fsync failure" {
		t.Fatalf("got %v, want the fsync failure", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(old) {
		t.Errorf("old file now %q, %v", got, err)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("old file's mode now %v", got)
	}
	noTemp(t, path)
}

func TestWriteFileAtomicRenameFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := os.Mkdir(path, 0o755); err != nil { // a directory cannot be replaced by a file
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("x"), 0o600); err == nil {
		t.Fatal("a directory was replaced")
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("directory gone: %v", err)
	}
	noTemp(t, path)
}

func TestWriteFileAtomicNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state")
	if err := WriteFileAtomic(path, []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want ErrNotExist", err)
	}
}

// TestWriteFileAtomicLeftover: a temporary file left by a crash, with a
// loose mode, is replaced; one that is a symlink is removed, never written
// through, so a private key cannot be sent to where the link points.
func TestWriteFileAtomicLeftover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")

	if err := os.WriteFile(path+TempSuffix, []byte("torn half of an earlier write, much longer than the new content"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+TempSuffix, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "secret" {
		t.Fatalf("content %q, %v", got, err)
	}
	if got, want := mode(t, path), wantMode(t, dir, 0o600); got != want {
		t.Errorf("mode %v, want %v (the leftover's mode must not carry over)", got, want)
	}
	noTemp(t, path)

	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("not yours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path+TempSuffix); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("secret 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(victim); err != nil || string(got) != "not yours" {
		t.Errorf("written through the link: victim now %q, %v", got, err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "secret 2" {
		t.Errorf("content %q, %v", got, err)
	}
	if mode(t, path)&fs.ModeSymlink != 0 {
		t.Error("path is now a symlink")
	}
	noTemp(t, path)
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
	recordSyncs(t, dir)
	if err := SyncDir(dir); err == nil {
		t.Fatal("fsync failure not reported")
	}
}

func TestMkdirAllDurable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "c")
	synced := recordSyncs(t)
	if err := MkdirAllDurable(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("not created: %v", err)
	}
	ref := filepath.Join(root, "ref")
	if err := os.Mkdir(ref, 0o750); err != nil {
		t.Fatal(err)
	}
	if got, want := mode(t, dir), mode(t, ref); got != want {
		t.Errorf("mode %v, want %v", got, want)
	}
	// Every directory that gained an entry is synced, the one that existed
	// included.
	want := []string{filepath.Join(root, "a", "b"), filepath.Join(root, "a"), root}
	if !slices.Equal(*synced, want) {
		t.Errorf("synced %q, want %q", *synced, want)
	}

	*synced = nil
	if err := MkdirAllDurable(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if len(*synced) != 0 {
		t.Errorf("an existing directory synced %q", *synced)
	}

	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAllDurable(file, 0o750); err == nil {
		t.Error("a file taken for a directory")
	}
	if err := MkdirAllDurable(filepath.Join(file, "sub"), 0o750); err == nil {
		t.Error("a directory made under a file")
	}
}

func TestRemoveDurable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "running")
	if err := os.WriteFile(path, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	synced := recordSyncs(t)
	if err := RemoveDurable(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
	if err := RemoveDurable(path); err != nil {
		t.Fatalf("a missing file: %v", err)
	}
	if want := []string{dir, dir}; !slices.Equal(*synced, want) {
		t.Errorf("synced %q, want %q", *synced, want)
	}
}
