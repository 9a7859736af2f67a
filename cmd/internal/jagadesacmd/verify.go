package jagadesacmd

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// verify checks stored batches against their probes' public keys: that
// each is, byte for byte, what the probe signed. docs/evidence.md shows it
// in use, and how to check the same with OpenSSL alone.
func verify(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := envflag.Getenv(getenv)
	fs := flag.NewFlagSet("jagadesa verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", env.String("JAGADESA_DATA_DIR", "./data"), "the server's data directory: its probe keys, and its evidence/ files when no FILE is named (env JAGADESA_DATA_DIR)")
	evidenceDir := fs.String("evidence-dir", env.String("JAGADESA_EVIDENCE_DIR", ""), "the evidence archive, a server's or the volume replicas share (env JAGADESA_EVIDENCE_DIR; default <data-dir>/evidence)")
	keyArg := fs.String("key", "", "check every record against this public key (base64, or a PEM file) instead of the keys the server registered")
	extract := fs.String("extract", "", "also write each batch's body (.json), signature (.sig, raw bytes) and the probe's public key (.pem) into this `dir`, for OpenSSL")
	verbose := fs.Bool("v", false, "print every batch, not only failures")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jagadesa verify [flags] [FILE.jsonl.gz ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		dir := *evidenceDir
		if dir == "" {
			dir = filepath.Join(*dataDir, "evidence")
		}
		var err error
		if files, err = (&evidence.Archive{Dir: dir}).Files(""); err != nil {
			return err
		}
		if len(files) == 0 { // replicas' directories on a shared volume?
			if files, err = (&evidence.Archive{Shared: dir}).Files(""); err != nil {
				return err
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("no evidence files under %s", dir)
		}
	}
	var fixed ed25519.PublicKey
	var keyOf func(probe string) (ed25519.PublicKey, bool)
	if *keyArg != "" {
		text := *keyArg
		if b, err := os.ReadFile(text); err == nil {
			text = string(b)
		}
		var err error
		if fixed, err = jagadesa.ParsePublicKey(text); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		keyOf = func(string) (ed25519.PublicKey, bool) { return fixed, true }
	} else {
		if _, err := os.Stat(filepath.Join(*dataDir, "jagadesa.db")); err != nil {
			return fmt.Errorf("no key database in --data-dir %s (or give --key): %w", *dataDir, err)
		}
		db, err := sqlite.Open(*dataDir)
		if err != nil {
			return err
		}
		defer db.Close()
		keyOf = func(probe string) (ed25519.PublicKey, bool) {
			k, ok := db.ProbeKey(probe)
			return k.PublicKey, ok
		}
	}
	if *extract != "" {
		if err := os.MkdirAll(*extract, 0o755); err != nil {
			return err
		}
	}
	var good, bad int
	for _, f := range files {
		err := evidence.ReadFile(f, func(r *evidence.Record) error {
			pub, ok := keyOf(r.Probe)
			verr := errors.New("no public key known for probe " + r.Probe)
			if ok {
				verr = r.Verify(pub)
			}
			if verr != nil {
				bad++
				fmt.Fprintf(stdout, "FAIL %s %s %s records %d-%d: %v\n", f, r.Received.Format("2006-01-02T15:04:05Z"), r.Probe, r.FirstSeq, r.LastSeq, verr)
			} else {
				good++
				if *verbose {
					fmt.Fprintf(stdout, "ok   %s %s %s records %d-%d key %s\n", f, r.Received.Format("2006-01-02T15:04:05Z"), r.Probe, r.FirstSeq, r.LastSeq, r.KeyID)
				}
			}
			if *extract != "" {
				return extractRecord(*extract, r, pub)
			}
			return nil
		})
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "FAIL %s: %v\n", f, err)
		}
	}
	fmt.Fprintf(stdout, "%d batches verified, %d failed, in %d files\n", good, bad, len(files))
	if bad > 0 {
		return fmt.Errorf("%d batches failed verification", bad)
	}
	return nil
}

func extractRecord(dir string, r *evidence.Record, pub ed25519.PublicKey) error {
	base := filepath.Join(dir, fmt.Sprintf("%s_%s_%d-%d", r.Probe, r.Stream, r.FirstSeq, r.LastSeq))
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil {
		return fmt.Errorf("record %s: signature: %w", base, err)
	}
	if err := os.WriteFile(base+".json", r.Body, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".sig", sig, 0o644); err != nil {
		return err
	}
	if pub != nil {
		return os.WriteFile(filepath.Join(dir, r.Probe+".pem"), []byte(jagadesa.PublicKeyPEM(pub)), 0o644)
	}
	return nil
}
