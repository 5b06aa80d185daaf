package simulation

import (
	"math"

	"situ/models"
)

// RewardFunc scores an outcome. The simulator computes expected rewards by
// calling it on every outcome the ground truth can produce, so it must be a
// pure function of the outcome and must not keep the outcome's CSAT
// pointer.
type RewardFunc func(models.Outcome) float64

// The weights of DefaultReward. They are the numbers of situ's embedded
// default reward definition (models/); keep both in step.
const (
	RewardResolved       = 0.4    // resolved
	RewardCSATPerPoint   = 0.1    // per CSAT point above 3, when surveyed
	RewardUpsellAccepted = 0.3    // upsell accepted
	RewardPerRevenue     = 0.001  // per unit of revenue …
	RewardRevenueCap     = 0.3    // … up to this much
	RewardPerHandleSec   = 0.0002 // subtracted per second of handle time
	RewardEscalated      = 0.2    // subtracted when escalated
	RewardRecontact7d    = 0.3    // subtracted on a recontact within 7 days
	RewardChurned        = 0.8    // subtracted when the customer churned
)

// DefaultReward is situ's default reward definition: a weighted sum of the
// outcome fields clipped to [-1, 1]:
//
//	+0.4 resolved
//	+0.1·(csat − 3) when csat is present
//	+0.3 upsell_accepted
//	+0.001·revenue, at most +0.3
//	−0.0002·handle_seconds
//	−0.2 escalated
//	−0.3 recontact_7d
//	−0.8 churned
func DefaultReward(o models.Outcome) float64 {
	r := 0.0
	if o.Resolved {
		r += RewardResolved
	}
	if o.CSAT != nil {
		r += RewardCSATPerPoint * (*o.CSAT - 3)
	}
	if o.UpsellAccepted {
		r += RewardUpsellAccepted
	}
	r += math.Min(RewardPerRevenue*o.Revenue, RewardRevenueCap)
	r -= RewardPerHandleSec * o.HandleSeconds
	if o.Escalated {
		r -= RewardEscalated
	}
	if o.Recontact7d {
		r -= RewardRecontact7d
	}
	if o.Churned {
		r -= RewardChurned
	}
	return math.Max(-1, math.Min(1, r))
}
