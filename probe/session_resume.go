//go:build !mips && !mipsle

package probe

import (
	"crypto/tls"
	"sync"
)

func newSessionCache() tls.ClientSessionCache { return &lastSession{} }

// lastSession remembers the latest TLS session: the probe talks to its
// server (reports and threat feed alike) and, rarely, to an operator's
// feed host.
type lastSession struct {
	mu  sync.Mutex
	key string
	cs  *tls.ClientSessionState
}

func (l *lastSession) Get(key string) (*tls.ClientSessionState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cs == nil || l.key != key {
		return nil, false
	}
	return l.cs, true
}

func (l *lastSession) Put(key string, cs *tls.ClientSessionState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case cs != nil:
		l.key, l.cs = key, cs
	case key == l.key: // crypto/tls forgets a session that failed
		l.cs = nil
	}
}
