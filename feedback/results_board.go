package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// ResultsBoardConfig configures a ResultsBoard.
type ResultsBoardConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is the results topic. Default "nba.experiments.results".
	Topic string
	// Registerer receives the Kafka reader metrics of the topic. Default
	// nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the board logs as "results".
	Logger *zap.Logger
}

// ResultsBoard serves every experiment's latest results on an API
// replica: it tails the compacted results topic, which the ResultsLoop of
// the learner writes, and keeps the latest encoded value of every
// experiment in memory. It is the admin API's source of GET
// /v1/admin/experiments/{id}/results.
type ResultsBoard struct {
	tail   *TailReader
	mu     sync.RWMutex
	latest map[string][]byte
}

// NewResultsBoard checks cfg and returns a board; Run reads the topic.
func NewResultsBoard(cfg ResultsBoardConfig) (*ResultsBoard, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultResultsTopic
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("results board: no brokers")
	}
	b := &ResultsBoard{latest: map[string][]byte{}}
	tail, err := NewTailReader(TailConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Handler: b.handle,
		Registerer: cfg.Registerer, Logger: cfg.Logger.Named("results")})
	if err != nil {
		return nil, fmt.Errorf("results board: %w", err)
	}
	b.tail = tail
	return b, nil
}

// Run follows the topic until ctx is cancelled.
func (b *ResultsBoard) Run(ctx context.Context) error { return b.tail.Run(ctx) }

// CaughtUp is closed once the results present at start have been read.
func (b *ResultsBoard) CaughtUp() <-chan struct{} { return b.tail.CaughtUp() }

// Results returns the latest results of experiment id as the results
// engine encoded them (experiments.Results in JSON), and whether there
// are any. The bytes must not be modified.
func (b *ResultsBoard) Results(id string) ([]byte, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.latest[id]
	return v, ok
}

func (b *ResultsBoard) handle(_ context.Context, r TailRecord) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.Tombstone() {
		delete(b.latest, string(r.Key))
		return nil
	}
	b.latest[string(r.Key)] = r.Value
	return nil
}
