package probe

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// The probe's identity for tamper-evident reports: an Ed25519 key pair made
// the first time the probe is set up, kept in a PEM file (PKCS #8, mode
// 0600) that OpenSSL reads too, and a stream id naming its run of record
// numbers. Both are written so that a power cut leaves the old file or the
// new one, never a torn one.

// LoadOrCreateKey reads the private key at path, or makes one and writes it
// there when the file does not exist. created says which.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err = parsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("probe key %s: %w (move it away to make a new key; the server must then reset the probe's key)", path, err)
		}
		return key, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, fmt.Errorf("probe key: %w", err)
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der := append(append([]byte(nil), pkcs8Ed25519Prefix...), key.Seed()...)
	if err := fsutil.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, false, fmt.Errorf("probe key: write %s: %w", path, err)
	}
	return key, true, nil
}

// pkcs8Ed25519Prefix is the fixed DER of an Ed25519 PrivateKeyInfo (RFC
// 8410 section 7) before its 32-byte seed: version 0, algorithm id-Ed25519
// (1.3.101.112), and the seed as an OCTET STRING inside the privateKey
// OCTET STRING. Writing it by hand keeps crypto/x509's PKCS #8 code, which
// handles every key type, out of the router binary.
var pkcs8Ed25519Prefix = []byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20}

func parsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY block")
	}
	if len(blk.Bytes) != len(pkcs8Ed25519Prefix)+ed25519.SeedSize || !bytes.HasPrefix(blk.Bytes, pkcs8Ed25519Prefix) {
		return nil, fmt.Errorf("not an Ed25519 PKCS #8 key (%d bytes of DER)", len(blk.Bytes))
	}
	return ed25519.NewKeyFromSeed(blk.Bytes[len(pkcs8Ed25519Prefix):]), nil
}

// LoadOrCreateStream reads the stream id at path, or starts a new stream.
func LoadOrCreateStream(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" && len(id) <= 64 {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("stream id: %w", err)
	}
	return NewStream(path)
}

// NewStream starts a new stream of record numbers and records its id at
// path. The probe does so when its spool was wiped and its numbers went
// back: the server, which refuses numbers it has already accepted on a
// stream, then takes them as new.
func NewStream(path string) (string, error) {
	id := streamID()
	if err := fsutil.WriteFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("stream id: write %s: %w", path, err)
	}
	return id, nil
}

// streamID is a new random stream id.
func streamID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "s-" + hex.EncodeToString(b[:])
}
