package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"situ/features"
	"situ/simulation"
)

// sample is one reading of the child and of the load, every config.sample.
type sample struct {
	At         time.Duration `json:"at_seconds"` // since scoring started
	RSS        float64       `json:"rss_bytes"`
	Heap       float64       `json:"heap_inuse_bytes"` // go_memstats_heap_inuse_bytes
	HeapGoal   float64       `json:"heap_goal_bytes"`  // go_memstats_next_gc_bytes: set from the live heap at each GC
	P99        time.Duration `json:"p99"`              // of the score requests answered in the interval
	Throughput float64       `json:"throughput"`       // score answers (200) per second in the interval
	Pending    float64       `json:"pending"`          // situ_learner_pending_decisions
	Scoring    bool          `json:"scoring"`          // taken while scoring (false: settling)
	// Steady: every bounded structure was full (scrape.steadiness); Filling
	// says what was not
	Steady  bool     `json:"steady"`
	Filling []string `json:"filling,omitempty"`
	// Procs is the memory of each process (procNames)
	Procs map[string]procMemory `json:"procs"`
}

// procMemory is one process's share of a sample.
type procMemory struct {
	RSS      float64 `json:"rss_bytes"`
	Heap     float64 `json:"heap_inuse_bytes"`
	HeapGoal float64 `json:"heap_goal_bytes"`
}

// loadCounts are the score requests' results as the driver saw them.
type loadCounts struct {
	ok, status4xx, status5xx, other, transport, missed atomic.Int64
}

// driver scores contacts at the configured rate and plans their outcomes.
type driver struct {
	cfg    config
	url    string
	client *http.Client
	pop    *simulation.Population
	sender *outcomeSender
	load   loadCounts

	mu        sync.Mutex
	latencies []time.Duration // of the current interval
	allLat    []time.Duration // of the whole run, for the report
}

// soak runs the whole soak and returns its result.
func soak(ctx context.Context, cfg config, stderr io.Writer) (*result, error) {
	dataDir := cfg.dataDir
	if dataDir == "" {
		d, err := os.MkdirTemp("", "situ-soak-")
		if err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		defer os.RemoveAll(d)
		dataDir = d
	}
	logPath := cfg.logFile
	if logPath == "" {
		dir := "."
		if cfg.out != "" {
			dir = filepath.Dir(cfg.out)
		}
		logPath = filepath.Join(dir, "soak-situ.log")
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: cfg.seed, Customers: cfg.customers})
	if err != nil {
		return nil, err
	}
	ch, err := startChild(ctx, cfg, dataDir, logPath)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = ch.stop(15 * time.Second)
		}
	}()
	fmt.Fprintf(stderr, "situ-soak: situ serve (pid %d) ready on %s, broker %s, reward window %s, log %s\n",
		ch.cmd.Process.Pid, ch.url, ch.brokerAddr, cfg.window, logPath)
	warm := "until steady state, at least " + cfg.minWarmup.String()
	if cfg.warmup > 0 {
		warm = cfg.warmup.String()
	}
	fmt.Fprintf(stderr, "situ-soak: scoring %.0f/s for %s (warm-up %s), sampling every %s\n", cfg.rate, cfg.duration, warm, cfg.sample)

	client := &http.Client{
		Timeout: 5 * time.Second,
		// uncompressed: gzipping /metrics every sample would cost situ serve
		// a flate writer (about 1 MB) each time, memory the soak then measures
		Transport: &http.Transport{MaxIdleConns: cfg.concurrency + 16, MaxIdleConnsPerHost: cfg.concurrency + 16, IdleConnTimeout: time.Minute, DisableCompression: true},
	}
	d := &driver{cfg: cfg, url: ch.url, client: client, pop: pop, sender: newOutcomeSender(ch.url, ch.brokerAddr, client)}
	defer d.sender.close()

	res := &result{cfg: cfg}
	// /readyz answers 503 until every process is ready, and situ serve
	// polls its children's as the soak polled its own: 5xx answers before
	// scoring are the start, not the run
	if m, err := scrapeMetrics(ctx, client, ch.url); err == nil {
		res.start = m.counts()
	} else {
		return nil, fmt.Errorf("first scrape: %w", err)
	}
	senderCtx, stopSender := context.WithCancel(ctx)
	defer stopSender()
	senderDone := make(chan struct{})
	go func() {
		d.sender.run(senderCtx, 8)
		close(senderDone)
	}()

	start := time.Now()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var scoring atomic.Bool
	scoring.Store(true)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		d.sampleLoop(sampleCtx, ch, start, &scoring, res, stderr)
	}()

	scoreErr := d.score(ctx, start)
	scoring.Store(false)
	res.scored = time.Since(start)
	fmt.Fprintf(stderr, "situ-soak: scoring done after %s; sending the %d outcomes still scheduled\n", res.scored.Round(time.Second), d.sender.waiting())
	d.sender.flush()
	select {
	case <-senderDone:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		stopSampling()
		<-sampled
		return nil, err
	}
	if scoreErr != nil {
		stopSampling()
		<-sampled
		return nil, scoreErr
	}

	// the learner reads what was sent
	final, settled, err := d.settle(ctx, ch)
	stopSampling()
	<-sampled
	if err != nil {
		return nil, err
	}
	res.settled = settled
	res.final = final.counts()
	res.alive = ch.alive()
	stopped = true
	res.stopErr = ch.stop(30 * time.Second)

	res.load = snapshotLoad(&d.load)
	res.sent = snapshotSent(d.sender)
	d.mu.Lock()
	res.p99All = percentile(d.allLat, 0.99)
	res.p50All = percentile(d.allLat, 0.50)
	d.mu.Unlock()
	res.evaluate()
	return res, nil
}

// score sends score requests at cfg.rate for cfg.duration: open loop,
// requests due while every worker is busy are counted as missed.
func (d *driver) score(ctx context.Context, start time.Time) error {
	jobs := make(chan int64, d.cfg.concurrency)
	var wg sync.WaitGroup
	errs := make(chan error, d.cfg.concurrency)
	for range d.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := d.contact(ctx, i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var issued int64
	end := start.Add(d.cfg.duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			if now.After(end) {
				break loop
			}
			due := int64(now.Sub(start).Seconds() * d.cfg.rate)
			for ; issued < due; issued++ {
				select {
				case jobs <- issued:
				default:
					d.load.missed.Add(1)
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// contact scores contact i and plans its outcome. It returns an error only
// for what stops the soak (an answer that breaks the contract).
func (d *driver) contact(ctx context.Context, i int64) error {
	c := d.pop.Contact(i)
	body, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("encode contact %d: %w", i, err)
	}
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/v1/score", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("score request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			d.load.transport.Add(1)
		}
		return nil
	}
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	took := time.Since(began)
	switch {
	case readErr != nil:
		d.load.transport.Add(1)
		return nil
	case resp.StatusCode >= 500:
		d.load.status5xx.Add(1)
		return nil
	case resp.StatusCode >= 400:
		d.load.status4xx.Add(1)
		return nil
	case resp.StatusCode != http.StatusOK:
		d.load.other.Add(1)
		return nil
	}
	var answer struct {
		DecisionID string `json:"decision_id"`
		Treatment  string `json:"treatment"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("contact %d: decode score answer: %w", i, err)
	}
	t, ok := features.ParseTreatment(answer.Treatment)
	if !ok || answer.DecisionID == "" {
		return fmt.Errorf("contact %d: score answer without a decision id or a known treatment: %s", i, raw)
	}
	d.load.ok.Add(1)
	d.mu.Lock()
	d.latencies = append(d.latencies, took)
	d.allLat = append(d.allLat, took)
	d.mu.Unlock()

	r := rand.New(rand.NewPCG(d.cfg.seed, uint64(i)))
	truth := simulation.TrueResponse(&c, t)
	o := truth.Draw(r)
	o.OutcomeID = fmt.Sprintf("soak-%d", i)
	o.DecisionID = answer.DecisionID
	now := time.Now()
	o.OccurredAt = now.UTC()
	k := kindOf(r.Float64())
	ds, err := plan(k, o, now, d.cfg.window, r)
	if err != nil {
		return err
	}
	d.sender.add(k, ds)
	return nil
}

// sampleLoop samples every cfg.sample until ctx ends.
func (d *driver) sampleLoop(ctx context.Context, ch *child, start time.Time, scoring *atomic.Bool, res *result, stderr io.Writer) {
	tick := time.NewTicker(d.cfg.sample)
	defer tick.Stop()
	last := start
	lastOK := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s := sample{At: now.Sub(start), Scoring: scoring.Load()}
			d.mu.Lock()
			lat := d.latencies
			d.latencies = nil
			d.mu.Unlock()
			ok := d.load.ok.Load()
			s.P99 = percentile(lat, 0.99)
			s.Throughput = float64(ok-lastOK) / now.Sub(last).Seconds()
			last, lastOK = now, ok
			rss, rssByProc, err := ch.rssBytes()
			if err != nil {
				res.sampleErrors = append(res.sampleErrors, err.Error())
				continue
			}
			m, err := scrapeMetrics(ctx, d.client, d.url)
			if err != nil {
				if ctx.Err() == nil {
					res.sampleErrors = append(res.sampleErrors, err.Error())
				}
				continue
			}
			s.RSS, s.Heap, s.HeapGoal = rss, m.value("go_memstats_heap_inuse_bytes"), m.value("go_memstats_next_gc_bytes")
			s.Pending = m.value("situ_learner_pending_decisions")
			s.Steady, s.Filling = m.steadiness()
			heap, goal := m.byProcess("go_memstats_heap_inuse_bytes"), m.byProcess("go_memstats_next_gc_bytes")
			s.Procs = map[string]procMemory{}
			for _, p := range procNames {
				s.Procs[p] = procMemory{RSS: rssByProc[p], Heap: heap[p], HeapGoal: goal[p]}
			}
			res.samples = append(res.samples, s)
			if len(res.samples)%max(1, int(time.Minute/d.cfg.sample)) == 0 {
				state := "steady"
				if !s.Steady {
					state = "filling: " + strings.Join(s.Filling, ", ")
				}
				fmt.Fprintf(stderr, "  %6s  rss %6.1f MiB  heap %6.1f MiB (goal %6.1f)  p99 %7.2f ms  %4.0f/s  pending %6.0f  %s\n",
					s.At.Round(time.Second), s.RSS/mib, s.Heap/mib, s.HeapGoal/mib, ms(s.P99), s.Throughput, s.Pending, state)
			}
		}
	}
}

// settle waits until the learner has read every decision answered and
// every outcome written to the topic, and its join counters stopped
// moving, then returns that last scrape and how long it took.
func (d *driver) settle(ctx context.Context, ch *child) (scrape, time.Duration, error) {
	began := time.Now()
	var prev learnerCounts
	for {
		m, err := scrapeMetrics(ctx, d.client, d.url)
		if err != nil {
			return nil, 0, err
		}
		c := m.counts()
		produced := c.outcomesPublished + float64(d.sender.kafkaWritten.Load())
		caught := c.outcomesRead >= produced && c.decisionsRead >= float64(d.load.ok.Load())
		if caught && c == prev {
			return m, time.Since(began), nil
		}
		prev = c
		if time.Since(began) > d.cfg.settle || !ch.alive() {
			return m, time.Since(began), nil // the accounting says what is missing
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

const mib = 1 << 20

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the q-quantile of ds (nearest rank); 0 when empty.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(len(s)-1, i))]
}

// postJSON posts body to url and returns the status of the answer.
func postJSON(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
