package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/control"
	"situ/experiments"
	"situ/features"
	"situ/models"
)

// expDecision is one decision of a test experiment and its outcome.
type expDecision struct {
	event   models.DecisionEvent
	outcome *models.Outcome
}

// experimentTraffic returns units decisions of experiment id, one to three
// per unit, split evenly over arms, with an outcome for most; resolved
// is the resolution rate of each arm. Decision n+i of no experiment, with
// its outcome, comes along too.
func experimentTraffic(seed uint64, id string, arms []string, resolved []float64, units int) []expDecision {
	rng := rand.New(rand.NewPCG(seed, 1))
	tiers := []string{"basic", "silver", "gold", "platinum", ""}
	var out []expDecision
	n := 0
	for u := range units {
		a := u % len(arms)
		tier := tiers[rng.IntN(len(tiers))]
		for k := range 1 + rng.IntN(3) {
			d := testDecision(n)
			d.DecisionID = fmt.Sprintf("%s-d-%05d", id, n)
			d.Experiment, d.Arm = id, arms[a]
			d.Context = &features.Context{Customer: features.Customer{ID: fmt.Sprintf("%064x", u+1), Tier: tier, FirstContact: k == 0 && u%2 == 0},
				Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
			ed := expDecision{event: d}
			if rng.Float64() < 0.9 {
				o := testOutcome(n, d.DecisionID)
				o.OutcomeID = "o-" + d.DecisionID
				o.Resolved = rng.Float64() < resolved[a]
				if rng.IntN(3) == 0 {
					o.CSAT = nil
				}
				ed.outcome = &o
			}
			out = append(out, ed)
			n++
		}
	}
	// decisions outside experiments, and their outcomes: dropped
	for i := range 20 {
		d := testDecision(100000 + i)
		o := testOutcome(100000+i, d.DecisionID)
		out = append(out, expDecision{event: d, outcome: &o})
	}
	return out
}

// produceTraffic writes the decisions, then the outcomes.
func produceTraffic(t *testing.T, brokers []string, topics TopicsConfig, ds []expDecision) {
	t.Helper()
	var decisions, outcomes []kafka.Message
	for _, d := range ds {
		v, err := d.event.AppendJSON(nil)
		require.NoError(t, err)
		decisions = append(decisions, kafka.Message{Key: []byte(d.event.DecisionID), Value: v})
		if d.outcome != nil {
			v, err := json.Marshal(d.outcome)
			require.NoError(t, err)
			outcomes = append(outcomes, kafka.Message{Key: []byte(d.event.DecisionID), Value: v})
		}
	}
	produce(t, brokers, topics.Decisions, decisions...)
	produce(t, brokers, topics.Outcomes, outcomes...)
}

// expectedResults feeds an aggregator straight from the traffic.
func expectedResults(t *testing.T, e experiments.Experiment, ds []expDecision) experiments.Results {
	t.Helper()
	reward, err := models.DefaultReward()
	require.NoError(t, err)
	agg := experiments.NewAggregator()
	for _, d := range ds {
		ev := d.event
		if ev.Experiment == "" {
			continue
		}
		cu := ev.Context.Customer
		agg.AddExposure(experiments.Exposure{Experiment: ev.Experiment, Arm: ev.Arm, Unit: cu.ID, Tier: cu.Tier, FirstContact: cu.FirstContact, DecisionID: ev.DecisionID, Time: ev.Time})
		if d.outcome != nil {
			agg.AddObservation(experiments.Observation{Experiment: ev.Experiment, Arm: ev.Arm, Unit: cu.ID, DecisionID: ev.DecisionID,
				Values: experiments.ValuesOf(d.outcome, reward.Reward(d.outcome))})
		}
	}
	return agg.Results(e, time.Time{})
}

// requireSameResults compares two results but for their time, numbers to
// 1e-9 (sums taken in another order may differ in the last bits).
func requireSameResults(t *testing.T, want, got experiments.Results) {
	t.Helper()
	norm := func(r experiments.Results) map[string]any {
		r.AsOf = time.Time{}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	var cmp func(path string, a, b any)
	cmp = func(path string, a, b any) {
		switch av := a.(type) {
		case map[string]any:
			bv, ok := b.(map[string]any)
			require.True(t, ok, path)
			require.Len(t, bv, len(av), path)
			for k := range av {
				cmp(path+"."+k, av[k], bv[k])
			}
		case []any:
			bv, ok := b.([]any)
			require.True(t, ok, path)
			require.Len(t, bv, len(av), path)
			for i := range av {
				cmp(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
			}
		case float64:
			bv, ok := b.(float64)
			require.True(t, ok, path)
			require.LessOrEqual(t, math.Abs(av-bv), 1e-9*math.Max(1, math.Abs(av)), "%s: %v vs %v", path, av, bv)
		default:
			require.Equal(t, a, b, path)
		}
	}
	cmp("results", norm(want), norm(got))
}

func createExperiment(t *testing.T, r *replica, d experiments.Definition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.plane.Submit(ctx, api.ChangeRequest{Author: "ana", Reason: "compare strategies",
		Change: control.Change{Experiments: &control.ExperimentsChange{Create: &d}}})
	require.NoError(t, err)
}

func experimentOf(t *testing.T, r *replica, id string) experiments.Experiment {
	t.Helper()
	_, cfg := r.log.Current()
	for _, e := range cfg.Experiments {
		if e.Definition.ID == id {
			return e
		}
	}
	t.Fatalf("no experiment %q", id)
	return experiments.Experiment{}
}

func newTestResultsLoop(t *testing.T, brokers []string, c *ControlLog, stop StopFunc) (*ResultsLoop, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := NewResultsLoop(ResultsLoopConfig{Brokers: brokers, Control: c, Interval: 100 * time.Millisecond,
		Stop: stop, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	return l, reg
}

func startBoard(t *testing.T, brokers []string) *ResultsBoard {
	t.Helper()
	b, err := NewResultsBoard(ResultsBoardConfig{Brokers: brokers, Logger: testLogger(t)})
	require.NoError(t, err)
	runBackground(t, b.Run)
	return b
}

// boardResults waits up to 10 s for the board to hold results of id that
// satisfy cond, and returns them.
func boardResults(t *testing.T, b *ResultsBoard, id string, cond func(experiments.Results) bool) experiments.Results {
	t.Helper()
	var got experiments.Results
	eventually(t, func() bool {
		raw, ok := b.Results(id)
		if !ok {
			return false
		}
		var r experiments.Results
		require.NoError(t, json.Unmarshal(raw, &r))
		got = r
		return cond(r)
	}, "results of %s on the board", id)
	return got
}

func TestResultsLoopPublishesAndRebuilds(t *testing.T) {
	b, topics := startBroker(t)
	r := startReplica(t, b.Brokers())
	def := experiments.Definition{ID: "philosophy", Arms: []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "same", Strategy: "uniform", Weight: 0.5}},
		Guardrails: []experiments.Guardrail{{Metric: "resolved", MaxRelativeDrop: ptr(0.5), Segments: []string{"tier"}}}}
	createExperiment(t, r, def)
	exp := experimentOf(t, r, "philosophy")
	traffic := experimentTraffic(1, "philosophy", []string{"control", "same"}, []float64{0.7, 0.7}, 400)
	produceTraffic(t, b.Brokers(), topics, traffic)
	want := expectedResults(t, exp, traffic)
	require.Positive(t, want.Outcomes)

	board := startBoard(t, b.Brokers())
	loop, reg := newTestResultsLoop(t, b.Brokers(), r.log, nil)
	stop := runBackground(t, loop.Run)
	first := boardResults(t, board, "philosophy", func(r experiments.Results) bool { return r.Outcomes == want.Outcomes })
	requireSameResults(t, want, first)
	require.Equal(t, float64(len(traffic)), metricValue(t, reg, "situ_results_decisions_read_total", nil))
	require.Equal(t, float64(want.Outcomes), metricValue(t, reg, "situ_results_outcomes_joined_total", nil))
	require.Equal(t, 0.0, metricValue(t, reg, "situ_results_lag_records", map[string]string{"topic": topics.Decisions}))

	// new traffic is published within the interval
	more := experimentTraffic(2, "philosophy", []string{"control", "same"}, []float64{0.7, 0.7}, 40)
	more = more[:len(more)-20] // the decisions outside the experiment are there already
	for i := range more {
		more[i].event.DecisionID += "-more"
		more[i].event.Context.Customer.ID += "-more"
		if more[i].outcome != nil {
			more[i].outcome.DecisionID = more[i].event.DecisionID
		}
	}
	produceTraffic(t, b.Brokers(), topics, more)
	all := append(traffic, more...)
	want = expectedResults(t, exp, all)
	second := boardResults(t, board, "philosophy", func(r experiments.Results) bool { return r.Outcomes == want.Outcomes })
	requireSameResults(t, want, second)
	require.NoError(t, stop())
	before := len(readAll(t, b.Brokers(), topics.Results))

	// a restarted loop rebuilds the same results from the streams, and
	// publishes nothing before it has read them to their end
	loop2, _ := newTestResultsLoop(t, b.Brokers(), r.log, nil)
	runBackground(t, loop2.Run)
	rebuilt := boardResults(t, board, "philosophy", func(r experiments.Results) bool { return r.AsOf.After(second.AsOf) })
	requireSameResults(t, second, rebuilt)
	after := readAll(t, b.Brokers(), topics.Results)
	require.Greater(t, len(after), before)
	for _, m := range after[before:] {
		var r experiments.Results
		require.NoError(t, json.Unmarshal(m.Value, &r))
		require.Equal(t, "philosophy", string(m.Key))
		require.Equal(t, [2]int64{second.Decisions, second.Outcomes}, [2]int64{r.Decisions, r.Outcomes}, "no partial results after a restart")
	}
}

func TestResultsLoopStopsAnExperimentWhoseGuardrailIsBreached(t *testing.T) {
	b, topics := startBroker(t)
	r := startReplica(t, b.Brokers())
	def := experiments.Definition{ID: "risky", OnBreach: experiments.OnBreachStop, Arms: []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "cheap", Strategy: "efficiency_first", Weight: 0.5}},
		Guardrails: []experiments.Guardrail{{Metric: "resolved", MaxRelativeDrop: ptr(0.05)}}}
	createExperiment(t, r, def)
	produceTraffic(t, b.Brokers(), topics, experimentTraffic(3, "risky", []string{"control", "cheap"}, []float64{0.8, 0.3}, 600))

	var mu sync.Mutex
	var calls [][]experiments.GuardrailStatus
	propose := GuardrailStop(r.plane)
	loop, reg := newTestResultsLoop(t, b.Brokers(), r.log, func(ctx context.Context, id string, evidence []experiments.GuardrailStatus) error {
		mu.Lock()
		calls = append(calls, evidence)
		mu.Unlock()
		require.Equal(t, "risky", id)
		return propose(ctx, id, evidence)
	})
	runBackground(t, loop.Run)
	board := startBoard(t, b.Brokers())
	res := boardResults(t, board, "risky", func(r experiments.Results) bool { return r.State == experiments.StateStopped })

	e := experimentOf(t, r, "risky")
	require.Equal(t, experiments.StateStopped, e.State)
	require.Equal(t, GuardrailsAuthor, e.Stop.By)
	require.Contains(t, e.Stop.Reason, "guardrail breached: resolved in overall of arm cheap: lift ")
	require.NotEmpty(t, e.Stop.Evidence)
	require.Equal(t, experiments.GuardrailBreached, e.Stop.Evidence[0].Status)
	require.Less(t, e.Stop.Evidence[0].CI[1], -0.05)
	mu.Lock()
	require.Len(t, calls, 1, "one stop")
	mu.Unlock()
	require.Equal(t, 1.0, metricValue(t, reg, "situ_results_guardrail_stops_total", nil))
	require.Equal(t, experiments.GuardrailBreached, res.Guardrails[0].Status)
	rec := r.plane.Records()[0]
	require.Equal(t, GuardrailsAuthor, rec.Author)
}

func ptr(x float64) *float64 { return &x }

func TestResultsBoardKeepsTheLatestResultsOfEveryExperiment(t *testing.T) {
	b, topics := startBroker(t)
	produce(t, b.Brokers(), topics.Results,
		kafka.Message{Key: []byte("a"), Value: []byte(`{"id":"a","outcomes":1}`)},
		kafka.Message{Key: []byte("b"), Value: []byte(`{"id":"b"}`)},
		kafka.Message{Key: []byte("a"), Value: []byte(`{"id":"a","outcomes":2}`)},
		kafka.Message{Key: []byte("c"), Value: []byte(`{"id":"c"}`)},
		kafka.Message{Key: []byte("c"), Value: nil},
	)
	board := startBoard(t, b.Brokers())
	select {
	case <-board.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("board did not catch up")
	}
	for _, tc := range []struct {
		id   string
		want string
		ok   bool
	}{
		{"a", `{"id":"a","outcomes":2}`, true},
		{"b", `{"id":"b"}`, true},
		{"c", "", false},
		{"unknown", "", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			got, ok := board.Results(tc.id)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, string(got))
		})
	}
}
