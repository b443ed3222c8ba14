# meshbench front door. `make bench` runs the default suite, `make test` runs
# every test (privileged ones too: run as root).

GO       ?= go
BIN      := bin/meshbench
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS  := -X github.com/meshbench/meshbench/internal/app.commit=$(COMMIT)
SCENARIO ?= quick
BENCHFLAGS ?=

.PHONY: all build bench test generate lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/meshbench

bench: build
	./$(BIN) run $(SCENARIO) $(BENCHFLAGS)

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

generate:
	$(GO) generate ./bpf/...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

clean:
	-test -x $(BIN) && ./$(BIN) cleanup
	rm -rf bin
