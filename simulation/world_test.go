package simulation_test

import (
	"slices"
	"testing"

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
