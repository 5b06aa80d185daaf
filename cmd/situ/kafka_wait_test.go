package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/feedback"
	"situ/internal/backoff"
)

func TestKafkaWait(t *testing.T) {
	refused := errors.New("create topics: Broker Not Available")
	cases := []struct {
		name      string
		failures  int   // attempts that fail before one succeeds
		fail      error // what they fail with
		wantErr   error // what run returns
		wantReady bool
	}{
		{name: "there at once", wantReady: true},
		{name: "there after retries", failures: 3, fail: refused, wantReady: true},
		{name: "a topic situ cannot use is not retried", failures: 1, fail: fmt.Errorf("%w: nba.outcomes has 2 partitions", feedback.ErrTopicMismatch), wantErr: feedback.ErrTopicMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// 127.0.0.1:1: nothing listens, so failures are diagnosed by a dial.
			w := newKafkaWait([]string{"127.0.0.1:1"}, feedback.TopicsConfig{}.WithDefaults(), zap.NewNop())
			w.retry = backoff.Policy{First: time.Millisecond, Max: 4 * time.Millisecond}
			var calls atomic.Int32
			seen := make(chan error, 10)
			w.ensure = func(context.Context, []string, feedback.TopicsConfig) error {
				if n := int(calls.Add(1)); n > 1 {
					seen <- w.check(context.Background()) // what /readyz said before this attempt
				}
				if int(calls.Load()) <= tc.failures {
					return tc.fail
				}
				return nil
			}
			require.ErrorContains(t, w.check(context.Background()), "waiting for Kafka at 127.0.0.1:1: first attempt")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.run(ctx) }()
			if tc.wantReady {
				<-w.Ready()
				require.NoError(t, w.check(ctx))
				cancel()
				require.NoError(t, <-done)
				require.Equal(t, tc.failures+1, int(calls.Load()))
				for i := 1; i <= tc.failures; i++ {
					err := <-seen
					require.ErrorContains(t, err, "waiting for Kafka at 127.0.0.1:1: dial tcp 127.0.0.1:1: ")
					require.ErrorContains(t, err, fmt.Sprintf("(attempt %d, next in ", i))
				}
				return
			}
			err := <-done
			cancel()
			require.ErrorIs(t, err, tc.wantErr)
			require.Error(t, w.check(ctx), "never ready")
		})
	}
}

func TestKafkaWaitStopsWhileWaiting(t *testing.T) {
	w := newKafkaWait([]string{"127.0.0.1:1"}, feedback.TopicsConfig{}.WithDefaults(), zap.NewNop())
	w.retry = backoff.Policy{First: time.Hour, Max: time.Hour}
	attempted := make(chan struct{})
	w.ensure = func(context.Context, []string, feedback.TopicsConfig) error {
		close(attempted)
		return errors.New("no broker")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	<-attempted
	started := make(chan struct{})
	gated := w.after(func(ctx context.Context) error { close(started); return ctx.Err() })
	gatedDone := make(chan error, 1)
	go func() { gatedDone <- gated(ctx) }()
	cancel()
	require.NoError(t, <-done, "a stop while waiting is no failure")
	require.ErrorIs(t, <-gatedDone, context.Canceled, "a gated component runs with the cancelled context, to release what it holds")
	<-started
}
