package feedback

import (
	"context"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/internal/custhash"
	"situ/internal/situtest"
	"situ/models"
	"situ/scoring"
)

// TestRecordingDeciderPublishesTheDecision: each decision the engine makes
// reaches nba.decisions keyed by its id, and decodes into d.Event(ids):
// with a customer-id key its context with the id hashed, without one no
// context; never the id in clear.
func TestRecordingDeciderPublishesTheDecision(t *testing.T) {
	ids, err := custhash.New([]byte("a customer-id key of the recording tests"))
	require.NoError(t, err)
	for _, h := range []struct {
		name string
		ids  *custhash.Hasher
	}{{"with a customer-id key", ids}, {"without a key", nil}} {
		t.Run(h.name, func(t *testing.T) { testRecording(t, h.ids) })
	}
}

func testRecording(t *testing.T, ids *custhash.Hasher) {
	b, topics := startBroker(t)
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: b.Brokers(), Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, p.Run)
	r := NewRecordingDecider(situtest.Engine(t, situtest.EngineOptions{}), p, ids)

	const customerID = "c-1842"
	cases := []struct {
		name       string
		treatments features.TreatmentSet
		edit       func(c *features.Context)
	}{
		{"rules fire and exclude", features.AllTreatments, func(c *features.Context) {
			c.Friction = features.Friction{Transfers: 3, WaitSeconds: 900, OpenComplaint: true}
		}},
		{"quiet request", features.AllTreatments.Without(features.PamperUpsell), func(c *features.Context) {
			c.Intent.Name = "order_status"
			c.Attributes = map[string]float64{"loyalty_score": 0.7, "age_band": 3}
		}},
	}
	want := map[string]models.DecisionEvent{}
	for _, tc := range cases {
		req := scoring.Request{Context: features.Context{
			Customer: features.Customer{ID: customerID, LifetimeValue: 5400, AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
			Intent:   features.Intent{Name: "billing_dispute"},
			Channel:  "phone",
		}, Treatments: tc.treatments}
		tc.edit(&req.Context)
		d, err := r.Decide(context.Background(), req)
		require.NoError(t, err, tc.name)
		want[d.ID] = d.Event(ids)
	}
	eventually(t, func() bool { return p.Stats().Published == uint64(len(cases)) }, "decisions written")
	require.NoError(t, stop())

	msgs := readAll(t, b.Brokers(), topics.Decisions)
	require.Len(t, msgs, len(cases))
	for _, m := range msgs {
		require.NotContains(t, string(m.Value), customerID, "the customer id in clear")
		got, err := models.DecodeDecisionEvent(m.Value, json.RejectUnknownMembers(true))
		require.NoError(t, err)
		w, ok := want[string(m.Key)]
		require.True(t, ok, "key %q is a decision id", m.Key)
		require.True(t, got.Time.Equal(w.Time) && m.Time.Equal(w.Time), "decision and message time")
		got.Time = w.Time
		require.Equal(t, w, got)
		if ids == nil {
			require.Nil(t, got.Context, "no key, no context")
		} else {
			require.NotNil(t, got.Context)
			require.Equal(t, ids.Sum(customerID), got.Context.Customer.ID, "the keyed hash of the id")
		}
	}
}
