package models

import (
	"fmt"
	"time"

	"situ/features"
)

// LoggedDecision is the record of one decision that the learner needs: the
// value of an nba.decisions message.
type LoggedDecision struct {
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	// Model that scored the decision.
	ModelName    string `json:"model_name"`
	ModelVersion int64  `json:"model_version"`
	// SchemaVersion and SchemaFingerprint identify the layout of Features.
	SchemaVersion     int    `json:"schema_version"`
	SchemaFingerprint string `json:"schema_fingerprint"`
	Strategy          string `json:"strategy"`
	Explorer          string `json:"explorer"`
	// Treatment is the chosen treatment, Propensity its probability.
	Treatment     string             `json:"treatment"`
	Propensity    float64            `json:"propensity"`
	Probabilities map[string]float64 `json:"probabilities"`
	Eligible      []string           `json:"eligible"`
	Candidates    []string           `json:"candidates"`
	Rules         []string           `json:"rules,omitempty"`
	Uniform       bool               `json:"uniform,omitempty"`
	// Features is the sparse feature vector the model scored.
	Features []features.Entry `json:"features"`
}

// FingerprintString formats a schema fingerprint for logged decisions and
// snapshots.
func FingerprintString(fp uint64) string { return fmt.Sprintf("%016x", fp) }

// Validate checks that a logged decision can be learned from with schema.
func (d *LoggedDecision) Validate(schema *features.Schema) error {
	if d.DecisionID == "" {
		return &features.FieldError{Field: "decision_id", Message: "is required"}
	}
	if _, ok := features.ParseTreatment(d.Treatment); !ok {
		return &features.FieldError{Field: "treatment", Message: fmt.Sprintf("unknown treatment %q", d.Treatment)}
	}
	if !(d.Propensity > 0 && d.Propensity <= 1) {
		return &features.FieldError{Field: "propensity", Message: fmt.Sprintf("must be in (0, 1], got %g", d.Propensity)}
	}
	if d.SchemaFingerprint != FingerprintString(schema.Fingerprint()) {
		return &features.FieldError{Field: "schema_fingerprint", Message: fmt.Sprintf("%s does not match the learner's schema %s", d.SchemaFingerprint, FingerprintString(schema.Fingerprint()))}
	}
	n := int32(schema.Len())
	for i, e := range d.Features {
		if e.Index < 0 || e.Index >= n || !finite(e.Value) {
			return &features.FieldError{Field: fmt.Sprintf("features[%d]", i), Message: "index out of the schema or value not finite"}
		}
	}
	return nil
}
