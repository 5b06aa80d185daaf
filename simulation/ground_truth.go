package simulation

import (
	"math"
	"math/rand/v2"

	"situ/features"
	"situ/models"
)

// Response is the ground truth's distribution of an outcome for one context
// and one treatment. Whether the contact is resolved is drawn first; every
// other field depends on it and is drawn independently given it. Arrays
// indexed by resolution hold [not resolved, resolved].
type Response struct {
	Resolve   float64    // P(resolved)
	Escalate  [2]float64 // P(escalated | resolution)
	Recontact [2]float64 // P(recontact_7d | resolution)
	Churn     [2]float64 // P(churned | resolution)
	Upsell    [2]float64 // P(upsell_accepted | resolution)
	// Revenue is the revenue of an accepted upsell (0 when none is).
	Revenue float64
	// Survey is P(csat present); CSAT[r][k] is P(csat = k+1 | resolution r)
	// when surveyed.
	Survey float64
	CSAT   [2][5]float64
	// Handle is the mean handle seconds given resolution; the handle time is
	// HandleFactors[j]·Handle[r] with probability HandleWeights[j].
	Handle [2]float64
}

// The three-point spread of handle times around their mean.
var (
	HandleFactors = [3]float64{0.6, 1.0, 1.5}
	HandleWeights = [3]float64{0.3, 0.45, 0.25}
)

// SurveyRate is the share of contacts that answer the CSAT survey.
const SurveyRate = 0.3

// Draw draws an outcome from the response with r. It consumes the same
// eight uniform numbers in the same order whatever the response, so draws
// for different treatments of one contact share their randomness (common
// random numbers). The ids and occurred_at are left for the caller.
func (p *Response) Draw(r *rand.Rand) models.Outcome {
	var u [8]float64
	for i := range u {
		u[i] = r.Float64()
	}
	var o models.Outcome
	res := 0
	if u[0] < p.Resolve {
		res = 1
		o.Resolved = true
	}
	o.Escalated = u[1] < p.Escalate[res]
	o.Recontact7d = u[2] < p.Recontact[res]
	o.Churned = u[3] < p.Churn[res]
	if u[4] < p.Upsell[res] {
		o.UpsellAccepted = true
		o.Revenue = p.Revenue
	}
	if u[5] < p.Survey {
		acc, k := 0.0, 4
		for j, q := range p.CSAT[res] {
			acc += q
			if u[6] < acc {
				k = j
				break
			}
		}
		csat := float64(k + 1)
		o.CSAT = &csat
	}
	acc, j := 0.0, len(HandleFactors)-1
	for i, w := range HandleWeights {
		acc += w
		if u[7] < acc {
			j = i
			break
		}
	}
	o.HandleSeconds = math.Round(p.Handle[res] * HandleFactors[j])
	return o
}

// Expected returns the exact expected reward of the response under the
// reward definition: the sum of the reward over every outcome the response can produce (at most
// 2·2·2·2·2·6·3 = 576 of them, fewer when some are impossible) weighted by
// its probability.
func (p *Response) Expected(reward *models.RewardDefinition) float64 {
	csat := [5]float64{1, 2, 3, 4, 5}
	total := 0.0
	var o models.Outcome
	for res := 0; res < 2; res++ {
		pr := p.Resolve
		if res == 0 {
			pr = 1 - p.Resolve
		}
		if pr == 0 {
			continue
		}
		o.Resolved = res == 1
		var handle [len(HandleFactors)]float64
		for j, f := range HandleFactors {
			handle[j] = math.Round(p.Handle[res] * f)
		}
		var eb, rb, cb, ub [2]outcomeBranch
		for _, e := range branches(p.Escalate[res], &eb) {
			o.Escalated = e.on
			for _, rc := range branches(p.Recontact[res], &rb) {
				o.Recontact7d = rc.on
				for _, ch := range branches(p.Churn[res], &cb) {
					o.Churned = ch.on
					for _, up := range branches(p.Upsell[res], &ub) {
						o.UpsellAccepted = up.on
						o.Revenue = 0
						if up.on {
							o.Revenue = p.Revenue
						}
						base := pr * e.p * rc.p * ch.p * up.p
						for k := -1; k < len(csat); k++ {
							ps := 1 - p.Survey
							o.CSAT = nil
							if k >= 0 {
								ps = p.Survey * p.CSAT[res][k]
								o.CSAT = &csat[k]
							}
							if ps == 0 {
								continue
							}
							for j, w := range HandleWeights {
								o.HandleSeconds = handle[j]
								total += base * ps * w * reward.Reward(&o)
							}
						}
					}
				}
			}
		}
	}
	return total
}

// outcomeBranch is one value of a yes/no outcome field with its probability.
type outcomeBranch struct {
	on bool
	p  float64
}

// branches writes into dst the possible values of a yes/no field that is
// yes with probability p, and returns them.
func branches(p float64, dst *[2]outcomeBranch) []outcomeBranch {
	n := 0
	if p < 1 {
		dst[n] = outcomeBranch{false, 1 - p}
		n++
	}
	if p > 0 {
		dst[n] = outcomeBranch{true, p}
		n++
	}
	return dst[:n]
}

// ExpectedRewards returns the exact expected reward of every treatment for
// contact c under the ground truth and the reward definition.
func ExpectedRewards(c *features.Context, reward *models.RewardDefinition) [features.NumTreatments]float64 {
	var e [features.NumTreatments]float64
	for _, t := range features.Treatments() {
		r := TrueResponse(c, t)
		e[t] = r.Expected(reward)
	}
	return e
}

// Best returns the eligible treatment with the highest expected reward
// (the first in treatment order on ties) and that reward. With no eligible
// treatment it returns fast_resolution and its reward.
func Best(expected *[features.NumTreatments]float64, eligible features.TreatmentSet) (features.Treatment, float64) {
	best, found := features.FastResolution, false
	for _, t := range features.Treatments() {
		if eligible.Has(t) && (!found || expected[t] > expected[best]) {
			best, found = t, true
		}
	}
	return best, expected[best]
}

// Intent groups of the ground truth.
const (
	groupProblem = iota // billing_dispute, payment_failed, service_outage, complaint, technical_support
	groupSimple         // order_status, password_reset, address_change
	groupBrowse         // upgrade_inquiry, new_product
	groupCancel         // cancel_service
	groupGeneral        // general_question and unknown intents
)

// intentTruth is how the ground truth treats one intent.
type intentTruth struct {
	group int
	// fastLogit is the log-odds that a person resolves it.
	fastLogit float64
	// selfLogit is the log-odds that a self-service path resolves it
	// before channel effects.
	selfLogit float64
	// upsell is the base probability that an offer is accepted.
	upsell float64
	// handle multiplies the channel's handle time.
	handle float64
}

var intentTruths = map[string]intentTruth{
	"billing_dispute":   {groupProblem, 1.2, -1.5, 0.03, 1.4},
	"payment_failed":    {groupProblem, 1.8, 1.4, 0.03, 1.0},
	"service_outage":    {groupProblem, 0.9, 0.2, 0.02, 1.0},
	"complaint":         {groupProblem, 0.8, -2.0, 0.01, 1.5},
	"technical_support": {groupProblem, 0.9, 0.6, 0.04, 1.6},
	"order_status":      {groupSimple, 2.5, 2.4, 0.06, 0.6},
	"password_reset":    {groupSimple, 2.8, 2.6, 0.04, 0.6},
	"address_change":    {groupSimple, 2.5, 1.6, 0.05, 0.6},
	"upgrade_inquiry":   {groupBrowse, 2.2, 1.2, 0.45, 1.0},
	"new_product":       {groupBrowse, 2.0, 0.4, 0.40, 1.0},
	"cancel_service":    {groupCancel, 2.0, 0.5, 0.10, 1.2},
	"general_question":  {groupGeneral, 2.2, 1.2, 0.20, 0.8},
}

// channelTruth is how the ground truth treats one channel.
type channelTruth struct {
	fastLogit float64 // added to a person's resolution log-odds
	selfLogit float64 // added to self-service's resolution log-odds
	upsell    float64 // multiplies the offer acceptance
	handle    float64 // agent handle seconds of a fast resolution
	agentSelf float64 // agent seconds a self-service hand-off takes
}

var channelTruths = map[string]channelTruth{
	"phone": {0.2, -0.8, 1.1, 600, 60},
	"ivr":   {-0.1, -0.2, 0.4, 540, 10},
	"chat":  {0.1, 0.1, 1.0, 540, 30},
	"email": {-0.3, -0.3, 0.6, 480, 30},
	"web":   {-0.3, 0.3, 0.85, 480, 10},
	"app":   {-0.3, 0.5, 0.9, 480, 10},
	"store": {0.2, -0.8, 1.3, 660, 90},
	"other": {0, 0, 0.8, 540, 30},
}

// selfServiceSituations adjust self-service's resolution log-odds for one
// intent in one channel: the flows that exist (or do not) in practice.
var selfServiceSituations = map[[2]string]float64{
	// guided diagnostics solve most technical problems in the app and chat
	{"technical_support", "app"}:  0.9,
	{"technical_support", "chat"}: 0.7,
	{"technical_support", "web"}:  0.5,
	{"technical_support", "ivr"}:  -0.8,
	// a failed payment is fixed by updating the card in the app or paying
	// through the IVR
	{"payment_failed", "app"}: 0.8,
	{"payment_failed", "ivr"}: 0.9,
	{"payment_failed", "web"}: 0.4,
	// someone who calls about an order has already seen the tracking page
	{"order_status", "phone"}: -1.2,
	{"order_status", "store"}: -0.6,
	// nobody can spell an address to a voice menu
	{"address_change", "ivr"}: -1.0,
	// the online upgrade flow
	{"upgrade_inquiry", "app"}: 0.6,
	{"upgrade_inquiry", "web"}: 0.6,
}

// situation is what the ground truth reads from a context.
type situation struct {
	it      intentTruth
	ct      channelTruth
	intent  string
	channel string
	v       float64 // standardized log lifetime value, as in the default schema
	spend   float64
	tenure  float64
	rep     float64 // repeat contacts, at most 5
	fail    float64 // failed self-service attempts, at most 3
	tr      float64 // transfers, at most 4
	comp    bool
	sent    float64
	conf    float64
	pref    bool
	first   bool
	// strain sums the friction: 0 for a calm first attempt, 1.5 and more
	// for a customer who is back again, angry, with an open complaint.
	strain float64
}

func readSituation(c *features.Context) situation {
	s := situation{intent: c.Intent.Name, channel: c.Channel}
	var ok bool
	if s.it, ok = intentTruths[c.Intent.Name]; !ok {
		s.it, s.intent = intentTruths["general_question"], "general_question"
	}
	if s.ct, ok = channelTruths[c.Channel]; !ok {
		s.ct, s.channel = channelTruths["other"], "other"
	}
	s.v = clamp((math.Log1p(c.Customer.LifetimeValue)-7)/1.6, -3, 4)
	s.spend = c.Customer.AnnualSpend
	s.tenure = c.Customer.TenureMonths
	f := &c.Friction
	s.rep = math.Min(float64(f.RepeatContacts7d), 5)
	s.fail = math.Min(float64(f.FailedSelfService24h), 3)
	s.tr = math.Min(float64(f.Transfers), 4)
	s.comp = f.OpenComplaint
	s.sent = f.Sentiment
	s.conf = c.Intent.ConfidenceOrOne()
	s.pref = c.Customer.PrefersSelfService
	s.first = c.Customer.FirstContact
	s.strain = 0.35*s.rep + 0.5*s.fail + 0.2*s.tr + 0.5*math.Max(0, -s.sent) + 0.15*math.Log1p(f.WaitSeconds/60)
	if s.comp {
		s.strain += 0.6
	}
	return s
}

// TrueResponse returns the ground truth's outcome distribution for treating
// contact c with t. docs/simulator.md explains every effect.
func TrueResponse(c *features.Context, t features.Treatment) Response {
	s := readSituation(c)
	var p Response
	p.Survey = SurveyRate
	p.Revenue = clamp(0.15*s.spend, 15, 2000)

	// A person (fast or pamper) resolves by the intent's difficulty; repeat
	// contacts mean the problem is hard; an unsure intent costs a little.
	personLogit := s.it.fastLogit + s.ct.fastLogit - 0.15*s.rep - 0.5*(1-s.conf)
	agentHandle := s.ct.handle * s.it.handle * (1 + 0.15*s.rep + 0.1*s.tr)

	escNot := 0.10 + 0.06*s.strain
	if s.comp {
		escNot += 0.08
	}
	escRes := 0.02 + 0.02*s.strain

	churn := (0.004 + 0.006*s.strain)
	switch {
	case s.tenure < 12:
		churn *= 1.3
	case s.tenure > 60:
		churn *= 0.7
	}
	switch s.group() {
	case groupCancel:
		churn += 0.50
	case groupProblem:
		if s.intent == "complaint" {
			churn += 0.02
		}
	}

	var mu [2]float64 // csat means [not resolved, resolved]
	switch t {
	case features.FastResolution:
		// the shortest path goes to the best resolver: repeat contacts
		// hurt it least
		p.Resolve = sigmoid(personLogit + 0.25*s.rep)
		p.Escalate = [2]float64{escNot, escRes}
		p.Recontact = [2]float64{0.55, 0.06 + 0.03*s.rep}
		churn *= 1 - 0.1*math.Min(s.strain, 2) // being heard keeps customers
		p.Handle = [2]float64{1.4 * agentHandle, agentHandle}
		relief := 0.15 * math.Min(s.strain, 2)
		mu = [2]float64{2.3 + relief, 4.1 + relief}

	case features.PamperUpsell:
		// time spent on an offer is time not spent on a problem
		adj := 0.0
		switch s.group() {
		case groupProblem:
			adj = -0.5
		case groupSimple:
			adj = -0.2
		case groupBrowse:
			adj = 0.3
		}
		p.Resolve = sigmoid(personLogit + adj - 0.3*s.strain)
		// pampering a customer under strain makes them ask for a manager,
		// all the more with a complaint still open
		backfire := 0.08 * s.strain
		if s.comp {
			backfire += 0.15
		}
		p.Escalate = [2]float64{escNot + backfire, escRes + backfire}
		p.Recontact = [2]float64{0.55, 0.06 + 0.03*s.rep}
		if s.group() == groupCancel {
			// a retention offer saves valuable customers, unless they are
			// angry about something still open
			churn *= 1 - 0.7*sigmoid(2*(s.v-0.3))
			churn *= 1 + 0.5*s.strain
		} else {
			churn *= 1 + 0.4*s.strain // selling to someone in pain backfires
			if s.strain < 0.3 && s.sent > 0.3 {
				churn *= 0.8
			}
		}
		if s.comp {
			churn *= 2
		}
		up := s.it.upsell * s.valueLift() * s.mood() * s.ct.upsell * (0.5 + 0.5*s.conf)
		up = clamp(up, 0, 0.85)
		p.Upsell = [2]float64{0.3 * up, up}
		p.Handle = [2]float64{1.6*1.3*agentHandle + 180, 1.6*agentHandle + 180}
		mu = [2]float64{2.1 - 0.2*s.strain, 4.4 + 0.3*s.sent - 0.45*s.strain}
		if s.comp {
			mu[0], mu[1] = mu[0]-1, mu[1]-1
		}

	case features.SelfService:
		logit := s.it.selfLogit + s.ct.selfLogit + selfServiceSituations[[2]string{s.intent, s.channel}] -
			3*(1-s.conf) - 0.9*s.rep - 0.8*s.strain
		if s.pref {
			logit += 0.5
		} else {
			logit -= 0.2 * math.Max(s.v, 0) // valuable customers do not bother
		}
		if s.first {
			logit -= 0.3
		}
		// the flow that already failed this customer rarely works the
		// second time
		p.Resolve = sigmoid(logit) * math.Pow(0.35, s.fail)
		// an unresolved self-service attempt falls back to an agent, angrier
		p.Escalate = [2]float64{escNot + 0.05 + 0.1*s.fail, 0.01}
		p.Recontact = [2]float64{0.65, 0.10 + 0.03*s.rep}
		churn *= (1 + 0.6*s.fail) * (1 + 0.3*s.strain) // sent back to what already failed
		if s.pref {
			churn *= 0.9
		} else {
			churn *= 1 + 0.3*math.Max(s.v, 0) // valuable customers expect a person
		}
		if s.group() == groupCancel {
			churn *= 1.15 // cancelling online: nobody tries to keep them
		}
		if s.group() == groupBrowse && (s.channel == "app" || s.channel == "web") {
			up := 0.5 * s.it.upsell * s.valueLift() * s.mood()
			if s.pref {
				up *= 1.3
			}
			up = clamp(up, 0, 0.85)
			p.Upsell = [2]float64{0, up}
		}
		p.Handle = [2]float64{s.ct.agentSelf + 60 + agentHandle, s.ct.agentSelf}
		resMu := 3.8 - 0.3*math.Max(s.v, 0)
		if s.pref {
			resMu = 4.4
		}
		mu = [2]float64{1.9 - 0.3*s.fail, resMu}
	}
	p.Churn = [2]float64{clamp(1.6*churn, 0, 0.95), clamp(0.6*churn, 0, 0.95)}
	p.Escalate[0] = clamp(p.Escalate[0], 0, 0.9)
	p.Escalate[1] = clamp(p.Escalate[1], 0, 0.9)
	for r := range mu {
		p.CSAT[r] = csatDistribution(mu[r] - 0.25*math.Min(s.strain, 3) + 0.3*s.sent)
	}
	return p
}

func (s *situation) group() int { return s.it.group }

// mood multiplies the chance that an offer is accepted: a good mood helps,
// friction and an open complaint kill it.
func (s *situation) mood() float64 {
	m := 0.8*s.sent - 0.5*s.rep - 0.7*s.fail - 0.2*s.tr
	if s.comp {
		m -= 2.5
	}
	return math.Exp(m)
}

// csatDistribution discretises a normal around mu (sd 0.9) onto 1…5.
func csatDistribution(mu float64) [5]float64 {
	var d [5]float64
	sum := 0.0
	for k := range d {
		z := (float64(k+1) - mu) / 0.9
		d[k] = math.Exp(-z * z / 2)
		sum += d[k]
	}
	for k := range d {
		d[k] /= sum
	}
	return d
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// valueLift multiplies the offer acceptance by customer value: about 0.5
// for a basic customer, 0.7 at the median and 1.5 for platinum.
func (s *situation) valueLift() float64 { return 1.6 * sigmoid(1.5*s.v) }
