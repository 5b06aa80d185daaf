package simulation_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
	"situ/simulation"
)

// TestRandomWorlds: a world is a function of its seed; the default world
// is TrueResponse; a random world changes the best treatment of a real
// share of contacts, so that interactions decide, and no fixed strategy
// gets close to its oracle.
func TestRandomWorlds(t *testing.T) {
	reward, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: 1, Customers: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(simulation.RandomWorld(5).Rules(), simulation.RandomWorld(5).Rules()) {
		t.Fatal("a world is not a function of its seed")
	}
	if slices.Equal(simulation.RandomWorld(5).Rules(), simulation.RandomWorld(6).Rules()) {
		t.Fatal("two seeds drew the same world")
	}
	const n = 4000
	cases := []struct {
		name       string
		world      *simulation.World
		minChanged float64 // share of contacts whose best treatment is not the default world's
		maxChanged float64
	}{
		{"default world", simulation.DefaultWorld(), 0, 0},
		{"world 1", simulation.RandomWorld(1), 0.05, 0.7},
		{"world 2", simulation.RandomWorld(2), 0.05, 0.7},
		{"world 3", simulation.RandomWorld(3), 0.05, 0.7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			changed := 0
			var oracle float64
			fixed := make([]float64, len(simulation.FixedStrategies()))
			for i := range n {
				c := pop.Contact(int64(i))
				base := simulation.ExpectedRewards(&c, &reward)
				got := tc.world.ExpectedRewards(&c, &reward)
				for _, tr := range features.Treatments() {
					if r := tc.world.Response(&c, tr); r != simulation.TrueResponse(&c, tr) && tc.world == nil {
						t.Fatalf("the default world differs from TrueResponse for %s", tr)
					}
				}
				bb, _ := simulation.Best(&base, features.AllTreatments)
				wb, best := simulation.Best(&got, features.AllTreatments)
				if bb != wb {
					changed++
				}
				oracle += best
				for k, s := range simulation.FixedStrategies() {
					fixed[k] += got[s.Choose(c, features.AllTreatments)]
				}
			}
			share := float64(changed) / n
			if share < tc.minChanged || share > tc.maxChanged {
				t.Errorf("best treatment changed on %.1f%% of contacts, want %.0f%% … %.0f%%\n%v", 100*share, 100*tc.minChanged, 100*tc.maxChanged, tc.world.Rules())
			}
			for k, s := range simulation.FixedStrategies() {
				t.Logf("%s: %.3f of the oracle", s.Name, fixed[k]/oracle)
			}
			t.Logf("best changed on %.1f%%; rules %v", 100*share, tc.world.Rules())
		})
	}
}

// TestRunWithDrift: a run in a random world that drifts to another
// scores each contact in its own world and summarises the change.
func TestRunWithDrift(t *testing.T) {
	run := func(world, drift *simulation.World, at int) *simulation.Report {
		rep, err := simulation.Run(context.Background(), simulation.Config{
			ScoreURL: newSitu(t, newEngine(t, "w-")), Publisher: &memPublisher{},
			Contacts: 800, Window: 200, Concurrency: 4, Seed: 3,
			World: world, DriftAt: at, DriftWorld: drift,
			Now: func() time.Time { return fixedNow },
		})
		require.NoError(t, err)
		return rep
	}
	plain := run(nil, nil, 0)
	w1, w2 := simulation.RandomWorld(1), simulation.RandomWorld(2)
	drifted := run(w1, w2, 400)
	require.Nil(t, plain.Drift)
	require.Zero(t, plain.World)
	require.EqualValues(t, 1, drifted.World)
	require.EqualValues(t, 2, drifted.DriftWorld)
	require.Equal(t, w2.Rules(), drifted.DriftRules)
	require.NotNil(t, drifted.Drift)
	ratio := func(w simulation.WindowReport) float64 { return w.Expected / w.Oracle }
	require.InDelta(t, ratio(drifted.Windows[1]), drifted.Drift.Before, 1e-12, "before: the last window that ends at the drift")
	require.InDelta(t, ratio(drifted.Windows[2]), drifted.Drift.First, 1e-12)
	require.InDelta(t, ratio(drifted.Windows[3]), drifted.Drift.Last, 1e-12)
	if drifted.Drift.Recovered >= 0 {
		require.Zero(t, (drifted.Drift.Recovered)%200, "recovery is counted in whole windows")
	}
	// the oracle of a window follows its world: the same contacts, other rewards
	require.NotEqual(t, plain.Windows[0].Oracle, drifted.Windows[0].Oracle)
	var b strings.Builder
	require.NoError(t, drifted.WriteText(&b))
	require.Contains(t, b.String(), "drift at contact 400 to world 2")
	require.Contains(t, b.String(), w1.Rules()[0])
}
