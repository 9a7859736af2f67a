package jagadesa

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tamper-evident reports. Every probe holds an Ed25519 key pair made when it
// is first set up; it signs the exact JSON bytes of each batch it posts (the
// body before gzip), and sends the signature in SignatureHeader. The server
// verifies it with the public key registered for the probe, keeps the bytes
// and the signature, and refuses a batch it has already accepted (a replay),
// so a stored measurement can later be shown, to anyone holding the public
// key, to be exactly what the village's probe sent. docs/evidence.md tells
// how to check one.
const (
	// SignatureHeader carries the standard base64 of the Ed25519 signature
	// over the decompressed request body.
	SignatureHeader = "X-JagaDesa-Signature"
	// MaxSeqHeader, on a 409 answer to a replayed batch, is the highest
	// record number of the probe's stream the server already holds.
	MaxSeqHeader = "X-JagaDesa-Max-Seq"
)

// SignReport signs a report body.
func SignReport(key ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, body))
}

// VerifyReport checks a report body against its signature.
func VerifyReport(pub ed25519.PublicKey, body []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature has %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, body, sig) {
		return errors.New("signature does not match the body and the probe's key")
	}
	return nil
}

// FormatPublicKey is the text form of a public key used on the wire and in
// files: standard base64 of its 32 bytes.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a public key as FormatPublicKey writes it, or as a
// PEM "PUBLIC KEY" block (what `openssl pkey -pubout` writes).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, errors.New("public key: not a PEM PUBLIC KEY block")
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: %T, want Ed25519", k)
		}
		return pub, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key is not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key has %d bytes, want %d (Ed25519)", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// PublicKeyPEM is the key as a PEM "PUBLIC KEY" block, for OpenSSL.
func PublicKeyPEM(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // only for a key of the wrong length
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// KeyID is a short fingerprint of a public key for logs and pages: the
// first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ProbeKey is a probe's registered public key.
type ProbeKey struct {
	Probe        string            `json:"probe"`
	PublicKey    ed25519.PublicKey `json:"-"`
	RegisteredAt time.Time         `json:"registered_at"`
	RegisteredBy string            `json:"registered_by"` // "probe" (on first use) or "admin"
}
