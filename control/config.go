package control

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// Bias is the feature name of a treatment's bias in weights, overrides,
// pins and the weights table.
const Bias = "bias"

// The explorers a configuration can name.
const (
	ExplorerSquareCB      = "squarecb"       // scoring.SquareCB
	ExplorerEpsilonGreedy = "epsilon-greedy" // scoring.EpsilonGreedy
)

// Config is the data team's configuration: the value of GET
// /v1/admin/config and of a Record's before and after. Apply keeps it
// canonical, so that two equal configurations encode to the same bytes:
// Weights sorted by treatment (in features.Treatments order) and feature
// name, one entry per weight and none without an override or a pin;
// Levers without zero values.
type Config struct {
	// Weights are the overrides and pins.
	Weights []Weight `json:"weights"`
	// Levers maps a treatment's wire name to an additive value (or, when
	// negative, a cost) in reward units, added to the treatment's score
	// before exploration. Absent is 0. A lever is per treatment and does
	// not see the customer, so uniform mode allows every lever.
	Levers map[string]float64 `json:"levers"`
	// Reward turns outcomes into rewards for the learner.
	Reward models.RewardDefinition `json:"reward"`
	// Policy is the service policy's YAML text, kept as written.
	Policy string `json:"policy"`
	// Exploration chooses the explorer and its parameters.
	Exploration Exploration `json:"exploration"`
	// Experiments are every experiment started, running or stopped, in
	// the order they were created. Rollbacks leave them as they are.
	Experiments []experiments.Experiment `json:"experiments"`
	// Frozen are the model snapshots the running experiments' model@VERSION
	// arms serve, by version.
	Frozen []models.Snapshot `json:"frozen_models"`
}

// Weight is the override and the pin of one weight. At most one of Set and
// Multiply is given; with neither, the weight is only pinned.
type Weight struct {
	// Treatment is the treatment's wire name, e.g. "pamper_upsell".
	Treatment string `json:"treatment"`
	// Feature is the schema's feature name (e.g. "friction.wait_seconds",
	// "intent=order_status") or "bias".
	Feature string `json:"feature"`
	// Set serves this value instead of the learned weight.
	Set *float64 `json:"set,omitzero"`
	// Multiply serves the learned weight times this factor.
	Multiply *float64 `json:"multiply,omitzero"`
	// PinnedAt, when given, pins the weight: the learner holds it at this
	// value, and it is the learned value overrides apply to, in every
	// process, whatever a model snapshot says.
	PinnedAt *float64 `json:"pinned_at,omitzero"`
}

// Pinned reports whether the weight is pinned.
func (w Weight) Pinned() bool { return w.PinnedAt != nil }

func (w Weight) hasOverride() bool { return w.Set != nil || w.Multiply != nil }

// Exploration is the explorer and its parameters.
type Exploration struct {
	// Explorer is "squarecb" or "epsilon-greedy".
	Explorer string `json:"explorer"`
	// Epsilon is SquareCB's uniform floor, in [0, 1), or epsilon-greedy's
	// exploration probability, in (0, 1).
	Epsilon float64 `json:"epsilon"`
	// Gamma0 is SquareCB's initial γ, > 0. It is kept (and checked) with
	// epsilon-greedy too, so that switching back restores it.
	Gamma0 float64 `json:"gamma0"`
}

// Default returns the built-in configuration, version 0 of every history:
// no overrides, pins or levers, the embedded default reward definition and
// policy, and SquareCB with scoring.DefaultExplorer's parameters.
func Default() (Config, error) {
	reward, err := models.DefaultReward()
	if err != nil {
		return Config{}, fmt.Errorf("default configuration: %w", err)
	}
	return Config{
		Weights:     []Weight{},
		Levers:      map[string]float64{},
		Experiments: []experiments.Experiment{},
		Frozen:      []models.Snapshot{},
		Reward:      reward,
		Policy:      string(policy.DefaultPolicyYAML()),
		Exploration: Exploration{
			Explorer: ExplorerSquareCB,
			Epsilon:  scoring.DefaultExplorer.Epsilon,
			Gamma0:   scoring.DefaultExplorer.Gamma0,
		},
	}, nil
}

// Clone returns a copy of c that shares nothing mutable with it.
func (c Config) Clone() Config {
	out := c
	out.Weights = make([]Weight, len(c.Weights))
	for i, w := range c.Weights {
		out.Weights[i] = w.clone()
	}
	out.Experiments = make([]experiments.Experiment, len(c.Experiments))
	for i, e := range c.Experiments {
		out.Experiments[i] = e.Clone()
	}
	out.Frozen = slices.Clone(c.Frozen) // a Snapshot's maps are never modified
	out.Levers = maps.Clone(c.Levers)
	if out.Levers == nil {
		out.Levers = map[string]float64{}
	}
	return out
}

func (w Weight) clone() Weight {
	w.Set, w.Multiply, w.PinnedAt = ptrClone(w.Set), ptrClone(w.Multiply), ptrClone(w.PinnedAt)
	return w
}

func ptrClone(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// weightKey identifies one weight; it orders a configuration's weights.
type weightKey struct {
	treatment features.Treatment
	feature   string
}

func (k weightKey) compare(o weightKey) int {
	if k.treatment != o.treatment {
		return int(k.treatment) - int(o.treatment)
	}
	return strings.Compare(k.feature, o.feature)
}

func keyOf(w Weight) weightKey {
	t, ok := features.ParseTreatment(w.Treatment)
	if !ok {
		// unknown treatments sort last, by name: only an invalid
		// configuration holds one, and Compile rejects it
		t = features.NumTreatments
	}
	return weightKey{t, w.Feature}
}

func sortWeights(ws []Weight) {
	slices.SortFunc(ws, func(a, b Weight) int {
		if c := keyOf(a).compare(keyOf(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Treatment, b.Treatment)
	})
}
