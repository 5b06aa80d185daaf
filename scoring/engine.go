package scoring

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
)

// Request is one scoring request.
type Request struct {
	Context features.Context
	// Treatments the channel can deliver; 0 means all.
	Treatments features.TreatmentSet
}

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	// Model scores requests; required. SetModel swaps it later.
	Model *models.Model
	// Policy applies the service commitments; required. SetPolicy swaps it.
	Policy *policy.Policy
	// Explorer turns scores into probabilities. Default: SquareCB{Gamma0: 50, Epsilon: 0.01}.
	Explorer Explorer
	// Seed makes the exploration draw deterministic: the draw for a decision
	// is a hash of Seed and its id. Default 0.
	Seed uint64
	// NewID returns a unique decision id. Default: UUIDv7 (time-ordered).
	NewID func() string
	// Now returns the decision time. Default: time.Now.
	Now func() time.Time
	// ExplainTop is the number of contributions explained per treatment, at
	// most MaxExplain. Default 3.
	ExplainTop int
}

// DefaultExplorer is the explorer used when Config.Explorer is nil.
var DefaultExplorer = SquareCB{Gamma0: 50, Epsilon: 0.01}

// Engine makes decisions. It is safe for concurrent use. It owns one
// Bundle (model, policy, explorer, config version) behind an atomic
// pointer: Decide reads it once, and changes swap it whole without locking
// the decision path.
type Engine struct {
	bundle     atomic.Pointer[Bundle]
	seed       uint64
	newID      func() string
	now        func() time.Time
	explainTop int
}

// NewEngine builds an engine from cfg.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Explorer == nil {
		cfg.Explorer = DefaultExplorer
	}
	b := Bundle{Model: cfg.Model, Learned: cfg.Model, Policy: cfg.Policy, Explorer: cfg.Explorer}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUIDv7
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ExplainTop == 0 {
		cfg.ExplainTop = 3
	}
	if cfg.ExplainTop < 0 || cfg.ExplainTop > MaxExplain {
		return nil, fmt.Errorf("scoring: explain top must be between 0 and %d, got %d", MaxExplain, cfg.ExplainTop)
	}
	e := &Engine{seed: cfg.Seed, newID: cfg.NewID, now: cfg.Now, explainTop: cfg.ExplainTop}
	e.bundle.Store(&b)
	return e, nil
}

func newUUIDv7() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Decide decides how to treat the customer in req. The context's text
// fields are put in canonical form first (features.Context.Canonicalize),
// so the model and the policy rules see the same text. Input errors are
// *features.FieldError; a policy that leaves no eligible treatment returns
// *policy.NoEligibleError.
//
// The request's experiment arm (Bundle.Experiments; a request without a
// customer id is in none) says which strategy decides: learned (also
// outside any experiment) explores over the served model's scores; a
// frozen model (model@VERSION) explores the same way over the scores of
// Bundle.Frozen[VERSION], levers added and no weight override applied,
// with the frozen model's experience; a fixed strategy (value_tier,
// uniform, efficiency_first, delight_first) serves its choice among the
// eligible treatments with probability 1 (experiments.Choose), its Scores
// and Explanation those of the served model, for information. The service
// policy applies before every strategy.
//
// Each candidate's model score plus its lever (Bundle.Levers) is what the
// explorer turns into probabilities, so the probabilities and the
// propensity are those of the treatments as served; the decision keeps
// the two apart (Decision.Scores, Decision.Levers).
func (e *Engine) Decide(ctx context.Context, req Request) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	c := &req.Context
	c.Canonicalize()
	if err := c.Validate(); err != nil {
		return Decision{}, err
	}
	candidates := req.Treatments & features.AllTreatments
	if candidates == 0 {
		candidates = features.AllTreatments
	}
	// One load: the model, policy, explorer and experiments below belong
	// to one bundle.
	bundle := e.bundle.Load()
	pol, model := bundle.Policy, bundle.Model
	// The request as conditions see it: the policy evaluates most rules
	// on it directly; it is boxed, once, for the experiments' targeting
	// and any rule that needs expr's VM (policy.Policy.ApplyTo).
	var (
		env   policy.Env
		boxed any
	)
	targeted := bundle.Experiments.Targeted()
	if pol.NumRules() > 0 || targeted {
		env = policy.NewEnv(c, pol.Uniform())
	}
	if targeted || pol.NeedsBox() {
		boxed = env
	}
	arm, inExperiment := bundle.Experiments.AssignEnv(c, boxed)
	if inExperiment && arm.Strategy.Kind == experiments.Frozen {
		// Frozen means frozen: the snapshot as it was, without the
		// configuration's weight overrides (Validate: it is there, on
		// the served model's schema).
		model = bundle.Frozen[arm.Strategy.ModelVersion]
	}
	// The features are extracted into the stack and the decision keeps a
	// copy of exactly the entries set: in the interactions schema about
	// 40 of the 55 MaxEntries bounds, so a smaller allocation.
	schema := model.Schema()
	var (
		x       []features.Entry
		unknown features.TextFieldSet
		err     error
	)
	if bound := schema.MaxEntries(); bound <= maxStackEntries {
		var buf [maxStackEntries]features.Entry
		onStack, u, extractErr := schema.ExtractUnknown(c, pol.Uniform(), buf[:0])
		x = make([]features.Entry, len(onStack))
		copy(x, onStack)
		unknown, err = u, extractErr
	} else {
		x, unknown, err = schema.ExtractUnknown(c, pol.Uniform(), make([]features.Entry, 0, bound))
	}
	if err != nil {
		return Decision{}, err
	}
	// The service policy comes before every strategy: no arm can serve a
	// treatment it excludes.
	rules, err := pol.ApplyTo(&env, boxed, candidates)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{
		ID:            e.newID(),
		Time:          e.now(),
		Candidates:    candidates,
		Eligible:      rules.Eligible,
		Strategy:      StrategyLearned,
		Explorer:      bundle.Explorer.Name(),
		Model:         model,
		ModelVersion:  model.Version(),
		Policy:        pol,
		PolicyVersion: pol.Version(),
		ConfigVersion: bundle.ConfigVersion,
		Rules:         rules,
		HumanEscape:   true,
		Uniform:       pol.Uniform(),
		Features:      x,
		Unknown:       unknown,
		Context:       c,
	}
	if inExperiment {
		d.Experiment, d.Arm, d.Strategy = arm.Experiment, arm.Arm, arm.Strategy.Name
	}
	// Every treatment is scored in one pass (models.ScoreExplainAll);
	// only the candidates' scores and explanations are kept.
	var (
		scores [features.NumTreatments]float64
		top    [features.NumTreatments][]models.Contribution
		n      [features.NumTreatments]int
	)
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if candidates.Has(t) {
			top[t] = d.Explanation[t][:e.explainTop]
		}
	}
	model.ScoreExplainAll(x, &scores, &top, &n)
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !candidates.Has(t) {
			continue
		}
		d.Scores[t] = scores[t]
		d.ExplainN[t] = uint8(n[t])
		d.Levers[t] = bundle.Levers[t]
		d.served[t] = d.Scores[t] + d.Levers[t]
	}
	if inExperiment && arm.Strategy.Fixed() {
		// A fixed rule serves one treatment for sure; the scores above are
		// the served model's, informational.
		t, ok := experiments.Choose(arm.Strategy.Kind, c, d.Eligible)
		if !ok {
			return Decision{}, fmt.Errorf("decide: strategy %s chose no treatment of %v", arm.Strategy.Name, d.Eligible)
		}
		d.Explorer = ExplorerNone
		d.Probabilities[t] = 1
		d.Treatment, d.Propensity = t, 1
		return d, nil
	}
	explore(bundle.Explorer, &d.served, d.Eligible, model.Updates(), &d.Probabilities)
	d.Treatment = sample(&d.Probabilities, d.Eligible, e.draw(d.ID))
	d.Propensity = d.Probabilities[d.Treatment]
	return d, nil
}

// maxStackEntries bounds the feature vectors Decide extracts on the stack
// (2 KiB); a schema whose vectors may be longer extracts on the heap.
const maxStackEntries = 128

// explore is x.Probabilities. The explorers of this package are called
// directly, so that the compiler sees scores and p do not escape and the
// decision stays on the caller's stack; any other Explorer gets copies,
// so that only its calls allocate.
func explore(x Explorer, scores *[features.NumTreatments]float64, eligible features.TreatmentSet, experience int64, p *[features.NumTreatments]float64) {
	switch x := x.(type) {
	case SquareCB:
		x.Probabilities(scores, eligible, experience, p)
	case EpsilonGreedy:
		x.Probabilities(scores, eligible, experience, p)
	default:
		s, q := new([features.NumTreatments]float64), new([features.NumTreatments]float64)
		*s = *scores
		x.Probabilities(s, eligible, experience, q)
		*p = *q
	}
}

// draw returns a uniform number in [0, 1) determined by the seed and the id.
func (e *Engine) draw(id string) float64 {
	z := uint64(14695981039346656037) // FNV-1a offset basis
	for i := 0; i < len(id); i++ {
		z ^= uint64(id[i])
		z *= 1099511628211
	}
	z ^= e.seed
	// splitmix64 finaliser
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

func sample(p *[features.NumTreatments]float64, eligible features.TreatmentSet, u float64) features.Treatment {
	var last features.Treatment
	acc := 0.0
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !eligible.Has(t) {
			continue
		}
		last = t
		acc += p[t]
		if u < acc {
			return t
		}
	}
	return last
}
