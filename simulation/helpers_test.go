package simulation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/internal/situtest"
	"situ/models"
	"situ/scoring"
)

// newEngine builds a scoring engine with the default schema, model and
// policy, a fixed seed and clock, and sequential decision ids prefixed
// with prefix.
func newEngine(tb testing.TB, prefix string) *scoring.Engine {
	tb.Helper()
	return situtest.Engine(tb, situtest.EngineOptions{Seed: 7, IDPrefix: prefix})
}

// newSitu serves situ's real HTTP API with engine on a loopback listener
// and returns its base URL.
func newSitu(tb testing.TB, engine *scoring.Engine) string {
	tb.Helper()
	return newSituWith(tb, engine, nil)
}

// newSituWith is newSitu with the API handler wrapped by wrap (when not
// nil), to inject failures in front of the real API.
func newSituWith(tb testing.TB, engine *scoring.Engine, wrap func(http.Handler) http.Handler) string {
	tb.Helper()
	s, err := api.New(api.Config{Decider: engine, Registerer: prometheus.NewRegistry()})
	require.NoError(tb, err)
	h := s.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	return ts.URL
}

// memPublisher records outcomes in memory.
type memPublisher struct {
	mu       sync.Mutex
	outcomes []models.Outcome
}

func (p *memPublisher) PublishOutcome(_ context.Context, o models.Outcome) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes = append(p.outcomes, o)
	return nil
}

func (p *memPublisher) all() []models.Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]models.Outcome(nil), p.outcomes...)
}
