package scoring_test

import (
	"testing"

	"situ/internal/custhash"
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

// testKey is the customer-id key of the tests.
var testKey = []byte("a customer-id key of the scoring tests")

// newTestHasher hashes customer ids under testKey.
func newTestHasher(tb testing.TB) *custhash.Hasher {
	tb.Helper()
	h, err := custhash.New(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
