package situtest

import (
	_ "embed"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// contractRequest is the score request of the contract in docs/api.md;
// scripts/bench_http.lua posts the same file.
//
//go:embed contract_request.json
var contractRequest string

// ContractBody is the score request of the contract in docs/api.md.
var ContractBody = strings.TrimSpace(contractRequest)

// DecisionTime is the fixed clock of Engine's decisions.
var DecisionTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// EngineOptions tunes Engine; zero fields take the defaults.
type EngineOptions struct {
	// Policy replaces the default policy.
	Policy *policy.Policy
	// Seed of the exploration draws. Default 42.
	Seed uint64
	// IDPrefix starts the sequential decision ids. Default "d-".
	IDPrefix string
	// Explorer replaces the default explorer.
	Explorer scoring.Explorer
	// Model, when set, replaces the default model (and so its schema).
	Model *models.Model
}

// Engine builds a scoring engine with the default schema and model, the
// default policy (or o.Policy), a fixed seed and clock, and sequential
// decision ids, so that decisions reproduce.
func Engine(tb testing.TB, o EngineOptions) *scoring.Engine {
	tb.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(tb, err)
	model, err := models.DefaultModel(schema)
	require.NoError(tb, err)
	if o.Model != nil {
		model = o.Model
	}
	if o.Policy == nil {
		o.Policy, err = policy.Default()
		require.NoError(tb, err)
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "d-"
	}
	var n atomic.Int64
	e, err := scoring.NewEngine(scoring.Config{
		Model: model, Policy: o.Policy, Seed: o.Seed, Explorer: o.Explorer,
		NewID: func() string { return o.IDPrefix + strconv.FormatInt(n.Add(1), 10) },
		Now:   func() time.Time { return DecisionTime },
	})
	require.NoError(tb, err)
	return e
}
