package simulation

import (
	"math"

	"situ/models"
)

// Metrics are the reward and the outcome KPIs as numbers, named as the
// experiments' results name them (experiments.Metrics): yes/no fields are
// 0 or 1 (or a probability), csat is the mean of the answered surveys.
type Metrics struct {
	Reward         float64 `json:"reward"`
	Resolved       float64 `json:"resolved"`
	CSAT           float64 `json:"csat"`
	UpsellAccepted float64 `json:"upsell_accepted"`
	Revenue        float64 `json:"revenue"`
	HandleSeconds  float64 `json:"handle_seconds"`
	Escalated      float64 `json:"escalated"`
	Recontact7d    float64 `json:"recontact_7d"`
	Churned        float64 `json:"churned"`
}

// ExpectedMetrics returns the response's exact expectations: the expected
// reward under reward, P(resolved), E[csat | surveyed], P(upsell_accepted),
// E[revenue], E[handle_seconds] (rounded as Draw rounds), P(escalated),
// P(recontact_7d) and P(churned).
func (p *Response) ExpectedMetrics(reward *models.RewardDefinition) Metrics {
	m := Metrics{Reward: p.Expected(reward), Resolved: p.Resolve}
	for res := 0; res < 2; res++ {
		pr := p.Resolve
		if res == 0 {
			pr = 1 - p.Resolve
		}
		csat := 0.0
		for k, q := range p.CSAT[res] {
			csat += float64(k+1) * q
		}
		m.CSAT += pr * csat
		m.UpsellAccepted += pr * p.Upsell[res]
		m.Revenue += pr * p.Upsell[res] * p.Revenue
		for j, w := range HandleWeights {
			m.HandleSeconds += pr * w * math.Round(p.Handle[res]*HandleFactors[j])
		}
		m.Escalated += pr * p.Escalate[res]
		m.Recontact7d += pr * p.Recontact[res]
		m.Churned += pr * p.Churn[res]
	}
	return m
}

// OutcomeMetrics returns an outcome's metrics under reward, and whether
// its csat was answered (CSAT is 0 when not).
func OutcomeMetrics(o *models.Outcome, reward *models.RewardDefinition) (Metrics, bool) {
	m := Metrics{
		Reward: reward.Reward(o), Resolved: b01(o.Resolved), UpsellAccepted: b01(o.UpsellAccepted),
		Revenue: o.Revenue, HandleSeconds: o.HandleSeconds, Escalated: b01(o.Escalated),
		Recontact7d: b01(o.Recontact7d), Churned: b01(o.Churned),
	}
	if o.CSAT == nil {
		return m, false
	}
	m.CSAT = *o.CSAT
	return m, true
}

func b01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// add adds x to m, field by field.
func (m *Metrics) add(x *Metrics) {
	m.Reward += x.Reward
	m.Resolved += x.Resolved
	m.CSAT += x.CSAT
	m.UpsellAccepted += x.UpsellAccepted
	m.Revenue += x.Revenue
	m.HandleSeconds += x.HandleSeconds
	m.Escalated += x.Escalated
	m.Recontact7d += x.Recontact7d
	m.Churned += x.Churned
}

// scaled returns m with every field multiplied by f.
func (m Metrics) scaled(f float64) Metrics {
	return Metrics{
		Reward: m.Reward * f, Resolved: m.Resolved * f, CSAT: m.CSAT * f, UpsellAccepted: m.UpsellAccepted * f,
		Revenue: m.Revenue * f, HandleSeconds: m.HandleSeconds * f, Escalated: m.Escalated * f,
		Recontact7d: m.Recontact7d * f, Churned: m.Churned * f,
	}
}
