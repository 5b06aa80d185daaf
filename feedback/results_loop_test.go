package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
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

// partsRecord is one record of a parts experiment's streams, with the
// stream time at which it is written.
type partsRecord struct {
	at       time.Time
	decision *models.DecisionEvent
	part     *models.Outcome
}

// partsTraffic returns the streams of an experiment whose outcomes come
// in parts, over days of stream time: per decision resolution and handle
// time an hour later (sometimes delivered twice), csat (or "no survey")
// five hours later, sometimes an older part written after it (stale), for
// some a resolution three days later (after its window), and
// recontact_7d and churned six days later. Records written after the
// last decision's time are left out. It also returns each decision's
// latest fields as they count: the outcome the results must show.
func partsTraffic(seed uint64, id string, arms []string, resolved []float64, units int, days int) ([]partsRecord, map[string]*models.Outcome, []models.DecisionEvent) {
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	span := time.Duration(days) * 24 * time.Hour
	n := 2 * units
	var recs []partsRecord
	final := map[string]*models.Outcome{}
	var decisions []models.DecisionEvent
	tiers := []string{"basic", "silver", "gold", "platinum", ""}
	for k := range n {
		u := rng.IntN(units)
		a := u % len(arms)
		d := testDecision(k)
		d.DecisionID = fmt.Sprintf("%s-p-%05d", id, k)
		d.Time = t0.Add(span * time.Duration(k) / time.Duration(n))
		d.Experiment, d.Arm = id, arms[a]
		d.Context = &features.Context{Customer: features.Customer{ID: fmt.Sprintf("%064x", u+1), Tier: tiers[u%len(tiers)], FirstContact: u%3 == 0},
			Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
		decisions = append(decisions, d)
		recs = append(recs, partsRecord{at: d.Time, decision: &decisions[len(decisions)-1]})
		part := func(name string, after time.Duration, fields ...models.OutcomeField) *models.Outcome {
			o := &models.Outcome{OutcomeID: d.DecisionID + "-" + name, DecisionID: d.DecisionID, OccurredAt: d.Time.Add(after), Missing: models.AllOutcomeFields}
			for _, f := range fields {
				o.Missing &^= 1 << f
			}
			return o
		}
		want := &models.Outcome{DecisionID: d.DecisionID, Missing: models.AllOutcomeFields}
		add := func(at time.Duration, o *models.Outcome, counts bool) {
			if d.Time.Add(at).After(t0.Add(span)) {
				return // not written yet when the streams end
			}
			recs = append(recs, partsRecord{at: d.Time.Add(at), part: o})
			if !counts {
				return
			}
			for f := range models.OutcomeField(models.NumOutcomeFields) {
				if o.Holds(f) {
					want.Missing &^= 1 << f
				}
			}
			switch {
			case o.Holds(models.FieldResolved):
				want.Resolved, want.HandleSeconds = o.Resolved, o.HandleSeconds
			case o.Holds(models.FieldCSAT):
				want.CSAT = o.CSAT
			case o.Holds(models.FieldRecontact7d):
				want.Recontact7d, want.Churned = o.Recontact7d, o.Churned
			}
		}
		p1 := part("resolution", time.Hour, models.FieldResolved, models.FieldHandleSeconds)
		p1.Resolved, p1.HandleSeconds = rng.Float64() < resolved[a], float64(100+rng.IntN(600))
		add(time.Hour, p1, true)
		if rng.IntN(3) == 0 {
			dup := *p1
			add(time.Hour+time.Second, &dup, false) // delivered twice
		}
		p2 := part("survey", 5*time.Hour, models.FieldCSAT)
		if rng.IntN(5) > 0 {
			c := float64(1 + rng.IntN(5))
			p2.CSAT = &c
		}
		add(5*time.Hour, p2, true)
		if rng.IntN(4) == 0 {
			stale := part("stale", 30*time.Minute, models.FieldResolved, models.FieldHandleSeconds, models.FieldCSAT)
			one := 1.0
			stale.Resolved, stale.HandleSeconds, stale.CSAT = !p1.Resolved, 9999, &one
			add(6*time.Hour, stale, false) // written later, occurred earlier: changes nothing
		}
		if rng.IntN(3) == 0 {
			reopened := part("reopened", 3*24*time.Hour, models.FieldResolved, models.FieldHandleSeconds)
			reopened.Resolved, reopened.HandleSeconds = !p1.Resolved, 50
			add(3*24*time.Hour, reopened, false) // after the window of resolution
		}
		p4 := part("week", 6*24*time.Hour, models.FieldRecontact7d, models.FieldChurned)
		p4.Recontact7d, p4.Churned = rng.IntN(4) == 0, rng.IntN(20) == 0
		add(6*24*time.Hour, p4, true)
		if want.Held() != 0 {
			final[d.DecisionID] = want
		}
	}
	// decisions outside the experiment, with parts
	for i := range 10 {
		d := testDecision(90000 + i)
		d.Time = t0.Add(span * time.Duration(i) / 10)
		decisions = append(decisions, d)
		recs = append(recs, partsRecord{at: d.Time, decision: &decisions[len(decisions)-1]})
		o := testOutcome(90000+i, d.DecisionID)
		o.OccurredAt = d.Time.Add(time.Hour)
		recs = append(recs, partsRecord{at: o.OccurredAt, part: &o})
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
	return recs, final, decisions
}

// expectedPartsResults feeds an aggregator the decisions and their latest
// fields straight from the traffic.
func expectedPartsResults(t *testing.T, e experiments.Experiment, decisions []models.DecisionEvent, final map[string]*models.Outcome) experiments.Results {
	t.Helper()
	reward, err := models.DefaultReward()
	require.NoError(t, err)
	agg := experiments.NewAggregator()
	for _, d := range decisions {
		if d.Experiment == "" {
			continue
		}
		cu := d.Context.Customer
		agg.AddExposure(experiments.Exposure{Experiment: d.Experiment, Arm: d.Arm, Unit: cu.ID, Tier: cu.Tier, FirstContact: cu.FirstContact, DecisionID: d.DecisionID, Time: d.Time})
		if o := final[d.DecisionID]; o != nil {
			agg.AddObservation(experiments.Observation{Experiment: d.Experiment, Arm: d.Arm, Unit: cu.ID, DecisionID: d.DecisionID,
				Values: experiments.ValuesOf(o, reward.Reward(o))})
		}
	}
	return agg.Results(e, time.Time{})
}

// TestResultsLoopJoinsOutcomePartsAndRebuildsThem follows ten days of
// an experiment's streams, written in six-hour batches of stream time
// with the loop reading each as it comes, whose outcomes arrive in parts
// over a week; then a restarted loop rebuilds the results from the
// streams in one go. Both equal the results of each decision's latest
// fields (the late ones included, the stale, duplicate and too-late parts
// not), to 1e-9.
func TestResultsLoopJoinsOutcomePartsAndRebuildsThem(t *testing.T) {
	b, topics := startBroker(t)
	r := startReplica(t, b.Brokers())
	def := experiments.Definition{ID: "parts", Arms: []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "same", Strategy: "uniform", Weight: 0.5}},
		Guardrails: []experiments.Guardrail{{Metric: "recontact_7d", MaxRelativeRise: ptr(0.5), Segments: []string{"tier"}}}}
	createExperiment(t, r, def)
	exp := experimentOf(t, r, "parts")
	recs, final, decisions := partsTraffic(7, "parts", []string{"control", "same"}, []float64{0.7, 0.6}, 150, 10)
	want := expectedPartsResults(t, exp, decisions, final)
	require.Positive(t, want.Arms[0].Metrics["recontact_7d"].Units, "late fields in the traffic")
	require.Positive(t, want.Arms[0].Metrics["csat"].Units)

	board := startBoard(t, b.Brokers())
	loop, reg := newTestResultsLoop(t, b.Brokers(), r.log, nil)
	stop := runBackground(t, loop.Run)
	var decisionsWritten, partsWritten float64
	for start := 0; start < len(recs); {
		end := start
		batchEnd := recs[start].at.Add(6 * time.Hour)
		var ds, os []kafka.Message
		for ; end < len(recs) && recs[end].at.Before(batchEnd); end++ {
			if d := recs[end].decision; d != nil {
				v, err := d.AppendJSON(nil)
				require.NoError(t, err)
				ds = append(ds, kafka.Message{Key: []byte(d.DecisionID), Value: v})
			} else {
				v, err := json.Marshal(recs[end].part)
				require.NoError(t, err)
				os = append(os, kafka.Message{Key: []byte(recs[end].part.DecisionID), Value: v})
			}
		}
		if len(ds) > 0 {
			produce(t, b.Brokers(), topics.Decisions, ds...)
		}
		if len(os) > 0 {
			produce(t, b.Brokers(), topics.Outcomes, os...)
		}
		decisionsWritten += float64(len(ds))
		partsWritten += float64(len(os))
		eventually(t, func() bool {
			return metricValue(t, reg, "situ_results_decisions_read_total", nil) == decisionsWritten &&
				metricValue(t, reg, "situ_results_outcomes_read_total", nil) == partsWritten
		}, "the loop read the batch")
		start = end
	}
	// a last decision and its outcome, once everything else was read: the
	// results that hold them hold everything
	marker := testDecision(99999)
	marker.DecisionID, marker.Experiment, marker.Arm = "parts-marker", "parts", "control"
	marker.Time = recs[len(recs)-1].at.Add(time.Minute)
	marker.Context = &features.Context{Customer: features.Customer{ID: "marker", Tier: "gold"}, Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
	mo := testOutcome(99999, marker.DecisionID)
	mo.OccurredAt = marker.Time
	decisions = append(decisions, marker)
	final[marker.DecisionID] = &mo
	want = expectedPartsResults(t, exp, decisions, final)
	produceTraffic(t, b.Brokers(), topics, []expDecision{{event: marker, outcome: &mo}})

	live := boardResults(t, board, "parts", func(r experiments.Results) bool { return r.Outcomes == want.Outcomes })
	requireSameResults(t, want, live)
	for _, res := range []string{"duplicate", "stale", "late", "applied"} {
		require.Positive(t, metricValue(t, reg, "situ_results_parts_total", map[string]string{"result": res}), res)
	}
	// the decisions of the last week wait for their late fields; the
	// older ones have closed
	pending := metricValue(t, reg, "situ_results_pending_decisions", nil)
	require.Positive(t, pending)
	require.Less(t, pending, float64(len(final)))
	require.NoError(t, stop())

	// a restarted loop reads both streams from their start in one go, and
	// closes the same windows
	loop2, _ := newTestResultsLoop(t, b.Brokers(), r.log, nil)
	runBackground(t, loop2.Run)
	rebuilt := boardResults(t, board, "parts", func(r experiments.Results) bool { return r.AsOf.After(live.AsOf) })
	requireSameResults(t, live, rebuilt)
}
