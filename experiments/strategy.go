package experiments

import (
	"fmt"
	"strconv"
	"strings"

	"situ/features"
)

// StrategyKind is how a strategy chooses a treatment.
type StrategyKind uint8

// The strategy kinds.
const (
	// Learned is the live model with exploration: the default strategy.
	Learned StrategyKind = iota
	// ValueTier gives fixed service levels by tier (or, without a tier, by
	// lifetime value): see ValueTierOf.
	ValueTier
	// Uniform gives everyone the same service, value and tier ignored:
	// fast resolution wherever the policy allows.
	Uniform
	// EfficiencyFirst sends to self-service wherever the policy allows,
	// else fast resolution.
	EfficiencyFirst
	// DelightFirst pampers wherever the policy allows.
	DelightFirst
	// Frozen is a frozen model snapshot (model@VERSION), scored like the
	// live model, exploration included, but never updated.
	Frozen
)

// Strategy names as arms and decisions carry them.
const (
	NameLearned         = "learned"
	NameValueTier       = "value_tier"
	NameUniform         = "uniform"
	NameEfficiencyFirst = "efficiency_first"
	NameDelightFirst    = "delight_first"
	// FrozenPrefix starts a frozen model's strategy: "model@17".
	FrozenPrefix = "model@"
)

var kindNames = [...]string{Learned: NameLearned, ValueTier: NameValueTier, Uniform: NameUniform,
	EfficiencyFirst: NameEfficiencyFirst, DelightFirst: NameDelightFirst, Frozen: FrozenPrefix}

// String returns the kind's name ("model@" for Frozen).
func (k StrategyKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("StrategyKind(%d)", k)
}

// Strategy is a parsed strategy name.
type Strategy struct {
	Kind StrategyKind
	// ModelVersion is the frozen model's version (Kind Frozen).
	ModelVersion int64
	// Name is the strategy's name as written canonically.
	Name string
}

// Fixed reports whether the strategy is a fixed rule (no model): it
// chooses one treatment with probability 1.
func (s Strategy) Fixed() bool { return s.Kind != Learned && s.Kind != Frozen }

// ParseStrategy parses a strategy name: learned, value_tier, uniform,
// efficiency_first, delight_first or model@VERSION (VERSION ≥ 1).
func ParseStrategy(name string) (Strategy, error) {
	if v, ok := strings.CutPrefix(name, FrozenPrefix); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != v {
			return Strategy{}, fmt.Errorf("model@VERSION needs a model version ≥ 1, got %q", name)
		}
		return Strategy{Kind: Frozen, ModelVersion: n, Name: name}, nil
	}
	for k, n := range kindNames {
		if StrategyKind(k) != Frozen && n == name {
			return Strategy{Kind: StrategyKind(k), Name: name}, nil
		}
	}
	return Strategy{}, fmt.Errorf("unknown strategy %q; allowed: %s, %s, %s, %s, %s, model@VERSION",
		name, NameLearned, NameValueTier, NameUniform, NameEfficiencyFirst, NameDelightFirst)
}

// Service levels of the value_tier strategy.
const (
	LevelPremium  = "premium"  // platinum and gold: pamper
	LevelStandard = "standard" // silver: fast resolution
	LevelBasic    = "basic"    // basic: self-service
)

// Lifetime values that stand in for a tier when the request has none:
// at least PremiumValue is premium, at least StandardValue standard.
const (
	PremiumValue  = 5000
	StandardValue = 1500
)

// ValueTierOf returns the value_tier strategy's service level for c: by
// tier when c has one, else by lifetime value.
func ValueTierOf(c *features.Context) string {
	switch c.Customer.Tier {
	case "platinum", "gold":
		return LevelPremium
	case "silver":
		return LevelStandard
	case "basic":
		return LevelBasic
	}
	switch v := c.Customer.LifetimeValue; {
	case v >= PremiumValue:
		return LevelPremium
	case v >= StandardValue:
		return LevelStandard
	}
	return LevelBasic
}

var (
	fastFirst    = [features.NumTreatments]features.Treatment{features.FastResolution, features.SelfService, features.PamperUpsell}
	selfFirst    = [features.NumTreatments]features.Treatment{features.SelfService, features.FastResolution, features.PamperUpsell}
	pamperFirst  = [features.NumTreatments]features.Treatment{features.PamperUpsell, features.FastResolution, features.SelfService}
	standardPref = [features.NumTreatments]features.Treatment{features.FastResolution, features.PamperUpsell, features.SelfService}
)

// Preference returns a fixed strategy's order of preference for c: the
// strategy serves the first treatment of it that the policy leaves
// eligible. It ignores everything in c but what its kind names: uniform,
// efficiency_first and delight_first read nothing; value_tier reads the
// tier, or the lifetime value. Learned and Frozen have none (false).
func Preference(k StrategyKind, c *features.Context) ([features.NumTreatments]features.Treatment, bool) {
	switch k {
	case Uniform:
		return fastFirst, true
	case EfficiencyFirst:
		return selfFirst, true
	case DelightFirst:
		return pamperFirst, true
	case ValueTier:
		switch ValueTierOf(c) {
		case LevelPremium:
			return pamperFirst, true
		case LevelStandard:
			return standardPref, true
		default:
			return selfFirst, true
		}
	}
	return [features.NumTreatments]features.Treatment{}, false
}

// Choose returns the treatment a fixed strategy serves: the first of its
// preference in eligible, or false when eligible is empty or the kind is
// not fixed.
func Choose(k StrategyKind, c *features.Context, eligible features.TreatmentSet) (features.Treatment, bool) {
	pref, ok := Preference(k, c)
	if !ok {
		return 0, false
	}
	for _, t := range pref {
		if eligible.Has(t) {
			return t, true
		}
	}
	return 0, false
}
