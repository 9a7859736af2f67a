package jagadesacmd

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in certFile and keyFile and loads
// them again when either changes on disk (a renewal by certbot or the
// province's PKI), without a restart. A pair that fails to load is logged
// and the last good one kept.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration // how often the files' times are looked at [10s]
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     [2]time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, every: 10 * time.Second, now: time.Now}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	var mod [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		mod[i] = st.ModTime()
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS: %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.mod = &c, mod
	return nil
}

// GetCertificate is tls.Config's hook.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= r.every {
		r.checked = now
		if r.changed() {
			if err := r.load(); err != nil {
				r.log.Error("TLS certificate not reloaded; serving the previous one", "err", err)
			} else {
				r.log.Info("TLS certificate reloaded", "cert", r.certFile)
			}
		}
	}
	return r.cert, nil
}

func (r *certReloader) changed() bool {
	for i, f := range []string{r.certFile, r.keyFile} {
		if st, err := os.Stat(f); err == nil && !st.ModTime().Equal(r.mod[i]) {
			return true
		}
	}
	return false
}
