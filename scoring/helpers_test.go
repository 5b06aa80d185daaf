package scoring_test

import (
	"testing"

	"situ/internal/situtest"
	"situ/policy"
	"situ/scoring"
)

// newTestEngine builds an engine with the default schema, model and policy
// (or pol, when given), a fixed clock and sequential ids.
func newTestEngine(tb testing.TB, pol *policy.Policy) *scoring.Engine {
	tb.Helper()
	return situtest.Engine(tb, situtest.EngineOptions{Policy: pol})
}
