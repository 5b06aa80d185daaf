package scoring_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// newTestEngine builds an engine with the default schema, model and policy
// (or pol, when given), a fixed clock and sequential ids.
func newTestEngine(tb testing.TB, pol *policy.Policy) *scoring.Engine {
	tb.Helper()
	schema, err := features.DefaultSchema()
	if err != nil {
		tb.Fatal(err)
	}
	model, err := models.DefaultModel(schema)
	if err != nil {
		tb.Fatal(err)
	}
	if pol == nil {
		if pol, err = policy.Default(); err != nil {
			tb.Fatal(err)
		}
	}
	var n atomic.Int64
	e, err := scoring.NewEngine(scoring.Config{
		Model: model, Policy: pol, Seed: 42,
		NewID: func() string { return "d-" + strconv.FormatInt(n.Add(1), 10) },
		Now:   func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
