# situ — `make help` lists the targets and the variables they read.
GO          ?= go
BIN         ?= bin
ADDR        ?= 127.0.0.1:8080
BROKER_ADDR ?= 127.0.0.1:9092
DATA_DIR    ?= .situ
PKGS        ?= ./...
FUZZTIME    ?= 30s
SOAK        ?= 10m

# The variables `make help` shows with their values.
HELP_VARS := ADDR BROKER_ADDR DATA_DIR PKGS FUZZTIME SOAK GO BIN

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets and the variables they read
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST) \
		| sed $(foreach v,$(HELP_VARS),-e 's|\$$($(v))|$($(v))|g')
	@echo
	@echo "Variables (set them on the command line, e.g. make run ADDR=127.0.0.1:8081 BROKER_ADDR=127.0.0.1:9093 DATA_DIR=/tmp/situ):"
	@printf '  %-13s %s\n' $(foreach v,$(HELP_VARS),$(v) '$($(v))')

.PHONY: run
run: ## run the service on $(ADDR): embedded broker on $(BROKER_ADDR), topics in $(DATA_DIR), default model and policy, learner
	$(GO) run ./cmd/situ serve --addr $(ADDR) --broker-addr $(BROKER_ADDR) --data-dir $(DATA_DIR)

.PHONY: build
build: ## build the binaries into ./bin
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: test
test: lint ## the whole suite: lint, then every test with the race detector
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

.PHONY: lint
lint: ## gofmt, go vet, go.mod tidy and verified
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff
	$(GO) mod verify

.PHONY: bench
bench: ## Go benchmarks of the decision path (-benchmem)
	$(GO) test -run '^$$' -bench . -benchmem ./features ./policy ./models ./scoring

.PHONY: bench-http
bench-http: ## load test: POST /v1/score against a minimal gin handler, same run (needs wrk)
	./scripts/bench_http.sh

.PHONY: demo
demo: ## run situ and the simulator against it; report and plot in out/
	./scripts/demo.sh

.PHONY: bench-learner
bench-learner: ## learner throughput and outcome-to-served-model latency through the embedded broker
	$(GO) test -run "^$$" -bench BenchmarkLearnerEndToEnd -benchtime 1x -v ./feedback

.PHONY: bench-replica-bytes
bench-replica-bytes: ## bytes a replica reads from nba.models per model version, through the embedded broker
	$(GO) test -run "^$$" -bench BenchmarkReplicaBytesPerModelVersion -benchtime 1x -v ./feedback

.PHONY: soak
soak: ## soak test for $(SOAK): situ serve scored at 300/s with outcomes; flat memory, no 5xx, every outcome accounted for; plot in out/soak.png
	$(GO) build -o $(BIN)/ ./cmd/situ ./cmd/situ-soak
	$(BIN)/situ-soak --situ $(BIN)/situ --duration $(SOAK) --out out/soak.png

.PHONY: fuzz
fuzz: ## fuzz the score request decoder for $(FUZZTIME)
	$(GO) test -run '^$$' -fuzz FuzzDecodeScoreRequest -fuzztime $(FUZZTIME) ./api
