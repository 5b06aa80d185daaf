package scoring

import (
	"time"

	"situ/features"
	"situ/models"
	"situ/policy"
)

// MaxExplain bounds the contributions listed per treatment.
const MaxExplain = 8

// StrategyLearned is the strategy of decisions made by the learned model.
const StrategyLearned = "learned"

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
	// Scores per candidate treatment (excluded ones included).
	Scores [features.NumTreatments]float64
	// Propensity is the chosen treatment's probability.
	Propensity float64
	Strategy   string
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
}

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
// are the decision's: they share the array.
func (d *Decision) Event() models.DecisionEvent {
	var ev models.DecisionEvent
	d.fillEvent(&ev)
	ev.Rules = d.RuleIDs(nil)
	return ev
}

// AppendEventJSON appends the JSON of the decision's nba.decisions event
// (models.DecisionEvent.AppendJSON of Event) to dst without allocating
// beyond dst's growth. It fails, and returns dst unchanged, when the event
// cannot be encoded.
func (d *Decision) AppendEventJSON(dst []byte) ([]byte, error) {
	var (
		ev    models.DecisionEvent
		rules [16]string
	)
	d.fillEvent(&ev)
	if ev.Rules = d.RuleIDs(rules[:0]); len(ev.Rules) == 0 {
		ev.Rules = nil
	}
	return ev.AppendJSON(dst)
}

// fillEvent fills ev with the decision's event except its Rules.
func (d *Decision) fillEvent(ev *models.DecisionEvent) {
	*ev = models.DecisionEvent{
		FormatVersion: models.DecisionEventFormatVersion,
		DecisionID:    d.ID,
		Time:          d.Time,
		ModelVersion:  d.ModelVersion,
		PolicyVersion: d.PolicyVersion,
		ConfigVersion: d.ConfigVersion,
		Strategy:      d.Strategy,
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
