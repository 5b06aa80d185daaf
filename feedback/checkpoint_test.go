package feedback

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

var replayT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func replayDecision(id string, at time.Duration) models.DecisionEvent {
	return models.DecisionEvent{DecisionID: id, Time: replayT0.Add(at), Treatment: "fast_resolution", Propensity: 1}
}

func replayOutcome(decisionID string) models.Outcome {
	return models.Outcome{OutcomeID: "o-" + decisionID, DecisionID: decisionID, Resolved: true, OccurredAt: replayT0}
}

func TestPendingRanges(t *testing.T) {
	cases := []struct {
		name string
		refs map[int32][]int64
		want map[int32][][2]int64
	}{
		{"none", nil, nil},
		{"one", map[int32][]int64{0: {7}}, map[int32][][2]int64{0: {{7, 7}}}},
		{"consecutive offsets merge, in any order", map[int32][]int64{0: {5, 3, 4, 9}}, map[int32][][2]int64{0: {{3, 5}, {9, 9}}}},
		{"per partition", map[int32][]int64{1: {2, 3}, 0: {2}}, map[int32][][2]int64{0: {{2, 2}}, 1: {{2, 3}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, pendingRanges(tc.refs))
		})
	}
}

func TestJoinReplay(t *testing.T) {
	r := joinReplay{resume: Offsets{0: 10, 1: 4}, keep: map[int32][][2]int64{0: {{2, 3}, {6, 6}}}}
	require.Equal(t, Offsets{0: 2, 1: 4}, r.from(), "from the first pending decision, else the resume offset")
	cases := []struct {
		partition int32
		offset    int64
		want      bool
	}{
		{0, 1, false}, {0, 2, true}, {0, 3, true}, {0, 4, false}, {0, 6, true}, {0, 9, false},
		{0, 10, true}, {1, 3, false}, {1, 4, true}, {2, 0, true},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, r.adds(tc.partition, tc.offset), "partition %d offset %d", tc.partition, tc.offset)
	}
	require.Equal(t, Offsets(nil), joinReplay{}.from(), "a fresh start reads from the start")
	require.True(t, joinReplay{}.adds(0, 0))
}

func TestCheckpointRoundTripAndStrictness(t *testing.T) {
	schema, base, _ := learnerFixture(t, "m")
	l, err := models.NewOnlineLearner(base, models.LearnerConfig{})
	require.NoError(t, err)
	l.Update(features.FastResolution, []features.Entry{{Index: 0, Value: 1}}, 0.5, 1)
	cp := Checkpoint{
		FormatVersion: CheckpointFormatVersion, Model: models.NewSnapshot(l.Model(4), 1, replayT0), Learner: l.State(),
		Offsets: map[string]Offsets{DefaultDecisionsTopic: {0: 12}, DefaultOutcomesTopic: {0: 9}},
		Join:    JoinCheckpoint{Pending: map[int32][][2]int64{0: {{3, 5}}}, Early: []models.EarlyOutcome{{Outcome: replayOutcome("d9"), Seen: replayT0}}, StreamTime: replayT0},
	}
	b, err := cp.Encode()
	require.NoError(t, err)
	back, err := DecodeCheckpoint(b)
	require.NoError(t, err)
	again, err := back.Encode()
	require.NoError(t, err)
	require.Equal(t, string(b), string(again), "decode and encode give the same bytes")
	m, err := back.Model.Bind(schema)
	require.NoError(t, err)
	require.EqualValues(t, 4, m.Version())
	require.Equal(t, cp.Offsets, back.Offsets)
	require.Equal(t, cp.Join.Pending, back.Join.Pending)

	for _, tc := range []struct{ name, value, want string }{
		{"unknown member", strings.Replace(string(b), `"format_version":1`, `"format_version":1,"extra":true`, 1), "unknown"},
		{"another format version", strings.Replace(string(b), `"format_version":1`, `"format_version":7`, 1), "format_version 7"},
		{"a served model instead", string(mustEncode(t, cp.Model)), "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCheckpoint([]byte(tc.value))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func mustEncode(t *testing.T, s models.Snapshot) []byte {
	t.Helper()
	b, err := s.Encode()
	require.NoError(t, err)
	return b
}

// TestJoinRestoreReplaysExactly: a stream cut at random points, each time
// restored from a checkpoint's join state with the decisions re-read as a
// restored learning loop re-reads them (joinReplay), joins exactly what an
// uninterrupted join does.
func TestJoinRestoreReplaysExactly(t *testing.T) {
	reward := 0.0
	cfg := models.JoinConfig{Window: 30 * time.Minute, DefaultReward: &reward}
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 3000
	// decisions arrive in order on one partition; outcomes lag randomly,
	// some come first, some never, some twice
	var decisions []models.DecisionEvent
	type ev struct {
		isDecision bool
		idx        int
		o          models.Outcome
	}
	var stream []ev
	var lagging []models.Outcome
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("d%04d", i)
		decisions = append(decisions, replayDecision(id, time.Duration(i)*time.Second))
		r := rng.Float64()
		switch {
		case r < 0.1:
			stream = append(stream, ev{o: replayOutcome(id)}) // outcome first
			stream = append(stream, ev{isDecision: true, idx: i})
		case r < 0.2:
			stream = append(stream, ev{isDecision: true, idx: i}) // never an outcome
		default:
			stream = append(stream, ev{isDecision: true, idx: i})
			lagging = append(lagging, replayOutcome(id))
			if r > 0.95 {
				lagging = append(lagging, replayOutcome(id)) // duplicate
			}
			if r > 0.6 {
				// a part with the late fields, and sometimes a correction
				// of one of them that may arrive before it (stale then)
				late := models.Outcome{OutcomeID: "late-" + id, DecisionID: id, Recontact7d: r > 0.8, OccurredAt: replayT0.Add(time.Hour),
					Missing: models.AllOutcomeFields &^ (1<<models.FieldRecontact7d | 1<<models.FieldChurned)}
				lagging = append(lagging, late)
				if r > 0.85 {
					fix := late
					fix.OutcomeID, fix.OccurredAt, fix.Missing = "fix-"+id, late.OccurredAt.Add(time.Minute), models.AllOutcomeFields&^(1<<models.FieldChurned)
					lagging = append(lagging, fix)
				}
			}
		}
		for len(lagging) > 0 && rng.Float64() < 0.5 {
			k := rng.IntN(len(lagging))
			stream = append(stream, ev{o: lagging[k]})
			lagging = slices.Delete(lagging, k, k+1)
		}
	}
	for _, o := range lagging {
		stream = append(stream, ev{o: o})
	}

	collect := func(got *[]string) func(models.Match) {
		return func(x models.Match) {
			s := fmt.Sprintf("%s:%08b", decisions[x.Pos.Offset].DecisionID, x.Fields)
			if x.First {
				s += "+"
			}
			if x.Outcome == nil {
				s += "*"
			}
			*got = append(*got, s)
		}
	}
	var want []string
	j := models.NewCompactJoiner(cfg)
	for _, e := range stream {
		if e.isDecision {
			j.AddDecision(models.DecisionPos{Offset: int64(e.idx)}, decisions[e.idx].DecisionID, decisions[e.idx].Time, collect(&want))
		} else {
			j.AddOutcome(e.o, collect(&want))
		}
	}

	// the same stream with restarts: the consumer position is (stream index,
	// next decision offset); decisions are re-read from the first pending.
	var got []string
	j = models.NewCompactJoiner(cfg)
	nextDecision := int64(0)
	cuts := map[int]bool{}
	for len(cuts) < 12 {
		cuts[rng.IntN(len(stream))] = true
	}
	for k, e := range stream {
		if cuts[k] {
			cp := joinCheckpoint(j)
			j = models.RestoreCompactJoiner(cfg, models.JoinState{Early: cp.Early, StreamTime: cp.StreamTime})
			replay := joinReplay{resume: Offsets{0: nextDecision}, keep: cp.Pending, keepBits: cp.PendingBits}
			for off := replay.from()[0]; off < nextDecision; off++ {
				if replay.adds(0, off) {
					j.AddDecision(models.DecisionPos{Offset: off}, decisions[off].DecisionID, decisions[off].Time, collect(&got))
				}
			}
			j.Restored()
			// the parts read before the checkpoint, but for the early ones,
			// rebuild the pending decisions' records (replayOutcomes)
			early := map[string]bool{}
			for _, e := range cp.Early {
				early[e.Outcome.OutcomeID] = true
			}
			for _, e := range stream[:k] {
				if !e.isDecision && !early[e.o.OutcomeID] {
					j.ReplayOutcome(e.o)
				}
			}
		}
		if e.isDecision {
			j.AddDecision(models.DecisionPos{Offset: int64(e.idx)}, decisions[e.idx].DecisionID, decisions[e.idx].Time, collect(&got))
			nextDecision = int64(e.idx) + 1
		} else {
			j.AddOutcome(e.o, collect(&got))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("with restarts the join emitted %d results, without %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkJoinCheckpoint measures the join's part of a checkpoint with
// 3 million decisions pending in 3 partitions (the learner writes one
// every round while anything changed).
func BenchmarkJoinCheckpoint(b *testing.B) {
	j := models.NewCompactJoiner(models.JoinConfig{MaxPending: 4_000_000})
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 3_000_000 {
		j.AddDecision(models.DecisionPos{Partition: int32(i % 3), Offset: int64(i / 3)}, fmt.Sprintf("d-%d", i), t0.Add(time.Duration(i)*time.Millisecond), func(models.Match) {})
	}
	for b.Loop() {
		cp := joinCheckpoint(j)
		if len(cp.PendingBits) != 3 {
			b.Fatal(len(cp.PendingBits))
		}
	}
}
