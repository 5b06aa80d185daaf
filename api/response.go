package api

import (
	"math"
	"strconv"
	"unicode/utf8"

	"situ/features"
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
// excluded it), scores and explanation, in treatment order.
func appendDecision(b []byte, d *scoring.Decision) []byte {
	b = append(b, `{"decision_id":`...)
	b = appendString(b, d.ID)
	b = append(b, `,"treatment":"`...)
	b = append(b, d.Treatment.String()...)
	b = append(b, `","probabilities":{`...)
	b = appendPerCandidate(b, d.Candidates, &d.Probabilities)
	b = append(b, `},"propensity":`...)
	b = appendFloat(b, d.Propensity)
	b = append(b, `,"scores":{`...)
	b = appendPerCandidate(b, d.Candidates, &d.Scores)
	b = append(b, `},"strategy":`...)
	b = appendString(b, d.Strategy)
	b = append(b, `,"model_version":`...)
	b = strconv.AppendInt(b, d.ModelVersion, 10)
	b = appendPolicy(b, d)
	b = append(b, `,"human_escape":`...)
	b = strconv.AppendBool(b, d.HumanEscape)
	b = append(b, `,"explanation":{`...)
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
				b = appendString(b, d.Model.Schema().Name(c.Feature))
			} else {
				b = strconv.AppendInt(b, int64(c.Feature), 10)
			}
			b = append(b, `,"contribution":`...)
			b = appendFloat(b, c.Contribution)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}\n"...)
}

func appendPerCandidate(b []byte, candidates features.TreatmentSet, v *[features.NumTreatments]float64) []byte {
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !candidates.Has(t) {
			continue
		}
		b = appendKey(b, t.String())
		b = appendFloat(b, v[t])
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
				b = appendString(b, d.Policy.RuleID(i))
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
		b = appendString(comma(b), s)
	}
	return append(b, ']')
}

// appendKey appends "key": (after a comma unless the key is the object's
// first) for keys known to need no escaping.
func appendKey(b []byte, key string) []byte {
	b = append(comma(b), '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendFloat appends f as encoding/json would: the shortest representation
// that round-trips, in exponent form only for very small or large values.
// Non-finite values (which the engine never produces) are written as null,
// which keeps the document valid.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// comma appends the ',' that separates a member or element from the one
// before it: none right after the opening '{' or '['.
func comma(b []byte) []byte {
	if c := b[len(b)-1]; c != '{' && c != '[' {
		return append(b, ',')
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Control characters, quotes and
// backslashes are escaped, invalid UTF-8 becomes U+FFFD, and U+2028/U+2029
// are escaped for JavaScript consumers. HTML characters are left alone.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
