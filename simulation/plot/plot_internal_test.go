package plot

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"

	"situ/simulation"
)

func TestSeries(t *testing.T) {
	strategies := []string{"always_fast", "always_pamper", "uniform_rules"}
	cases := []struct {
		name       string
		windows    []simulation.WindowReport
		wantServed plotter.XYs
		wantBest   plotter.XYs
		bestName   string
		wantRegret plotter.XYs
		wantYMin   float64
	}{
		{
			name: "learning: served rises past the best fixed strategy",
			windows: []simulation.WindowReport{
				{End: 100, Served: 100, Expected: 0.14, Oracle: 0.20, Strategies: []float64{0.16, 0.04, 0.17}, CumulativeRegret: 6},
				{End: 200, Served: 100, Expected: 0.18, Oracle: 0.20, Strategies: []float64{0.16, 0.04, 0.17}, CumulativeRegret: 8},
				{End: 300, Served: 100, Expected: 0.19, Oracle: 0.19, Strategies: []float64{0.15, 0.03, 0.16}, CumulativeRegret: 8},
			},
			wantServed: plotter.XYs{{X: 100, Y: 0.7}, {X: 200, Y: 0.9}, {X: 300, Y: 1}},
			wantBest:   plotter.XYs{{X: 100, Y: 0.85}, {X: 200, Y: 0.85}, {X: 300, Y: 0.16 / 0.19}},
			bestName:   "uniform_rules",
			wantRegret: plotter.XYs{{X: 100, Y: 6}, {X: 200, Y: 8}, {X: 300, Y: 8}},
			wantYMin:   0.7 - 0.03, // a tenth of the distance to 1 below the lowest ratio
		},
		{
			name: "the best strategy is the best over the run, not in one window",
			windows: []simulation.WindowReport{
				{End: 10, Served: 10, Expected: 0.1, Oracle: 0.2, Strategies: []float64{0.19, 0.0, 0.10}, CumulativeRegret: 1},
				{End: 20, Served: 10, Expected: 0.1, Oracle: 0.2, Strategies: []float64{0.10, 0.0, 0.12}, CumulativeRegret: 2},
			},
			wantServed: plotter.XYs{{X: 10, Y: 0.5}, {X: 20, Y: 0.5}},
			wantBest:   plotter.XYs{{X: 10, Y: 0.95}, {X: 20, Y: 0.5}},
			bestName:   "always_fast",
			wantRegret: plotter.XYs{{X: 10, Y: 1}, {X: 20, Y: 2}},
			wantYMin:   0.45,
		},
		{
			name: "windows without served contacts or a positive oracle have no ratio",
			windows: []simulation.WindowReport{
				{End: 10, Served: 0, Failed: 10, Strategies: []float64{0, 0, 0}},
				{End: 20, Served: 10, Expected: -0.1, Oracle: -0.05, Strategies: []float64{-0.1, -0.2, -0.1}, CumulativeRegret: 0.5},
				{End: 30, Served: 10, Expected: 0.198, Oracle: 0.2, Strategies: []float64{0.1995, 0.1, 0.1}, CumulativeRegret: 0.52},
			},
			wantServed: plotter.XYs{{X: 30, Y: 0.99}},
			wantBest:   plotter.XYs{{X: 30, Y: 0.9975}},
			bestName:   "always_fast",
			wantRegret: plotter.XYs{{X: 20, Y: 0.5}, {X: 30, Y: 0.52}},
			wantYMin:   0.98, // at least 0.01 below
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := &simulation.Report{Strategies: strategies, Windows: tc.windows}
			ps, err := seriesOf(rep)
			require.NoError(t, err)
			requireXYs(t, tc.wantServed, ps.Served)
			requireXYs(t, tc.wantBest, ps.Best)
			requireXYs(t, tc.wantRegret, ps.Regret)
			require.Equal(t, tc.bestName, ps.BestName)
			require.InDelta(t, tc.wantYMin, ps.YMin, 1e-9)

			var buf bytes.Buffer
			require.NoError(t, WritePNG(&buf, rep))
			_, err = png.Decode(&buf)
			require.NoError(t, err, "a PNG")
		})
	}

	_, err := seriesOf(&simulation.Report{Strategies: strategies, Windows: []simulation.WindowReport{{End: 10, Failed: 10}}})
	require.ErrorContains(t, err, "no served contacts")
}

func requireXYs(t *testing.T, want, got plotter.XYs) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.InDelta(t, want[i].X, got[i].X, 1e-9, "point %d", i)
		require.InDelta(t, want[i].Y, got[i].Y, 1e-9, "point %d", i)
	}
}
