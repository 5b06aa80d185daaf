package features_test

import (
	"math"
	"testing"

	"situ/features"
	"situ/internal/situtest"
)

// BenchmarkExtractSchemas extracts the contract example's features with
// the default schema and with the interactions schema (about 40 entries
// of 705 features), into a reused buffer.
func BenchmarkExtractSchemas(b *testing.B) {
	def, err := features.DefaultSchema()
	if err != nil {
		b.Fatal(err)
	}
	inter := situtest.TestdataSchema(b, "interactions.yaml")
	c := situtest.ContractContext()
	for _, bc := range []struct {
		name string
		s    *features.Schema
	}{{"default", def}, {"interactions", inter}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]features.Entry, 0, bc.s.MaxEntries())
			b.ReportAllocs()
			for b.Loop() {
				buf, _, _ = bc.s.ExtractUnknown(&c, false, buf[:0])
			}
		})
	}
}

// TestBuiltinMinMaxAreMath checks what the numeric transforms rely on:
// the builtin min and max give math.Min and math.Max to the bit, signed
// zeros and infinities included. They differ only for a NaN against an
// infinity (math returns the infinity), which extraction never meets:
// Validate rejects NaN in a context, CompileSchema in a clip.
func TestBuiltinMinMaxAreMath(t *testing.T) {
	vals := []float64{math.NaN(), math.Inf(-1), -1e300, -2.5, -1, math.Copysign(0, -1), 0, 5e-324, 1, 2.5, 1e300, math.Inf(1)}
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	for _, x := range vals {
		for _, y := range vals {
			if (math.IsNaN(x) || math.IsNaN(y)) && (math.IsInf(x, 0) || math.IsInf(y, 0)) {
				continue
			}
			if got, want := min(x, y), math.Min(x, y); !same(got, want) {
				t.Errorf("min(%v, %v) = %v, math.Min %v", x, y, got, want)
			}
			if got, want := max(x, y), math.Max(x, y); !same(got, want) {
				t.Errorf("max(%v, %v) = %v, math.Max %v", x, y, got, want)
			}
		}
	}
}
