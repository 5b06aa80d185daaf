package api

import (
	"math"
	"strconv"

	"situ/features"
	"situ/internal/jsonw"
	"situ/models"
	"situ/scoring"
)

// The score response is appended to a pooled buffer field by field with
// strconv instead of going through encoding/json: it is the hot path and
// its shape is fixed. Appending takes less than half the time of
// encoding/json on equivalent fixed structs and allocates nothing
// (BenchmarkAppendDecision vs BenchmarkMarshalDecision, docs/benchmarks.md).
// The golden files in testdata/ pin the exact output.

// appendDecision appends the JSON answer of POST /v1/score for d.
//
// Every candidate treatment appears in probabilities (0 when the policy
// excluded it), scores and explanation, in treatment order; levers lists
// the candidates whose lever is not 0 ({} when none), apart from scores,
// which are the model's. experiment names the experiment and arm of a
// request assigned to one and is absent otherwise. unknown lists
// the context's text fields whose value counted as "other" ([] when none);
// contributions are rounded to four decimals.
func appendDecision(b []byte, d *scoring.Decision) []byte {
	b = append(b, `{"decision_id":`...)
	b = jsonw.String(b, d.ID)
	b = append(b, `,"treatment":"`...)
	b = append(b, d.Treatment.String()...)
	b = append(b, `","probabilities":{`...)
	b = appendPerCandidate(b, d.Candidates, &d.Probabilities)
	b = append(b, `},"propensity":`...)
	b = jsonw.Float(b, d.Propensity)
	b = append(b, `,"scores":{`...)
	b = appendPerCandidate(b, d.Candidates, &d.Scores)
	b = append(b, `},"levers":{`...)
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if d.Candidates.Has(t) && d.Levers[t] != 0 {
			b = appendKey(b, t.String())
			b = jsonw.Float(b, d.Levers[t])
		}
	}
	b = append(b, `},"strategy":`...)
	b = jsonw.String(b, d.Strategy)
	if d.Experiment != "" {
		b = append(b, `,"experiment":{"id":`...)
		b = jsonw.String(b, d.Experiment)
		b = append(b, `,"arm":`...)
		b = jsonw.String(b, d.Arm)
		b = append(b, '}')
	}
	b = append(b, `,"model_version":`...)
	b = strconv.AppendInt(b, d.ModelVersion, 10)
	b = append(b, `,"config_version":`...)
	b = strconv.AppendInt(b, d.ConfigVersion, 10)
	b = appendPolicy(b, d)
	b = append(b, `,"human_escape":`...)
	b = strconv.AppendBool(b, d.HumanEscape)
	b = append(b, `,"unknown":[`...)
	for _, f := range features.TextFields() {
		if d.Unknown.Has(f) {
			b = appendQuoted(comma(b), f.String())
		}
	}
	b = append(b, `],"explanation":{`...)
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !d.Candidates.Has(t) {
			continue
		}
		b = appendKey(b, t.String())
		b = append(b, '[')
		for i := 0; i < int(d.ExplainN[t]); i++ {
			c := d.Explanation[t][i]
			b = append(comma(b), `{"feature":`...)
			if d.Model != nil {
				b = jsonw.String(b, d.Model.Schema().Name(c.Feature))
			} else {
				b = strconv.AppendInt(b, int64(c.Feature), 10)
			}
			b = append(b, `,"contribution":`...)
			b = jsonw.Float(b, roundContribution(c.Contribution))
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	b = appendTerms(b, d)
	return append(b, "}\n"...)
}

// appendTerms appends ,"terms":{treatment:{term: part}} for a model that
// keeps one linear model per reward term (a learner's): each candidate's
// score split by outcome term, in reward units as the reward definition
// weighs them, zero parts left out, four decimals. The parts sum to the
// learned score (before overrides and pins; levers are apart as in
// scores). Nothing is written for a model without terms.
func appendTerms(b []byte, d *scoring.Decision) []byte {
	if d.Model == nil || !d.Model.HasTerms() {
		return b
	}
	b = append(b, `,"terms":{`...)
	var parts [models.NumTerms]float64
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !d.Candidates.Has(t) {
			continue
		}
		d.Model.Terms(t, d.Features, &parts)
		b = appendKey(b, t.String())
		b = append(b, '{')
		for k := range models.Term(models.NumTerms) {
			if v := roundContribution(parts[k]); v != 0 {
				b = appendKey(b, k.String())
				b = jsonw.Float(b, v)
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// contributionScale rounds explanation contributions in the answer to four
// decimals (-0.0933 rather than -0.09333333333333332); the decision event
// keeps full precision.
const contributionScale = 1e4

// roundContribution rounds x to four decimals, half away from zero. Values
// too large to scale are returned as they are; -0 becomes 0.
func roundContribution(x float64) float64 {
	if math.Abs(x) >= 1e15 || math.IsNaN(x) {
		return x
	}
	r := math.Round(x*contributionScale) / contributionScale
	if r == 0 {
		return 0
	}
	return r
}

func appendPerCandidate(b []byte, candidates features.TreatmentSet, v *[features.NumTreatments]float64) []byte {
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !candidates.Has(t) {
			continue
		}
		b = appendKey(b, t.String())
		b = jsonw.Float(b, v[t])
	}
	return b
}

// appendPolicy appends ,"policy":{rules, excluded, entitlements, uniform}.
func appendPolicy(b []byte, d *scoring.Decision) []byte {
	var buf [16]string
	b = append(b, `,"policy":{"rules":`...)
	b = appendStrings(b, d.RuleIDs(buf[:0]))
	b = append(b, `,"excluded":{`...)
	if d.Policy != nil {
		for t := features.Treatment(0); t < features.NumTreatments; t++ {
			if i, ok := d.Rules.Excluder(t); ok && d.Candidates.Has(t) {
				b = appendKey(b, t.String())
				b = jsonw.String(b, d.Policy.RuleID(i))
			}
		}
	}
	b = append(b, `},"entitlements":`...)
	b = appendStrings(b, d.Entitlements(buf[:0]))
	b = append(b, `,"uniform":`...)
	b = strconv.AppendBool(b, d.Uniform)
	return append(b, '}')
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for _, s := range ss {
		b = jsonw.String(comma(b), s)
	}
	return append(b, ']')
}

// appendQuoted appends s as a JSON string, for strings known to need no
// escaping.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendKey appends "key": (after a comma unless the key is the object's
// first) for keys known to need no escaping.
func appendKey(b []byte, key string) []byte {
	b = append(comma(b), '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// comma appends the ',' that separates a member or element from the one
// before it: none right after the opening '{' or '['.
func comma(b []byte) []byte {
	if c := b[len(b)-1]; c != '{' && c != '[' {
		return append(b, ',')
	}
	return b
}
