package api_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/api"
)

// TestDocsScoreExample holds docs/api.md to the service: the curl example's
// body, scored by the default schema, model and policy, answers what the
// response example shows (all but the decision id and the drawn treatment,
// which depend on the id).
func TestDocsScoreExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	require.NoError(t, err)
	req := regexp.MustCompile(`(?s)## POST /v1/score\s+` + "```sh\n" + `curl [^\n]*-d '(\{.*?\})'\n` + "```").FindSubmatch(doc)
	require.NotNil(t, req, "docs/api.md: the curl example of POST /v1/score")
	res := regexp.MustCompile(`(?s)### Response \(200\)\s+` + "```json\n" + `(\{.*?\n\})\n` + "```").FindSubmatch(doc)
	require.NotNil(t, res, "docs/api.md: the response example of POST /v1/score")

	ts := newTestServer(t, api.Config{Decider: newProductionEngine(t)})
	r := ts.postJSON(t, api.RouteScore, string(req[1]))
	require.Equal(t, 200, r.status, "body: %s", r.body)

	var got, want map[string]any
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.NoError(t, json.Unmarshal(res[1], &want), "docs/api.md's response example is not JSON")
	for _, m := range []map[string]any{got, want} {
		delete(m, "decision_id")
		treatment, _ := m["treatment"].(string)
		require.Equal(t, m["propensity"], m["probabilities"].(map[string]any)[treatment], "propensity is the drawn treatment's probability")
		delete(m, "treatment")
		delete(m, "propensity")
	}
	require.Equal(t, want, got, "docs/api.md's response example is not what the service answers; the answer was %s", r.body)
}
