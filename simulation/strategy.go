package simulation

import "situ/features"

// StrategyFunc chooses a treatment for a contact among the eligible ones.
// It must return an eligible treatment when eligible is not empty.
type StrategyFunc func(c features.Context, eligible features.TreatmentSet) features.Treatment

// Strategy is a named fixed way of choosing treatments, compared against
// what situ serves.
type Strategy struct {
	Name   string
	Choose StrategyFunc
}

// FixedStrategies returns the strategies every report compares:
// always_fast, always_pamper, always_self_service, value_tier_rules and
// uniform_rules.
func FixedStrategies() []Strategy {
	return []Strategy{
		{"always_fast", AlwaysFast},
		{"always_pamper", AlwaysPamper},
		{"always_self_service", AlwaysSelfService},
		{"value_tier_rules", ValueTierRules},
		{"uniform_rules", UniformRules},
	}
}

// AlwaysFast chooses fast_resolution, or else the first eligible of
// self_service and pamper_upsell.
func AlwaysFast(_ features.Context, eligible features.TreatmentSet) features.Treatment {
	return prefer(eligible, features.FastResolution)
}

// AlwaysPamper chooses pamper_upsell, or else fast_resolution, or else
// self_service.
func AlwaysPamper(_ features.Context, eligible features.TreatmentSet) features.Treatment {
	return prefer(eligible, features.PamperUpsell)
}

// AlwaysSelfService chooses self_service, or else fast_resolution, or else
// pamper_upsell.
func AlwaysSelfService(_ features.Context, eligible features.TreatmentSet) features.Treatment {
	return prefer(eligible, features.SelfService)
}

// ValueTierRules serves by value: platinum and gold customers are pampered
// unless they show friction (then fast), basic customers get self-service,
// silver customers (and unknown tiers) fast resolution. An ineligible
// choice falls back to fast_resolution, then self_service, then
// pamper_upsell.
func ValueTierRules(c features.Context, eligible features.TreatmentSet) features.Treatment {
	switch c.Customer.Tier {
	case "platinum", "gold":
		if HasFriction(&c) {
			return prefer(eligible, features.FastResolution)
		}
		return prefer(eligible, features.PamperUpsell)
	case "basic":
		return prefer(eligible, features.SelfService)
	default:
		return prefer(eligible, features.FastResolution)
	}
}

// UniformRules ignores value: friction or a problem intent gets fast
// resolution, a simple intent on a digital channel self-service, anything
// else pampering. An ineligible choice falls back to fast_resolution, then
// self_service, then pamper_upsell.
func UniformRules(c features.Context, eligible features.TreatmentSet) features.Treatment {
	switch {
	case HasFriction(&c) || ProblemIntent(c.Intent.Name):
		return prefer(eligible, features.FastResolution)
	case SimpleIntent(c.Intent.Name) && DigitalChannel(c.Channel):
		return prefer(eligible, features.SelfService)
	default:
		return prefer(eligible, features.PamperUpsell)
	}
}

// HasFriction reports whether a contact shows friction as the rule-based
// strategies see it: a repeat contact in the last 7 days, a failed
// self-service attempt, an open complaint, two transfers or more, or a
// sentiment of -0.3 or below.
func HasFriction(c *features.Context) bool {
	f := &c.Friction
	return f.RepeatContacts7d >= 1 || f.FailedSelfService24h >= 1 || f.OpenComplaint ||
		f.Transfers >= 2 || f.Sentiment <= -0.3
}

// ProblemIntent reports whether an intent is a problem to fix:
// billing_dispute, payment_failed, service_outage, cancel_service,
// complaint or technical_support.
func ProblemIntent(intent string) bool {
	switch intent {
	case "billing_dispute", "payment_failed", "service_outage", "cancel_service", "complaint", "technical_support":
		return true
	}
	return false
}

// SimpleIntent reports whether an intent is a simple task:
// password_reset, order_status or address_change.
func SimpleIntent(intent string) bool {
	switch intent {
	case "password_reset", "order_status", "address_change":
		return true
	}
	return false
}

// DigitalChannel reports whether a channel is digital: app, web or chat.
func DigitalChannel(channel string) bool {
	switch channel {
	case "app", "web", "chat":
		return true
	}
	return false
}

// prefer returns want when eligible, else the first eligible of
// fast_resolution, self_service and pamper_upsell; with nothing eligible,
// want.
func prefer(eligible features.TreatmentSet, want features.Treatment) features.Treatment {
	if eligible.Has(want) {
		return want
	}
	for _, t := range [...]features.Treatment{features.FastResolution, features.SelfService, features.PamperUpsell} {
		if eligible.Has(t) {
			return t
		}
	}
	return want
}
