package jagadesacmd

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The connection gauges follow real connections through a real server:
// open and idle while kept alive, back to zero once the server's idle
// timeout closes them; TLS handshakes are counted full, then resumed.
func TestConnCounterFollowsConnections(t *testing.T) {
	reg := prometheus.NewRegistry()
	conns := newConnCounter(reg)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = conns.track
	srv.Config.IdleTimeout = 300 * time.Millisecond
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{VerifyConnection: conns.countHandshake}
	srv.StartTLS()
	defer srv.Close()

	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	cache := tls.NewLRUClientSessionCache(4)
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok" {
			t.Fatalf("answer %q", b)
		}
		return c
	}
	a, b := dial(), dial()
	defer a.Close()
	defer b.Close()
	waitFor(t, func() bool {
		return gauge("jagadesa_http_connections") == 2 && gauge("jagadesa_http_connections_idle") == 2
	})
	// The idle timeout closes both; the gauges return to zero.
	waitFor(t, func() bool {
		return gauge("jagadesa_http_connections") == 0 && gauge("jagadesa_http_connections_idle") == 0
	})
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Error("the server kept an idle connection past its idle timeout")
	}
	full := testutil.ToFloat64(conns.handshakes.WithLabelValues("false"))
	resumed := testutil.ToFloat64(conns.handshakes.WithLabelValues("true"))
	if full != 1 || resumed != 1 {
		t.Errorf("handshakes full %v resumed %v, want 1 and 1", full, resumed)
	}
	if out, _ := testutil.CollectAndLint(conns.handshakes); len(out) > 0 {
		t.Errorf("lint: %v", out)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
