package feedback

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"situ/models"
)

// TestLearnerWarnsWhenTheWindowCannotBeHeld feeds the join decisions at
// a steady rate of stream time and checks the learner's estimate of the
// decisions one window holds (situ_learner_window_decisions) and its
// warning when that is more than --max-pending.
func TestLearnerWarnsWhenTheWindowCannotBeHeld(t *testing.T) {
	cases := []struct {
		name       string
		perSecond  int
		window     time.Duration
		maxPending int
		want       int64 // window decisions
		warn       bool
	}{
		{"held", 10, time.Hour, 50_000, 36_000, false},
		{"just held", 10, time.Hour, 36_500, 36_000, false},
		{"just not held", 10, time.Hour, 35_500, 36_000, true},
		{"not held", 50, 24 * time.Hour, 200_000, 4_320_000, true},
		{"200/s for 24 h, the default cap", 200, 24 * time.Hour, 20_000_000, 17_280_000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, base, reward := learnerFixture(t, "default")
			core, logs := observer.New(zap.WarnLevel)
			reg := prometheus.NewRegistry()
			join := models.JoinConfig{Window: tc.window, MaxPending: tc.maxPending}
			l, err := NewLearningLoop(LearningLoopConfig{Brokers: []string{"127.0.0.1:1"}, Base: base, Reward: reward,
				Join: join, Registerer: reg, Logger: zap.New(core)})
			require.NoError(t, err)
			l.joiner = models.NewCompactJoiner(join)
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			emit := func(models.Match) {}
			// three minutes of stream time, checked after every second as
			// rounds do
			for s := range 3 * 60 {
				for k := range tc.perSecond {
					at := t0.Add(time.Duration(s)*time.Second + time.Duration(k)*time.Second/time.Duration(tc.perSecond))
					l.joiner.AddDecision(models.DecisionPos{Offset: int64(s*tc.perSecond + k)}, fmt.Sprintf("d-%d-%d", s, k), at, emit)
					l.decisionsRead.Add(1)
				}
				l.checkWindow()
			}
			got := gaugeValue(t, reg, "situ_learner_window_decisions")
			require.InDelta(t, float64(tc.want), got, float64(tc.want)/100, "window decisions")
			warnings := logs.FilterMessageSnippet("the reward window cannot be held").All()
			if !tc.warn {
				require.Empty(t, warnings)
				return
			}
			require.NotEmpty(t, warnings)
			f := warnings[0].ContextMap()
			require.Equal(t, int64(tc.maxPending), f["max_pending"])
			require.InDelta(t, float64(tc.perSecond), f["decisions_per_second"], 0.5)
			held := time.Duration(float64(tc.maxPending) / float64(tc.perSecond) * float64(time.Second))
			require.InDelta(t, float64(held), float64(f["window_held"].(time.Duration)), float64(time.Minute))
		})
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			require.Len(t, f.GetMetric(), 1)
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
