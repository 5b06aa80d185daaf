package scoring

import (
	"time"
	"unsafe"

	"situ/features"
	"situ/internal/custhash"
	"situ/models"
	"situ/policy"
)

// MaxExplain bounds the contributions listed per treatment.
const MaxExplain = 8

// StrategyLearned is the strategy of decisions made by the learned model,
// in no experiment or in a learned arm.
const StrategyLearned = models.StrategyLearned

// ExplorerNone is the Explorer of decisions of a fixed strategy: they do
// not explore.
const ExplorerNone = "none"

// Decision is the engine's answer for one request, with everything needed
// to explain, log and learn from it.
type Decision struct {
	ID   string
	Time time.Time
	// Treatment is the chosen treatment.
	Treatment features.Treatment
	// Candidates are the treatments the request offered; Eligible those the
	// policy left.
	Candidates features.TreatmentSet
	Eligible   features.TreatmentSet
	// Probabilities per treatment (0 for ineligible), summing to 1.
	Probabilities [features.NumTreatments]float64
	// Scores per candidate treatment (excluded ones included): the model's
	// score, without the lever.
	Scores [features.NumTreatments]float64
	// Levers per candidate treatment (Bundle.Levers): exploration saw
	// Scores[t] + Levers[t] (ServedScore).
	Levers [features.NumTreatments]float64
	// Propensity is the chosen treatment's probability.
	Propensity float64
	// Strategy is the strategy that decided: the arm's (experiments
	// strategy names), StrategyLearned outside any experiment.
	Strategy string
	// Experiment and Arm are the experiment the request was assigned to
	// and its arm; empty in none.
	Experiment string
	Arm        string
	Explorer   string
	// Model and ModelVersion are the model that scored the request.
	Model        *models.Model
	ModelVersion int64
	// Policy, PolicyVersion and Rules are the policy that applied, its
	// version and what it did.
	Policy        *policy.Policy
	PolicyVersion int64
	Rules         policy.Result
	// ConfigVersion is the version of the data team's configuration the
	// decision applied (Bundle.ConfigVersion); 0 until a control plane
	// sets one.
	ConfigVersion int64
	HumanEscape   bool
	Uniform       bool
	// Features is the request's sparse feature vector (owned by the decision).
	Features []features.Entry
	// Unknown are the context's text fields whose value the schema does not
	// know and counted as "other".
	Unknown features.TextFieldSet
	// Explanation holds, per candidate, the top contributions to its score;
	// ExplainN how many of them are set.
	Explanation [features.NumTreatments][MaxExplain]models.Contribution
	ExplainN    [features.NumTreatments]uint8
	// Context is the context the decision scored, its text fields in
	// canonical form (features.Context.Canonicalize): Decide's copy of the
	// request's, whose Attributes are the request's map, shared. It holds
	// the customer id in clear: the decision event carries only its keyed
	// hash (AppendEventJSON). Nil in a decision not made by Decide.
	Context *features.Context

	// served holds what the explorer saw, Scores + Levers.
	served [features.NumTreatments]float64
}

// ServedScore is treatment t's score as exploration saw it: the model's
// score plus the lever.
func (d *Decision) ServedScore(t features.Treatment) float64 { return d.Scores[t] + d.Levers[t] }

// Entitlements appends to dst what the fired rules grant, in rule order,
// without duplicates.
func (d *Decision) Entitlements(dst []string) []string {
	if d.Policy == nil {
		return dst
	}
	for i := 0; i < d.Policy.NumRules(); i++ {
		if d.Rules.Fired&(1<<i) == 0 {
			continue
		}
	grants:
		for _, g := range d.Policy.RuleGrants(i) {
			for _, have := range dst {
				if have == g {
					continue grants
				}
			}
			dst = append(dst, g)
		}
	}
	return dst
}

// Event returns the decision's nba.decisions event. The event's Features
// are the decision's: they share the array. With ids, the event carries
// the decision's Context with the customer id replaced by its keyed hash;
// without (nil), it carries no context at all: never the id in clear.
func (d *Decision) Event(ids *custhash.Hasher) models.DecisionEvent {
	var ev models.DecisionEvent
	d.fillEvent(&ev)
	ev.Rules = d.RuleIDs(nil)
	if ids != nil && d.Context != nil {
		c := *d.Context
		c.Customer.ID = ids.Sum(c.Customer.ID)
		ev.Context = &c
	}
	return ev
}

// AppendEventJSON appends the JSON of the decision's nba.decisions event
// (models.DecisionEvent.AppendJSON of Event(ids)) to dst without
// allocating beyond dst's growth. The customer id reaches the bytes only
// as its keyed hash, and only with ids; without (nil), or for a decision
// without a Context, the event has no context. It fails, and returns dst unchanged, when the event cannot be
// encoded.
func (d *Decision) AppendEventJSON(dst []byte, ids *custhash.Hasher) ([]byte, error) {
	var (
		ev     models.DecisionEvent
		rules  [16]string
		c      features.Context
		hashed [custhash.Len]byte
	)
	d.fillEvent(&ev)
	if ev.Rules = d.RuleIDs(rules[:0]); len(ev.Rules) == 0 {
		ev.Rules = nil
	}
	if ids != nil && d.Context != nil {
		c = *d.Context
		// The hash lives in hashed, on the stack, for as long as the
		// event is encoded: the string shares its bytes rather than
		// copying them to the heap, and nothing keeps it afterwards.
		h := ids.Append(hashed[:0], c.Customer.ID)
		c.Customer.ID = unsafe.String(unsafe.SliceData(h), len(h))
		ev.Context = &c
	}
	return ev.AppendJSON(dst)
}

// fillEvent fills ev with the decision's event except its Rules and
// Context.
func (d *Decision) fillEvent(ev *models.DecisionEvent) {
	*ev = models.DecisionEvent{
		FormatVersion: models.DecisionEventFormatVersion,
		DecisionID:    d.ID,
		Time:          d.Time,
		ModelVersion:  d.ModelVersion,
		PolicyVersion: d.PolicyVersion,
		ConfigVersion: d.ConfigVersion,
		Strategy:      d.Strategy,
		Experiment:    d.Experiment,
		Arm:           d.Arm,
		Explorer:      d.Explorer,
		Treatment:     d.Treatment.String(),
		Propensity:    d.Propensity,
		Probabilities: models.Probabilities{Of: d.Eligible},
		Eligible:      models.TreatmentList(d.Eligible),
		Candidates:    models.TreatmentList(d.Candidates),
		Uniform:       d.Uniform,
		Features:      d.Features,
	}
	for _, t := range features.Treatments() {
		if d.Eligible.Has(t) {
			ev.Probabilities.P[t] = d.Probabilities[t]
		}
		if d.Candidates.Has(t) {
			ev.Levers[t] = d.Levers[t]
		}
	}
	if d.Model != nil {
		ev.ModelName = d.Model.Name()
		ev.SchemaVersion = d.Model.Schema().Version()
		ev.SchemaFingerprint = d.Model.Schema().FingerprintHex()
	}
}

// RuleIDs appends the ids of the rules that fired to dst.
func (d *Decision) RuleIDs(dst []string) []string {
	if d.Policy == nil {
		return dst
	}
	for i := 0; i < d.Policy.NumRules(); i++ {
		if d.Rules.Fired&(1<<i) != 0 {
			dst = append(dst, d.Policy.RuleID(i))
		}
	}
	return dst
}
