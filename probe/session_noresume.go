//go:build mips || mipsle

package probe

import "crypto/tls"

// newSessionCache leaves TLS session resumption out of MIPS builds: the
// client code it makes reachable in crypto/tls (about 1.9 KB of the
// read-only segment) put the mipsle probe 64 KB over its flash budget, the
// segment being aligned to 64 KB (TestMipsleProbeSize). A MIPS router
// makes a full handshake each round instead: X25519 and the chain's
// signatures, tens of milliseconds a minute.
func newSessionCache() tls.ClientSessionCache { return nil }
