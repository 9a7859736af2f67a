package federation

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// LoadOrCreateKey reads a province's Ed25519 private key (PEM PKCS #8, as
// the probes keep theirs and OpenSSL reads it), or makes one if the file
// does not exist: mode 0600, written to a temporary name, synced, renamed
// and the directory synced, so a power cut leaves no torn key.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := fsutil.MkdirAllDurable(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("federation key: %w", err)
		}
		if err := fsutil.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("federation key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("federation key %s: not a PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("federation key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("federation key %s: %T, want Ed25519", path, k)
	}
	return priv, nil
}
