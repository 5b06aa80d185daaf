package control

import (
	"errors"
	"fmt"

	"situ/features"
	"situ/models"
)

// DefaultRewardBounds is the widest clip a reward definition may declare
// when Env.RewardBounds is not set. The model's weights and the levers are
// on the reward's scale; a wider clip would let one outcome outweigh
// thousands.
var DefaultRewardBounds = [2]float64{-10, 10}

// Env is what validating and compiling a configuration needs to know
// about the running service. The treatments are features.Treatments().
type Env struct {
	// Schema names the features weights may refer to (plus "bias").
	// Required.
	Schema *features.Schema
	// Model is the learned model of the moment: a pin without an explicit
	// value holds the weight at its value here. Optional; without it such
	// a pin is refused.
	Model *models.Model
	// RewardBounds is the range a reward definition's clip must lie in.
	// Default (zero): DefaultRewardBounds.
	RewardBounds [2]float64
}

func (e Env) check() error {
	if e.Schema == nil {
		return errors.New("control: a feature schema is required")
	}
	if e.Model != nil && e.Model.Schema().Fingerprint() != e.Schema.Fingerprint() {
		return fmt.Errorf("control: the learned model is bound to another feature schema: %w", models.ErrSchemaMismatch)
	}
	return nil
}

func (e Env) rewardBounds() [2]float64 {
	if e.RewardBounds == ([2]float64{}) {
		return DefaultRewardBounds
	}
	return e.RewardBounds
}

// featureIndex resolves a weight's feature name: the schema's index, or
// BiasIndex for "bias".
func featureIndex(s *features.Schema, name string) (int32, bool) {
	if name == Bias {
		return BiasIndex, true
	}
	return s.Index(name)
}

// ValueFeatures returns the names of the schema's features that describe
// what a customer is worth, the ones uniform mode removes from the
// decision: features marked value, features read from one of
// features.ValueSources, every one-hot of such a categorical and every
// cross built on one of them. It follows features.CompileSchema's rules.
func ValueFeatures(s *features.Schema) map[string]bool {
	spec := s.Spec()
	isSource := func(src string) bool {
		for _, v := range features.ValueSources {
			if v == src {
				return true
			}
		}
		return false
	}
	out := map[string]bool{}
	base := map[string]bool{} // numeric, boolean and categorical features by name
	for _, n := range spec.Numeric {
		src := n.Source
		if src == "" {
			src = n.Name
		}
		if n.Value || isSource(src) {
			base[n.Name] = true
			out[n.Name] = true
		}
	}
	for _, b := range spec.Boolean {
		if b.Value {
			base[b.Name] = true
			out[b.Name] = true
		}
	}
	vocab := map[string][]string{}
	for _, c := range spec.Categorical {
		vocab[c.Name] = append(append([]string(nil), c.Vocabulary...), "other")
		if c.Value || isSource(c.Source) {
			base[c.Name] = true
			for _, v := range vocab[c.Name] {
				out[c.Name+"="+v] = true
			}
		}
	}
	for _, x := range spec.Crosses {
		if len(x.Of) != 2 || !(base[x.Of[0]] || base[x.Of[1]]) {
			continue
		}
		va, aCat := vocab[x.Of[0]]
		vb, bCat := vocab[x.Of[1]]
		if !aCat || !bCat {
			out[x.Name] = true
			continue
		}
		for _, a := range va {
			for _, b := range vb {
				out[x.Name+"="+a+"|"+b] = true
			}
		}
	}
	// keep only names the schema has, should the rules above ever drift
	for name := range out {
		if _, ok := s.Index(name); !ok {
			delete(out, name)
		}
	}
	return out
}
