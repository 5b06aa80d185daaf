package simulation_test

import (
	"situ/features"
)

// situationOption changes a hand-made contact.
type situationOption func(*features.Context)

func prefers(c *features.Context)   { c.Customer.PrefersSelfService = true }
func complaint(c *features.Context) { c.Friction.OpenComplaint = true }
func repeats(n int) situationOption {
	return func(c *features.Context) { c.Friction.RepeatContacts7d = n }
}
func failedSelfService(n int) situationOption {
	return func(c *features.Context) { c.Friction.FailedSelfService24h = n }
}
func sentiment(s float64) situationOption {
	return func(c *features.Context) { c.Friction.Sentiment = s }
}
func confidence(p float64) situationOption {
	return func(c *features.Context) { c.Intent.Confidence = &p }
}

// situation builds a calm contact (no friction, sentiment 0.3, certain
// intent, 36 months of tenure) of a customer of the tier's typical value.
func situation(intent, channel, tier string, opts ...situationOption) features.Context {
	value := map[string][2]float64{ // annual spend, lifetime value
		"basic": {150, 450}, "silver": {500, 1600}, "gold": {1200, 4500}, "platinum": {4000, 16000},
	}[tier]
	c := features.Context{
		Customer: features.Customer{ID: "c-test", AnnualSpend: value[0], LifetimeValue: value[1], TenureMonths: 36, Tier: tier},
		Intent:   features.Intent{Name: intent},
		Channel:  channel,
		Friction: features.Friction{Sentiment: 0.3},
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}
