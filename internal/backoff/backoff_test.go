package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNextPauses(t *testing.T) {
	cases := []struct {
		name       string
		policy     Policy
		resetAfter int // call Reset after this many pauses; 0: never
		want       []time.Duration
	}{
		{
			name:   "defaults without jitter double from 100ms up to 30s",
			policy: Policy{Jitter: -1},
			want:   []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond, 25600 * time.Millisecond, 30 * time.Second, 30 * time.Second},
		},
		{
			name:   "capped",
			policy: Policy{First: time.Second, Max: 3 * time.Second, Jitter: -1},
			want:   []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second},
		},
		{
			name:   "factor",
			policy: Policy{First: time.Second, Max: time.Minute, Factor: 3, Jitter: -1},
			want:   []time.Duration{time.Second, 3 * time.Second, 9 * time.Second, 27 * time.Second, time.Minute},
		},
		{
			name:   "jitter at its low end",
			policy: Policy{First: time.Second, Max: 4 * time.Second, Rand: func() float64 { return 0 }},
			want:   []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 3200 * time.Millisecond},
		},
		{
			name:   "jitter in the middle changes nothing",
			policy: Policy{First: time.Second, Max: 4 * time.Second, Jitter: 0.5, Rand: func() float64 { return 0.5 }},
			want:   []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name:       "reset starts over",
			policy:     Policy{First: time.Second, Max: 8 * time.Second, Jitter: -1},
			resetAfter: 2,
			want:       []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.policy)
			require.NoError(t, err)
			var got []time.Duration
			for i := range tc.want {
				if tc.resetAfter > 0 && i == tc.resetAfter {
					b.Reset()
				}
				got = append(got, b.Next())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNewRejectsInvalidPolicies(t *testing.T) {
	cases := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"max below first", Policy{First: time.Second, Max: time.Millisecond}, "first ≤ max"},
		{"negative first", Policy{First: -time.Second}, "first ≤ max"},
		{"shrinking", Policy{Factor: 0.5}, "factor"},
		{"jitter of a whole pause", Policy{Jitter: 1}, "jitter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.policy)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestWait(t *testing.T) {
	cases := []struct {
		name    string
		cancel  bool // cancel the context before waiting
		fire    bool // the clock fires
		wantErr error
	}{
		{name: "the pause passes", fire: true},
		{name: "a cancelled context ends the wait", cancel: true, wantErr: context.Canceled},
		{name: "cancelled while waiting", wantErr: context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := make(chan time.Duration, 1)
			clock := make(chan time.Time, 1)
			b, err := New(Policy{First: 5 * time.Second, Jitter: -1, After: func(d time.Duration) <-chan time.Time {
				asked <- d
				return clock
			}})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- b.Wait(ctx) }()
			if !tc.cancel {
				require.Equal(t, 5*time.Second, <-asked, "waits on the injected clock")
				if tc.fire {
					clock <- time.Time{}
				} else {
					cancel()
				}
			}
			require.ErrorIs(t, <-done, tc.wantErr)
		})
	}
}
