package simulation

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"situ/features"
)

// The default intent vocabulary with the share of contacts each intent
// takes (they sum to 1).
var intentShares = []struct {
	name  string
	share float64
}{
	{"technical_support", 0.15},
	{"order_status", 0.14},
	{"billing_dispute", 0.10},
	{"general_question", 0.10},
	{"password_reset", 0.09},
	{"payment_failed", 0.08},
	{"upgrade_inquiry", 0.07},
	{"service_outage", 0.06},
	{"address_change", 0.06},
	{"new_product", 0.05},
	{"cancel_service", 0.05},
	{"complaint", 0.05},
}

// Channels are situ's channels in a fixed order.
var channels = [...]string{"phone", "ivr", "chat", "email", "web", "app", "store"}

// channelBase is the share of contacts per channel before the intent and
// the customer's preference shift it (order of channels).
var channelBase = [len(channels)]float64{0.30, 0.10, 0.17, 0.07, 0.13, 0.18, 0.05}

// channelByIntent multiplies channelBase for an intent (order of channels).
var channelByIntent = map[string][len(channels)]float64{
	"billing_dispute":   {1.4, 0.6, 1.0, 1.8, 0.6, 0.6, 0.8},
	"payment_failed":    {1.0, 1.6, 0.8, 0.6, 1.2, 1.3, 0.4},
	"service_outage":    {1.5, 1.2, 0.8, 0.5, 0.8, 1.2, 0.3},
	"cancel_service":    {1.7, 0.5, 0.9, 1.2, 0.6, 0.5, 1.5},
	"complaint":         {1.6, 0.3, 1.0, 2.2, 0.5, 0.4, 1.2},
	"order_status":      {0.8, 1.0, 1.0, 1.0, 1.3, 1.4, 0.6},
	"password_reset":    {0.7, 1.2, 0.8, 0.4, 1.4, 1.6, 0.3},
	"address_change":    {0.9, 0.6, 1.0, 1.0, 1.4, 1.3, 0.8},
	"technical_support": {1.2, 0.8, 1.3, 0.7, 0.8, 1.0, 0.9},
	"upgrade_inquiry":   {0.9, 0.3, 1.0, 0.4, 1.3, 1.4, 1.8},
	"new_product":       {0.8, 0.3, 1.0, 0.4, 1.4, 1.3, 2.2},
	"general_question":  {1.0, 0.8, 1.3, 1.0, 1.0, 1.0, 1.0},
}

// selfServiceChannelLift multiplies channelBase for customers who prefer
// self-service (order of channels): they use the app, the web and the IVR.
var selfServiceChannelLift = [len(channels)]float64{0.5, 1.5, 1.1, 0.9, 1.6, 1.8, 0.5}

// problemIntents bring friction with them.
var problemIntents = map[string]bool{
	"billing_dispute": true, "payment_failed": true, "service_outage": true,
	"complaint": true, "technical_support": true,
}

// Tier thresholds on annual spend: basic below TierSilverSpend, silver
// below TierGoldSpend, gold below TierPlatinumSpend, platinum above.
const (
	TierSilverSpend   = 350.0
	TierGoldSpend     = 850.0
	TierPlatinumSpend = 2000.0
)

// TierFor returns the tier a customer with this annual spend has.
func TierFor(annualSpend float64) string {
	switch {
	case annualSpend >= TierPlatinumSpend:
		return "platinum"
	case annualSpend >= TierGoldSpend:
		return "gold"
	case annualSpend >= TierSilverSpend:
		return "silver"
	default:
		return "basic"
	}
}

// PopulationConfig configures a Population.
type PopulationConfig struct {
	// Seed makes the population and its contacts reproducible. Default 0.
	Seed uint64
	// Customers is the number of distinct customers contacts are drawn
	// from. Default 10,000.
	Customers int
	// ConfidenceShare is the share of contacts whose intent comes from a
	// classifier with a confidence; the rest carry no confidence (certain).
	// Default 0.6; negative means none.
	ConfidenceShare float64
}

// Population generates customers and their contacts. Customer n and
// contact i depend only on the seed and n or i, so contacts can be
// generated in any order and in parallel. A Population is immutable and
// safe for concurrent use.
type Population struct {
	seed            uint64
	customers       int
	confidenceShare float64
}

// NewPopulation builds a population from cfg.
func NewPopulation(cfg PopulationConfig) (*Population, error) {
	if cfg.Customers == 0 {
		cfg.Customers = 10_000
	}
	if cfg.Customers < 0 {
		return nil, errors.New("population: customers must be positive")
	}
	switch {
	case cfg.ConfidenceShare == 0:
		cfg.ConfidenceShare = 0.6
	case cfg.ConfidenceShare < 0:
		cfg.ConfidenceShare = 0
	case cfg.ConfidenceShare > 1 || math.IsNaN(cfg.ConfidenceShare):
		return nil, fmt.Errorf("population: confidence share must be at most 1, got %g", cfg.ConfidenceShare)
	}
	return &Population{seed: cfg.Seed, customers: cfg.Customers, confidenceShare: cfg.ConfidenceShare}, nil
}

// Customers returns the number of customers.
func (p *Population) Customers() int { return p.customers }

// Streams of the seeded generators, so that customers, contacts and
// outcomes never share random numbers.
const (
	streamCustomer uint64 = 0x6375_7374_6f6d_6572 // "customer"
	streamContact  uint64 = 0x636f_6e74_6163_7473 // "contacts"
	streamOutcome  uint64 = 0x6f75_7463_6f6d_6573 // "outcomes"
)

// newRand returns the generator of item i of a stream under seed.
func newRand(seed, stream uint64, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(mix(seed^stream), i))
}

// mix is the splitmix64 finaliser: nearby seeds give unrelated generators.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Customer returns customer n (0 ≤ n < Customers()):
//
//   - annual_spend is log-normal (median 400, σ 1.1 in log space), at least 5;
//   - tenure_months is exponential with mean 36, at most 300 (whole months);
//   - lifetime_value is annual spend × (tenure + 3)/12 × a log-normal factor
//     (σ 0.3), so value and tenure are correlated;
//   - tier follows annual spend (TierFor);
//   - first_contact: 60 % of customers in their first two months, 2 % of
//     the others;
//   - prefers_self_service: 45 % basic, 35 % silver, 25 % gold, 20 % platinum.
func (p *Population) Customer(n int) features.Customer {
	r := newRand(p.seed, streamCustomer, uint64(n))
	spend := math.Max(5, math.Exp(math.Log(400)+1.1*r.NormFloat64()))
	spend = math.Round(spend*100) / 100
	tenure := math.Min(300, math.Floor(r.ExpFloat64()*36))
	ltv := spend * (tenure + 3) / 12 * math.Exp(0.3*r.NormFloat64())
	ltv = math.Round(ltv*100) / 100
	tier := TierFor(spend)
	firstShare := 0.02
	if tenure < 2 {
		firstShare = 0.6
	}
	prefers := 0.45
	switch tier {
	case "silver":
		prefers = 0.35
	case "gold":
		prefers = 0.25
	case "platinum":
		prefers = 0.20
	}
	return features.Customer{
		ID:                 fmt.Sprintf("c-%06d", n),
		LifetimeValue:      ltv,
		AnnualSpend:        spend,
		TenureMonths:       tenure,
		Tier:               tier,
		FirstContact:       r.Float64() < firstShare,
		PrefersSelfService: r.Float64() < prefers,
	}
}

// Contact returns contact i: a customer drawn uniformly, an intent with the
// shares of the default vocabulary, a channel that depends on the intent
// and on whether the customer prefers self-service, and friction that
// depends on both (problem intents bring repeat contacts, failed
// self-service attempts and complaints; voice channels bring waiting and
// transfers; sentiment falls with friction). docs/simulator.md lists the
// distributions.
func (p *Population) Contact(i int64) features.Context {
	r := newRand(p.seed, streamContact, uint64(i))
	cust := p.Customer(r.IntN(p.customers))

	u := r.Float64()
	intent := intentShares[len(intentShares)-1].name
	for _, s := range intentShares {
		if u < s.share {
			intent = s.name
			break
		}
		u -= s.share
	}

	var w [len(channels)]float64
	sum := 0.0
	byIntent := channelByIntent[intent]
	for c := range channels {
		w[c] = channelBase[c] * byIntent[c]
		if cust.PrefersSelfService {
			w[c] *= selfServiceChannelLift[c]
		}
		sum += w[c]
	}
	u = r.Float64() * sum
	ch := len(channels) - 1
	for c := range channels {
		if u < w[c] {
			ch = c
			break
		}
		u -= w[c]
	}
	channel := channels[ch]

	var f features.Friction
	lambda := 0.15
	switch {
	case problemIntents[intent]:
		lambda = 0.55
	case intent == "cancel_service":
		lambda = 0.3
	}
	f.RepeatContacts7d = poisson(r, lambda)

	failShare := 0.06
	switch intent {
	case "password_reset", "payment_failed", "technical_support", "address_change":
		failShare = 0.16
	}
	if cust.PrefersSelfService {
		failShare *= 1.5
	}
	if r.Float64() < failShare {
		f.FailedSelfService24h = 1 + poisson(r, 0.3)
	}

	switch channel {
	case "phone":
		f.WaitSeconds = logNormal(r, 120, 1.0)
	case "store":
		f.WaitSeconds = logNormal(r, 150, 0.8)
	case "chat":
		f.WaitSeconds = logNormal(r, 45, 0.9)
	case "ivr":
		f.WaitSeconds = logNormal(r, 20, 0.6)
	}
	f.WaitSeconds = math.Min(math.Round(f.WaitSeconds), features.MaxWait)
	switch channel {
	case "phone", "chat", "store":
		tl := 0.15
		if f.RepeatContacts7d > 0 {
			tl += 0.3
		}
		f.Transfers = poisson(r, tl)
	}

	complaintShare := 0.03
	switch intent {
	case "complaint":
		complaintShare = 0.6
	case "billing_dispute":
		complaintShare = 0.15
	case "service_outage", "cancel_service":
		complaintShare = 0.08
	}
	if f.RepeatContacts7d >= 2 {
		complaintShare += 0.1
	}
	f.OpenComplaint = r.Float64() < complaintShare

	mood := 0.25
	switch intent {
	case "upgrade_inquiry", "new_product":
		mood += 0.2
	case "complaint", "cancel_service":
		mood -= 0.3
	}
	mood -= 0.15*float64(min(f.RepeatContacts7d, 4)) + 0.2*float64(min(f.FailedSelfService24h, 3)) +
		0.1*float64(min(f.Transfers, 4)) + f.WaitSeconds/1800
	if f.OpenComplaint {
		mood -= 0.3
	}
	f.Sentiment = math.Round(clamp(mood+0.3*r.NormFloat64(), -1, 1)*100) / 100

	c := features.Context{Customer: cust, Intent: features.Intent{Name: intent}, Channel: channel, Friction: f}
	if r.Float64() < p.confidenceShare {
		// Classifiers are mostly sure: 1 - 0.6·U² lies in [0.4, 1], mean 0.8.
		u := r.Float64()
		conf := math.Round((1-0.6*u*u)*100) / 100
		c.Intent.Confidence = &conf
	}
	return c
}

// poisson draws a Poisson count with mean lambda (Knuth; lambda is small).
func poisson(r *rand.Rand, lambda float64) int {
	l := math.Exp(-lambda)
	k, prod := 0, r.Float64()
	for prod > l && k < features.MaxCount {
		k++
		prod *= r.Float64()
	}
	return k
}

// logNormal draws a log-normal value with the given median and log-space σ.
func logNormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
