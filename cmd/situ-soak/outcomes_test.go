package main

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/models"
)

func TestKindOfFollowsTheMix(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var n [numKinds]int
	const draws = 200_000
	for range draws {
		n[kindOf(r.Float64())]++
	}
	prev := 0.0
	for k := kindOnTime; k < numKinds; k++ {
		share := mix[k] - prev
		prev = mix[k]
		require.InDelta(t, share, float64(n[k])/draws, 0.003, "kind %s", kindNames[k])
	}
	require.InDelta(t, 1-prev, float64(n[kindNone])/draws, 0.003, "no outcome")
}

func TestPlan(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	window := time.Minute
	csat := 4.0
	o := models.Outcome{OutcomeID: "soak-1", DecisionID: "d-1", Resolved: true, CSAT: &csat, OccurredAt: now}
	// decodes reports whether a delivery's body is an outcome the learner
	// would use: "ok", "json" (a dead letter: invalid_json) or "invalid".
	decodes := func(body []byte) string {
		var got models.Outcome
		if err := models.DecodeOutcome(body, &got); err != nil {
			return "json"
		}
		if got.Validate() != nil {
			return "invalid"
		}
		return "ok"
	}
	cases := []struct {
		kind       kind
		deliveries int
		routes     []route // nil: either
		after      [2]time.Duration
		body       string
		want       int
	}{
		{kind: kindNone},
		{kind: kindOnTime, deliveries: 1, after: [2]time.Duration{0, 10 * time.Second}, body: "ok", want: http.StatusAccepted},
		{kind: kindLate, deliveries: 1, after: [2]time.Duration{30 * time.Second, 48 * time.Second}, body: "ok", want: http.StatusAccepted},
		{kind: kindTooLate, deliveries: 1, after: [2]time.Duration{90 * time.Second, 150 * time.Second}, body: "ok", want: http.StatusAccepted},
		{kind: kindRetryHTTP, deliveries: 2, routes: []route{viaHTTP, viaHTTP}, after: [2]time.Duration{0, 13 * time.Second}, body: "ok", want: http.StatusAccepted},
		{kind: kindDupKafka, deliveries: 2, after: [2]time.Duration{0, 15 * time.Second}, body: "ok"},
		{kind: kindMalformedHTTP, deliveries: 1, routes: []route{viaHTTP}, after: [2]time.Duration{0, 10 * time.Second}, body: "json", want: http.StatusBadRequest},
		{kind: kindMalformedJSON, deliveries: 1, routes: []route{viaKafka}, after: [2]time.Duration{0, 10 * time.Second}, body: "json"},
		{kind: kindInvalidOutcome, deliveries: 1, routes: []route{viaKafka}, after: [2]time.Duration{0, 10 * time.Second}, body: "invalid"},
		{kind: kindUnknown, deliveries: 1, after: [2]time.Duration{0, 10 * time.Second}, body: "ok", want: http.StatusAccepted},
	}
	for _, tc := range cases {
		t.Run(kindNames[tc.kind], func(t *testing.T) {
			for seed := range uint64(20) {
				ds, err := plan(tc.kind, o, now, window, rand.New(rand.NewPCG(seed, 0)))
				require.NoError(t, err)
				require.Len(t, ds, tc.deliveries)
				for i, d := range ds {
					require.Equal(t, tc.kind, d.kind)
					if tc.routes != nil {
						require.Equal(t, tc.routes[i], d.route, "delivery %d", i)
					}
					after := d.due.Sub(now)
					require.True(t, after >= tc.after[0] && after <= tc.after[1], "delivery %d after %s, not in %v", i, after, tc.after)
					require.Equal(t, tc.body, decodes(d.body), "delivery %d: %s", i, d.body)
					if d.route == viaHTTP && tc.want != 0 {
						require.Equal(t, tc.want, d.want)
					}
					require.Equal(t, i == 1 && tc.kind == kindRetryHTTP, d.retry)
					if tc.kind == kindUnknown {
						require.NotEqual(t, o.DecisionID, d.key, "an outcome for a decision situ never made")
					} else {
						require.Equal(t, o.DecisionID, d.key)
					}
				}
				if len(ds) == 2 {
					require.Equal(t, string(ds[0].body), string(ds[1].body), "the second copy is the same outcome")
					require.True(t, ds[1].due.After(ds[0].due))
				}
			}
		})
	}
}
