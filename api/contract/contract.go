// Package contract declares the JSON bodies of situ's HTTP API, once: the
// score request and answer of POST /v1/score and the problem every error
// answers with. The json tags are the contract (docs/api.md). api writes
// the answer with a fast appender held to these types by a parity test;
// the tests, the simulator and situ-baseline read and write the bodies
// through these types. It imports no HTTP package.
package contract

import "situ/features"

// ScoreRequest is the body of POST /v1/score: the scoring context plus the
// treatments the channel can deliver.
type ScoreRequest struct {
	features.Context
	// Treatments the channel can deliver; nil (absent) means all.
	Treatments []string `json:"treatments"`
}

// ScoreResponse is the 200 answer of POST /v1/score. Probabilities, Scores
// and Explanation hold every candidate treatment, keyed by its name; an
// excluded treatment has probability 0. Levers hold the candidates with a
// non-zero lever.
type ScoreResponse struct {
	DecisionID string `json:"decision_id"`
	// Treatment is the chosen treatment, Propensity its probability.
	Treatment     string             `json:"treatment"`
	Probabilities map[string]float64 `json:"probabilities"`
	Propensity    float64            `json:"propensity"`
	// Scores are the model's scores, without the levers.
	Scores map[string]float64 `json:"scores"`
	// Levers are the configuration's levers of the candidates whose lever
	// is not 0 (empty when none): exploration saw score + lever, so the
	// probabilities include them.
	Levers map[string]float64 `json:"levers"`
	// Strategy is the strategy that decided: "learned" outside any
	// experiment, else the arm's ("value_tier", "model@17" …).
	Strategy string `json:"strategy"`
	// Experiment is the experiment the request was assigned to and its
	// arm; absent when the request is in none.
	Experiment   *ScoreExperiment `json:"experiment,omitempty"`
	ModelVersion int64            `json:"model_version"`
	// ConfigVersion is the version of the data team's configuration the
	// decision applied; 0 before the first change.
	ConfigVersion int64       `json:"config_version"`
	Policy        ScorePolicy `json:"policy"`
	// HumanEscape says a human is reachable, whatever the treatment.
	HumanEscape bool `json:"human_escape"`
	// Unknown lists the context's text fields whose value the schema does
	// not know and counted as "other", e.g. "intent.name" ([] when none).
	Unknown []string `json:"unknown"`
	// Explanation holds, per candidate, the top contributions to its score.
	Explanation map[string][]Contribution `json:"explanation"`
}

// ScoreExperiment names a decision's experiment and arm.
type ScoreExperiment struct {
	ID  string `json:"id"`
	Arm string `json:"arm"`
}

// ScorePolicy is what the service policy did to a decision.
type ScorePolicy struct {
	// Rules are the ids of the rules that fired, in policy order.
	Rules []string `json:"rules"`
	// Excluded maps each excluded candidate to the rule that excluded it.
	Excluded map[string]string `json:"excluded"`
	// Entitlements are what the fired rules grant, e.g. "priority_queue".
	Entitlements []string `json:"entitlements"`
	Uniform      bool     `json:"uniform"`
}

// Contribution is one feature's contribution to a treatment's score,
// rounded to four decimals.
type Contribution struct {
	Feature      string  `json:"feature"`
	Contribution float64 `json:"contribution"`
}

// Problem is the body of every 4xx and 5xx answer.
type Problem struct {
	Error ProblemDetail `json:"error"`
}

// ProblemDetail says what went wrong.
type ProblemDetail struct {
	// Code is a stable machine-readable code, e.g. "invalid_field".
	Code string `json:"code"`
	// Message says what was wrong and what is allowed.
	Message string `json:"message"`
	// Field is the JSON path of the offending field, when there is one.
	Field string `json:"field,omitempty"`
}
