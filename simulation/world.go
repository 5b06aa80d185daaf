package simulation

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"situ/features"
	"situ/models"
)

// World is a ground truth: the outcome distribution of every treatment in
// every context. The default world (nil, or DefaultWorld) is TrueResponse;
// RandomWorld draws a situational one from a seed: the default world plus
// rules, each of which moves one treatment's chance of resolving the
// contact where a condition on the situation (intent, channel, friction)
// meets a condition on the customer (tenure, value, self-service
// preference, tier). Which treatment is best then depends on interactions
// that no feature of the default schema spells out. A World is immutable
// and safe for concurrent use.
type World struct {
	seed  uint64
	rules []worldRule
}

// DefaultWorld returns the default ground truth (TrueResponse).
func DefaultWorld() *World { return nil }

// worldRule shifts the resolve logit of treatment t by shift where both
// conditions hold.
type worldRule struct {
	situation, customer worldCondition
	t                   features.Treatment
	shift               float64
}

// worldCondition is one threshold or set test on a context.
type worldCondition struct {
	desc string
	test func(c *features.Context, s *situation) bool
}

// NumWorldRules is the number of rules of a random world.
const NumWorldRules = 8

// streamWorld is the stream of the world generator.
const streamWorld uint64 = 0x776f_726c_6473_2121 // "worlds!!"

var worldIntents = []string{"billing_dispute", "payment_failed", "service_outage", "cancel_service", "complaint",
	"order_status", "password_reset", "address_change", "technical_support", "upgrade_inquiry", "new_product", "general_question"}

var worldChannels = []string{"phone", "ivr", "chat", "email", "web", "app", "store"}

// RandomWorld draws the situational world of seed: NumWorldRules rules,
// each a situation condition (the intent in a random set of 2 to 4, the
// channel in a random set of 2 or 3, the wait above a threshold, a repeat
// contact or a failed self-service attempt, the sentiment below a
// threshold) and a customer condition (tenure or value above or below a
// threshold, the self-service preference, the tier in a random set),
// moving a random treatment's resolve logit by ±1.2 … 2.4. The same seed
// gives the same world.
func RandomWorld(seed uint64) *World {
	r := newRand(seed, streamWorld, 0)
	w := &World{seed: seed}
	for range NumWorldRules {
		rule := worldRule{situation: randomSituation(r), customer: randomCustomer(r), t: features.Treatment(r.IntN(features.NumTreatments))}
		rule.shift = 1.2 + 1.2*r.Float64()
		if r.Float64() < 0.3 {
			rule.shift = -rule.shift
		}
		w.rules = append(w.rules, rule)
	}
	return w
}

func pick(r *rand.Rand, from []string, n int) []string {
	p := r.Perm(len(from))[:n]
	out := make([]string, n)
	for i, k := range p {
		out[i] = from[k]
	}
	slices.Sort(out)
	return out
}

func randomSituation(r *rand.Rand) worldCondition {
	switch r.IntN(6) {
	case 0, 1:
		set := pick(r, worldIntents, 2+r.IntN(3))
		return worldCondition{"intent in " + strings.Join(set, ","), func(c *features.Context, _ *situation) bool { return slices.Contains(set, c.Intent.Name) }}
	case 2:
		set := pick(r, worldChannels, 2+r.IntN(2))
		return worldCondition{"channel in " + strings.Join(set, ","), func(c *features.Context, _ *situation) bool { return slices.Contains(set, c.Channel) }}
	case 3:
		th := []float64{20, 60, 120, 240}[r.IntN(4)]
		return worldCondition{fmt.Sprintf("wait_seconds > %g", th), func(c *features.Context, _ *situation) bool { return c.Friction.WaitSeconds > th }}
	case 4:
		if r.IntN(2) == 0 {
			return worldCondition{"repeat_contacts_7d >= 1", func(_ *features.Context, s *situation) bool { return s.rep >= 1 }}
		}
		return worldCondition{"failed_self_service_24h >= 1", func(_ *features.Context, s *situation) bool { return s.fail >= 1 }}
	default:
		th := []float64{-0.2, 0, 0.2, 0.4}[r.IntN(4)]
		return worldCondition{fmt.Sprintf("sentiment < %g", th), func(_ *features.Context, s *situation) bool { return s.sent < th }}
	}
}

func randomCustomer(r *rand.Rand) worldCondition {
	above := r.IntN(2) == 0
	switch r.IntN(4) {
	case 0:
		th := []float64{6, 12, 24, 48, 96}[r.IntN(5)]
		if above {
			return worldCondition{fmt.Sprintf("tenure_months > %g", th), func(_ *features.Context, s *situation) bool { return s.tenure > th }}
		}
		return worldCondition{fmt.Sprintf("tenure_months <= %g", th), func(_ *features.Context, s *situation) bool { return s.tenure <= th }}
	case 1:
		th := math.Round((-1+2.5*r.Float64())*10) / 10 // standardized log lifetime value
		ltv := math.Round(math.Expm1(7 + 1.6*th))
		if above {
			return worldCondition{fmt.Sprintf("lifetime_value > %g", ltv), func(_ *features.Context, s *situation) bool { return s.v > th }}
		}
		return worldCondition{fmt.Sprintf("lifetime_value <= %g", ltv), func(_ *features.Context, s *situation) bool { return s.v <= th }}
	case 2:
		return worldCondition{fmt.Sprintf("prefers_self_service = %t", above), func(_ *features.Context, s *situation) bool { return s.pref == above }}
	default:
		set := pick(r, []string{"basic", "silver", "gold", "platinum"}, 1+r.IntN(2))
		return worldCondition{"tier in " + strings.Join(set, ","), func(c *features.Context, _ *situation) bool { return slices.Contains(set, c.Customer.Tier) }}
	}
}

// Seed returns the seed the world was drawn from (0 for the default world).
func (w *World) Seed() uint64 {
	if w == nil {
		return 0
	}
	return w.seed
}

// Rules describes the world's rules, one line each ("intent in
// complaint,order_status × tenure_months > 24: self_service +1.73");
// none for the default world.
func (w *World) Rules() []string {
	if w == nil {
		return nil
	}
	out := make([]string, len(w.rules))
	for i, r := range w.rules {
		out[i] = fmt.Sprintf("%s × %s: %s %+.2f", r.situation.desc, r.customer.desc, r.t, r.shift)
	}
	return out
}

// Response returns the world's outcome distribution for treating contact
// c with t.
func (w *World) Response(c *features.Context, t features.Treatment) Response {
	p := TrueResponse(c, t)
	if w == nil {
		return p
	}
	s := readSituation(c)
	shift := 0.0
	for i := range w.rules {
		r := &w.rules[i]
		if r.t == t && r.situation.test(c, &s) && r.customer.test(c, &s) {
			shift += r.shift
		}
	}
	if shift != 0 {
		q := clamp(p.Resolve, 1e-6, 1-1e-6)
		p.Resolve = sigmoid(math.Log(q/(1-q)) + shift)
	}
	return p
}

// ExpectedRewards returns the exact expected reward of every treatment for
// contact c in the world.
func (w *World) ExpectedRewards(c *features.Context, reward *models.RewardDefinition) [features.NumTreatments]float64 {
	var e [features.NumTreatments]float64
	for _, t := range features.Treatments() {
		r := w.Response(c, t)
		e[t] = r.Expected(reward)
	}
	return e
}
