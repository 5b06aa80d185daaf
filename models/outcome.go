package models

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
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

// ErrOutcomeNotObject is returned by DecodeOutcome for valid JSON that is
// null rather than an object.
var ErrOutcomeNotObject = errors.New("an outcome must be a JSON object, got null")

// outcomeDecodeOptions are json v2's defaults, spelled out: unknown members
// are skipped (a producer may send a field a newer situ learns from),
// names match exactly and are given once, the text is valid UTF-8.
var outcomeDecodeOptions = json.JoinOptions(
	json.RejectUnknownMembers(false),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// DecodeOutcome decodes one outcome event from data: the value of an
// nba.outcomes message and the body of POST /v1/outcomes go through it
// alike, so both accept exactly the same JSON. data must be exactly one
// JSON object (white space around it is fine) in valid UTF-8, each name
// given once and spelled as the json tags of Outcome (case included);
// members Outcome does not define are ignored. Errors wrap json v2's
// *json.SemanticError or *jsontext.SyntacticError, or ErrOutcomeNotObject.
// The values are checked by Validate, not here.
func DecodeOutcome(data []byte, o *Outcome) error {
	if err := json.Unmarshal(data, o, outcomeDecodeOptions); err != nil {
		return fmt.Errorf("outcome: %w", err)
	}
	// null is the one value other than an object that decodes into a
	// struct without an error
	if bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
		return ErrOutcomeNotObject
	}
	return nil
}

// Validate checks an outcome and returns a *features.FieldError for the
// first wrong field.
func (o *Outcome) Validate() error {
	if o.OutcomeID == "" || len(o.OutcomeID) > 256 {
		return &features.FieldError{Field: "outcome_id", Message: "is required (1 to 256 bytes)"}
	}
	if o.DecisionID == "" || len(o.DecisionID) > 256 {
		return &features.FieldError{Field: "decision_id", Message: "is required (1 to 256 bytes): the decision_id returned by POST /v1/score"}
	}
	if o.CSAT != nil && (math.IsNaN(*o.CSAT) || *o.CSAT < 1 || *o.CSAT > 5) {
		return &features.FieldError{Field: "csat", Message: "must be between 1 and 5 (omit it when there was no survey)"}
	}
	if !finite(o.Revenue) || o.Revenue < 0 || o.Revenue > 1e9 {
		return &features.FieldError{Field: "revenue", Message: fmt.Sprintf("must be a finite amount between 0 and 1e9, got %g", o.Revenue)}
	}
	if !finite(o.HandleSeconds) || o.HandleSeconds < 0 || o.HandleSeconds > 7*86400 {
		return &features.FieldError{Field: "handle_seconds", Message: fmt.Sprintf("must be between 0 and 604800, got %g", o.HandleSeconds)}
	}
	if o.OccurredAt.IsZero() {
		return &features.FieldError{Field: "occurred_at", Message: "is required (RFC 3339 time, e.g. 2026-11-22T10:00:00Z)"}
	}
	return nil
}
