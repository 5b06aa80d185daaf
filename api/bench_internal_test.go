package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"situ/features"
	"situ/scoring"
)

// BenchmarkDecodeScoreRequest decodes the DESIGN.md example body
// (encoding/json with the contract's checks).
func BenchmarkDecodeScoreRequest(b *testing.B) {
	body := []byte(contractBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req scoreRequest
		if err := decodeScoreRequest(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecision(b *testing.B) scoring.Decision {
	b.Helper()
	var req scoreRequest
	if err := decodeScoreRequest([]byte(contractBody), &req); err != nil {
		b.Fatal(err)
	}
	// all three treatments eligible, so that the answer has its full size
	req.Friction = features.Friction{}
	d, err := newInternalEngine(b).Decide(context.Background(), scoring.Request{Context: req.Context})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkAppendDecision(b *testing.B) {
	d := benchDecision(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendDecision(buf[:0], &d)
	}
	b.SetBytes(int64(len(buf)))
}

// The encoding/json alternative to appendDecision: fixed structs (pointers
// leave out the treatments that are not candidates).
type (
	jsonPerTreatment struct {
		FastResolution *float64 `json:"fast_resolution,omitempty"`
		PamperUpsell   *float64 `json:"pamper_upsell,omitempty"`
		SelfService    *float64 `json:"self_service,omitempty"`
	}
	jsonContribution struct {
		Feature      string  `json:"feature"`
		Contribution float64 `json:"contribution"`
	}
	jsonExplanation struct {
		FastResolution []jsonContribution `json:"fast_resolution,omitempty"`
		PamperUpsell   []jsonContribution `json:"pamper_upsell,omitempty"`
		SelfService    []jsonContribution `json:"self_service,omitempty"`
	}
	jsonExcluded struct {
		FastResolution string `json:"fast_resolution,omitempty"`
		PamperUpsell   string `json:"pamper_upsell,omitempty"`
		SelfService    string `json:"self_service,omitempty"`
	}
	jsonPolicy struct {
		Rules        []string     `json:"rules"`
		Excluded     jsonExcluded `json:"excluded"`
		Entitlements []string     `json:"entitlements"`
		Uniform      bool         `json:"uniform"`
	}
	jsonDecision struct {
		DecisionID    string           `json:"decision_id"`
		Treatment     string           `json:"treatment"`
		Probabilities jsonPerTreatment `json:"probabilities"`
		Propensity    float64          `json:"propensity"`
		Scores        jsonPerTreatment `json:"scores"`
		Strategy      string           `json:"strategy"`
		ModelVersion  int64            `json:"model_version"`
		Policy        jsonPolicy       `json:"policy"`
		HumanEscape   bool             `json:"human_escape"`
		Explanation   jsonExplanation  `json:"explanation"`
	}
)

func toJSONDecision(d *scoring.Decision) jsonDecision {
	j := jsonDecision{DecisionID: d.ID, Treatment: d.Treatment.String(), Propensity: d.Propensity,
		Strategy: d.Strategy, ModelVersion: d.ModelVersion, HumanEscape: d.HumanEscape}
	per := func(v *[features.NumTreatments]float64, t features.Treatment) *float64 {
		if !d.Candidates.Has(t) {
			return nil
		}
		return &v[t]
	}
	explain := func(t features.Treatment) []jsonContribution {
		var out []jsonContribution
		for i := 0; i < int(d.ExplainN[t]); i++ {
			c := d.Explanation[t][i]
			out = append(out, jsonContribution{d.Model.Schema().Name(c.Feature), c.Contribution})
		}
		return out
	}
	j.Probabilities = jsonPerTreatment{per(&d.Probabilities, 0), per(&d.Probabilities, 1), per(&d.Probabilities, 2)}
	j.Scores = jsonPerTreatment{per(&d.Scores, 0), per(&d.Scores, 1), per(&d.Scores, 2)}
	j.Explanation = jsonExplanation{explain(0), explain(1), explain(2)}
	j.Policy = jsonPolicy{Rules: d.RuleIDs([]string{}), Entitlements: d.Entitlements([]string{}), Uniform: d.Uniform}
	return j
}

func BenchmarkMarshalDecision(b *testing.B) {
	d := benchDecision(b)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(toJSONDecision(&d)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// BenchmarkScoreHandler runs the whole handler chain (router, metrics,
// logging, decode, decide, encode) without the network.
func BenchmarkScoreHandler(b *testing.B) {
	s, err := New(Config{Decider: newInternalEngine(b)})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	body := []byte(contractBody)
	req := httptest.NewRequest(http.MethodPost, RouteScore, nil)
	req.Header.Set("Content-Type", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req.Body = readCloser{bytes.NewReader(body)}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
