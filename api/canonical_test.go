package api_test

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/api"
)

// TestScoreSpellingsAnswerAlike: over HTTP, a capitalised or space-padded
// intent, channel or tier gets exactly the answer of the canonical text:
// the same rules, exclusions, probabilities, scores and explanation.
func TestScoreSpellingsAnswerAlike(t *testing.T) {
	const canonical = `{"intent": {"name": "billing_dispute"}, "channel": "phone", "customer": {"first_contact": true, "tier": "gold"}}`
	cases := []struct{ name, body string }{
		{"capitalised intent", `{"intent": {"name": "Billing_Dispute"}, "channel": "phone", "customer": {"first_contact": true, "tier": "gold"}}`},
		{"upper-case intent", `{"intent": {"name": "BILLING_DISPUTE"}, "channel": "phone", "customer": {"first_contact": true, "tier": "gold"}}`},
		{"space-padded intent", `{"intent": {"name": " billing_dispute\t"}, "channel": "phone", "customer": {"first_contact": true, "tier": "gold"}}`},
		{"capitalised channel", `{"intent": {"name": "billing_dispute"}, "channel": "Phone", "customer": {"first_contact": true, "tier": "gold"}}`},
		{"space-padded channel", `{"intent": {"name": "billing_dispute"}, "channel": "phone ", "customer": {"first_contact": true, "tier": "gold"}}`},
		{"capitalised tier", `{"intent": {"name": "billing_dispute"}, "channel": "phone", "customer": {"first_contact": true, "tier": "Gold"}}`},
		{"all at once", `{"intent": {"name": "\u00a0Billing_Dispute "}, "channel": " PHONE", "customer": {"first_contact": true, "tier": "GOLD "}}`},
	}
	answer := func(body string) response {
		// a fresh engine per request: the same sequential decision id
		ts := newTestServer(t, api.Config{})
		return ts.postJSON(t, api.RouteScore, body)
	}
	want := answer(canonical)
	a := decodeAnswer(t, want)
	require.Equal(t, []string{"first-contact-floor"}, a.Policy.Rules)
	require.Equal(t, "first-contact-floor", a.Policy.Excluded["self_service"])
	require.Empty(t, a.Unknown)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := answer(tc.body)
			require.Equal(t, http.StatusOK, got.status, "body: %s", got.body)
			require.Equal(t, string(want.body), string(got.body))
		})
	}
}

// TestScoreReportsUnknownValues: the answer lists the text fields whose
// value counted as "other", and /metrics counts them by field, never by
// value.
func TestScoreReportsUnknownValues(t *testing.T) {
	ts := newTestServer(t, api.Config{})
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"known values", withValue(t, "intent.name", `"Billing_Dispute"`), []string{}},
		{"unknown intent", withValue(t, "intent.name", `"warranty_claim"`), []string{"intent.name"}},
		{"unknown channel", withValue(t, "channel", `"carrier_pigeon"`), []string{"channel"}},
		{"misspelt intent", withValue(t, "intent.name", `"billing-dispute"`), []string{"intent.name"}},
		{"both unknown", `{"intent":{"name":"warranty_claim"},"channel":"fax"}`, []string{"intent.name", "channel"}},
		{"absent tier is not unknown", `{"intent":{"name":"complaint"},"channel":"chat"}`, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.postJSON(t, api.RouteScore, tc.body)
			a := decodeAnswer(t, r)
			require.NotNil(t, a.Unknown, "unknown is always present: %s", r.body)
			require.Equal(t, tc.want, a.Unknown)
			checkAnswerInvariants(t, a)
		})
	}
	text := string(ts.do(t, http.MethodGet, api.RouteMetrics, "", nil).body)
	for _, want := range []string{
		`situ_context_unknown_values_total{field="intent.name"} 3`,
		`situ_context_unknown_values_total{field="channel"} 2`,
		`situ_context_unknown_values_total{field="customer.tier"} 0`,
	} {
		require.Contains(t, text, want)
	}
	for _, value := range []string{"warranty_claim", "carrier_pigeon", "billing-dispute"} {
		require.NotContains(t, text, value, "no context value in metrics")
	}
}

// TestScoreTiers: a tier folds to its canonical form; an unknown one is a
// 400 naming customer.tier and listing the tiers.
func TestScoreTiers(t *testing.T) {
	ts := newTestServer(t, api.Config{})
	cases := []struct {
		tier   string
		status int
	}{
		{`"gold"`, http.StatusOK},
		{`"Gold"`, http.StatusOK},
		{`" platinum "`, http.StatusOK},
		{`" "`, http.StatusOK},
		{`"goldd"`, http.StatusBadRequest},
		{`"GOLDD"`, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.tier, func(t *testing.T) {
			r := ts.postJSON(t, api.RouteScore, withValue(t, "customer.tier", tc.tier))
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			if tc.status == http.StatusOK {
				checkAnswerInvariants(t, decodeAnswer(t, r))
				return
			}
			p := decodeProblem(t, r)
			require.Equal(t, api.CodeInvalidField, p.Error.Code)
			require.NotEmpty(t, p.Error.Field)
			require.Equal(t, "customer.tier", p.Error.Field)
			require.Contains(t, p.Error.Message, "platinum")
		})
	}
}

// TestScoreBlankTextIsMissing: an intent or channel of white space only is
// missing, a 400 naming the field.
func TestScoreBlankTextIsMissing(t *testing.T) {
	ts := newTestServer(t, api.Config{})
	for _, field := range []string{"intent.name", "channel"} {
		t.Run(field, func(t *testing.T) {
			r := ts.postJSON(t, api.RouteScore, withValue(t, field, `" \t "`))
			require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
			p := decodeProblem(t, r)
			require.NotEmpty(t, p.Error.Field)
			require.Equal(t, field, p.Error.Field)
		})
	}
}

// TestScoreContributionsAreRounded: explanation contributions have at most
// four decimals.
func TestScoreContributionsAreRounded(t *testing.T) {
	ts := newTestServer(t, api.Config{})
	r := ts.postJSON(t, api.RouteScore, `{"customer":{"lifetime_value":40000,"annual_spend":8000,"tenure_months":96,"tier":"platinum"},"intent":{"name":"upgrade_inquiry"},"channel":"app","friction":{"sentiment":0.4}}`)
	a := decodeAnswer(t, r)
	n := 0
	for tr, cs := range a.Explanation {
		for _, c := range cs {
			n++
			require.Equal(t, math.Round(c.Contribution*1e4)/1e4, c.Contribution, "%s %s", tr, c.Feature)
		}
	}
	require.Positive(t, n)
	require.False(t, strings.Contains(string(r.body), "0.09333333333333332"), "body: %s", r.body)
}
