package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/models"
)

// recordingSink keeps the outcomes it is given; with fail set it refuses.
type recordingSink struct {
	mu       sync.Mutex
	outcomes []models.Outcome
	fail     error
}

// PublishOutcome validates o, as an OutcomeSink does, and records it.
func (s *recordingSink) PublishOutcome(_ context.Context, o models.Outcome) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("invalid outcome: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.outcomes = append(s.outcomes, o)
	return nil
}

func (s *recordingSink) recorded() []models.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]models.Outcome(nil), s.outcomes...)
}

const outcomeExample = `{"outcome_id": "o-1", "decision_id": "d-1", "resolved": true, "csat": 4,
 "upsell_accepted": false, "revenue": 0, "handle_seconds": 340,
 "escalated": false, "recontact_7d": false, "churned": false,
 "occurred_at": "2026-11-22T10:00:00Z"}`

func TestOutcomeAccepted(t *testing.T) {
	sink := &recordingSink{}
	ts := newTestServer(t, api.Config{Outcomes: sink})
	r := ts.postJSON(t, api.RouteOutcomes, outcomeExample)
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"accepted":true,"outcome_id":"o-1"}`, string(r.body))

	var want models.Outcome
	require.NoError(t, json.Unmarshal([]byte(outcomeExample), &want))
	got := sink.recorded()
	require.Len(t, got, 1)
	require.True(t, want.OccurredAt.Equal(got[0].OccurredAt))
	got[0].OccurredAt = want.OccurredAt
	require.Equal(t, want, got[0], "the sink receives the outcome as sent")
}

func TestOutcomeRejected(t *testing.T) {
	replace := func(old, new string) string {
		require.Contains(t, outcomeExample, old)
		return strings.Replace(outcomeExample, old, new, 1)
	}
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"outcome_id": `, 400, api.CodeInvalidJSON, ""},
		{"trailing data", outcomeExample + `{}`, 400, api.CodeInvalidJSON, ""},
		{"field given twice", replace(`"resolved": true`, `"resolved": true, "resolved": false`), 400, api.CodeInvalidJSON, "resolved"},
		{"unknown field given twice", replace(`"churned": false`, `"churned": false, "mood": 1, "mood": 2`), 400, api.CodeInvalidJSON, "mood"},
		{"invalid UTF-8 in an unknown field", replace(`"churned": false`, "\"churned\": false, \"mood\": \"\xff\""), 400, api.CodeInvalidJSON, ""},
		{"body is null", `null`, 400, api.CodeInvalidType, ""},
		{"body is an array", `[]`, 400, api.CodeInvalidType, ""},
		{"missing outcome id", replace(`"outcome_id": "o-1", `, ``), 400, api.CodeInvalidField, "outcome_id"},
		{"missing decision id", replace(`"decision_id": "d-1", `, ``), 400, api.CodeInvalidField, "decision_id"},
		{"csat out of range", replace(`"csat": 4`, `"csat": 7`), 400, api.CodeInvalidField, "csat"},
		{"negative revenue", replace(`"revenue": 0`, `"revenue": -10`), 400, api.CodeInvalidField, "revenue"},
		{"handle time beyond a week", replace(`"handle_seconds": 340`, `"handle_seconds": 1e9`), 400, api.CodeInvalidField, "handle_seconds"},
		{"missing time", replace(`,
 "occurred_at": "2026-11-22T10:00:00Z"`, ``), 400, api.CodeInvalidField, "occurred_at"},
		{"time not RFC 3339", replace(`2026-11-22T10:00:00Z`, `yesterday`), 400, api.CodeInvalidField, "occurred_at"},
		{"time not a string", replace(`"2026-11-22T10:00:00Z"`, `20261122`), 400, api.CodeInvalidField, "occurred_at"},
		{"wrong type", replace(`"resolved": true`, `"resolved": "yes"`), 400, api.CodeInvalidType, "resolved"},
	}
	sink := &recordingSink{}
	ts := newTestServer(t, api.Config{Outcomes: sink})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.postJSON(t, api.RouteOutcomes, tc.body)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			p := decodeProblem(t, r)
			require.Equal(t, tc.code, p.Error.Code, p.Error.Message)
			if tc.field != "" {
				require.NotEmpty(t, p.Error.Field, p.Error.Message)
				require.Equal(t, tc.field, p.Error.Field, p.Error.Message)
			}
		})
	}
	require.Empty(t, sink.recorded(), "no bad outcome reaches the sink")
}

func TestOutcomeUnavailable(t *testing.T) {
	t.Run("no sink configured", func(t *testing.T) {
		ts := newTestServer(t, api.Config{})
		r := ts.postJSON(t, api.RouteOutcomes, outcomeExample)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		p := decodeProblem(t, r)
		require.Equal(t, api.CodeUnavailable, p.Error.Code)
		require.Equal(t, "outcome ingestion is not configured", p.Error.Message)
	})
	t.Run("sink refuses", func(t *testing.T) {
		ts := newTestServer(t, api.Config{Outcomes: &recordingSink{fail: errors.New("queue full")}})
		r := ts.postJSON(t, api.RouteOutcomes, outcomeExample)
		require.Equal(t, http.StatusServiceUnavailable, r.status, "a sink error is a 503, never a 500")
		p := decodeProblem(t, r)
		require.Equal(t, api.CodeUnavailable, p.Error.Code)
		require.NotContains(t, p.Error.Message, "queue full", "internal details stay in the log")
	})
	t.Run("sink times out", func(t *testing.T) {
		ts := newTestServer(t, api.Config{Outcomes: &recordingSink{fail: context.DeadlineExceeded}})
		r := ts.postJSON(t, api.RouteOutcomes, outcomeExample)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		require.Equal(t, api.CodeUnavailable, decodeProblem(t, r).Error.Code)
	})
}

// TestOutcomeIgnoresUnknownFields: like the nba.outcomes consumer (both
// decode with models.DecodeOutcome), the endpoint skips members it does
// not know, so a client may already send a field a newer situ learns from.
// Names match exactly: a name in another case is such a member too.
func TestOutcomeIgnoresUnknownFields(t *testing.T) {
	cases := []struct {
		name, extra string
	}{
		{"a new scalar field", `"mood": "ok"`},
		{"a new object field", `"survey": {"nps": 9, "tags": ["fast", "kind"]}`},
		{"a known name in another case", `"Churned": true`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			ts := newTestServer(t, api.Config{Outcomes: sink})
			body := strings.Replace(outcomeExample, `"churned": false`, `"churned": false, `+tc.extra, 1)
			r := ts.postJSON(t, api.RouteOutcomes, body)
			require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
			got := sink.recorded()
			require.Len(t, got, 1)
			require.Equal(t, "o-1", got[0].OutcomeID)
			require.False(t, got[0].Churned, "an unknown member sets nothing")
		})
	}
}

// TestOutcomeWholeNumbersAsFloats: the numbers of an outcome are numbers,
// 340.0 and 4.0 as good as 340 and 4.
func TestOutcomeWholeNumbersAsFloats(t *testing.T) {
	sink := &recordingSink{}
	ts := newTestServer(t, api.Config{Outcomes: sink})
	body := strings.Replace(strings.Replace(outcomeExample, `"handle_seconds": 340`, `"handle_seconds": 340.0`, 1), `"csat": 4`, `"csat": 4e0`, 1)
	r := ts.postJSON(t, api.RouteOutcomes, body)
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	got := sink.recorded()
	require.Len(t, got, 1)
	require.Equal(t, 340.0, got[0].HandleSeconds)
	require.Equal(t, 4.0, *got[0].CSAT)
}

// TestOutcomeDecisionIDWindow: with the reward window configured, an
// outcome for an id that cannot be a decision of the window is refused
// with a 400 that names decision_id and the window.
func TestOutcomeDecisionIDWindow(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	v7 := func(at time.Time) string {
		ms := at.UnixMilli()
		return fmt.Sprintf("%08x-%04x-7abc-8def-0123456789ab", ms>>16, ms&0xffff)
	}
	cases := []struct {
		name, id string
		status   int
		says     string
	}{
		{"a decision of an hour ago", v7(now.Add(-time.Hour)), 202, ""},
		{"the README's placeholder", "PASTE-THE-DECISION-ID", 400, "not a decision id"},
		{"older than the reward window", v7(now.Add(-48 * time.Hour)), 400, "reward window of 24h0m0s"},
	}
	sink := &recordingSink{}
	ts := newTestServer(t, api.Config{Outcomes: sink, OutcomeWindow: 24 * time.Hour, Now: func() time.Time { return now }})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.postJSON(t, api.RouteOutcomes, strings.Replace(outcomeExample, `"d-1"`, `"`+tc.id+`"`, 1))
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			if tc.status == 400 {
				p := decodeProblem(t, r)
				require.Equal(t, api.CodeInvalidField, p.Error.Code, p.Error.Message)
				require.Equal(t, "decision_id", p.Error.Field)
				require.Contains(t, p.Error.Message, tc.says)
			}
		})
	}
	require.Len(t, sink.recorded(), 1)
}
