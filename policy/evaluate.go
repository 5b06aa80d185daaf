package policy

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/expr-lang/expr/vm"

	"situ/features"
)

// Env is what a rule condition sees. Field names in conditions are the
// expr tags: customer.annual_spend, intent.name, friction.open_complaint …
type Env struct {
	Customer   CustomerEnv        `expr:"customer"`
	Intent     IntentEnv          `expr:"intent"`
	Channel    string             `expr:"channel"`
	Friction   FrictionEnv        `expr:"friction"`
	Attributes map[string]float64 `expr:"attributes"`
	// Uniform is true in uniform mode.
	Uniform bool `expr:"uniform"`
}

// CustomerEnv is the customer as rules see it. In uniform mode the value
// fields read as zero and tier as "".
type CustomerEnv struct {
	LifetimeValue      float64 `expr:"lifetime_value"`
	AnnualSpend        float64 `expr:"annual_spend"`
	TenureMonths       float64 `expr:"tenure_months"`
	Tier               string  `expr:"tier"`
	FirstContact       bool    `expr:"first_contact"`
	PrefersSelfService bool    `expr:"prefers_self_service"`
}

// IntentEnv is the intent as rules see it (confidence 1 when absent).
type IntentEnv struct {
	Name       string  `expr:"name"`
	Confidence float64 `expr:"confidence"`
}

// FrictionEnv is the friction as rules see it.
type FrictionEnv struct {
	RepeatContacts7d     int     `expr:"repeat_contacts_7d"`
	FailedSelfService24h int     `expr:"failed_self_service_24h"`
	WaitSeconds          float64 `expr:"wait_seconds"`
	Transfers            int     `expr:"transfers"`
	OpenComplaint        bool    `expr:"open_complaint"`
	Sentiment            float64 `expr:"sentiment"`
}

// NewEnv returns what conditions see of c: in uniform mode (uniform) the
// customer's value fields read as zero and the tier as "".
func NewEnv(c *features.Context, uniform bool) Env {
	env := Env{
		Customer: CustomerEnv{
			LifetimeValue: c.Customer.LifetimeValue, AnnualSpend: c.Customer.AnnualSpend,
			TenureMonths: c.Customer.TenureMonths, Tier: c.Customer.Tier,
			FirstContact: c.Customer.FirstContact, PrefersSelfService: c.Customer.PrefersSelfService,
		},
		Intent:  IntentEnv{Name: c.Intent.Name, Confidence: c.Intent.ConfidenceOrOne()},
		Channel: c.Channel,
		Friction: FrictionEnv{
			RepeatContacts7d: c.Friction.RepeatContacts7d, FailedSelfService24h: c.Friction.FailedSelfService24h,
			WaitSeconds: c.Friction.WaitSeconds, Transfers: c.Friction.Transfers,
			OpenComplaint: c.Friction.OpenComplaint, Sentiment: c.Friction.Sentiment,
		},
		Attributes: c.Attributes,
		Uniform:    uniform,
	}
	if uniform {
		env.Customer.LifetimeValue, env.Customer.AnnualSpend, env.Customer.Tier = 0, 0, ""
	}
	return env
}

// Result is what a policy decided for one context.
type Result struct {
	// Fired has bit i set when rule i's condition held.
	Fired uint64
	// Failed has bit i set when rule i's condition could not be evaluated;
	// such a rule has no effect.
	Failed uint64
	// Eligible are the candidates left after every effect.
	Eligible features.TreatmentSet
	// ExcludedBy holds, per treatment, 1 + the index of the rule that
	// removed it from the candidates, or 0.
	ExcludedBy [features.NumTreatments]uint8
}

// Excluder returns the index of the rule that excluded t, if any.
func (r *Result) Excluder(t features.Treatment) (int, bool) {
	if r.ExcludedBy[t] == 0 {
		return 0, false
	}
	return int(r.ExcludedBy[t]) - 1, true
}

// NoEligibleError means the policy left none of the requested treatments.
type NoEligibleError struct {
	Candidates features.TreatmentSet
	Rules      []string // rules that removed candidates
}

func (e *NoEligibleError) Error() string {
	return fmt.Sprintf("no eligible treatment: the request offered %s and the service policy removed all of them (rules: %s)", e.Candidates, strings.Join(e.Rules, ", "))
}

// Apply evaluates every rule against c and narrows candidates. Exclusions
// apply first, then requirements: a required treatment that the request
// does not offer, or that another rule excluded, leaves no eligible
// treatment and Apply returns a *NoEligibleError.
// c's text fields must be canonical (features.Context.Canonicalize), as
// the rules' literals are.
func (p *Policy) Apply(c *features.Context, candidates features.TreatmentSet) (Result, error) {
	if len(p.rules) == 0 {
		return Result{Eligible: candidates}, nil
	}
	env := NewEnv(c, p.spec.UniformMode)
	return p.apply(&env, nil, true, candidates)
}

// ApplyEnv is Apply with the context as conditions see it given: env is
// NewEnv(c, p.Uniform()) boxed once by the caller, who may share it with
// other conditions over the same request (an experiment's targeting).
// It allocates nothing unless no treatment is left.
func (p *Policy) ApplyEnv(env any, candidates features.TreatmentSet) (Result, error) {
	if len(p.rules) == 0 {
		return Result{Eligible: candidates}, nil
	}
	e, ok := env.(Env)
	if !ok {
		// not an Env: every condition sees env as it is, on the VM
		return p.apply(nil, env, false, candidates)
	}
	return p.apply(&e, env, true, candidates)
}

// ApplyTo is Apply with the context as conditions see it given: env is
// NewEnv(c, p.Uniform()), and boxed, when not nil, is env boxed (shared
// with an experiment's targeting, say). Most conditions are evaluated on
// env directly; when some run on expr's VM (NeedsBox) and boxed is nil,
// env is boxed here, once. It allocates nothing else unless no treatment
// is left.
func (p *Policy) ApplyTo(env *Env, boxed any, candidates features.TreatmentSet) (Result, error) {
	return p.apply(env, boxed, true, candidates)
}

// apply evaluates the rules: those with a direct form on env when
// useDirect, the others on boxed with the VM, boxed from env (when not
// nil) the first time it is needed.
func (p *Policy) apply(env *Env, boxed any, useDirect bool, candidates features.TreatmentSet) (Result, error) {
	res := Result{Eligible: candidates}
	if len(p.rules) == 0 {
		return res, nil
	}
	var machine *vm.VM
	defer func() {
		if machine != nil {
			p.vms.Put(machine)
		}
	}()
	var required features.TreatmentSet = features.AllTreatments
	var requiredBy [features.NumTreatments]uint8
	for i := range p.rules {
		r := &p.rules[i]
		var fired bool
		if r.direct != nil && useDirect {
			fired = r.direct.eval(env)
		} else {
			if boxed == nil && env != nil {
				boxed = *env
			}
			if machine == nil {
				machine = p.vms.Get().(*vm.VM)
			}
			out, err := machine.Run(r.program, boxed)
			if err != nil {
				res.Failed |= 1 << i
				continue
			}
			fired, _ = out.(bool)
		}
		if !fired {
			continue
		}
		res.Fired |= 1 << i
		for t := features.Treatment(0); t < features.NumTreatments; t++ {
			if r.exclude.Has(t) && res.Eligible.Has(t) {
				res.Eligible = res.Eligible.Without(t)
				res.ExcludedBy[t] = uint8(i + 1)
			}
		}
		if r.requires {
			for t := features.Treatment(0); t < features.NumTreatments; t++ {
				if t != r.require && required.Has(t) {
					required = required.Without(t)
					requiredBy[t] = uint8(i + 1)
				}
			}
		}
	}
	if required != features.AllTreatments {
		for t := features.Treatment(0); t < features.NumTreatments; t++ {
			if !required.Has(t) && res.Eligible.Has(t) {
				res.Eligible = res.Eligible.Without(t)
				res.ExcludedBy[t] = requiredBy[t]
			}
		}
	}
	if res.Eligible == 0 {
		e := &NoEligibleError{Candidates: candidates}
		for f := res.Fired; f != 0; f &= f - 1 {
			i := bits.TrailingZeros64(f)
			if p.rules[i].exclude != 0 || p.rules[i].requires {
				e.Rules = append(e.Rules, p.rules[i].id)
			}
		}
		return res, e
	}
	return res, nil
}
