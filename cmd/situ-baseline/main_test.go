package main

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/internal/situtest"
)

// TestAnswerHasSitusShape: the baseline answers with situ's members, so
// that the load test compares encoders of the same document.
func TestAnswerHasSitusShape(t *testing.T) {
	var req contract.ScoreRequest
	require.NoError(t, json.Unmarshal([]byte(situtest.ContractBody), &req))
	b, err := json.Marshal(answer(&req, 1))
	require.NoError(t, err)
	var got contract.ScoreResponse
	require.NoError(t, jsonv2.Unmarshal(b, &got, jsonv2.RejectUnknownMembers(true)), "%s", b)

	golden, err := os.ReadFile("../../api/testdata/score_contract_example.golden")
	require.NoError(t, err)
	var situ, baseline map[string]any
	require.NoError(t, json.Unmarshal(golden, &situ))
	require.NoError(t, json.Unmarshal(b, &baseline))
	require.Equal(t, keys(situ), keys(baseline), "top-level members")
	require.Equal(t, keys(situ["policy"]), keys(baseline["policy"]), "policy members")
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
