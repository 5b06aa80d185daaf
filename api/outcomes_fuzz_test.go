package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/prometheus/client_golang/prometheus"

	"situ/api"
	"situ/models"
)

// lastOutcomeSink validates an outcome, as an OutcomeSink does, and keeps
// the last one it took.
type lastOutcomeSink struct{ taken *models.Outcome }

func (s *lastOutcomeSink) PublishOutcome(_ context.Context, o models.Outcome) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("invalid outcome: %w", err)
	}
	s.taken = &o
	return nil
}

// FuzzPostOutcome feeds arbitrary bodies to POST /v1/outcomes. Nothing
// panics; every answer is 202 or a 4xx JSON problem naming what was
// wrong; an outcome the handler accepts is exactly what the nba.outcomes
// decoder (models.DecodeOutcome) makes of the body, is valid, and encodes
// to a value that decodes to the same outcome.
func FuzzPostOutcome(f *testing.F) {
	for _, seed := range []string{
		outcomeExample,
		`{"outcome_id":"o","decision_id":"d","occurred_at":"2026-11-22T10:00:00+01:00","csat":5.0,"revenue":1e9}`,
		`{"outcome_id":"o","decision_id":"d","occurred_at":"2026-11-22T10:00:00Z","csat":0}`,
		`{"outcome_id":"o","decision_id":"d","occurred_at":"yesterday"}`,
		`{"outcome_id":"o","outcome_id":"p"}`, `{"Outcome_ID":"o"}`, `{"outcome_id":1}`,
		`{"outcome_id":"o","decision_id":"d","occurred_at":"2026-11-22T10:00:00Z","future_field":{"x":[1,2]}}`,
		`[]`, `null`, ``, ` `, `{`, `{} {}`, "{\"outcome_id\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	sink := &lastOutcomeSink{}
	s, err := api.New(api.Config{Decider: newEngine(f, nil), Outcomes: sink, Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		sink.taken = nil
		rec := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, api.RouteOutcomes, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, r)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON for %q: %s", body, rec.Body.Bytes())
		}
		if rec.Code != http.StatusAccepted {
			if rec.Code < 400 || rec.Code >= 500 {
				t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
			}
			var p struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Error.Code == "" || p.Error.Message == "" {
				t.Fatalf("status %d without a problem for %q: %s", rec.Code, body, rec.Body.Bytes())
			}
			return
		}
		if sink.taken == nil {
			t.Fatalf("202 for %q but the sink got no outcome", body)
		}
		o := *sink.taken
		var want models.Outcome
		if err := models.DecodeOutcome(body, &want); err != nil {
			t.Fatalf("202 for %q, which the nba.outcomes decoder refuses: %v", body, err)
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("202 for an invalid outcome %q: %v", body, err)
		}
		if !reflect.DeepEqual(o, want) {
			t.Fatalf("the handler and the topic decoder differ on %q:\n%+v\n%+v", body, o, want)
		}
		b, err := jsonv2.Marshal(&o)
		if err != nil {
			t.Fatalf("an accepted outcome does not encode: %v", err)
		}
		var back models.Outcome
		if err := models.DecodeOutcome(b, &back); err != nil || !back.OccurredAt.Equal(o.OccurredAt) {
			t.Fatalf("the encoded outcome %s does not decode back: %v", b, err)
		}
		back.OccurredAt = o.OccurredAt
		if !reflect.DeepEqual(o, back) {
			t.Fatalf("round trip changed the outcome:\n%+v\n%+v", o, back)
		}
	})
}
