package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memorySamples returns one sample every 5 s for 10 minutes whose RSS and
// heap grow by slope MiB per minute on top of a sawtooth of ±8 MiB (the GC),
// every bounded structure full from 2:00 on.
func memorySamples(slope float64) []sample {
	var out []sample
	for i := 1; i <= 120; i++ {
		at := time.Duration(i) * 5 * time.Second
		saw := float64(i%6-3) * 8 / 3 * mib
		grow := slope * at.Minutes() * mib
		out = append(out, sample{At: at, RSS: 120*mib + grow + saw/4, Heap: 60*mib + grow + saw, HeapGoal: 80*mib + 2*grow, Scoring: true, Throughput: 300,
			Steady: at >= 2*time.Minute})
	}
	return out
}

// balanced returns a result whose every counter adds up.
func balanced() *result {
	r := &result{cfg: config{duration: 10 * time.Minute, warmup: 3 * time.Minute, maxSlope: 1, concurrency: 32, rate: 300, window: time.Minute, sample: 5 * time.Second},
		samples: memorySamples(0), alive: true}
	r.load = loadSnapshot{OK: 1000}
	r.sent.Planned[kindMalformedHTTP] = 10
	r.sent.Planned[kindDupKafka] = 20
	r.sent.HTTP202, r.sent.HTTPRetry202, r.sent.HTTP400 = 400, 15, 10
	r.sent.KafkaWritten = 470
	r.sent.KafkaByKind[kindMalformedJSON], r.sent.KafkaByKind[kindInvalidOutcome] = 5, 6
	r.final = learnerCounts{
		decisions: 1000, decisionsWritten: 1000, decisionsRead: 1000,
		outcomesPublished: 400, dedupHTTP: 15, outcomesRead: 870,
		joined: 780, expired: 200, closed: 980, pending: 20,
		duplicate: 20, unknown: 50, early: 9, dlqJSON: 5, dlqInvalid: 6,
	}
	return r
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *result)
		failed []string // the names of the checks that fail
	}{
		{name: "everything adds up", change: func(*result) {}},
		{name: "heap grows by 2 MiB/min", change: func(r *result) { r.samples = memorySamples(2) }, failed: []string{"RSS flat", "Go heap flat", "Go heap goal flat"}},
		{name: "growth within the bound", change: func(r *result) { r.samples = memorySamples(0.4) }},
		{name: "growth before the warm-up ends is left out", change: func(r *result) {
			for i := range r.samples {
				if r.samples[i].At < r.cfg.warmup {
					r.samples[i].Heap -= float64(r.cfg.warmup-r.samples[i].At) / float64(time.Second) * mib
				}
			}
		}},
		{name: "too few samples after the warm-up", change: func(r *result) { r.samples = r.samples[:38] }, failed: []string{"RSS flat", "Go heap flat", "Go heap goal flat"}},
		{name: "steady state never reached", change: func(r *result) {
			for i := range r.samples {
				r.samples[i].Steady, r.samples[i].Filling = false, []string{"nba.decisions 10.0 of 36.3 MiB"}
			}
		}, failed: []string{"steady state"}},
		{name: "a warm-up shorter than the filling", change: func(r *result) { r.cfg.warmup = time.Minute }, failed: []string{"steady state"}},
		{name: "steady only after half the run", change: func(r *result) {
			r.cfg.warmup = 0
			for i := range r.samples {
				r.samples[i].Steady = r.samples[i].At >= 6*time.Minute
			}
		}, failed: []string{"steady state"}},
		{name: "the warm-up waits for the steady state", change: func(r *result) {
			// growth until every structure is full at 4:00, flat after
			r.cfg.warmup, r.cfg.minWarmup = 0, time.Minute
			for i := range r.samples {
				s := &r.samples[i]
				s.Steady = s.At >= 4*time.Minute
				if !s.Steady {
					s.Heap -= float64(4*time.Minute-s.At) / float64(time.Second) * mib
					s.HeapGoal -= float64(4*time.Minute-s.At) / float64(time.Second) * mib
				}
			}
		}},
		{name: "a 5xx on the score route", change: func(r *result) { r.final.server5xx = 1 }, failed: []string{"no 5xx"}},
		{name: "a 503 of /readyz while starting", change: func(r *result) { r.start.server5xx, r.final.server5xx = 1, 1 }},
		{name: "a 503 of /readyz while scoring", change: func(r *result) { r.start.server5xx, r.final.server5xx = 1, 2 }, failed: []string{"no 5xx"}},
		{name: "a 5xx answer to an outcome", change: func(r *result) { r.sent.HTTP5xx = 1 }, failed: []string{"no 5xx"}},
		{name: "a dropped decision", change: func(r *result) { r.final.dropped = 1 }, failed: []string{"no dropped decisions"}},
		{name: "a decision the learner never read", change: func(r *result) {
			r.final.decisionsRead, r.final.closed = 999, 979
		}, failed: []string{"decisions reach the learner", "decisions accounted for"}},
		{name: "a decision neither closed, dropped nor pending", change: func(r *result) { r.final.closed = 979 }, failed: []string{"decisions accounted for"}},
		{name: "decisions in the late tier are accounted for", change: func(r *result) { r.final.pending, r.final.lateDecisions = 12, 8 }},
		{name: "a decision in the late tier counted twice", change: func(r *result) { r.final.lateDecisions = 1 }, failed: []string{"decisions accounted for"}},
		{name: "an outcome not accounted for", change: func(r *result) { r.final.unknown = 49 }, failed: []string{"outcomes accounted for"}},
		{name: "an outcome the learner never read", change: func(r *result) {
			r.final.outcomesRead, r.final.unknown = 869, 49
		}, failed: []string{"outcomes reach the learner", "outcomes accounted for"}},
		{name: "a retried POST written twice", change: func(r *result) {
			r.sent.HTTPRetry202, r.sent.HTTP202 = 14, 401
		}, failed: []string{"POST /v1/outcomes"}},
		{name: "a dead letter missing", change: func(r *result) { r.final.dlqJSON, r.final.unknown = 4, 51 }, failed: []string{"dead letters"}},
		{name: "the child died", change: func(r *result) { r.alive = false }, failed: []string{"process"}},
		{name: "an unclean exit", change: func(r *result) { r.stopErr = errors.New("exit status 1") }, failed: []string{"process"}},
		{name: "the rate not held", change: func(r *result) { r.load.Missed = 5 }, failed: []string{"rate held"}},
		{name: "a failed sample", change: func(r *result) { r.sampleErrors = []string{"scrape: EOF"} }, failed: []string{"sampling"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := balanced()
			tc.change(r)
			r.evaluate()
			var failed []string
			for _, c := range r.checks {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			require.ElementsMatch(t, tc.failed, failed, "checks: %+v", r.checks)
			if tc.name == "the warm-up waits for the steady state" {
				require.Equal(t, 4*time.Minute, r.warmup)
			}
			require.Equal(t, len(tc.failed) == 0, r.passed())
		})
	}
}

func TestFitLine(t *testing.T) {
	for _, slope := range []float64{0, 0.5, 3, -1} {
		f := fitLine(memorySamples(slope), 3*time.Minute, func(s sample) float64 { return s.Heap })
		require.Equal(t, 85, f.N, "the samples at 3:00 … 10:00")
		require.InDelta(t, slope, f.Slope, 0.1, "slope %g", slope)
	}
}

func TestReportNamesVerdictAndFailures(t *testing.T) {
	r := balanced()
	r.final.dropped = 3
	r.evaluate()
	var b strings.Builder
	require.NoError(t, r.writeText(&b))
	require.Contains(t, b.String(), "situ soak: FAIL")
	require.Contains(t, b.String(), "FAIL no dropped decisions")
	require.Contains(t, b.String(), "situ_decisions_dropped_total 3")
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	cases := []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tc := range cases {
		require.Equal(t, tc.want, percentile(ds, tc.q), "q %g", tc.q)
	}
	require.Zero(t, percentile(nil, 0.99))
}

func TestReadRSS(t *testing.T) {
	rss, err := readRSS(os.Getpid())
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no /proc")
	}
	require.NoError(t, err)
	require.Greater(t, rss, float64(mib), "a Go test process holds more than 1 MiB")
}
