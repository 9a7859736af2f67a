# JagaDesa builds. See README.md and docs/install-probe.md.
#
#   make probes   static, stripped probes for the routers into dist/
#   make ipk      OpenWrt packages (.ipk, opkg) of those probes into dist/
#   make apk      OpenWrt 25.12+ packages (.apk, apk-tools v3) into dist/apk/ARCH/;
#                 needs apk-tools v3 (APK=/path/to/apk) and root
#   make server   the server binary into bin/jagadesa
#   make test     everything CI runs (scripts/test.sh; as root)
#   make sizes    the size of every probe and package
#
# VERSION=1.2.0 make ipk   overrides the version (default: scripts/version.sh,
# one that increases with every commit; see docs/install-probe.md).

GO      ?= go
DIST    ?= dist
APK     ?= apk
VERSION ?= $(shell scripts/version.sh 2>/dev/null || echo 0.0.0)
# Evaluated once: a dirty tree's version counts seconds, and the binary and
# its packages must carry the same one.
VERSION := $(VERSION)
ifeq ($(strip $(VERSION)),)
VERSION := 0.0.0
endif
# File times inside the packages: the last commit's, so that the same tree
# gives the same .ipk bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

# nethttpomithttp2 leaves net/http's HTTP/2 client out of the probe (about
# 0.4 MB of flash); the probe's uploads and checks speak HTTP/1.1.
PROBE_TAGS ?= nethttpomithttp2
LDFLAGS    := -s -w -X main.version=$(VERSION)
GOBUILD     = CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
PROBE       = ./cmd/jagadesa-probe

# OpenWrt package architecture = the probe build it packs.
IPKS := mipsel_24kc=$(DIST)/jagadesa-probe-linux-mipsle \
        mips_24kc=$(DIST)/jagadesa-probe-linux-mips \
        arm_cortex-a7_neon-vfpv4=$(DIST)/jagadesa-probe-linux-arm \
        aarch64_cortex-a53=$(DIST)/jagadesa-probe-linux-arm64 \
        x86_64=$(DIST)/jagadesa-probe-linux-amd64

.PHONY: all probes ipk apk server test sizes clean

all: probes ipk server

probes:
	@mkdir -p $(DIST)
	GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(GOBUILD) -tags '$(PROBE_TAGS)' -o $(DIST)/jagadesa-probe-linux-mipsle $(PROBE)
	GOOS=linux GOARCH=mips GOMIPS=softfloat $(GOBUILD) -tags '$(PROBE_TAGS)' -o $(DIST)/jagadesa-probe-linux-mips $(PROBE)
	GOOS=linux GOARCH=arm GOARM=6 $(GOBUILD) -tags '$(PROBE_TAGS)' -o $(DIST)/jagadesa-probe-linux-arm $(PROBE)
	GOOS=linux GOARCH=arm64 $(GOBUILD) -tags '$(PROBE_TAGS)' -o $(DIST)/jagadesa-probe-linux-arm64 $(PROBE)
	GOOS=linux GOARCH=amd64 $(GOBUILD) -tags '$(PROBE_TAGS)' -o $(DIST)/jagadesa-probe-linux-amd64 $(PROBE)

ipk: probes
	$(GO) run ./cmd/internal/ipk -version '$(VERSION)' -out $(DIST) $(IPKS)

apk: probes
	$(GO) run ./cmd/internal/ipk -format apk -apk '$(APK)' -version '$(VERSION)' -out $(DIST) $(IPKS)

server:
	@mkdir -p bin
	$(GOBUILD) -o bin/jagadesa ./cmd/jagadesa

test:
	scripts/test.sh

sizes: probes
	@for f in $(DIST)/jagadesa-probe-linux-* $(DIST)/*.ipk $(DIST)/apk/*/*.apk; do \
	  [ -f "$$f" ] || continue; \
	  s=$$(wc -c < "$$f"); \
	  awk -v s="$$s" -v f="$$f" 'BEGIN { printf "%10d bytes  %5.2f MiB  %s\n", s, s/1048576, f }'; \
	done

clean:
	rm -rf $(DIST)
