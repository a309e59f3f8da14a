# agentobs — every target a newcomer or CI needs. `make help` lists them.
SHELL := /bin/bash
GO ?= go
BIN := bin
export AGENTOBS_REQUIRE_STACK ?= 1
# Integration tests share 2 cores with Kafka and Elasticsearch: one package at a time.
# -count=1: integration tests talk to real servers; a cached "ok" would prove nothing.
TEST_FLAGS ?= -count=1 -p 1 -timeout 40m
FUZZTIME ?= 10s

.PHONY: helm-sync help build plugin fluent-bit chromium kube test unit-test fuzz lint vet fmt-check tidy-check stack-up stack-down stack-status demo bench chaos images clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build every binary into bin/: agent, shipper, indexer, demo, the plugin .so and its host program
	@mkdir -p $(BIN)
	$(GO) build -buildvcs=auto -o $(BIN)/ ./agent ./shipper ./indexer ./cmd/demo ./collector/cmd/flbchunk ./cmd/amctl
	$(MAKE) --no-print-directory plugin

plugin: ## build the Fluent Bit output plugin bin/out_agentobs.so and the test host bin/flbhost
	@mkdir -p $(BIN)
	collector/build.sh $(BIN)/out_agentobs.so
	gcc -O2 -Wall -pthread -o $(BIN)/flbhost collector/host/flbhost.c -ldl

stack-up: ## start the local stack (Kafka, Elasticsearch, Prometheus, Alertmanager) on loopback; idempotent
	scripts/stack.sh up

fluent-bit: ## find real Fluent Bit (AGENTOBS_FLUENT_BIT, PATH) or build it once from ../shared/fluent-bit (cached)
	@scripts/fluent-bit.sh

chromium: ## find headless Chromium for the trace explorer's browser tests (AGENTOBS_CHROMIUM, PATH) or apt-get install Debian's
	@scripts/chromium.sh

kube: ## build the throwaway Kubernetes control plane for the chart tests (kube-apiserver etc. from the Go proxy, etcd from Debian; once per machine, cached)
	scripts/kube.sh build

stack-down: ## stop the local stack and remove its data
	scripts/stack.sh down

stack-status: ## show what runs where
	scripts/stack.sh status

vet: ## go vet
	$(GO) vet ./...

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: ## fail if go.mod/go.sum drift from the imports (go mod tidy -diff)
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result"; exit 1; }

lint: vet fmt-check tidy-check ## go vet, gofmt, go mod tidy -diff, alert rule checks (promtool + Go lint)
	@if [ -x scripts/lint-alerts.sh ]; then scripts/lint-alerts.sh; fi

fuzz: ## run each fuzz target briefly (FUZZTIME, default 10s)
	scripts/fuzz.sh $(FUZZTIME)

unit-test: ## fast tests, no servers needed
	AGENTOBS_REQUIRE_STACK=0 $(GO) test -short ./...

# Fluent Bit, Chromium and the Kubernetes binaries after stack-up, one after the other: each may
# apt-get install, and two apt-gets at once fail on the dpkg lock (the scripts also wait for the lock).
# test/helmchart starts its own control plane from what `make kube` built and stops it.
test: stack-up fluent-bit chromium kube lint ## the whole suite on the real local stack (and real Fluent Bit, headless Chromium, a Kubernetes API server): unit, integration, end-to-end, brief fuzzing
	AGENTOBS_FLUENT_BIT=$$(scripts/fluent-bit.sh) AGENTOBS_CHROMIUM=$$(scripts/chromium.sh) TEST_FLAGS="$(TEST_FLAGS)" FUZZTIME=$(FUZZTIME) scripts/test.sh

demo: build ## the main job: agents → shipper + plugin → Kafka → indexer → Elasticsearch, live progress and a report
	scripts/demo.sh $(DEMO_ARGS)

bench: ## the benchmark suite against the real stack (see bench/README.md)
	scripts/bench.sh

chaos: ## the fault-injection suite
	AGENTOBS_CHAOS=full $(GO) test -p 1 -timeout 150m -run 'Chaos' -v ./test/chaos/...

helm-sync: ## refresh the Helm chart's copies of alerts/rules and dashboards (a test fails when they drift)
	helm/sync.sh

images: ## build the container images (needs a Docker engine)
	docker build -f agent/Dockerfile -t agentobs/agent:dev .
	docker build -f shipper/Dockerfile -t agentobs/shipper:dev .
	docker build -f indexer/Dockerfile -t agentobs/indexer:dev .
	docker build -f collector/Dockerfile -t agentobs/fluent-bit:dev .

clean: ## remove build output
	rm -rf $(BIN) .test-output.log
