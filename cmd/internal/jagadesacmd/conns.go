package jagadesacmd

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// connCounter tells operators what the server's connections cost: how
// many are open (each idle one holds about 17 KB of buffers and stack, so
// at national size they decide the server's memory, see --idle-timeout),
// and how many TLS handshakes resumed a session instead of proving the
// certificate again.
type connCounter struct {
	mu         sync.Mutex
	state      map[net.Conn]http.ConnState
	open, idle atomic.Int64
	handshakes *prometheus.CounterVec
}

func newConnCounter(reg *prometheus.Registry) *connCounter {
	c := &connCounter{state: map[net.Conn]http.ConnState{}, handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jagadesa_tls_handshakes_total",
		Help: "TLS handshakes completed, by whether they resumed an earlier session.",
	}, []string{"resumed"})}
	reg.MustRegister(c.handshakes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jagadesa_http_connections",
			Help: "Client connections open now, idle ones included.",
		}, func() float64 { return float64(c.open.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jagadesa_http_connections_idle",
			Help: "Kept-alive client connections waiting for their next request (closed after --idle-timeout).",
		}, func() float64 { return float64(c.idle.Load()) }))
	return c
}

// track is the server's ConnState hook: it keeps each connection's last
// state, since net/http does not say which state a connection leaves.
func (c *connCounter) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, known := c.state[conn]
	if prev == http.StateIdle {
		c.idle.Add(-1)
	}
	switch st {
	case http.StateClosed, http.StateHijacked:
		if known {
			c.open.Add(-1)
			delete(c.state, conn)
		}
		return
	case http.StateIdle:
		c.idle.Add(1)
	}
	if !known {
		c.open.Add(1)
	}
	c.state[conn] = st
}

// countHandshake is the TLS config's VerifyConnection hook: it runs after
// every handshake, full or resumed, and refuses nothing.
func (c *connCounter) countHandshake(cs tls.ConnectionState) error {
	c.handshakes.WithLabelValues(strconv.FormatBool(cs.DidResume)).Inc()
	return nil
}
