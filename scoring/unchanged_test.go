package scoring_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"situ/features"
	"situ/internal/situtest"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

var updateUnchanged = flag.Bool("update-unchanged", false, "rewrite testdata/unchanged.golden from this build's decisions")

// TestDecisionsAreUnchanged decides 3,000 random requests — the default
// and the interactions schema, the default model and one of random
// weights (many non-zero and equal contributions), the default policy,
// its uniform mode and a policy with conditions outside the direct
// subset — and compares each decision, to the bit (treatment,
// probabilities, scores, explanation, rules, features, unknown fields,
// errors), with testdata/unchanged.golden: digests of the decisions the
// decision path made before it was made faster (written at 391f716 with
// -update-unchanged). A change that alters any decision fails here.
func TestDecisionsAreUnchanged(t *testing.T) {
	inter := situtest.TestdataSchema(t, "interactions.yaml")
	def, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	base := string(policy.DefaultPolicyYAML())
	policies := map[string]string{
		"default": base,
		"uniform": strings.Replace(base, "uniform_mode: false", "uniform_mode: true", 1),
		"vm-rules": base + `
  - id: long-wait-minutes
    when: friction.wait_seconds / 60 > 9 && customer.tier != "basic"
    exclude: [pamper_upsell]
  - id: vip
    when: attributes.vip == 1 and customer.tier in ["gold", "platinum"] and not friction.open_complaint
    require: pamper_upsell
  - id: long-intent
    when: len(intent.name) > 14 || (intent.confidence ?? 1) < 0.3
    exclude: [fast_resolution]
`,
	}
	var got []string
	for _, sc := range []struct {
		name   string
		schema *features.Schema
	}{{"default-schema", def}, {"interactions-schema", inter}} {
		for _, mname := range []string{"default-model", "random-model"} {
			model, err := models.DefaultModel(sc.schema)
			if err != nil {
				t.Fatal(err)
			}
			if mname == "random-model" {
				model = randomModel(model, sc.schema)
			}
			for _, pname := range []string{"default", "uniform", "vm-rules"} {
				pol, err := policy.Parse([]byte(policies[pname]))
				if err != nil {
					t.Fatal(err)
				}
				e := situtest.Engine(t, situtest.EngineOptions{Model: model, Policy: pol})
				rng := rand.New(rand.NewPCG(uint64(len(got)), 99))
				for i := range 250 {
					req := randomRequest(rng)
					d, err := e.Decide(context.Background(), req)
					name := fmt.Sprintf("%s/%s/%s/%d", sc.name, mname, pname, i)
					sum := sha256.Sum256([]byte(describe(d, err)))
					got = append(got, name+" "+fmt.Sprintf("%x", sum[:8]))
				}
			}
		}
	}
	const golden = "testdata/unchanged.golden"
	if *updateUnchanged {
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	for s := bufio.NewScanner(f); s.Scan(); {
		want = append(want, s.Text())
	}
	if len(want) != len(got) {
		t.Fatalf("%d decisions, the golden file has %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad++; bad <= 10 {
				t.Errorf("decision changed: %s, was %s", got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d decisions changed", bad, len(got))
	}
}

// randomModel gives every weight of base a random value, a fifth of them
// 0 and many equal.
func randomModel(base *models.Model, schema *features.Schema) *models.Model {
	rng := rand.New(rand.NewPCG(17, uint64(schema.Len())))
	b := models.NewBuilder(base)
	for _, tr := range features.Treatments() {
		b.SetBias(tr, rng.NormFloat64()*0.1)
		for i := range schema.Len() {
			w := 0.0
			switch rng.IntN(5) {
			case 0:
			case 1:
				w = 0.125 * float64(rng.IntN(5)-2)
			default:
				w = rng.NormFloat64() * 0.2
			}
			b.SetWeight(tr, int32(i), w)
		}
	}
	return b.Build(base.Version() + 1)
}

// randomRequest draws a valid request: text fields in any case and
// spacing, known and unknown; numbers on and around the policy's
// thresholds; absent optional fields; attributes; treatment subsets; a
// tier the schema rejects.
func randomRequest(rng *rand.Rand) scoring.Request {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	num := func(set ...float64) float64 {
		if i := rng.IntN(len(set) + 1); i < len(set) {
			return set[i]
		}
		return rng.Float64() * set[len(set)-1]
	}
	c := features.Context{
		Customer: features.Customer{
			ID: pick("", "c-1", "c-2", "c-1842"), LifetimeValue: num(0, 250, 5400, 9000, 40000), AnnualSpend: num(0, 4999.5, 5000, 8000),
			TenureMonths: num(0, 3, 12, 38, 96), Tier: pick("", "basic", "silver", "Gold", "platinum", " gold ", "golden"),
			FirstContact: rng.IntN(3) == 0, PrefersSelfService: rng.IntN(3) == 0,
		},
		Intent: features.Intent{Name: pick("billing_dispute", "payment_failed", "Service_Outage", "cancel_service", "complaint",
			"order_status", "password_reset", "upgrade_inquiry", "new_product", "general_question", "teleport_me_somewhere")},
		Channel: pick("phone", "ivr", "chat", "email", "web", "app", "store", "kiosk", " Phone"),
		Friction: features.Friction{
			RepeatContacts7d: rng.IntN(4), FailedSelfService24h: rng.IntN(3), WaitSeconds: num(0, 30, 180, 600, 900),
			Transfers: rng.IntN(3), OpenComplaint: rng.IntN(2) == 0, Sentiment: num(-1, -0.6, -0.1, 0, 0.5, 1) - 0.5*float64(rng.IntN(2)),
		},
	}
	if c.Friction.Sentiment < -1 {
		c.Friction.Sentiment = -1
	}
	if rng.IntN(3) == 0 {
		v := num(0, 0.2, 0.8, 1)
		c.Intent.Confidence = &v
	}
	switch rng.IntN(3) {
	case 0:
		c.Attributes = map[string]float64{"vip": float64(rng.IntN(2)), "any_extra_feature": rng.Float64()}
	case 1:
		c.Attributes = map[string]float64{"any_extra_feature": 1}
	}
	if rng.IntN(3) == 0 {
		c.Absent = features.NumericFieldSet(rng.IntN(int(features.AllNumericFields) + 1))
	}
	var offered features.TreatmentSet // all
	if rng.IntN(2) == 0 {
		offered = features.TreatmentSet(1 + rng.IntN(int(features.AllTreatments)))
	}
	return scoring.Request{Context: c, Treatments: offered}
}

// describe writes everything a decision says, floats exactly.
func describe(d scoring.Decision, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	f := func(v float64) { b.WriteString(strconv.FormatFloat(v, 'g', -1, 64)); b.WriteByte(' ') }
	fmt.Fprintf(&b, "%s %v %v %v %s %s %s %s ", d.ID, d.Treatment, d.Candidates, d.Eligible, d.Strategy, d.Experiment, d.Arm, d.Explorer)
	for _, tr := range features.Treatments() {
		f(d.Probabilities[tr])
		f(d.Scores[tr])
		f(d.Levers[tr])
		for _, c := range d.Explanation[tr][:d.ExplainN[tr]] {
			fmt.Fprintf(&b, "%d:", c.Feature)
			f(c.Contribution)
		}
		b.WriteByte('|')
	}
	f(d.Propensity)
	fmt.Fprintf(&b, "rules %x %x %v %v %v %d %d ", d.Rules.Fired, d.Rules.Failed, d.Rules.ExcludedBy, d.HumanEscape, d.Uniform, d.ModelVersion, d.PolicyVersion)
	for _, e := range d.Features {
		fmt.Fprintf(&b, "%d:", e.Index)
		f(e.Value)
	}
	fmt.Fprintf(&b, "unknown %v", d.Unknown)
	return b.String()
}
