package feedback

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"situ/experiments"
	"situ/features"
	"situ/models"
)

// benchResultsLoop returns a results loop ready for handleDecision and
// handleOutcome, with no broker behind it.
func benchResultsLoop(b *testing.B) *ResultsLoop {
	b.Helper()
	schema, err := features.DefaultSchema()
	if err != nil {
		b.Fatal(err)
	}
	clog, err := NewControlLog(ControlLogConfig{Brokers: []string{"127.0.0.1:1"}, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewResultsLoop(ResultsLoopConfig{Brokers: []string{"127.0.0.1:1"}, Control: clog})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.close)
	l.agg = experiments.NewAggregator()
	l.joiner = experiments.NewPartsJoin[experiments.UnitRef](l.cfg.Join)
	l.rewards = map[int64]models.RewardDefinition{}
	return l
}

// benchDecision returns decision i of a 2-arm experiment of 100,000
// units, and its encoding.
func benchDecision(b *testing.B, i int) (models.DecisionEvent, []byte) {
	d := testDecision(i)
	d.DecisionID = fmt.Sprintf("d-%08d", i)
	d.Experiment, d.Arm = "bench", []string{"control", "same"}[i%2]
	d.Context = &features.Context{Customer: features.Customer{ID: fmt.Sprintf("%064x", i%100_000), Tier: "gold"}, Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
	v, err := d.AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	return d, v
}

// BenchmarkResultsLoopHandle is the results engine's work per experiment
// decision and its outcome, as read from Kafka: decode both, join them,
// count the exposure and add the observation (100,000 units, 2 arms). The
// fetches are not included.
func BenchmarkResultsLoopHandle(b *testing.B) {
	l := benchResultsLoop(b)
	const n = 1 << 16
	decisions := make([]kafka.Message, n)
	outcomes := make([][]kafka.Message, n)
	for i := range n {
		d, v := benchDecision(b, i)
		decisions[i] = kafka.Message{Value: v}
		o := testOutcome(i, d.DecisionID)
		value, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		outcomes[i] = []kafka.Message{{Value: value}}
	}
	benchHandle(b, l, decisions, outcomes)
}

// benchHandle hands the results loop each decision and then its outcome
// messages, one decision an op, the decisions over again from a new join
// once all were handed (the same ids again are new decisions).
func benchHandle(b *testing.B, l *ResultsLoop, decisions []kafka.Message, outcomes [][]kafka.Message) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(decisions)
		if k == 0 && i > 0 {
			b.StopTimer()
			l.joiner = experiments.NewPartsJoin[experiments.UnitRef](l.cfg.Join)
			b.StartTimer()
		}
		l.handleDecision(decisions[k])
		for _, o := range outcomes[k] {
			l.handleOutcome(o)
		}
	}
}

// BenchmarkResultsLoopHandleParts is BenchmarkResultsLoopHandle with each
// outcome in three parts, as a contact centre sends them: resolution and
// handle time, then the survey, then recontact_7d and churned; each part
// replaces the decision's observation. One op is a decision and its
// three parts.
func BenchmarkResultsLoopHandleParts(b *testing.B) {
	l := benchResultsLoop(b)
	const n = 1 << 15
	decisions := make([]kafka.Message, n)
	parts := make([][]kafka.Message, n)
	fields := [3][]models.OutcomeField{
		{models.FieldResolved, models.FieldHandleSeconds},
		{models.FieldCSAT},
		{models.FieldRecontact7d, models.FieldChurned},
	}
	for i := range n {
		d, v := benchDecision(b, i)
		decisions[i] = kafka.Message{Value: v}
		parts[i] = make([]kafka.Message, len(fields))
		for k, fs := range fields {
			o := testOutcome(i, d.DecisionID)
			o.OutcomeID = fmt.Sprintf("o-%08d-%d", i, k)
			o.OccurredAt = o.OccurredAt.Add(time.Duration(k) * time.Hour)
			o.Missing = models.AllOutcomeFields
			for _, f := range fs {
				o.Missing &^= 1 << f
			}
			var err error
			if parts[i][k].Value, err = json.Marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	}
	benchHandle(b, l, decisions, parts)
}
