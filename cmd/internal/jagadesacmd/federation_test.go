package jagadesacmd

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFederationFlags(t *testing.T) {
	for _, c := range []struct {
		cfg  federationConfig
		want string
	}{
		{federationConfig{}, ""},
		{federationConfig{To: "https://nasional.example"}, ""},
		{federationConfig{To: "ftp://nasional.example"}, "https://"},
		{federationConfig{ShareEvidence: true}, "need --federate-to"},
		{federationConfig{To: "https://n.example", Province: "Jateng"}, "two-digit"},
	} {
		err := c.cfg.validate()
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	both, err := loadRegistry(dir, "jateng,jambi", log)
	if err != nil {
		t.Fatal(err)
	}
	// A server of two provinces must say which one it forwards as.
	if _, err := openFederation(&federationConfig{To: "https://n.example"}, dir, both, log); err == nil || !strings.Contains(err.Error(), "--federation-province") {
		t.Fatalf("two provinces without --federation-province: %v", err)
	}
	f, err := openFederation(&federationConfig{To: "https://n.example", Province: "15"}, dir, both, log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	fi, err := os.Stat(filepath.Join(dir, "federation.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the default key file: %v, %v; want it made with mode 0600", fi, err)
	}
	if f.nationalView() != nil {
		t.Fatal("a province without --federation-peers serves the national view")
	}
	// Unreadable peers files are refused with the file named.
	bad := filepath.Join(dir, "peers.txt")
	os.WriteFile(bad, []byte("33 not-a-key\n"), 0o600)
	if _, err := openFederation(&federationConfig{Peers: bad}, t.TempDir(), both, log); err == nil || !strings.Contains(err.Error(), "peers.txt") {
		t.Fatalf("a bad peers file: %v", err)
	}
}
