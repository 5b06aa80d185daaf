package simulation_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/simulation"
)

// TestReportJSONIsUnchanged holds the report situ sim --json writes to the
// bytes encoding/json's MarshalIndent wrote before it.
func TestReportJSONIsUnchanged(t *testing.T) {
	tests := []struct {
		name string
		r    simulation.Report
	}{
		{"empty: nil lists are null", simulation.Report{}},
		{"a run", simulation.Report{
			Seed: 3, Contacts: 400, Window: 200, Strategies: []string{"always_fast", "uniform_rules"},
			Windows: []simulation.WindowReport{
				{Index: 0, End: 200, Served: 199, Failed: 1, Realised: 0.123456789, Expected: -0.25, Oracle: 0.5,
					Strategies: []float64{0.1, 1e-7}, Optimal: 0.75, Regret: 1e21, CumulativeRegret: 12.5,
					Mix: [3]float64{0.5, 0.25, 0.25}, ModelVersion: 17},
				{Index: 1, End: 400, Served: 200},
			},
			Summary: simulation.Summary{Served: 399, Failed: 1, LastFailure: `score request failed: <html> & "quotes" ` + "\u2028",
				LastServed: 0.4, LastOracle: 0.5, OracleRatio: 0.8, BestStrategy: "uniform_rules", ServedMinusBest: -0.01},
			Elapsed: 1500 * time.Millisecond,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.MarshalIndent(&tt.r, "", "  ")
			require.NoError(t, err)
			got, err := tt.r.JSON()
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
}
