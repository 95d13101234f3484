# Parley: `make run-server` and `make run-client` in terminal windows; `make test` for the tests.
# Every target that runs code installs the dependencies first when node_modules is missing.

NODE      ?= node
DEPS      := node_modules/.package-lock.json
HOST      ?= 127.0.0.1
PORT      ?= 7513
# Extra flags, e.g. make run-server ARGS="--timeout 60"  or  make run-client ARGS="--user alice"
ARGS      ?=

.PHONY: run-server run-client test typecheck keys deps clean-store help fuzz

help:
	@echo "make run-server   start the server on $(HOST):$(PORT) (ARGS=... for more flags)"
	@echo "make run-client   start a client (full screen; ARGS=--plain for line mode)"
	@echo "make test         run the tests with coverage (ends with 'N passed, N failed')"
	@echo "make test-NAME    run test/**/NAME.test.ts only, e.g. make test-frame"
	@echo "make typecheck    tsc --noEmit"
	@echo "make keys         create the server key pair in keys/"

$(DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(DEPS)

# The frame ciphers on the OpenSSL inside Node (native/aead.cc; src/crypto/aead.ts says why), built
# with npm's own node-gyp against Node's headers. Where it cannot be built (no g++, no headers),
# the ciphers run on libsodium or node:crypto, slower, and this says so.
NATIVE    := native/build/Release/parley_aead.node
# Node's own headers, where its installation has them (Debian's nodejs, nvm, the official
# tarballs): node-gyp then needs no npm setting and never tries to download them.
NODE_HEADERS = $(shell $(NODE) -p "require('path').resolve(process.execPath, '../..')")
NODEDIR   = $(if $(wildcard $(NODE_HEADERS)/include/node/node_api.h),--nodedir=$(NODE_HEADERS))
$(NATIVE): native/aead.cc native/binding.gyp | $(DEPS)
	@npm run --silent build:native -- $(NODEDIR) >native/build.log 2>&1 \
	  && echo "built native/aead.cc (frame ciphers on Node's OpenSSL)" \
	  || echo "note: native/aead.cc not built (native/build.log says why): frame ciphers run on libsodium or node:crypto"

# What running anything needs: the dependencies, and the native ciphers where they build.
READY     := $(DEPS) $(NATIVE)

deps: $(READY)

# The server's node flags: one list for make and bench/ (the file says why).
SERVER_NODE_FLAGS := $(shell sed -e '/^\#/d' -e '/^ *$$/d' bin/parley-server.node-flags)

run-server: $(READY)
	$(NODE) $(SERVER_NODE_FLAGS) bin/parley-server.js --host $(HOST) --port $(PORT) $(ARGS)

run-client: $(READY)
	$(NODE) bin/parley.js --host $(HOST) --port $(PORT) $(ARGS)

test: $(READY)
	$(NODE) scripts/test.mjs

# Its temporary directories go under one of its own, removed afterwards (as scripts/test.mjs does).
test-%: $(READY)
	@tmp=$$(mktemp -d); TMPDIR=$$tmp NO_COLOR=1 $(NODE) --import tsx node_modules/uvu/bin.js test '(^|/)$*\.test\.ts$$'; status=$$?; rm -rf "$$tmp"; exit $$status

# The long fuzz run: test/fuzz only, many more cases per property, no coverage.
FUZZ_RUNS ?= 10000
fuzz: $(READY)
	NO_COLOR=1 PARLEY_FUZZ_RUNS=$(FUZZ_RUNS) $(NODE) --expose-gc --import tsx node_modules/uvu/bin.js test 'fuzz/.*\.test\.ts$$'

typecheck: $(DEPS)
	npx tsc --noEmit

keys: $(READY)
	$(NODE) bin/parley-admin.js keys

clean-store:
	rm -rf store/server store/client

.PHONY: bench bench-compare bench-connections bench-store ngircd

# Benchmarks print figures (docs/BENCHMARKS.md). bench-compare runs Parley and ngircd side by side
# and installs Debian's ngircd first if it is missing (root, or sudo, and the Debian registry).
bench: bench-compare bench-connections bench-store

bench-compare: $(READY) ngircd
	$(NODE) --import tsx bench/compare.ts

bench-connections: $(READY)
	$(NODE) --import tsx bench/connections.ts

bench-store: $(READY)
	$(NODE) --import tsx bench/store.ts

ngircd:
	@command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || { echo "installing ngircd (Debian package) for bench-compare"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y ngircd >/dev/null; }
