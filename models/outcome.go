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

// decisionClockSkew is how far in the future a decision id's time may be:
// the replica that made it and the one checking may disagree a little.
const decisionClockSkew = time.Minute

// CheckDecisionID reports, as a *features.FieldError on decision_id,
// an id that cannot be the id of a decision situ made within window
// before now: an id that is not a UUID, or a UUIDv7 (situ's decision
// ids) whose time is older than window or more than a minute in the
// future. Other UUID versions pass: they carry no time.
func CheckDecisionID(id string, now time.Time, window time.Duration) error {
	ms, version, ok := parseUUID(id)
	if !ok {
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("%q is not a decision id: situ's decision ids are UUIDs (the decision_id POST /v1/score answered)", truncateID(id))}
	}
	if version != 7 {
		return nil
	}
	at := time.UnixMilli(ms).UTC()
	switch {
	case at.Before(now.Add(-window)):
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("the decision was made at %s, longer ago than the reward window of %s (--reward-window): its outcome can no longer be joined",
			at.Format(time.RFC3339), window)}
	case at.After(now.Add(decisionClockSkew)):
		return &features.FieldError{Field: "decision_id", Message: fmt.Sprintf("the decision's time %s is in the future: not a decision id situ made", at.Format(time.RFC3339))}
	}
	return nil
}

func truncateID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// parseUUID parses the canonical text form of a UUID
// (xxxxxxxx-xxxx-Vxxx-xxxx-xxxxxxxxxxxx, either case) and returns its
// version and the 48-bit Unix millisecond time a UUIDv7 begins with.
func parseUUID(s string) (ms int64, version int, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return 0, 0, false
	}
	var ts int64
	digits := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		v, ok := hexValue(s[i])
		if !ok {
			return 0, 0, false
		}
		if digits < 12 {
			ts = ts<<4 | int64(v)
		}
		if digits == 12 {
			version = int(v)
		}
		digits++
	}
	return ts, version, true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
