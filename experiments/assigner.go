package experiments

import (
	"fmt"
	"sync"

	"github.com/expr-lang/expr/vm"

	"situ/features"
	"situ/policy"
)

// HashVersion is the GrowthBook hash version assignment uses.
const HashVersion = 2

// Assignment is the arm a unit is in.
type Assignment struct {
	// Experiment and Arm are the experiment's id and the arm's name.
	Experiment string
	Arm        string
	// ArmIndex is the arm's position in the definition (0: the control).
	ArmIndex int
	// Strategy is the arm's strategy.
	Strategy Strategy
}

// Assigner assigns units to the running experiments of a configuration.
// It is immutable and safe for concurrent use; build one per
// configuration version (NewAssigner) and keep it for all decisions.
type Assigner struct {
	exps []compiledExperiment
	vms  sync.Pool // *vm.VM for targeting
	// targeting reports whether any experiment has a targeting condition.
	targeting bool
}

type compiledExperiment struct {
	id string
	// seedHash is the FNV-1a hash of the seed, the start of every unit's
	// hash (hashV2).
	seedHash uint32
	ranges   []Range
	// full: the ranges cover [0, 1), so every hash is in an arm.
	full       bool
	namespace  *Namespace
	targeting  *policy.Condition
	arms       []Arm
	strategies []Strategy
}

// NewAssigner compiles the running experiments of exps, in order: a unit
// that two of them would take is in the earlier one only. Errors are
// *features.FieldError with the path experiments[i]….
func NewAssigner(exps []Experiment) (*Assigner, error) {
	a := &Assigner{}
	a.vms.New = func() any { return &vm.VM{} }
	for i, e := range exps {
		if !e.Running() {
			continue
		}
		d := e.Definition
		prefix := fmt.Sprintf("experiments[%d].definition", i)
		if err := d.Validate(prefix); err != nil {
			return nil, err
		}
		c := compiledExperiment{id: d.ID, seedHash: fnv32a(fnvOffset32, d.Seed), arms: d.Arms}
		weights := make([]float64, len(d.Arms))
		for j, arm := range d.Arms {
			weights[j] = arm.Weight
			s, err := ParseStrategy(arm.Strategy)
			if err != nil {
				return nil, fieldErr(fmt.Sprintf("%s.arms[%d].strategy", prefix, j), "%s", err)
			}
			c.strategies = append(c.strategies, s)
		}
		c.ranges = BucketRanges(len(d.Arms), d.Coverage, weights)
		c.full = d.Coverage >= 1
		if ns := d.Namespace; ns != nil {
			c.namespace = &Namespace{ID: ns.ID, Start: ns.Range[0], End: ns.Range[1]}
		}
		if d.Targeting != "" {
			cond, err := policy.CompileCondition(d.Targeting)
			if err != nil {
				return nil, fieldErr(prefix+".targeting", "%s", err)
			}
			c.targeting = cond
			a.targeting = true
		}
		a.exps = append(a.exps, c)
	}
	return a, nil
}

// Len returns the number of running experiments.
func (a *Assigner) Len() int {
	if a == nil {
		return 0
	}
	return len(a.exps)
}

// Strategies returns the strategies of every running experiment's arms.
func (a *Assigner) Strategies() []Strategy {
	if a == nil {
		return nil
	}
	var out []Strategy
	for _, e := range a.exps {
		out = append(out, e.strategies...)
	}
	return out
}

// Targeted reports whether any running experiment has a targeting
// condition: only then does AssignEnv read its env.
func (a *Assigner) Targeted() bool { return a != nil && a.targeting }

// Assign returns the arm of the first running experiment that takes the
// unit c.Customer.ID, GrowthBook's way: the unit is in the experiment's
// namespace range (InNamespace), the version-2 hash of the seed and the
// id falls in an arm's bucket range (BucketRanges, ChooseVariation), and
// the request meets the experiment's targeting (seen as service policy
// rules see it, value hidden when uniform). A request without a customer
// id is in no experiment. c's text fields must be canonical.
//
// It allocates nothing without targeting, and once (the boxed request)
// when any experiment has targeting; AssignEnv shares that allocation
// with the service policy.
func (a *Assigner) Assign(c *features.Context, uniform bool) (Assignment, bool) {
	return a.assign(c, nil, uniform)
}

// AssignEnv is Assign with the request as conditions see it given: env
// is policy.NewEnv(c, uniform) boxed once by the caller, who shares it
// with the service policy's rules (policy.Policy.ApplyEnv). It reads env
// only when Targeted, and must then be given it; it allocates nothing.
func (a *Assigner) AssignEnv(c *features.Context, env any) (Assignment, bool) {
	return a.assign(c, env, false)
}

// assign is Assign and AssignEnv: env, when nil, is built from c and
// uniform the first time a targeting condition is evaluated. The order of
// the checks does not change who is in, only what they cost: the
// namespace first, then the hash when the coverage leaves units out, the
// targeting, and the hash when the coverage is whole.
func (a *Assigner) assign(c *features.Context, env any, uniform bool) (Assignment, bool) {
	if a == nil || len(a.exps) == 0 || c.Customer.ID == "" {
		return Assignment{}, false
	}
	id := c.Customer.ID
	var machine *vm.VM
	defer func() {
		if machine != nil {
			a.vms.Put(machine)
		}
	}()
	for i := range a.exps {
		e := &a.exps[i]
		if e.namespace != nil && !InNamespace(id, *e.namespace) {
			continue
		}
		arm := -1
		if !e.full {
			// Part of the units is outside the coverage: hash first.
			if arm = ChooseVariation(hashV2(e.seedHash, id), e.ranges); arm < 0 {
				continue
			}
		}
		if e.targeting != nil {
			if env == nil {
				env = policy.NewEnv(c, uniform)
			}
			if machine == nil {
				machine = a.vms.Get().(*vm.VM)
			}
			if !e.targeting.Eval(machine, env) {
				continue
			}
		}
		if arm < 0 {
			if arm = ChooseVariation(hashV2(e.seedHash, id), e.ranges); arm < 0 {
				continue
			}
		}
		return Assignment{Experiment: e.id, Arm: e.arms[arm].Name, ArmIndex: arm, Strategy: e.strategies[arm]}, true
	}
	return Assignment{}, false
}
