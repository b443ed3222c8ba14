# meshbench front door. `make bench` runs the default suite, `make test` runs
# every test (privileged ones too: run as root).

GO       ?= go
BIN      := bin/meshbench
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null)
# Both binaries carry one stamp per build, by which meshbench knows the
# agent binary beside it is of its own build (clusters.AgentExecutable).
STAMP    := $(shell date +%s%N)
LDFLAGS  := -X github.com/meshbench/meshbench/app.commit=$(COMMIT) -X github.com/meshbench/meshbench/clusters.buildStamp=$(STAMP)
SCENARIO ?= quick
BENCHFLAGS ?=

# The CI regression gate: a short quick run compared with the committed
# baseline. `make baseline` refreshes the baseline with the same run. The
# gate's default limits (meshbench gate --help) apply where GATE_MAX is
# silent; on two shared cores p99 is too noisy to gate.
GATE_FLAGS ?= --duration 2s --repetitions 3
GATE_MAX   ?= p99_overhead=off,p50_overhead=100%
BASELINE   := results/baselines/quick/result.json
GATE_OUT   ?= /tmp/meshbench-gate

.PHONY: all build bench test fuzz generate lint clean gate gate-run baseline selfcheck
.PHONY: testcluster-up testcluster-down test-kube test-kind

all: build

# Static, so that the kube provider can ship the agents' binary as an
# image. bin/meshbench-agent is the slim binary meshbench runs as its agents
# (proxies, workloads, node agents) when it finds it beside itself.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/meshbench
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/meshbench-agent ./cmd/meshbench-agent

bench: build
	./$(BIN) run $(SCENARIO) $(BENCHFLAGS)

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# Every decoder of outside input, fuzzed for FUZZTIME each from its seed
# corpus (f.Add and testdata/fuzz/<target>). go test fuzzes one target per
# invocation. A crash leaves its input in testdata/fuzz/<target>: fix it and
# commit the file, which then runs with the normal tests. Fuzzing runs on
# Go 1.27.3, which the go command takes from the module proxy: before 1.27 a
# duration budget can fail with "context deadline exceeded" when it expires
# while a worker is mid-input (go.dev/issue/75804), which broke CI here once.
FUZZTIME ?= 6s
FUZZGO ?= GOTOOLCHAIN=go1.27.3 $(GO)
FUZZ := \
	./scenarios:FuzzLoad \
	./results:FuzzRead \
	./results:FuzzSampleDecoder \
	./results/compare:FuzzParseLimits \
	./results/compare:FuzzCompare \
	./results/export:FuzzWrite \
	./results/report:FuzzWriteTerminal \
	./internal/wire:FuzzCommands \
	./internal/wire:FuzzMessages \
	./internal/agent:FuzzFilesLine \
	./internal/agent:FuzzHandle \
	./internal/agent:FuzzServe \
	./internal/agent:FuzzReadResponse \
	./internal/hostfs:FuzzParseMountinfo \
	./datapaths/steer:FuzzParseRule \
	./datapaths/proxy:FuzzDecodeServices \
	./datapaths/proxy:FuzzReadConnect \
	./datapaths/proxy:FuzzL7 \
	./datapaths/ebpf:FuzzAgentConfig

fuzz:
	@set -e; for t in $(FUZZ); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(FUZZGO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

gate: gate-run
	./$(BIN) gate $(BASELINE) $(GATE_OUT) --max $(GATE_MAX)

# The one way to refresh the baseline (docs/results.md, "Refreshing a
# baseline"): the gate's own run, so that the baseline has the scenario,
# duration and flags that `make gate` compares it with.
baseline: gate-run
	mkdir -p $(dir $(BASELINE))
	cp $(GATE_OUT)/result.json $(BASELINE)

# --run-dir puts the run exactly there, so the targets above know its path.
gate-run: build
	rm -rf $(GATE_OUT)
	./$(BIN) run quick $(GATE_FLAGS) --run-dir $(GATE_OUT)

selfcheck: build
	./$(BIN) selfcheck

generate:
	$(GO) generate ./bpf/...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

clean:
	-test -x $(BIN) && ./$(BIN) cleanup --all
	rm -rf bin

# The offline Kubernetes test cluster (hack/testcluster/README.md): 1.32
# built from the Go module proxy once and cached in /var/cache/meshbench,
# every node in its own network namespace. test-kube starts it, runs the kube
# provider's end-to-end tests (quick on the cluster, bad input), and removes
# it, checked clean, whatever the outcome.
TESTCLUSTER := hack/testcluster

testcluster-up:
	$(TESTCLUSTER)/up.sh

testcluster-down:
	$(TESTCLUSTER)/down.sh

test-kube:
	$(TESTCLUSTER)/up.sh
	MESHBENCH_REQUIRE_KUBE=1 $(GO) test -count=1 -timeout 15m -run 'OnTestCluster' -v ./clusters/kube/; \
		status=$$?; $(TESTCLUSTER)/down.sh || status=1; exit $$status

# quick with every datapath on real kind clusters (hack/kindimage/README.md),
# offline: meshbench's own Docker engine in a network namespace of its own
# (hack/kindengine) and a node image built here and cached in
# /var/cache/meshbench (cold: see the README for how long). It checks every
# case, the hop order against netns, costs per node, that nothing is left
# after a run, Ctrl-C and SIGKILL + cleanup, and the host's network
# namespace before and after; the engine is stopped whatever the outcome.
test-kind: build
	hack/kindimage/e2e.sh ./$(BIN)
