package probe

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// Credentials after enrollment: the probe enrolls itself with a code a
// technician types, and picks up a new token when staff rotate it, with
// no site visit. A token is written so that a power cut leaves the old
// file or the new one, never a torn one.

// TokenSaver keeps the probe's token where the next start finds it.
type TokenSaver interface {
	SaveToken(token string) error
}

// TokenFile keeps the token alone in a root-only file (the probe's
// --token-file / UCI token_file): a rotation replaces the file.
type TokenFile string

func (f TokenFile) SaveToken(token string) error {
	return fsutil.WriteFileAtomic(string(f), []byte(token+"\n"), 0o600)
}

// RotatedToken keeps a rotated token for a probe whose token was given
// inline (--token, JAGADESA_TOKEN, UCI token), which the probe cannot
// rewrite: the file names the configured token it replaces (by hash), so
// a token configured anew later (a re-enrollment) wins over it.
type RotatedToken struct {
	Path       string
	Configured string // the token as configured
}

type rotatedFile struct {
	Replaces string `json:"replaces"` // hex SHA-256 of the configured token
	Token    string `json:"token"`
}

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func (r RotatedToken) SaveToken(token string) error {
	b, _ := json.Marshal(rotatedFile{Replaces: tokenHash(r.Configured), Token: token})
	return fsutil.WriteFileAtomic(r.Path, b, 0o600)
}

// Load returns the rotated token when the file holds one for the
// configured token.
func (r RotatedToken) Load() (string, bool, error) {
	b, err := os.ReadFile(r.Path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var f rotatedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return "", false, fmt.Errorf("rotated token %s: %w", r.Path, err)
	}
	if f.Token == "" || f.Replaces != tokenHash(r.Configured) {
		return "", false, nil
	}
	return f.Token, true, nil
}

// FetchToken asks the server for the probe's next token
// (POST /api/v1/probes/token) with the current one, signing the request
// with the probe's key.
func FetchToken(ctx context.Context, client Doer, server, token, village string, key ed25519.PrivateKey, now time.Time) (string, error) {
	body, _ := json.Marshal(jagadesa.TokenRequest{Village: village, Purpose: jagadesa.TokenPurpose, At: now.UTC()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/api/v1/probes/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(key, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("new token: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var r jagadesa.TokenResponse
	if err := json.Unmarshal(b, &r); err != nil || r.Token == "" {
		return "", fmt.Errorf("new token: unreadable answer")
	}
	return r.Token, nil
}

// Enroll enrolls this router with a code a technician typed
// (POST /api/v1/enroll): the answer holds the probe's token, and its key
// is bound on the server in the same step.
func Enroll(ctx context.Context, client *http.Client, server, code, village string, key ed25519.PrivateKey) (jagadesa.Enrolled, error) {
	body, _ := json.Marshal(jagadesa.EnrollWithCode{Code: code, PublicKey: jagadesa.FormatPublicKey(key.Public().(ed25519.PublicKey)), Village: village})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/api/v1/enroll", bytes.NewReader(body))
	if err != nil {
		return jagadesa.Enrolled{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := doVia(client, req)
	if err != nil {
		return jagadesa.Enrolled{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return jagadesa.Enrolled{}, fmt.Errorf("enrollment refused (%s): %s", resp.Status, e.Error)
		}
		return jagadesa.Enrolled{}, fmt.Errorf("enrollment refused: %s", resp.Status)
	}
	var r jagadesa.Enrolled
	if err := json.Unmarshal(b, &r); err != nil || r.Token == "" {
		return jagadesa.Enrolled{}, fmt.Errorf("enrollment: unreadable answer")
	}
	return r, nil
}
