package models

import (
	"fmt"
	"math"
	"time"
)

// Outcome is what happened after a decision: the value of an nba.outcomes
// message and the body of POST /v1/outcomes.
type Outcome struct {
	OutcomeID      string    `json:"outcome_id"`
	DecisionID     string    `json:"decision_id"`
	Resolved       bool      `json:"resolved"`
	CSAT           *float64  `json:"csat,omitempty"` // 1–5; absent when not surveyed
	UpsellAccepted bool      `json:"upsell_accepted"`
	Revenue        float64   `json:"revenue"`
	HandleSeconds  float64   `json:"handle_seconds"`
	Escalated      bool      `json:"escalated"`
	Recontact7d    bool      `json:"recontact_7d"`
	Churned        bool      `json:"churned"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// OutcomeError names the field of an outcome that is wrong.
type OutcomeError struct {
	Field   string
	Message string
}

func (e *OutcomeError) Error() string { return e.Field + ": " + e.Message }

// Validate checks an outcome and returns an *OutcomeError for the first
// wrong field.
func (o *Outcome) Validate() error {
	if o.OutcomeID == "" || len(o.OutcomeID) > 256 {
		return &OutcomeError{"outcome_id", "is required (1 to 256 bytes)"}
	}
	if o.DecisionID == "" || len(o.DecisionID) > 256 {
		return &OutcomeError{"decision_id", "is required (1 to 256 bytes): the decision_id returned by POST /v1/score"}
	}
	if o.CSAT != nil && (math.IsNaN(*o.CSAT) || *o.CSAT < 1 || *o.CSAT > 5) {
		return &OutcomeError{"csat", "must be between 1 and 5 (omit it when there was no survey)"}
	}
	if !finite(o.Revenue) || o.Revenue < 0 || o.Revenue > 1e9 {
		return &OutcomeError{"revenue", fmt.Sprintf("must be a finite amount between 0 and 1e9, got %g", o.Revenue)}
	}
	if !finite(o.HandleSeconds) || o.HandleSeconds < 0 || o.HandleSeconds > 7*86400 {
		return &OutcomeError{"handle_seconds", fmt.Sprintf("must be between 0 and 604800, got %g", o.HandleSeconds)}
	}
	if o.OccurredAt.IsZero() {
		return &OutcomeError{"occurred_at", "is required (RFC 3339 time, e.g. 2026-11-22T10:00:00Z)"}
	}
	return nil
}
