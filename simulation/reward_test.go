package simulation_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"situ/models"
	"situ/simulation"
)

func TestDefaultReward(t *testing.T) {
	csat := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		o    models.Outcome
		want float64
	}{
		{"nothing happened", models.Outcome{}, 0},
		{"resolved", models.Outcome{Resolved: true}, 0.4},
		{"resolved, csat 4, 340 s", models.Outcome{Resolved: true, CSAT: csat(4), HandleSeconds: 340}, 0.4 + 0.1 - 0.068},
		{"csat 3 is neutral", models.Outcome{CSAT: csat(3)}, 0},
		{"csat 1 unresolved", models.Outcome{CSAT: csat(1)}, -0.2},
		{"upsell with revenue 100", models.Outcome{UpsellAccepted: true, Revenue: 100}, 0.3 + 0.1},
		{"revenue is capped at 0.3", models.Outcome{Revenue: 5000}, 0.3},
		{"handle time 500 s", models.Outcome{HandleSeconds: 500}, -0.1},
		{"escalated and back within 7 days", models.Outcome{Escalated: true, Recontact7d: true}, -0.5},
		{"churned", models.Outcome{Churned: true}, -0.8},
		{"everything wrong is clipped to -1", models.Outcome{Churned: true, Recontact7d: true, Escalated: true, HandleSeconds: 1000, CSAT: csat(1)}, -1},
		{"everything right is clipped to 1", models.Outcome{Resolved: true, CSAT: csat(5), UpsellAccepted: true, Revenue: 500, HandleSeconds: 100}, 1},
		{"resolved upsell, long call", models.Outcome{Resolved: true, UpsellAccepted: true, Revenue: 50, HandleSeconds: 900}, 0.4 + 0.3 + 0.05 - 0.18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, simulation.DefaultReward(tt.o), 1e-12)
		})
	}
}
