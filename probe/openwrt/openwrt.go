// Package openwrt holds the files the OpenWrt package of jagadesa-probe
// installs beside the binary, and its maintainer scripts. They are embedded
// so that the package builder (cmd/internal/ipk) and the tests use exactly
// these bytes, from any working directory.
package openwrt

import _ "embed"

// InitScript is /etc/init.d/jagadesa, the procd service.
//
//go:embed jagadesa.init
var InitScript []byte

// Config is /etc/config/jagadesa, the default UCI configuration.
//
//go:embed jagadesa.config
var Config []byte

// Postinst runs after installation: it enables and starts the service.
//
//go:embed postinst
var Postinst []byte

// Prerm runs before removal: it stops and disables the service.
//
//go:embed prerm
var Prerm []byte
