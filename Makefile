# situ — `make help` lists the targets and the variables they read.
GO          ?= go
BIN         ?= bin
ADDR        ?= 127.0.0.1:8080
BROKER_ADDR ?= 127.0.0.1:9092
DATA_DIR    ?= .situ
PKGS        ?= ./...
FUZZTIME    ?= 30s
FUZZCI_TIME ?= 3000x
SOAK        ?= 10m
EXACTLY_ONCE_DECISIONS ?= 2000000

# The variables `make help` shows with their values.
HELP_VARS := ADDR BROKER_ADDR DATA_DIR PKGS FUZZTIME FUZZCI_TIME SOAK EXACTLY_ONCE_DECISIONS GO BIN

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

.PHONY: bench-decide-ab
bench-decide-ab: ## BenchmarkDecide of several builds alternated in one run (REFS="391f716 HEAD" ROUNDS=10 N=200000)
	./scripts/bench_decide_ab.sh

.PHONY: bench-http
bench-http: ## load test: POST /v1/score against a minimal gin handler, same run, production shape then the default run (MODE=api or MODE=all for one; needs wrk)
	@if [ -n "$(MODE)" ]; then MODE=$(MODE) ./scripts/bench_http.sh; else MODE=api ./scripts/bench_http.sh && MODE=all ./scripts/bench_http.sh; fi

.PHONY: bench-broker-disk
bench-broker-disk: ## disk of situ serve under sustained scoring with a small broker budget (BUDGET=64MiB DURATION=240; needs wrk)
	./scripts/broker_disk.sh

.PHONY: demo
demo: ## run situ and the simulator against it; report and plot in out/
	./scripts/demo.sh

.PHONY: bench-learner
bench-learner: ## learner throughput and outcome-to-served-model latency through the embedded broker
	$(GO) test -run "^$$" -bench BenchmarkLearnerEndToEnd -benchtime 1x -v ./feedback

.PHONY: bench-broker-index
bench-broker-index: ## the embedded broker's live heap while a full size-limited partition keeps taking batches (kfake's index of deleted batches)
	$(GO) test -run "^$$" -bench BenchmarkBrokerIndexAfterFull -benchtime 1x ./feedback

.PHONY: bench-replica-bytes
bench-replica-bytes: ## bytes a replica reads from nba.models per model version, through the embedded broker
	$(GO) test -run "^$$" -bench BenchmarkReplicaBytesPerModelVersion -benchtime 1x -v ./feedback

.PHONY: replay-late
replay-late: ## compressed-time replay of late and partial outcomes through the join (8 days, 1.4M decisions); prints the join counters (not in test)
	$(GO) test -run "^$$" -bench BenchmarkLateOutcomeReplay -benchtime 1x ./models

.PHONY: bench-quality
bench-quality: ## decision quality: situ serve + situ sim over 10 fixed random worlds and 5 drifts, one table (minutes; not in test)
	./scripts/bench_quality.sh

.PHONY: quality-tune
quality-tune: ## decision quality in process (same engine and learner, no Kafka or HTTP) on the tuning worlds 11-20, for iteration (seconds)
	$(GO) run ./scripts/quality_tune $(QUALITY_TUNE_FLAGS)

.PHONY: quality-capacity
quality-capacity: ## what a feature schema can reach apart from learning speed: linear models fitted offline to the exact expected rewards of the tuning worlds and drift targets (a minute per schema)
	$(GO) run ./scripts/quality_capacity $(QUALITY_CAPACITY_FLAGS)

.PHONY: soak
soak: ## soak test for $(SOAK): situ serve scored at 300/s with outcomes; flat memory, no 5xx, every outcome accounted for; plot in out/soak.png
	$(GO) build -o $(BIN)/ ./cmd/situ ./cmd/situ-soak
	$(BIN)/situ-soak --situ $(BIN)/situ --duration $(SOAK) --out out/soak.png

.PHONY: fuzz
fuzz: ## fuzz the score request decoder for $(FUZZTIME)
	$(GO) test -run '^$$' -fuzz FuzzDecodeScoreRequest -fuzztime $(FUZZTIME) ./api

.PHONY: fault
fault: ## fault tests with real processes: a 30 s broker outage under load, a replica killed -9, a full disk
	FAULT_OUTAGE=30s $(GO) test -count=1 -timeout 10m -v -run 'TestBrokerOutage|TestReplicaKilled|TestFullDisk' ./e2e

.PHONY: exactly-once-large
exactly-once-large: ## the exactly-once SIGKILL test over $(EXACTLY_ONCE_DECISIONS) decisions, all pending at the kills (no -race; not in test)
	EXACTLY_ONCE_DECISIONS=$(EXACTLY_ONCE_DECISIONS) $(GO) test -count=1 -timeout 60m -v -run TestLearnerKilledMidStreamEndsWithSameWeights ./e2e

.PHONY: fuzz-ci
fuzz-ci: ## every fuzz target (each decoder of HTTP bodies and Kafka messages) for $(FUZZCI_TIME) each
	GO=$(GO) FUZZTIME=$(FUZZCI_TIME) ./scripts/fuzz_all.sh
