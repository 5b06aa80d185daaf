package api

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/policy"
	"situ/scoring"
)

// TestRuleErrorLogInterval walks a clock through the rate limit: one entry
// per rule and interval, the failures in between counted in the next one,
// a new policy starting afresh.
func TestRuleErrorLogInterval(t *testing.T) {
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	other, err := policy.Compile(pol.Spec())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at     time.Duration // after start
		policy *policy.Policy
		failed uint64
		want   []int64 // "suppressed" of the entries written, in rule order
	}{
		{0, pol, 0b01, []int64{0}},
		{time.Second, pol, 0b01, nil},
		{2 * time.Second, pol, 0b11, []int64{0}}, // rule 1's first failure
		{59 * time.Second, pol, 0b01, nil},
		{time.Minute, pol, 0b01, []int64{3}},
		{time.Minute + time.Second, other, 0b01, []int64{0}},
	}
	core, logs := observer.New(zapcore.WarnLevel)
	var now time.Time
	l := ruleErrorLog{log: zap.New(core), interval: time.Minute, now: func() time.Time { return now }}
	for _, st := range steps {
		now = start.Add(st.at)
		logs.TakeAll()
		l.observe(&scoring.Decision{Policy: st.policy, Rules: policy.Result{Failed: st.failed}})
		var got []int64
		for _, e := range logs.TakeAll() {
			got = append(got, e.ContextMap()["suppressed"].(int64))
		}
		if len(got) != len(st.want) {
			t.Fatalf("at %s: entries %v, want %v", st.at, got, st.want)
		}
		for i := range got {
			if got[i] != st.want[i] {
				t.Fatalf("at %s: entries %v, want %v", st.at, got, st.want)
			}
		}
	}
}
