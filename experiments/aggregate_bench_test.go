package experiments

import (
	"fmt"
	"testing"
	"time"

	"situ/models"
)

// BenchmarkAggregatorObservation is the cost of one joined outcome: its
// values added to its unit (of 100,000) and the arm's and segments' sums.
func BenchmarkAggregatorObservation(b *testing.B) {
	const units = 100_000
	agg, names := benchAggregator(units)
	csat := 4.0
	o := models.Outcome{Resolved: true, CSAT: &csat, Revenue: 12, HandleSeconds: 300}
	v := ValuesOf(&o, 0.7)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		agg.AddObservation(Observation{Experiment: "bench", Arm: names[i%3], Unit: benchUnit(i % units), Values: v})
		i++
	}
}

// BenchmarkAggregatorExposure is the cost of one decision of a known unit.
func BenchmarkAggregatorExposure(b *testing.B) {
	const units = 100_000
	agg, names := benchAggregator(units)
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		agg.AddExposure(Exposure{Experiment: "bench", Arm: names[i%3], Unit: benchUnit(i % units), Tier: "gold", Time: t0.Add(time.Hour)})
		i++
	}
}

// BenchmarkResults100kUnits computes the results of a 3-arm experiment of
// 100,000 units with two guardrails checked in every tier and
// first-contact segment.
func BenchmarkResults100kUnits(b *testing.B) {
	agg, _ := benchAggregator(100_000)
	def := simDefinition("bench", []simArm{{name: "a", weight: 0.4}, {name: "b", weight: 0.3}, {name: "c", weight: 0.3}},
		Guardrail{Metric: "resolved", MaxRelativeDrop: ptr(0.05), Segments: []string{SegmentTier, SegmentFirstContact}},
		Guardrail{Metric: "handle_seconds", MaxRelativeRise: ptr(0.1), Segments: []string{SegmentTier}})
	b.ReportAllocs()
	for b.Loop() {
		_ = agg.Results(def, time.Time{})
	}
}

var benchUnits []string

func benchUnit(i int) string { return benchUnits[i] }

// benchAggregator returns an aggregator of one experiment, "bench", with
// arms a, b, c and units spread over them, every unit exposed and joined
// once.
func benchAggregator(units int) (*Aggregator, []string) {
	if len(benchUnits) < units {
		benchUnits = make([]string, units)
		for i := range benchUnits {
			benchUnits[i] = fmt.Sprintf("%064x", i*2654435761)
		}
	}
	names := []string{"a", "b", "c"}
	tiers := []string{"basic", "silver", "gold", "platinum", ""}
	agg := NewAggregator()
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i := range units {
		agg.AddExposure(Exposure{Experiment: "bench", Arm: names[i%3], Unit: benchUnit(i), Tier: tiers[i%5], FirstContact: i%4 == 0, Time: t0})
		csat := float64(1 + i%5)
		o := models.Outcome{Resolved: i%3 != 0, CSAT: &csat, Revenue: float64(i % 50), HandleSeconds: float64(200 + i%300), Escalated: i%11 == 0}
		agg.AddObservation(Observation{Experiment: "bench", Arm: names[i%3], Unit: benchUnit(i), Values: ValuesOf(&o, float64(i%7)/7)})
	}
	return agg, names
}
