package simulation_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
	"situ/simulation"
)

var fixedNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestRunAgainstSitu(t *testing.T) {
	pub := &memPublisher{}
	var streamed []simulation.WindowReport
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: pub,
		Contacts: 1000, Window: 200, Concurrency: 4, Seed: 3,
		Now:      func() time.Time { return fixedNow },
		OnWindow: func(w simulation.WindowReport) { streamed = append(streamed, w) },
	})
	require.NoError(t, err)

	require.Len(t, rep.Windows, 5)
	require.Equal(t, rep.Windows, streamed, "OnWindow streams every window, in order")
	require.Equal(t, []string{"always_fast", "always_pamper", "always_self_service", "value_tier_rules", "uniform_rules"}, rep.Strategies)
	prevRegret := 0.0
	realised, expected := 0.0, 0.0
	for k, w := range rep.Windows {
		require.Equal(t, k, w.Index)
		require.Equal(t, 200*(k+1), w.End)
		require.Equal(t, 200, w.Served)
		require.Zero(t, w.Failed)
		require.Zero(t, w.PublishFailed)
		require.GreaterOrEqual(t, w.Oracle, w.Expected, "nothing beats the oracle")
		for i, v := range w.Strategies {
			require.GreaterOrEqual(t, w.Oracle, v, "nothing beats the oracle: %s", rep.Strategies[i])
		}
		require.InDelta(t, w.Oracle-w.Expected, w.Regret, 1e-12)
		require.GreaterOrEqual(t, w.CumulativeRegret, prevRegret, "regret only accumulates")
		prevRegret = w.CumulativeRegret
		require.InDelta(t, 1, w.Mix[0]+w.Mix[1]+w.Mix[2], 1e-9)
		require.Equal(t, int64(1), w.ModelVersion)
		realised += w.Realised
		expected += w.Expected
	}
	require.InDelta(t, expected/5, realised/5, 0.06, "realised rewards scatter around their expectation")

	s := rep.Summary
	require.Equal(t, 1000, s.Served)
	require.Zero(t, s.Failed)
	last := rep.Windows[4]
	require.InDelta(t, last.Expected/last.Oracle, s.OracleRatio, 1e-12)
	require.Contains(t, rep.Strategies, s.BestStrategy)
	require.InDelta(t, last.CumulativeRegret, s.CumulativeRegret, 1e-12)

	outcomes := pub.all()
	require.Len(t, outcomes, 1000)
	ids := map[string]bool{}
	decisions := map[string]bool{}
	for _, o := range outcomes {
		require.NoError(t, o.Validate())
		require.Equal(t, fixedNow, o.OccurredAt)
		require.False(t, ids[o.OutcomeID], "outcome ids are unique")
		ids[o.OutcomeID] = true
		decisions[o.DecisionID] = true
	}
	require.Len(t, decisions, 1000, "one outcome per decision")
	require.True(t, decisions["d-1"] && decisions["d-1000"])

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	for _, want := range []string{"window", "oracle", "uniform_rules", "cum_regret", "last window: served", "best fixed strategy"} {
		require.Contains(t, text.String(), want)
	}

	var raw bytes.Buffer
	require.NoError(t, rep.WriteJSON(&raw), "the report is JSON for tools")
	require.Contains(t, raw.String(), `"format_version": 1`)
	back, err := simulation.ReadReport(&raw)
	require.NoError(t, err)
	require.Equal(t, rep.Windows, back.Windows)
	require.Equal(t, rep.Summary, back.Summary)
}

func TestRunIsReproducible(t *testing.T) {
	run := func(seed uint64, concurrency int) (*simulation.Report, []models.Outcome) {
		pub := &memPublisher{}
		rep, err := simulation.Run(context.Background(), simulation.Config{
			ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: pub,
			Contacts: 300, Window: 100, Concurrency: concurrency, Seed: seed,
			Now: func() time.Time { return fixedNow },
		})
		require.NoError(t, err)
		return rep, pub.all()
	}
	a, outA := run(5, 1)
	b, outB := run(5, 1)
	require.Equal(t, a.Windows, b.Windows)
	require.Equal(t, outA, outB)

	c, _ := run(6, 1)
	require.NotEqual(t, a.Windows[0].Oracle, c.Windows[0].Oracle, "another seed, other contacts")

	// with more contacts in flight, situ sees them in another order, but
	// the contacts themselves, and so the oracle, do not change
	d, _ := run(5, 4)
	for k := range a.Windows {
		require.InDelta(t, a.Windows[k].Oracle, d.Windows[k].Oracle, 1e-9)
		require.InDelta(t, a.Windows[k].Strategies[0], d.Windows[k].Strategies[0], 1e-9)
	}
}

// jsonError answers with a JSON error body.
func jsonError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"test","message":"injected by the test"}}`))
}

func TestRunCountsTransientFailures(t *testing.T) {
	var n atomic.Int64
	url := newSituWith(t, newEngine(t, "d-"), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch k := n.Add(1); {
			case k%10 == 0:
				jsonError(w, http.StatusServiceUnavailable)
			case k%10 == 5:
				jsonError(w, http.StatusTooManyRequests)
			case k == 7: // longer than the client waits
				// read the body so that the server notices the client leave
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
				}
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	pub := &memPublisher{}
	// generous for the answers that come (a loaded CI machine), and the
	// one that does not come is cut off by it
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: url, Client: client, Publisher: pub, Contacts: 100, Window: 50, Concurrency: 1,
	})
	require.NoError(t, err)
	require.Equal(t, 21, rep.Summary.Failed, "10 × 503, 10 × 429, 1 timeout")
	require.Equal(t, 79, rep.Summary.Served)
	require.Len(t, pub.all(), 79, "no outcome without a decision")
	require.Equal(t, 50, rep.Windows[0].Served+rep.Windows[0].Failed)
	require.NotEmpty(t, rep.Summary.LastFailure)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "21 failed")
}

func TestRunStopsOnContractViolations(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		errText string
	}{
		{"a 400 means the simulator sent something wrong", http.StatusBadRequest, `{"error":{"code":"invalid_field","message":"channel: is required"}}`, "400"},
		{"a 404 means the URL is wrong", http.StatusNotFound, `{"error":{"code":"not_found","message":"no such route"}}`, "404"},
		{"not JSON", http.StatusOK, `<html>hello</html>`, "decode response"},
		{"no decision id", http.StatusOK, `{"treatment":"fast_resolution","probabilities":{"fast_resolution":1}}`, "decision_id"},
		{"unknown treatment", http.StatusOK, `{"decision_id":"x","treatment":"hug","probabilities":{"fast_resolution":1}}`, "unknown treatment"},
		{"probabilities do not sum to 1", http.StatusOK, `{"decision_id":"x","treatment":"fast_resolution","probabilities":{"fast_resolution":0.5}}`, "sum to"},
		{"chosen treatment has probability 0", http.StatusOK, `{"decision_id":"x","treatment":"self_service","probabilities":{"fast_resolution":1,"self_service":0}}`, "probability 0"},
		{"an excluded treatment with a probability", http.StatusOK, `{"decision_id":"x","treatment":"fast_resolution","probabilities":{"fast_resolution":0.5,"self_service":0.5},"policy":{"excluded":{"self_service":"friction-no-self-service"}}}`, "excluded by the policy"},
		{"an experiment without an arm", http.StatusOK, `{"decision_id":"x","treatment":"fast_resolution","probabilities":{"fast_resolution":1},"strategy":"uniform","experiment":{"id":"philosophy"}}`, "experiment needs an id and an arm"},
		{"probability out of range", http.StatusOK, `{"decision_id":"x","treatment":"fast_resolution","probabilities":{"fast_resolution":1.5,"self_service":-0.5}}`, "not in [0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := newSituWith(t, newEngine(t, "d-"), func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
				})
			})
			pub := &memPublisher{}
			rep, err := simulation.Run(context.Background(), simulation.Config{
				ScoreURL: url, Publisher: pub, Contacts: 50, Concurrency: 2,
			})
			require.ErrorIs(t, err, simulation.ErrContract)
			require.Contains(t, err.Error(), tt.errText)
			require.NotNil(t, rep)
			require.Empty(t, pub.all())
		})
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := simulation.Run(ctx, simulation.Config{
		ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: &memPublisher{},
		Contacts: 1_000_000, Window: 100, Concurrency: 2,
		OnWindow: func(simulation.WindowReport) { cancel() },
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotEmpty(t, rep.Windows, "the report covers what was done")
	require.Less(t, rep.Summary.Served, 10_000)
}

func TestRunStopsAfterMaxFailures(t *testing.T) {
	url := newSituWith(t, newEngine(t, "d-"), func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { jsonError(w, http.StatusInternalServerError) })
	})
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: url, Publisher: &memPublisher{}, Contacts: 1000, Concurrency: 1, MaxFailures: 5,
	})
	require.Error(t, err)
	require.Contains(t, err.Error(), "6 contacts failed")
	require.Equal(t, 6, rep.Summary.Failed)
	require.Contains(t, rep.Summary.LastFailure, "500")
}

// TestRunStopsWhenAnOutcomeIsNotPublished: an outcome the publisher
// refuses never reaches the learner, so the run stops with an error that
// counts them and names the first publisher error.
func TestRunStopsWhenAnOutcomeIsNotPublished(t *testing.T) {
	cases := []struct {
		name        string
		failFrom    int // the n-th publish call (1-based) and every later one fail
		concurrency int
		wantServed  int
	}{
		{name: "the fourth outcome", failFrom: 4, concurrency: 1, wantServed: 4},
		{name: "every outcome", failFrom: 1, concurrency: 1, wantServed: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls, published := 0, 0
			pub := simulation.OutcomePublisherFunc(func(_ context.Context, o models.Outcome) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls >= tc.failFrom {
					return fmt.Errorf("broker unavailable (call %d)", calls)
				}
				published++
				return nil
			})
			rep, err := simulation.Run(context.Background(), simulation.Config{
				ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: pub, Contacts: 200, Concurrency: tc.concurrency,
			})
			require.ErrorIs(t, err, simulation.ErrOutcomesNotPublished)
			require.ErrorContains(t, err, "outcomes not published: 1 (the first failed with: broker unavailable (call "+fmt.Sprint(tc.failFrom)+"))")
			require.NotNil(t, rep, "the report of what was done")
			require.Equal(t, tc.wantServed, rep.Summary.Served, "the run stopped at the refused outcome")
			require.Equal(t, 1, rep.Summary.PublishFailed)
			require.Equal(t, tc.failFrom-1, published)
		})
	}
}

func TestRunRateLimits(t *testing.T) {
	start := time.Now()
	_, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: &memPublisher{}, Contacts: 21, Rate: 100,
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "21 contacts at 100/s take 200 ms")
}

func TestRunRejectsBadConfig(t *testing.T) {
	ok := simulation.Config{ScoreURL: "http://127.0.0.1:1", Publisher: &memPublisher{}, Contacts: 10}
	tests := []struct {
		name   string
		change func(*simulation.Config)
		want   string
	}{
		{"no URL", func(c *simulation.Config) { c.ScoreURL = "" }, "score URL is required"},
		{"URL without scheme", func(c *simulation.Config) { c.ScoreURL = "127.0.0.1:8080" }, "must start with http"},
		{"no publisher", func(c *simulation.Config) { c.Publisher = nil }, "publisher is required"},
		{"no contacts", func(c *simulation.Config) { c.Contacts = 0 }, "contacts must be positive"},
		{"negative window", func(c *simulation.Config) { c.Window = -1 }, "window must be positive"},
		{"negative concurrency", func(c *simulation.Config) { c.Concurrency = -2 }, "concurrency must be positive"},
		{"negative rate", func(c *simulation.Config) { c.Rate = -1 }, "rate must be"},
		{"negative max failures", func(c *simulation.Config) { c.MaxFailures = -1 }, "max failures"},
		{"negative customers", func(c *simulation.Config) { c.Customers = -1 }, "customers must be positive"},
		{"nameless strategy", func(c *simulation.Config) {
			c.Strategies = []simulation.Strategy{{Choose: simulation.AlwaysFast}}
		}, "needs a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			rep, err := simulation.Run(context.Background(), cfg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.Nil(t, rep)
		})
	}
}

// TestRunAgainstDefaultModel runs the default model without learning: its
// priors are wrong in places and it explores, so it trails the oracle and
// the best fixed strategy. Run with -v to see the report.
func TestRunAgainstDefaultModel(t *testing.T) {
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: &memPublisher{},
		Contacts: 6000, Window: 1000, Concurrency: 4, Seed: 1,
	})
	require.NoError(t, err)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	t.Log("\n" + text.String())
	s := rep.Summary
	require.Less(t, s.OracleRatio, 0.85, "the default priors leave something to learn")
	require.Less(t, s.ServedMinusBest, 0.0, "without learning, a fixed strategy does better")
	for _, w := range rep.Windows {
		require.Greater(t, w.Mix[features.PamperUpsell], 0.0)
		require.Greater(t, w.Mix[features.SelfService], 0.0)
	}
}
