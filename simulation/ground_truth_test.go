package simulation_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
	"situ/simulation"
)

func TestResponsesAreDistributions(t *testing.T) {
	p := newPopulation(t, 5)
	r := rand.New(rand.NewPCG(1, 2))
	for i := int64(0); i < 3000; i++ {
		c := p.Contact(i)
		for _, tr := range features.Treatments() {
			resp := simulation.TrueResponse(&c, tr)
			probs := []float64{resp.Resolve, resp.Survey}
			probs = append(probs, resp.Escalate[:]...)
			probs = append(probs, resp.Recontact[:]...)
			probs = append(probs, resp.Churn[:]...)
			probs = append(probs, resp.Upsell[:]...)
			for _, q := range probs {
				require.True(t, q >= 0 && q <= 1, "contact %d %s: probability %g in %+v", i, tr, q, resp)
			}
			for res := range resp.CSAT {
				sum := 0.0
				for _, q := range resp.CSAT[res] {
					require.GreaterOrEqual(t, q, 0.0)
					sum += q
				}
				require.InDelta(t, 1, sum, 1e-9)
				require.Greater(t, resp.Handle[res], 0.0)
			}
			require.GreaterOrEqual(t, resp.Revenue, 0.0)
			if tr == features.FastResolution {
				require.Zero(t, resp.Upsell, "fast resolution makes no offer")
			}
			o := resp.Draw(r)
			o.OutcomeID, o.DecisionID, o.OccurredAt = "o", "d", time.Unix(0, 0)
			require.NoError(t, o.Validate(), "contact %d %s", i, tr)
		}
	}
}

// TestExpectedMatchesDraws checks the exact expectation against the mean
// reward of many draws.
func TestExpectedMatchesDraws(t *testing.T) {
	def := defaultReward(t)
	tests := []struct {
		name string
		c    features.Context
	}{
		{"platinum upgrade on the phone", situation("upgrade_inquiry", "phone", "platinum", sentiment(0.5))},
		{"password reset in the app", situation("password_reset", "app", "silver", prefers, confidence(0.7))},
		{"angry repeat billing dispute", situation("billing_dispute", "phone", "gold", repeats(2), complaint, sentiment(-0.6))},
		{"cancelling gold customer", situation("cancel_service", "store", "gold")},
	}
	const n = 100_000
	for _, tt := range tests {
		for _, tr := range features.Treatments() {
			t.Run(tt.name+"/"+tr.String(), func(t *testing.T) {
				resp := simulation.TrueResponse(&tt.c, tr)
				r := rand.New(rand.NewPCG(3, uint64(tr)))
				sum, sq := 0.0, 0.0
				for range n {
					o := resp.Draw(r)
					x := def.Reward(&o)
					sum += x
					sq += x * x
				}
				mean := sum / n
				se := math.Sqrt((sq/n - mean*mean) / n)
				require.InDelta(t, resp.Expected(def), mean, 4*se+1e-9)
			})
		}
	}
}

// situations are hand-picked contacts with the treatment the ground truth
// says is best when every treatment is allowed, each with a clear margin.
var situations = []struct {
	name string
	c    features.Context
	best features.Treatment
}{
	{"password reset in the app, prefers self-service", situation("password_reset", "app", "silver", prefers), features.SelfService},
	{"the same after a failed self-service attempt", situation("password_reset", "app", "silver", prefers, failedSelfService(1)), features.FastResolution},
	{"password reset on the phone", situation("password_reset", "phone", "silver"), features.FastResolution},
	{"platinum browsing upgrades, good mood", situation("upgrade_inquiry", "phone", "platinum", sentiment(0.5)), features.PamperUpsell},
	{"the same with an open complaint", situation("upgrade_inquiry", "phone", "platinum", sentiment(0.5), complaint), features.FastResolution},
	{"the same back for the third time", situation("upgrade_inquiry", "phone", "platinum", repeats(3), sentiment(-0.2)), features.FastResolution},
	{"basic customer upgrading in the app", situation("upgrade_inquiry", "app", "basic", prefers), features.SelfService},
	{"gold billing dispute on the phone", situation("billing_dispute", "phone", "gold"), features.FastResolution},
	{"technical problem in the app", situation("technical_support", "app", "silver"), features.SelfService},
	{"technical problem in chat", situation("technical_support", "chat", "gold"), features.SelfService},
	{"technical problem on the phone", situation("technical_support", "phone", "silver"), features.FastResolution},
	{"technical problem in the app, back again", situation("technical_support", "app", "silver", repeats(2)), features.FastResolution},
	{"failed payment through the IVR", situation("payment_failed", "ivr", "silver"), features.SelfService},
	{"failed payment on the phone", situation("payment_failed", "phone", "silver"), features.FastResolution},
	{"order status on the phone", situation("order_status", "phone", "silver", prefers), features.FastResolution},
	{"order status in the app", situation("order_status", "app", "silver"), features.SelfService},
	{"address change through the IVR", situation("address_change", "ivr", "basic", prefers), features.FastResolution},
	{"platinum customer cancelling", situation("cancel_service", "phone", "platinum"), features.PamperUpsell},
	{"basic customer cancelling", situation("cancel_service", "phone", "basic"), features.FastResolution},
	{"platinum question in the store", situation("general_question", "store", "platinum", sentiment(0.6)), features.PamperUpsell},
	{"basic question in the app", situation("general_question", "app", "basic", prefers), features.SelfService},
	{"gold new product in chat", situation("new_product", "chat", "gold"), features.PamperUpsell},
	{"angry platinum complaint", situation("complaint", "phone", "platinum", complaint, sentiment(-0.5)), features.FastResolution},
}

func TestBestTreatmentIsSituational(t *testing.T) {
	def := defaultReward(t)
	for _, tt := range situations {
		t.Run(tt.name, func(t *testing.T) {
			e := simulation.ExpectedRewards(&tt.c, def)
			best, v := simulation.Best(&e, features.AllTreatments)
			require.Equal(t, tt.best, best, "expected rewards %v", e)
			for _, other := range features.Treatments() {
				if other != best {
					require.Greater(t, v-e[other], 0.03, "%s must beat %s clearly: %v", best, other, e)
				}
			}
		})
	}
}

// TestNoSingleFeatureDecides finds, for every feature, two hand-picked
// situations that share its value and still need different treatments.
func TestNoSingleFeatureDecides(t *testing.T) {
	featuresOf := []struct {
		name string
		of   func(c *features.Context) string
	}{
		{"intent", func(c *features.Context) string { return c.Intent.Name }},
		{"channel", func(c *features.Context) string { return c.Channel }},
		{"tier", func(c *features.Context) string { return c.Customer.Tier }},
		{"friction", func(c *features.Context) string { return fmt.Sprint(simulation.HasFriction(c)) }},
		{"prefers self-service", func(c *features.Context) string { return fmt.Sprint(c.Customer.PrefersSelfService) }},
	}
	for _, f := range featuresOf {
		t.Run(f.name, func(t *testing.T) {
			bestBy := map[string]map[features.Treatment]string{}
			found := ""
			for _, s := range situations {
				v := f.of(&s.c)
				if bestBy[v] == nil {
					bestBy[v] = map[features.Treatment]string{}
				}
				bestBy[v][s.best] = s.name
				if len(bestBy[v]) > 1 && found == "" {
					found = fmt.Sprintf("%s = %s: %v", f.name, v, bestBy[v])
				}
			}
			require.NotEmpty(t, found, "every value of %s has a single best treatment", f.name)
			t.Log(found)
		})
	}
}

// oneFeaturePolicyShare returns the share of the oracle's expected reward
// that the best policy seeing only key(c) earns (for each key, the
// treatment with the highest total expected reward), all treatments
// allowed.
func oneFeaturePolicyShare(contacts []features.Context, expected [][features.NumTreatments]float64, key func(c *features.Context) string) float64 {
	totals := map[string]*[features.NumTreatments]float64{}
	oracle := 0.0
	for i := range contacts {
		k := key(&contacts[i])
		if totals[k] == nil {
			totals[k] = &[features.NumTreatments]float64{}
		}
		for t, v := range expected[i] {
			totals[k][t] += v
		}
		_, best := simulation.Best(&expected[i], features.AllTreatments)
		oracle += best
	}
	got := 0.0
	for _, tot := range totals {
		_, v := simulation.Best(tot, features.AllTreatments)
		got += v
	}
	return got / oracle
}

// TestOneFeatureIsNotEnough: over the population, a policy that knows only
// the intent, only the channel, only the tier or only whether there is
// friction falls well short of the oracle, and so do the intent with one
// more of them.
func TestOneFeatureIsNotEnough(t *testing.T) {
	def := defaultReward(t)
	p := newPopulation(t, 11)
	const n = 20_000
	contacts := make([]features.Context, n)
	expected := make([][features.NumTreatments]float64, n)
	for i := range contacts {
		contacts[i] = p.Contact(int64(i))
		expected[i] = simulation.ExpectedRewards(&contacts[i], def)
	}
	tests := []struct {
		name string
		key  func(c *features.Context) string
		max  float64
	}{
		{"intent", func(c *features.Context) string { return c.Intent.Name }, 0.88},
		{"channel", func(c *features.Context) string { return c.Channel }, 0.85},
		{"tier", func(c *features.Context) string { return c.Customer.Tier }, 0.85},
		{"friction", func(c *features.Context) string { return fmt.Sprint(simulation.HasFriction(c)) }, 0.85},
		{"intent and channel", func(c *features.Context) string { return c.Intent.Name + c.Channel }, 0.90},
		{"intent and tier", func(c *features.Context) string { return c.Intent.Name + c.Customer.Tier }, 0.90},
		{"intent and friction", func(c *features.Context) string { return c.Intent.Name + fmt.Sprint(simulation.HasFriction(c)) }, 0.90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			share := oneFeaturePolicyShare(contacts, expected, tt.key)
			t.Logf("best policy knowing only the %s: %.1f%% of the oracle", tt.name, 100*share)
			require.Less(t, share, tt.max)
		})
	}
}

// TestDefaultPriorsAreWrongInPlaces: the default model's priors choose
// another treatment than the ground truth in these situations, so there is
// something to learn; elsewhere they agree.
func TestDefaultPriorsAreWrongInPlaces(t *testing.T) {
	def := defaultReward(t)
	engine := newEngine(t, "d-")
	tests := []struct {
		name       string
		c          features.Context
		priorsPick features.Treatment
	}{
		{"technical problem in chat", situation("technical_support", "chat", "silver"), features.FastResolution},
		{"failed payment through the IVR", situation("payment_failed", "ivr", "silver"), features.FastResolution},
		{"order status on the phone", situation("order_status", "phone", "silver", prefers), features.SelfService},
		{"address change through the IVR", situation("address_change", "ivr", "basic", prefers), features.SelfService},
		{"billing dispute of a self-service fan in the app", situation("billing_dispute", "app", "basic", prefers), features.SelfService},
		{"service outage in the app", situation("service_outage", "app", "silver"), features.FastResolution},
		{"password reset on the phone", situation("password_reset", "phone", "silver"), features.SelfService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := engine.Decide(context.Background(), scoring.Request{Context: tt.c})
			require.NoError(t, err)
			prior, _ := simulation.Best(&d.Scores, d.Eligible)
			require.Equal(t, tt.priorsPick, prior, "scores %v", d.Scores)
			e := simulation.ExpectedRewards(&tt.c, def)
			best, v := simulation.Best(&e, d.Eligible)
			require.NotEqual(t, prior, best)
			require.Greater(t, v-e[prior], 0.03, "the priors' mistake must cost something: %v", e)
		})
	}
}

// TestGroundTruthIsLearnable: under the default policy, the default
// priors (greedy, no exploration) reach well under 90 % of the oracle and
// no better than the best fixed strategy, while a linear model on the
// default feature schema, fitted to the expected rewards, reaches more than
// 96 % and beats every fixed strategy: what the learner has to find exists
// in the features it sees.
func TestGroundTruthIsLearnable(t *testing.T) {
	def := defaultReward(t)
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	model, err := models.DefaultModel(schema)
	require.NoError(t, err)
	pol, err := policy.Default()
	require.NoError(t, err)
	engine, err := scoring.NewEngine(scoring.Config{Model: model, Policy: pol})
	require.NoError(t, err)

	p := newPopulation(t, 21)
	const n, fitN = 16_000, 12_000
	strategies := simulation.FixedStrategies()
	type row struct {
		x        []features.Entry
		e        [features.NumTreatments]float64
		eligible features.TreatmentSet
	}
	rows := make([]row, n)
	var oracle, priors float64
	fixed := make([]float64, len(strategies))
	for i := range rows {
		c := p.Contact(int64(i))
		d, err := engine.Decide(context.Background(), scoring.Request{Context: c})
		require.NoError(t, err)
		rows[i] = row{x: d.Features, e: simulation.ExpectedRewards(&c, def), eligible: d.Eligible}
		if i < fitN {
			continue // fit on the first contacts, evaluate on the rest
		}
		_, o := simulation.Best(&rows[i].e, d.Eligible)
		oracle += o
		pt, _ := simulation.Best(&d.Scores, d.Eligible)
		priors += rows[i].e[pt]
		for k, s := range strategies {
			fixed[k] += rows[i].e[s.Choose(c, d.Eligible)]
		}
	}

	// ridge regression of each treatment's expected reward on the features
	dim := schema.Len() + 1 // + bias
	var w [features.NumTreatments]*mat.VecDense
	x := mat.NewDense(fitN, dim, nil)
	for i := 0; i < fitN; i++ {
		x.Set(i, dim-1, 1)
		for _, en := range rows[i].x {
			x.Set(i, int(en.Index), en.Value)
		}
	}
	var xtx mat.SymDense
	xtx.SymOuterK(1, x.T())
	for j := 0; j < dim; j++ {
		xtx.SetSym(j, j, xtx.At(j, j)+1)
	}
	var chol mat.Cholesky
	require.True(t, chol.Factorize(&xtx))
	for tr := range w {
		y := mat.NewVecDense(fitN, nil)
		for i := 0; i < fitN; i++ {
			y.SetVec(i, rows[i].e[tr])
		}
		var xty mat.VecDense
		xty.MulVec(x.T(), y)
		w[tr] = mat.NewVecDense(dim, nil)
		require.NoError(t, chol.SolveVecTo(w[tr], &xty))
	}
	linear := 0.0
	for _, r := range rows[fitN:] {
		var s [features.NumTreatments]float64
		for tr := range s {
			s[tr] = w[tr].AtVec(dim - 1)
			for _, en := range r.x {
				s[tr] += w[tr].AtVec(int(en.Index)) * en.Value
			}
		}
		best, _ := simulation.Best(&s, r.eligible)
		linear += r.e[best]
	}

	bestFixed := math.Inf(-1)
	for k, s := range strategies {
		t.Logf("%-20s %.1f%% of the oracle", s.Name, 100*fixed[k]/oracle)
		bestFixed = max(bestFixed, fixed[k])
	}
	t.Logf("default priors       %.1f%% of the oracle", 100*priors/oracle)
	t.Logf("linear fit           %.1f%% of the oracle", 100*linear/oracle)
	require.Less(t, priors/oracle, 0.88, "the priors must leave something to learn")
	require.Less(t, bestFixed/oracle, 0.88, "a fixed strategy must not come close to the oracle")
	require.Greater(t, linear/oracle, 0.96, "a linear model on the schema must be able to get close to the oracle")
	require.Greater(t, linear, bestFixed)
}
