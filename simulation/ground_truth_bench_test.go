package simulation_test

import (
	"testing"

	"situ/simulation"
)

// BenchmarkExpectedRewards measures the exact expected reward of the three
// treatments of one contact, what the run computes per contact.
func BenchmarkExpectedRewards(b *testing.B) {
	def := defaultReward(b)
	p := newPopulation(b, 1)
	c := p.Contact(1)
	b.ReportAllocs()
	for b.Loop() {
		simulation.ExpectedRewards(&c, def)
	}
}

// BenchmarkContact measures generating one contact.
func BenchmarkContact(b *testing.B) {
	p := newPopulation(b, 1)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		p.Contact(i)
		i++
	}
}
