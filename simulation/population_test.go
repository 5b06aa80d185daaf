package simulation_test

import (
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/simulation"
)

func newPopulation(tb testing.TB, seed uint64) *simulation.Population {
	tb.Helper()
	p, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: seed})
	require.NoError(tb, err)
	return p
}

func TestContactsAreReproducible(t *testing.T) {
	a, b, other := newPopulation(t, 42), newPopulation(t, 42), newPopulation(t, 43)
	const n = 500
	forward := make([]features.Context, n)
	for i := range forward {
		forward[i] = a.Contact(int64(i))
	}
	differ := 0
	for i := n - 1; i >= 0; i-- { // any order gives the same contacts
		require.Equal(t, forward[i], b.Contact(int64(i)), "contact %d", i)
		if o := other.Contact(int64(i)); o.Customer.ID != forward[i].Customer.ID || o.Intent.Name != forward[i].Intent.Name {
			differ++
		}
	}
	require.Greater(t, differ, n*9/10, "another seed must give other contacts")
	require.Equal(t, a.Customer(17), b.Customer(17))
}

func TestContactsAreValid(t *testing.T) {
	p := newPopulation(t, 1)
	intents := []string{"billing_dispute", "payment_failed", "service_outage", "cancel_service", "complaint", "order_status",
		"password_reset", "address_change", "technical_support", "upgrade_inquiry", "new_product", "general_question"}
	channels := []string{"phone", "ivr", "chat", "email", "web", "app", "store"}
	for i := int64(0); i < 20_000; i++ {
		c := p.Contact(i)
		require.NoError(t, c.Validate(), "contact %d: %+v", i, c)
		require.Contains(t, intents, c.Intent.Name)
		require.Contains(t, channels, c.Channel)
		require.Equal(t, simulation.TierFor(c.Customer.AnnualSpend), c.Customer.Tier)
		require.NotEmpty(t, c.Customer.ID)
	}
}

// TestPopulationMarginals pins the population's shape: the shares and
// medians docs/simulator.md declares.
func TestPopulationMarginals(t *testing.T) {
	p := newPopulation(t, 3)
	const n = 40_000
	share := map[string]float64{}
	var ltv, spend, phoneWait []float64
	var sentiment, conf, withConf float64
	for i := int64(0); i < n; i++ {
		c := p.Contact(i)
		share["intent "+c.Intent.Name]++
		share["channel "+c.Channel]++
		share["tier "+c.Customer.Tier]++
		f := c.Friction
		for name, on := range map[string]bool{
			"first contact": c.Customer.FirstContact, "prefers self-service": c.Customer.PrefersSelfService,
			"repeat contact": f.RepeatContacts7d > 0, "failed self-service": f.FailedSelfService24h > 0,
			"open complaint": f.OpenComplaint, "friction": simulation.HasFriction(&c),
		} {
			if on {
				share[name]++
			}
		}
		ltv = append(ltv, c.Customer.LifetimeValue)
		spend = append(spend, c.Customer.AnnualSpend)
		if c.Channel == "phone" {
			phoneWait = append(phoneWait, f.WaitSeconds)
		}
		sentiment += f.Sentiment
		if c.Intent.Confidence != nil {
			withConf++
			conf += *c.Intent.Confidence
		}
	}
	for k := range share {
		share[k] /= n
	}
	tests := []struct {
		name   string
		got    float64
		lo, hi float64
	}{
		{"technical_support is the most frequent intent", share["intent technical_support"], 0.14, 0.16},
		{"order_status", share["intent order_status"], 0.13, 0.15},
		{"billing_dispute", share["intent billing_dispute"], 0.09, 0.11},
		{"password_reset", share["intent password_reset"], 0.08, 0.10},
		{"cancel_service", share["intent cancel_service"], 0.04, 0.06},
		{"complaint", share["intent complaint"], 0.04, 0.06},
		{"phone", share["channel phone"], 0.22, 0.30},
		{"app", share["channel app"], 0.20, 0.28},
		{"store is rare", share["channel store"], 0.02, 0.05},
		{"basic", share["tier basic"], 0.40, 0.48},
		{"silver", share["tier silver"], 0.27, 0.35},
		{"gold", share["tier gold"], 0.15, 0.21},
		{"platinum", share["tier platinum"], 0.05, 0.09},
		{"first contact", share["first contact"], 0.03, 0.08},
		{"prefers self-service", share["prefers self-service"], 0.33, 0.43},
		{"repeat contact within 7 days", share["repeat contact"], 0.22, 0.32},
		{"failed self-service within 24 h", share["failed self-service"], 0.09, 0.15},
		{"open complaint", share["open complaint"], 0.06, 0.11},
		{"some friction", share["friction"], 0.38, 0.50},
		{"median annual spend", median(spend), 370, 450},
		{"median lifetime value", median(ltv), 700, 1000},
		{"median phone wait (s)", median(phoneWait), 100, 140},
		{"mean sentiment", sentiment / n, 0, 0.15},
		{"share with an intent confidence", withConf / n, 0.57, 0.63},
		{"mean intent confidence", conf / withConf, 0.77, 0.83},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.True(t, tt.got >= tt.lo && tt.got <= tt.hi, "%s = %.4f, want in [%g, %g]", tt.name, tt.got, tt.lo, tt.hi)
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

func TestNewPopulationRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  simulation.PopulationConfig
	}{
		{"negative customers", simulation.PopulationConfig{Customers: -1}},
		{"confidence share above 1", simulation.PopulationConfig{ConfidenceShare: 1.5}},
		{"confidence share NaN", simulation.PopulationConfig{ConfidenceShare: math.NaN()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simulation.NewPopulation(tt.cfg)
			require.Error(t, err)
		})
	}
}

func TestTierFor(t *testing.T) {
	tests := []struct {
		spend float64
		want  string
	}{{0, "basic"}, {349.99, "basic"}, {350, "silver"}, {849, "silver"}, {850, "gold"}, {1999, "gold"}, {2000, "platinum"}, {1e6, "platinum"}}
	for _, tt := range tests {
		require.Equal(t, tt.want, simulation.TierFor(tt.spend), "spend %g", tt.spend)
	}
}
