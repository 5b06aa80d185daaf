// Command situ-soak runs `situ serve` (role all: the HTTP API, the learner
// and the embedded broker in one process) as a child process under steady
// load for a while and says whether it stays healthy over time:
//
//   - it scores simulated contacts (package simulation's population and
//     ground truth) at a fixed rate over HTTP;
//   - it reports outcomes for most decisions, through POST /v1/outcomes
//     and straight to nba.outcomes: most on time, some late within the
//     reward window, some after it, some twice (a retried POST with the
//     same outcome_id, or a second copy on the topic), some malformed
//     (a 400 over HTTP, a dead letter on Kafka), some for decision ids
//     situ never made;
//   - every few seconds it samples the resident memory of situ serve and
//     of the processes it runs (role all's broker and learner children;
//     /proc/PID/status VmRSS summed), their Go heaps
//     (go_memstats_heap_inuse_bytes on /metrics, which serves the
//     children's metrics too, summed) and heap goal (go_memstats_next_gc_bytes, set from the
//     live heap at each GC, so free of the allocation sawtooth), and the
//     p99 latency and throughput of the interval.
//
// At the end it passes only if the resident memory, the heap and the heap
// goal are flat after the warm-up (the slope of a least-squares line
// through the samples within --max-slope), no answer was a 5xx, no decision was
// dropped, and the learner's counters account for every decision and
// every outcome sent. It prints a report and draws the samples to a PNG.
//
//	go build -o bin/ ./cmd/situ ./cmd/situ-soak
//	bin/situ-soak --situ bin/situ --duration 10m --out out/soak.png
//
// make soak does both (SOAK=30s or SOAK=1h changes the duration). It is a
// command of its own so that the situ binary carries no plotting library.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the soak and returns the exit status: 0 passed,
// 1 failed (or could not run), 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "situ-soak:", err)
		return 2
	}
	res, err := soak(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "situ-soak:", err)
		return 1
	}
	if err := res.writeText(stdout); err != nil {
		fmt.Fprintln(stderr, "situ-soak:", err)
		return 1
	}
	if cfg.out != "" {
		if err := writePlot(cfg.out, res); err != nil {
			fmt.Fprintln(stderr, "situ-soak:", err)
			return 1
		}
		fmt.Fprintf(stdout, "plot written to %s\n", cfg.out)
	}
	if !res.passed() {
		return 1
	}
	return 0
}

// config is what the flags set.
type config struct {
	situ     string
	duration time.Duration
	// warmup is the warm-up given by --warmup; 0: until steady state, and
	// at least minWarmup
	warmup      time.Duration
	minWarmup   time.Duration
	rate        float64
	concurrency int
	window      time.Duration
	sample      time.Duration
	maxSlope    float64 // MiB per minute
	customers   int
	seed        uint64
	out         string
	dataDir     string
	logFile     string
	settle      time.Duration
	addr        string // situ serve --addr; "": a free port
	brokerAddr  string // situ serve --broker-addr; "": a free port
	brokerMax   string // situ serve --broker-max-bytes
	extraArgs   []string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("situ-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.situ, "situ", "bin/situ", "the situ `BINARY` to run as `situ serve`")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long to score")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "samples before this are left out of the memory fit (default: until every bounded structure is full — the broker's decisions and outcomes topics at their size limit, the learner's cache of recent decisions at its bound — and at least 3.5 × --window, at most half of --duration)")
	fs.Float64Var(&cfg.rate, "rate", 300, "score requests per second")
	fs.IntVar(&cfg.concurrency, "concurrency", 32, "score requests in flight at most")
	fs.DurationVar(&cfg.window, "window", 0, "the learner's reward window (situ serve --reward-window); late outcomes come 0.5–0.8 windows after their decision, too-late ones 1.5–2.5 windows after (default: a tenth of --duration, between 2s and 1m)")
	fs.DurationVar(&cfg.sample, "sample", 0, "sampling interval of memory, p99 and throughput (default: --duration/300, between 250ms and 5s)")
	fs.Float64Var(&cfg.maxSlope, "max-slope", 1, "the largest growth of RSS and Go heap after the warm-up that passes, in MiB per minute")
	fs.IntVar(&cfg.customers, "customers", 10_000, "distinct simulated customers")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the population, its contacts, their outcomes and the outcome mix")
	fs.StringVar(&cfg.out, "out", "out/soak.png", "`FILE` the PNG plot is written to (empty: none)")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "situ's data dir (default: a new temporary dir, removed at the end)")
	fs.StringVar(&cfg.logFile, "log", "", "`FILE` for situ's log (default: beside --out, soak-situ.log)")
	fs.DurationVar(&cfg.settle, "settle", time.Minute, "after scoring, how long the learner may take to read what was sent")
	fs.StringVar(&cfg.addr, "addr", "", "`HOST:PORT` of situ serve's HTTP API (default: a free loopback port)")
	fs.StringVar(&cfg.brokerAddr, "broker-addr", "", "`HOST:PORT` of situ serve's embedded broker (default: a free loopback port)")
	fs.StringVar(&cfg.brokerMax, "broker-max-bytes", "64MiB", "situ serve --broker-max-bytes: the embedded broker's disk budget, small enough that its topics (and its in-memory index of them) are full within the warm-up at 300/s; \"default\" (or empty) starts situ serve without the flag, on its own default budget, 512MiB, which takes about 15 minutes to fill at 300/s and about 9 at 500/s (docs/benchmarks.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: situ-soak [flags] [-- extra situ serve flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.extraArgs = fs.Args()
	if cfg.brokerMax == "default" {
		cfg.brokerMax = ""
	}
	if cfg.window == 0 {
		cfg.window = max(2*time.Second, min(time.Minute, cfg.duration/10))
	}
	if cfg.sample == 0 {
		cfg.sample = max(250*time.Millisecond, min(5*time.Second, cfg.duration/300))
	}
	switch {
	case cfg.duration <= 0 || cfg.rate <= 0 || cfg.concurrency < 1 || cfg.window <= 0 || cfg.sample <= 0:
		return cfg, errors.New("--duration, --rate, --concurrency, --window and --sample must be positive")
	case cfg.maxSlope <= 0:
		return cfg, errors.New("--max-slope must be positive")
	case cfg.warmup < 0 || cfg.warmup >= cfg.duration:
		return cfg, errors.New("--warmup must be shorter than --duration")
	}
	cfg.minWarmup = min(time.Duration(3.5*float64(cfg.window)), cfg.duration/2)
	return cfg, nil
}
