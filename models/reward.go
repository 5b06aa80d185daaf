package models

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default_reward.yaml
var defaultRewardYAML []byte

// DefaultRewardYAML returns the embedded default reward definition.
func DefaultRewardYAML() []byte { return append([]byte(nil), defaultRewardYAML...) }

// DefaultReward returns the embedded default reward definition.
func DefaultReward() (RewardDefinition, error) { return ParseReward(defaultRewardYAML) }

// RewardDefinition turns an outcome into a reward: a versioned weighted
// sum of the outcome's fields, clipped to Clip.
type RewardDefinition struct {
	Version int64         `yaml:"version" json:"version"`
	Weights RewardWeights `yaml:"weights" json:"weights"`
	Clip    [2]float64    `yaml:"clip" json:"clip"`
}

// RewardWeights are the terms of a reward definition.
type RewardWeights struct {
	Resolved       float64 `yaml:"resolved" json:"resolved"`
	CSAT           float64 `yaml:"csat" json:"csat"` // per point above 3
	UpsellAccepted float64 `yaml:"upsell_accepted" json:"upsell_accepted"`
	Revenue        float64 `yaml:"revenue" json:"revenue"`         // per unit
	RevenueCap     float64 `yaml:"revenue_cap" json:"revenue_cap"` // bound on the revenue term; 0 = none
	HandleSeconds  float64 `yaml:"handle_seconds" json:"handle_seconds"`
	Escalated      float64 `yaml:"escalated" json:"escalated"`
	Recontact7d    float64 `yaml:"recontact_7d" json:"recontact_7d"`
	Churned        float64 `yaml:"churned" json:"churned"`
}

// ParseReward parses and validates a YAML (or JSON) reward definition.
func ParseReward(doc []byte) (RewardDefinition, error) {
	var r RewardDefinition
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return RewardDefinition{}, fmt.Errorf("parse reward definition: %w", err)
	}
	if err := r.Validate(); err != nil {
		return RewardDefinition{}, err
	}
	return r, nil
}

// Validate checks the definition.
func (r RewardDefinition) Validate() error {
	if r.Version <= 0 {
		return errors.New("reward definition: version must be positive")
	}
	w := r.Weights
	for name, v := range map[string]float64{"resolved": w.Resolved, "csat": w.CSAT, "upsell_accepted": w.UpsellAccepted, "revenue": w.Revenue,
		"revenue_cap": w.RevenueCap, "handle_seconds": w.HandleSeconds, "escalated": w.Escalated, "recontact_7d": w.Recontact7d, "churned": w.Churned} {
		if !finite(v) {
			return fmt.Errorf("reward definition: weight %s must be finite", name)
		}
	}
	if w.RevenueCap < 0 {
		return errors.New("reward definition: revenue_cap must not be negative")
	}
	if !finite(r.Clip[0]) || !finite(r.Clip[1]) || !(r.Clip[0] < r.Clip[1]) {
		return fmt.Errorf("reward definition: clip must be [min, max] with min < max, got %v", r.Clip)
	}
	return nil
}

// Reward computes the reward of an outcome.
func (r *RewardDefinition) Reward(o *Outcome) float64 {
	w := &r.Weights
	s := 0.0
	if o.Resolved {
		s += w.Resolved
	}
	if o.CSAT != nil {
		s += w.CSAT * (*o.CSAT - 3)
	}
	if o.UpsellAccepted {
		s += w.UpsellAccepted
	}
	rev := w.Revenue * o.Revenue
	if w.RevenueCap > 0 {
		rev = math.Max(-w.RevenueCap, math.Min(rev, w.RevenueCap))
	}
	s += rev
	s += w.HandleSeconds * o.HandleSeconds
	if o.Escalated {
		s += w.Escalated
	}
	if o.Recontact7d {
		s += w.Recontact7d
	}
	if o.Churned {
		s += w.Churned
	}
	return math.Max(r.Clip[0], math.Min(s, r.Clip[1]))
}
