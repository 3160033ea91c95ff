# Ovation — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/ovation
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Where `make test` keeps the real Kafka and ClickHouse it starts.
TEST_ENV_DIR ?= $(CURDIR)/.cache/test-env
# Fuzz time per target for `make fuzz`.
FUZZTIME ?= 60s
GO_TEST_FLAGS ?= -race -count=1 -timeout 25m

.PHONY: all build demo test test-go test-web test-region lint fuzz bench clean env-up env-down

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ovation

## demo: build and run everything on an embedded broker, with a simulated audience.
demo: build
	@echo "Starting Ovation dev: open http://localhost:8080 (Ctrl-C to stop)"
	./$(BIN) dev --audience 24

## lint: gofmt and go vet must be clean.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: install what is missing, start real Kafka and ClickHouse, run every test, stop them.
test:
	@set -euo pipefail; \
	mkdir -p $(TEST_ENV_DIR); \
	trap 'deployments/test-env.sh down $(TEST_ENV_DIR) >&2 || true' EXIT; \
	exports=$$(deployments/test-env.sh up $(TEST_ENV_DIR)); \
	eval "$$exports"; \
	export OVATION_KAFKA_FAULT=1 OVATION_CLICKHOUSE_FAULT=1 OVATION_REGION_DRILL=1; \
	failed=""; start=$$(date +%s); \
	$(MAKE) --no-print-directory lint || failed="$$failed lint"; \
	$(MAKE) --no-print-directory test-go || failed="$$failed go"; \
	$(MAKE) --no-print-directory test-web || failed="$$failed web"; \
	echo "make test: $$(( $$(date +%s) - start ))s"; \
	if [ -n "$$failed" ]; then echo "make test FAILED:$$failed"; exit 1; fi; \
	echo "make test: all passed"

test-go:
	$(GO) test $(GO_TEST_FLAGS) ./...

## test-region: the regional failover drill alone (deployments/region/region.sh:
## two Kafka clusters, MirrorMaker 2, SIGKILL of a region, takeover, failback;
## about 2 minutes; `make test` runs it too, with OVATION_REGION_DRILL=1).
## Ports 25400-25700 (OVATION_TEST_REGION_PORT_BASE moves them; keep them
## below the kernel's ephemeral range, 32768+).
test-region:
	OVATION_REGION_DRILL=1 $(GO) test -count=1 -timeout 10m -v -run TestRegionalFailoverDrill ./deployments/region/

# The browser tests drive Debian's Chromium; install it when missing (root).
test-web:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q); \
	  DEBIAN_FRONTEND=noninteractive "$${apt[@]}" install chromium >/dev/null || \
	  { "$${apt[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "$${apt[@]}" install chromium >/dev/null; }; \
	fi
	web/test.sh

## fuzz: run every fuzz target for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: re-run the benchmarks of docs/benchmarks.md (starts its own Kafka unless BROKERS is set).
bench: build
	docs/bench/run-all.sh all

env-up:
	@mkdir -p $(TEST_ENV_DIR); deployments/test-env.sh up $(TEST_ENV_DIR)

env-down:
	@deployments/test-env.sh down $(TEST_ENV_DIR)

clean:
	rm -rf bin .cache/test-env
