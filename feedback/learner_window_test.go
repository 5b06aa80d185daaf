package feedback

import (
	"fmt"
	"slices"
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
// decisions the reward window and the late fields' window hold
// (situ_learner_window_decisions{window}: the queue holds the reward
// window, the late tier the rest of the late window) and its warning for
// each that holds more than its tier's cap (--max-pending, --max-late).
func TestLearnerWarnsWhenTheWindowCannotBeHeld(t *testing.T) {
	const rewardWarning, lateWarning = "the reward window cannot be held", "the late fields' window cannot be held"
	cases := []struct {
		name               string
		perSecond          int
		window, lateWindow time.Duration
		maxPending         int
		maxLate            int
		want, wantLate     int64 // window decisions: of the queue, of the late tier
		warnings           []string
	}{
		{"held", 10, time.Hour, 2 * time.Hour, 80_000, 80_000, 36_000, 36_000, nil},
		{"just held", 10, time.Hour, time.Hour, 36_500, 0, 36_000, 0, nil},
		{"the late window not held", 10, time.Hour, 3 * time.Hour, 50_000, 50_000, 36_000, 72_000, []string{lateWarning}},
		{"just not held", 10, time.Hour, 2 * time.Hour, 35_500, 35_500, 36_000, 36_000, []string{rewardWarning, lateWarning}},
		{"not held", 50, 24 * time.Hour, 0, 200_000, 0, 4_320_000, 25_920_000, []string{rewardWarning}},
		{"200/s for 24 h and 7 days, the default caps", 200, 24 * time.Hour, 0, 20_000_000, 0, 17_280_000, 103_680_000, nil},
		{"200/s for 7 days, beyond the late tier's cap", 200, 24 * time.Hour, 0, 20_000_000, 100_000_000, 17_280_000, 103_680_000, []string{lateWarning}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, base, reward := learnerFixture(t, "default")
			core, logs := observer.New(zap.WarnLevel)
			reg := prometheus.NewRegistry()
			join := models.JoinConfig{Window: tc.window, LateWindow: tc.lateWindow, MaxPending: tc.maxPending, MaxLate: tc.maxLate}
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
			got := metricValue(t, reg, "situ_learner_window_decisions", map[string]string{"window": "reward"})
			require.InDelta(t, float64(tc.want), got, float64(tc.want)/100, "reward window decisions")
			got = metricValue(t, reg, "situ_learner_window_decisions", map[string]string{"window": "late"})
			require.InDelta(t, float64(tc.wantLate), got, float64(tc.wantLate)/100+1, "late window decisions")
			for _, msg := range []string{rewardWarning, lateWarning} {
				warnings := logs.FilterMessageSnippet(msg).All()
				if !slices.Contains(tc.warnings, msg) {
					require.Empty(t, warnings, msg)
					continue
				}
				require.NotEmpty(t, warnings, msg)
				f := warnings[0].ContextMap()
				capName, limit := "max_pending", tc.maxPending
				if msg == lateWarning {
					capName, limit = "max_late", tc.maxLate
				}
				require.Equal(t, int64(limit), f[capName])
				require.InDelta(t, float64(tc.perSecond), f["decisions_per_second"], 0.5)
				held := time.Duration(float64(limit) / float64(tc.perSecond) * float64(time.Second))
				require.InDelta(t, float64(held), float64(f["window_held"].(time.Duration)), float64(time.Minute))
			}
		})
	}
}
