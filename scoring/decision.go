package scoring

import (
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"situ/features"
	"situ/internal/jsonw"
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

// Log returns the record of the decision that nba.decisions carries.
func (d *Decision) Log() models.LoggedDecision {
	l := models.LoggedDecision{
		DecisionID:    d.ID,
		Time:          d.Time,
		ModelVersion:  d.ModelVersion,
		Strategy:      d.Strategy,
		Explorer:      d.Explorer,
		Treatment:     d.Treatment.String(),
		Propensity:    d.Propensity,
		Probabilities: make(map[string]float64, features.NumTreatments),
		Uniform:       d.Uniform,
		Features:      d.Features,
	}
	if d.Model != nil {
		l.ModelName = d.Model.Name()
		l.SchemaVersion = d.Model.Schema().Version()
		l.SchemaFingerprint = models.FingerprintString(d.Model.Schema().Fingerprint())
	}
	for _, t := range features.Treatments() {
		if d.Candidates.Has(t) {
			l.Candidates = append(l.Candidates, t.String())
		}
		if d.Eligible.Has(t) {
			l.Eligible = append(l.Eligible, t.String())
			l.Probabilities[t.String()] = d.Probabilities[t]
		}
	}
	l.Rules = d.RuleIDs(nil)
	return l
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

// AppendLogJSON appends the JSON encoding of d.Log() to dst without building
// the LoggedDecision: the same members, in the same order, as the json tags
// of models.LoggedDecision give it. It fails, and returns dst unchanged, when
// a number is not finite, a string is not valid UTF-8 or the time's year is
// outside [0, 9999]: what json.Marshal refuses too.
func (d *Decision) AppendLogJSON(dst []byte) ([]byte, error) {
	if y := d.Time.Year(); y < 0 || y > 9999 {
		return dst, errors.New("decision log: time out of the range JSON can carry")
	}
	if !utf8.ValidString(d.ID) || !utf8.ValidString(d.Strategy) || !utf8.ValidString(d.Explorer) {
		// json.Marshal refuses invalid UTF-8 too; a mangled id would never
		// join its outcome.
		return dst, errors.New("decision log: id, strategy or explorer is not valid UTF-8")
	}
	b := append(dst, `{"decision_id":`...)
	b = jsonw.String(b, d.ID)
	b = append(b, `,"time":"`...)
	b = d.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","model_name":`...)
	var fingerprint uint64
	schemaVersion := 0
	ok := true
	if d.Model != nil {
		ok = utf8.ValidString(d.Model.Name())
		b = jsonw.String(b, d.Model.Name())
		schemaVersion = d.Model.Schema().Version()
		fingerprint = d.Model.Schema().Fingerprint()
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"model_version":`...)
	b = strconv.AppendInt(b, d.ModelVersion, 10)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(schemaVersion), 10)
	b = append(b, `,"schema_fingerprint":`...)
	if d.Model != nil {
		b = append(b, '"')
		b = appendHex16(b, fingerprint)
		b = append(b, '"')
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"strategy":`...)
	b = jsonw.String(b, d.Strategy)
	b = append(b, `,"explorer":`...)
	b = jsonw.String(b, d.Explorer)
	b = append(b, `,"treatment":`...)
	b = jsonw.String(b, d.Treatment.String())
	b = append(b, `,"propensity":`...)
	ok = ok && finite(d.Propensity)
	b = jsonw.Float(b, d.Propensity)
	b = append(b, `,"probabilities":{`...)
	first := true
	for _, t := range features.Treatments() {
		if !d.Eligible.Has(t) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonw.String(b, t.String())
		b = append(b, ':')
		ok = ok && finite(d.Probabilities[t])
		b = jsonw.Float(b, d.Probabilities[t])
	}
	b = append(b, `},"eligible":`...)
	b = appendTreatments(b, d.Eligible)
	b = append(b, `,"candidates":`...)
	b = appendTreatments(b, d.Candidates)
	if d.Policy != nil {
		// "rules" is omitted when empty, as its omitempty tag has it.
		first = true
		for i := 0; i < d.Policy.NumRules(); i++ {
			if d.Rules.Fired&(1<<i) == 0 {
				continue
			}
			if first {
				b = append(b, `,"rules":[`...)
			} else {
				b = append(b, ',')
			}
			first = false
			id := d.Policy.RuleID(i)
			ok = ok && utf8.ValidString(id)
			b = jsonw.String(b, id)
		}
		if !first {
			b = append(b, ']')
		}
	}
	if d.Uniform {
		b = append(b, `,"uniform":true`...)
	}
	b = append(b, `,"features":[`...)
	for i, e := range d.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"i":`...)
		b = strconv.AppendInt(b, int64(e.Index), 10)
		b = append(b, `,"v":`...)
		ok = ok && finite(e.Value)
		b = jsonw.Float(b, e.Value)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	if !ok {
		return b[:len(dst)], errors.New("decision log: a number is not finite or a model name or rule id is not valid UTF-8")
	}
	return b, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendTreatments appends the names of the treatments in s as a JSON array,
// in treatment order.
func appendTreatments(b []byte, s features.TreatmentSet) []byte {
	b = append(b, '[')
	first := true
	for _, t := range features.Treatments() {
		if !s.Has(t) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonw.String(b, t.String())
	}
	return append(b, ']')
}

// appendHex16 appends v as 16 lower-case hex digits, as
// models.FingerprintString formats it.
func appendHex16(b []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[(v>>uint(shift))&0xf])
	}
	return b
}
