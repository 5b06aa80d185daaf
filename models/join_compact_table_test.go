package models_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"situ/models"
)

// TestCompactJoinerTable runs random streams through the compact joiner
// with table slots of few sequence bits (the sequences wrap around), of
// few fingerprint bits (fingerprints collide), and with a table reserved
// ahead: it joins, expires and counts as the reference Joiner does
// (checkCompactAgainstJoiner).
func TestCompactJoinerTable(t *testing.T) {
	reward := 0.5
	cases := []struct {
		name    string
		cfg     models.JoinConfig
		seqBits uint // 0: the joiner's own
		reserve int
	}{
		{"sequences wrap, pending cap", models.JoinConfig{Window: time.Hour, MaxPending: 200, MaxEarly: 50, DefaultReward: &reward}, 8, 0},
		{"sequences wrap, windows expire", models.JoinConfig{Window: 2 * time.Minute, MaxPending: 200, MaxEarly: 50, DefaultReward: &reward}, 8, 0},
		{"one fingerprint bit", models.JoinConfig{Window: 10 * time.Minute, MaxPending: 20_000, MaxEarly: 1_000}, 31, 0},
		{"no fingerprint bits", models.JoinConfig{Window: 10 * time.Minute, MaxPending: 20_000, MaxEarly: 1_000}, 32, 0},
		{"reserved", models.JoinConfig{Window: 10 * time.Minute, MaxPending: 20_000}, 0, 30_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := joinStream(rand.New(rand.NewPCG(3, 4)), streamShape{n: 60_000, every: time.Second, waiting: 0.8, answer: 0.6, spread: 1_000})
			j := models.NewJoiner[int64](tc.cfg)
			want := run(j, events)
			c := models.NewCompactJoiner(oneWindow(tc.cfg))
			if tc.seqBits != 0 {
				models.SetSeqBits(c, tc.seqBits)
			}
			c.Reserve(tc.reserve)
			checkCompactAgainstJoiner(t, c, runCompact(c, events), j, want)
			if s := c.Stats(); s.Joined == 0 || s.Expired+s.DroppedPending == 0 {
				t.Fatalf("the stream joined or expired nothing: %+v", c.Stats())
			}
		})
	}
}

// TestCompactJoinerSeqBits checks the slots' sequence bits for the caps:
// enough for twice the cap of pending decisions and two queue chunks.
func TestCompactJoinerSeqBits(t *testing.T) {
	for _, tc := range []struct {
		maxPending int
		want       uint
	}{{100, 20}, {200_000, 20}, {500_000, 21}, {20_000_000, 26}, {1 << 31, 32}} {
		c := models.NewCompactJoiner(models.JoinConfig{MaxPending: tc.maxPending})
		if got := models.SeqBits(c); got != tc.want {
			t.Errorf("max pending %d: %d sequence bits, want %d", tc.maxPending, got, tc.want)
		}
	}
}

// streamShape shapes a joinStream.
type streamShape struct {
	n       int           // decisions
	every   time.Duration // between two decisions
	waiting float64       // share of the decisions (but early and twice) that get an outcome
	answer  float64       // chance, after each decision, that one more waiting decision gets its outcome
	spread  int           // the outcome goes to one of the this many oldest waiting decisions
}

// joinStream returns shape.n decisions shape.every apart, a tenth of them
// after their outcome, some twice, most followed by their outcome within
// about shape.spread decisions, a few by two, and outcomes of unknown
// decisions.
func joinStream(rng *rand.Rand, shape streamShape) []event {
	var events []event
	var waiting []string
	for i := range shape.n {
		id := fmt.Sprintf("d-%d", i)
		at := time.Duration(i) * shape.every
		switch r := rng.Float64(); {
		case r < 0.1:
			events = append(events, O(id), D(id, int64(i), at))
		case r < 0.15:
			events = append(events, D(id, int64(i), at), D(id, int64(i), at))
		default:
			events = append(events, D(id, int64(i), at))
			if shape.waiting >= 1 || rng.Float64() < shape.waiting {
				waiting = append(waiting, id)
			}
		}
		for len(waiting) > 0 && rng.Float64() < shape.answer {
			k := rng.IntN(min(len(waiting), shape.spread))
			events = append(events, O(waiting[k]))
			if rng.Float64() < 0.05 {
				events = append(events, O(waiting[k]))
			}
			waiting[k] = waiting[len(waiting)-1]
			waiting = waiting[:len(waiting)-1]
		}
		if rng.Float64() < 0.01 {
			events = append(events, O("ghost-"+id))
		}
	}
	return events
}
