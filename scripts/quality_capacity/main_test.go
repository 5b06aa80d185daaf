package main

import (
	"math"
	"testing"

	"situ/features"
)

// TestCapacity: a representation that holds what decides the best
// treatment reaches the oracle; one without it earns the best fixed
// treatment's share.
func TestCapacity(t *testing.T) {
	const n = 400
	// feature 0 is x in {-1, 1}: fast earns x, self-service -x, pamper 0;
	// feature 1 is noise the rewards do not depend on
	eligible := features.AllTreatments.Without(features.PamperUpsell)
	var cs []contact
	var exp [][features.NumTreatments]float64
	var with, without [][]features.Entry
	for i := range n {
		x := float64(1 - 2*(i%2))
		noise := float64(1 - 2*((i/2)%2))
		cs = append(cs, contact{eligible: eligible})
		var e [features.NumTreatments]float64
		e[features.FastResolution], e[features.SelfService] = 2+x, 2-x
		exp = append(exp, e)
		with = append(with, []features.Entry{{Index: 0, Value: x}, {Index: 1, Value: noise}})
		without = append(without, []features.Entry{{Index: 1, Value: noise}})
	}
	ts := make([]target, n/2)
	for i := range ts {
		ts[i] = target{y: exp[i], shown: eligible}
	}
	cases := []struct {
		name string
		xs   [][]features.Entry
		want float64
	}{
		{"the deciding feature: the oracle", with, 1},
		{"only noise: a fixed treatment", without, 2.0 / 3.0}, // earns 2 ± 1 half the time each against 3
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capacity(2, tc.xs, cs, ts, exp, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("share %.6f, want %.6f", got, tc.want)
			}
		})
	}
}
