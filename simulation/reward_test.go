package simulation_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/models"
	"situ/simulation"
)

// defaultReward is situ's embedded default reward definition.
func defaultReward(tb testing.TB) *models.RewardDefinition {
	tb.Helper()
	def, err := models.DefaultReward()
	require.NoError(tb, err)
	return &def
}

// certain returns the response that produces o (but its handle time) with
// certainty; the handle time is o's, spread by HandleFactors.
func certain(o models.Outcome) simulation.Response {
	p := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	res := 0
	if o.Resolved {
		res = 1
	}
	var r simulation.Response
	r.Resolve = p(o.Resolved)
	r.Escalate[res] = p(o.Escalated)
	r.Recontact[res] = p(o.Recontact7d)
	r.Churn[res] = p(o.Churned)
	r.Upsell[res] = p(o.UpsellAccepted)
	r.Revenue = o.Revenue
	if o.CSAT != nil {
		r.Survey = 1
		r.CSAT[res][int(*o.CSAT)-1] = 1
	}
	r.Handle[res] = o.HandleSeconds
	return r
}

// TestExpectedRewardIsModelsReward holds the simulator to situ's reward
// definition: the expected reward of a response that produces one outcome
// is what models.DefaultReward() gives that outcome (averaged over the
// spread of handle times).
func TestExpectedRewardIsModelsReward(t *testing.T) {
	def := defaultReward(t)
	csat := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		o    models.Outcome
	}{
		{"nothing happened", models.Outcome{}},
		{"resolved", models.Outcome{Resolved: true}},
		{"resolved, csat 4, 340 s", models.Outcome{Resolved: true, CSAT: csat(4), HandleSeconds: 340}},
		{"csat 3 is neutral", models.Outcome{CSAT: csat(3)}},
		{"csat 1 unresolved", models.Outcome{CSAT: csat(1)}},
		{"upsell with revenue 100", models.Outcome{UpsellAccepted: true, Revenue: 100}},
		{"revenue is capped", models.Outcome{Resolved: true, UpsellAccepted: true, Revenue: 5000}},
		{"handle time 500 s", models.Outcome{HandleSeconds: 500}},
		{"escalated and back within 7 days", models.Outcome{Escalated: true, Recontact7d: true}},
		{"churned", models.Outcome{Churned: true}},
		{"everything wrong is clipped", models.Outcome{Churned: true, Recontact7d: true, Escalated: true, HandleSeconds: 1000, CSAT: csat(1)}},
		{"everything right is clipped", models.Outcome{Resolved: true, CSAT: csat(5), UpsellAccepted: true, Revenue: 500, HandleSeconds: 100}},
		{"resolved upsell, long call", models.Outcome{Resolved: true, UpsellAccepted: true, Revenue: 50, HandleSeconds: 900}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := 0.0
			for j, f := range simulation.HandleFactors {
				o := tt.o
				o.HandleSeconds = math.Round(tt.o.HandleSeconds * f)
				want += simulation.HandleWeights[j] * def.Reward(&o)
			}
			r := certain(tt.o)
			require.InDelta(t, want, r.Expected(def), 1e-12)
		})
	}
}

// TestRunScoresWithTheRewardDefinition checks that a run scores the drawn
// outcomes with the reward definition it is given, the default one when
// it is given none: the realised rewards of its windows add up to the
// definition's rewards of the outcomes it published.
func TestRunScoresWithTheRewardDefinition(t *testing.T) {
	resolvedOnly := models.RewardDefinition{Version: 2, Weights: models.RewardWeights{Resolved: 1}, Clip: [2]float64{-1, 1}}
	tests := []struct {
		name   string
		reward *models.RewardDefinition
		want   *models.RewardDefinition
	}{
		{"default", nil, defaultReward(t)},
		{"given", &resolvedOnly, &resolvedOnly},
	}
	url := newSitu(t, newEngine(t, "d-"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &memPublisher{}
			rep, err := simulation.Run(context.Background(), simulation.Config{
				ScoreURL: url, Publisher: pub, Contacts: 200, Window: 50, Seed: 5,
				Reward: tt.reward, Now: func() time.Time { return fixedNow },
			})
			require.NoError(t, err)
			got := 0.0
			for _, w := range rep.Windows {
				got += w.Realised * float64(w.Served)
			}
			want := 0.0
			for _, o := range pub.all() {
				want += tt.want.Reward(&o)
			}
			require.InDelta(t, want, got, 1e-9)
		})
	}
}
