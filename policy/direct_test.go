package policy

import (
	"math/rand/v2"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"situ/features"
)

// directConditions are conditions in the direct subset: each must get a
// direct form.
var directConditions = []string{
	`customer.tier == "gold"`, `customer.tier != "gold"`, `"gold" == customer.tier`,
	`customer.tier in ["gold", "platinum"]`, `customer.tier not in ["gold", "platinum"]`, `not (channel in ["phone"])`,
	`intent.name in []`, `channel == intent.name`, `channel == "chat" or channel == "web"`,
	`customer.annual_spend >= 5000`, `customer.annual_spend > 4999.5`, `customer.tenure_months == 38`,
	`customer.lifetime_value < 5000 and customer.tenure_months <= 12`,
	`friction.repeat_contacts_7d == 2`, `friction.repeat_contacts_7d != 2`, `friction.repeat_contacts_7d > 1.5`,
	`friction.transfers >= friction.repeat_contacts_7d`, `friction.wait_seconds > friction.transfers`,
	`friction.wait_seconds > 600`, `friction.wait_seconds <= 600.0`,
	`friction.sentiment < -0.5`, `friction.sentiment <= -1`, `-0.5 > friction.sentiment`, `friction.sentiment != 0`,
	`intent.confidence < 0.9`, `intent.confidence == 1`,
	`attributes.vip == 1`, `attributes["score"] > 0.5`, `attributes.missing == 0`,
	`uniform`, `!uniform && customer.first_contact`, `customer.first_contact == customer.prefers_self_service`,
	`friction.open_complaint != true`, `(friction.repeat_contacts_7d > 0) == friction.open_complaint`,
	`true`, `false || friction.open_complaint`, `!(customer.tier == "")`,
	`friction.repeat_contacts_7d >= 2 || friction.failed_self_service_24h > 0`,
}

// constant are the direct conditions that hold always or never.
var constant = map[string]bool{"true": true, "intent.name in []": true, "attributes.missing == 0": true}

// vmConditions are outside the subset: they run on expr's VM.
var vmConditions = []string{
	`friction.wait_seconds / 60 > 10`, `len(intent.name) > 5`, `intent.name startsWith "pay"`,
	`customer?.tier == "gold"`, `friction.transfers in [1, 2]`, `let x = 1; x < friction.transfers`,
	`friction.repeat_contacts_7d + friction.transfers >= 3`, `customer.tier matches "^g"`,
	`(intent.confidence ?? 1) > 0.5`, `friction.open_complaint ? customer.first_contact : uniform`,
}

// randomContext draws a canonical, valid context whose fields sit often
// on the thresholds conditions use.
func randomContext(rng *rand.Rand) features.Context {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	num := func(set ...float64) float64 {
		if i := rng.IntN(len(set) + 1); i < len(set) {
			return set[i]
		}
		return rng.Float64() * set[len(set)-1] * 2
	}
	c := features.Context{
		Customer: features.Customer{
			ID: "c", LifetimeValue: num(0, 4999.5, 5000, 5000.5, 8000), AnnualSpend: num(0, 4999.5, 5000, 5000.5, 6000),
			TenureMonths: num(0, 12, 38, 72), Tier: pick("", "basic", "silver", "gold", "platinum"),
			FirstContact: rng.IntN(2) == 0, PrefersSelfService: rng.IntN(2) == 0,
		},
		Intent:  features.Intent{Name: pick("billing_dispute", "payment_failed", "service_outage", "complaint", "phone", "something_else")},
		Channel: pick("phone", "chat", "web", "app", "kiosk", "complaint"),
		Friction: features.Friction{
			RepeatContacts7d: rng.IntN(4), FailedSelfService24h: rng.IntN(3), WaitSeconds: num(0, 599, 600, 600.5, 1000),
			Transfers: rng.IntN(4), OpenComplaint: rng.IntN(2) == 0, Sentiment: num(-1, -0.6, -0.5, 0, 0.2, 0.5),
		},
	}
	if c.Friction.Sentiment > 1 {
		c.Friction.Sentiment = 1
	}
	switch rng.IntN(4) {
	case 0:
		v := []float64{0, 0.5, 0.8, 0.9, 1}[rng.IntN(5)]
		c.Intent.Confidence = &v
	case 1:
		c.Attributes = map[string]float64{"vip": float64(rng.IntN(2)), "score": rng.Float64()}
	case 2:
		c.Attributes = map[string]float64{}
	}
	return c
}

// TestDirectIsTheVM checks that the direct form of a condition gives
// what expr's VM gives for the compiled program the policy keeps, on
// random contexts in and out of uniform mode, and that the conditions of
// the subset (the default policy's among them) get a direct form and
// the others do not.
func TestDirectIsTheVM(t *testing.T) {
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	conds := append([]string(nil), directConditions...)
	for _, r := range def.Spec().Rules {
		conds = append(conds, r.When)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	contexts := make([]features.Context, 2000)
	for i := range contexts {
		contexts[i] = randomContext(rng)
	}
	var machine vm.VM
	for _, cond := range append(conds, vmConditions...) {
		wantDirect := true
		for _, v := range vmConditions {
			wantDirect = wantDirect && v != cond
		}
		prog, err := expr.Compile(cond, expr.Env(Env{}), expr.AsBool())
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		plain, err := expr.Compile(cond, expr.Env(Env{}), expr.AsBool(), expr.Optimize(false))
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		d := compileDirect(plain.Node())
		if (d != nil) != wantDirect {
			t.Errorf("%s: direct form %v, want %v", cond, d != nil, wantDirect)
			continue
		}
		if d == nil {
			continue
		}
		held := [2]int{}
		for i := range contexts {
			for _, uniform := range []bool{false, true} {
				env := NewEnv(&contexts[i], uniform)
				out, err := machine.Run(prog, env)
				if err != nil {
					t.Fatalf("%s on %+v: the VM fails: %v", cond, contexts[i], err)
				}
				want, _ := out.(bool)
				if got := d.eval(&env); got != want {
					t.Fatalf("%s on %+v (uniform %v): direct %v, VM %v", cond, contexts[i], uniform, got, want)
				}
				if want {
					held[0]++
				} else {
					held[1]++
				}
			}
		}
		if !constant[cond] && (held[0] == 0 || held[1] == 0) {
			t.Errorf("%s: held %d times, failed %d: the contexts do not test it both ways", cond, held[0], held[1])
		}
	}
}

// TestApplyDirectIsApplyOnTheVM applies policies of direct and VM rules
// to random contexts: the result is the one of every rule on the VM, by
// Apply, ApplyEnv and ApplyTo alike. An env that is not an Env is the
// VM's alone, as before: every rule fails on nil.
func TestApplyDirectIsApplyOnTheVM(t *testing.T) {
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	mixed := def.Spec()
	mixed.Rules = append(mixed.Rules,
		RuleSpec{ID: "long-wait-in-minutes", When: "friction.wait_seconds / 60 > 9", Exclude: []string{"pamper_upsell"}},
		RuleSpec{ID: "vip", When: "attributes.vip == 1 && customer.tier in ['gold', 'platinum']", Require: "pamper_upsell"},
		RuleSpec{ID: "names", When: "len(intent.name) > 14", Exclude: []string{"fast_resolution"}},
	)
	uniform := mixed
	uniform.UniformMode = true
	rng := rand.New(rand.NewPCG(3, 5))
	for _, spec := range []Spec{def.Spec(), mixed, uniform} {
		p, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		if want := spec.Rules[len(spec.Rules)-1].ID == "names"; p.NeedsBox() != want {
			t.Fatalf("NeedsBox %v, want %v", p.NeedsBox(), want)
		}
		if res, err := p.ApplyEnv(nil, features.AllTreatments); err != nil || res.Failed != 1<<len(spec.Rules)-1 || res.Fired != 0 {
			t.Fatalf("ApplyEnv(nil) gives %+v, %v: want every rule failed", res, err)
		}
		for range 3000 {
			c := randomContext(rng)
			cands := features.TreatmentSet(1 + rng.IntN(int(features.AllTreatments)))
			got, gotErr := p.Apply(&c, cands)
			env := NewEnv(&c, p.Uniform())
			want, wantErr := p.apply(&env, nil, false, cands)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%+v: Apply gives %+v, %v; on the VM %+v, %v", c, got, gotErr, want, wantErr)
			}
			shared, sharedErr := p.ApplyEnv(env, cands)
			if shared != want || (sharedErr == nil) != (wantErr == nil) {
				t.Fatalf("%+v: ApplyEnv gives %+v, %v; on the VM %+v, %v", c, shared, sharedErr, want, wantErr)
			}
			var boxed any = env
			if to, toErr := p.ApplyTo(&env, boxed, cands); to != want || (toErr == nil) != (wantErr == nil) {
				t.Fatalf("%+v: ApplyTo gives %+v, %v; on the VM %+v, %v", c, to, toErr, want, wantErr)
			}
		}
	}
}

// TestConditionDirectIsTheVM evaluates conditions of both kinds as an
// experiment's targeting does: Eval gives the VM's result.
func TestConditionDirectIsTheVM(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	var machine vm.VM
	for _, text := range append(append([]string(nil), directConditions...), vmConditions...) {
		cond, err := CompileCondition(text)
		if err != nil {
			continue // a literal that is not canonical, say: not a targeting
		}
		for range 500 {
			c := randomContext(rng)
			env := NewEnv(&c, rng.IntN(2) == 0)
			out, err := machine.Run(cond.program, env)
			want, _ := out.(bool)
			if got := cond.Eval(&machine, env); got != (want && err == nil) {
				t.Fatalf("%s on %+v: Eval %v, VM %v (%v)", text, c, got, want, err)
			}
		}
	}
}
