package api

import (
	"context"
	"math"
	"strings"
	"testing"

	"situ/scoring"
)

func TestRoundContribution(t *testing.T) {
	cases := []struct {
		name string
		in   float64
		want string // as the answer writes it
	}{
		{"repeating decimals", -0.09333333333333332, "-0.0933"},
		{"binary noise", -0.08000000000000002, "-0.08"},
		{"half rounds away from zero", 0.26975, "0.2698"},
		{"already short", 0.45, "0.45"},
		{"tiny positive is 0", 0.00004, "0"},
		{"tiny negative is 0, not -0", -0.00004, "0"},
		{"smallest step", 0.00005, "0.0001"},
		{"large", 12345.678912, "12345.6789"},
		{"too large to scale", 1e20, "100000000000000000000"},
		{"not a number", math.NaN(), "null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d scoring.Decision
			d.Candidates = 1
			d.ExplainN[0] = 1
			d.Explanation[0][0].Contribution = tc.in
			got := string(appendDecision(nil, &d))
			want := `"contribution":` + tc.want + `}`
			if !strings.Contains(got, want) {
				t.Errorf("answer %s, want it to contain %s", got, want)
			}
		})
	}
}

// TestAppendDecisionAllocatesNothing: writing unknown fields and rounded
// contributions keeps the answer allocation-free.
func TestAppendDecisionAllocatesNothing(t *testing.T) {
	var req scoreRequest
	if err := decodeScoreRequest([]byte(`{"intent":{"name":"warranty_claim"},"channel":"Fax","friction":{"sentiment":0.3,"wait_seconds":200}}`), &req); err != nil {
		t.Fatal(err)
	}
	d, err := newInternalEngine(t).Decide(context.Background(), scoring.Request{Context: req.Context})
	if err != nil {
		t.Fatal(err)
	}
	if d.Unknown == 0 {
		t.Fatal("the decision reports no unknown field")
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendDecision(buf[:0], &d) }); n != 0 {
		t.Errorf("appendDecision allocates %v times, want 0", n)
	}
	if !strings.Contains(string(buf), `"unknown":["intent.name","channel"]`) {
		t.Errorf("answer %s does not list the unknown fields", buf)
	}
}
